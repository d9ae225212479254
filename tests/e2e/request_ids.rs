//! Request ids and the log an operator reads: every response carries `X-Request-Id`
//! (a trusted proxy's when it sent a plausible one, a new one otherwise); the same id
//! names the request's log line and is the correlation id of a 500; each refused request
//! logs one line of reasonable size; query strings and secret-shaped path segments never
//! reach the log.

use crate::{Backend, TestApp};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

fn id_of(resp: &reqwest::Response) -> String {
    resp.headers().get("x-request-id").expect("every response has X-Request-Id").to_str().unwrap().to_owned()
}

fn lines_of<'a>(log: &'a str, id: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(&format!("request_id={id}"))).collect()
}

async fn ids_logs_and_500s(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let mut seen = std::collections::HashSet::new();
    for (method, path) in [
        (Method::GET, "/healthz"),
        (Method::GET, "/api/v1/users"),
        (Method::GET, "/nope"),
        (Method::PUT, "/healthz"),
        (Method::GET, "/swagger-ui/"),
        (Method::GET, "/t/acme/.well-known/jwks.json"),
        (Method::POST, "/t/acme/oauth2/token"),
    ] {
        let resp = app.request(method.clone(), path).send().await.unwrap();
        let id = id_of(&resp);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{method} {path}: a generated id is a UUID: {id}");
        assert!(seen.insert(id), "{method} {path}: ids are unique");
    }

    // An id sent by a client that is not a trusted proxy is not believed.
    let resp = app.request(Method::GET, "/healthz").header("x-request-id", "client-chosen").send().await.unwrap();
    assert_ne!(id_of(&resp), "client-chosen");

    // A refused request: one line, of reasonable size, naming route, status and code;
    // the query string's values (a password put in a URL by mistake) are not logged.
    let resp = app
        .request(Method::GET, "/api/v1/users?password=hunter2-in-a-url&size=10")
        .header("X-API-Key", "kp_0123456789abcdef01234567_not-the-secret-xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let refused = id_of(&resp);
    let secret_path = format!("/t/acme/{}", key);
    let resp = app.request(Method::GET, &secret_path).send().await.unwrap();
    let pasted = id_of(&resp);
    app.secret(&key);

    // A 500: the body's correlation id is the response's X-Request-Id and the log's.
    let db = Database::connect(app.database_url.as_str()).await.unwrap();
    db.execute_unprepared("ALTER TABLE users RENAME TO users_elsewhere").await.unwrap();
    let resp = app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let failed = id_of(&resp);
    let body: Value = resp.json().await.unwrap();
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("correlation id {failed}")), "{message} names {failed}");
    db.execute_unprepared("ALTER TABLE users_elsewhere RENAME TO users").await.unwrap();

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log = app.logged();
    let lines = lines_of(&log, &refused);
    assert_eq!(lines.len(), 1, "one line per refused request: {lines:#?}");
    let line = lines[0];
    assert!(line.len() < 600, "a line of reasonable size ({} bytes): {line}", line.len());
    assert!(line.contains("request refused") && line.contains("status=401"), "{line}");
    assert!(line.contains("route=/api/v1/users") && line.contains("code=root.unauthorized"), "{line}");
    assert!(line.contains("query_params=password,size"), "{line}");
    assert!(!log.contains("hunter2-in-a-url") && !log.contains("not-the-secret-xyz"), "no query value in the log");
    let pasted_lines = lines_of(&log, &pasted);
    assert!(pasted_lines.iter().all(|l| l.contains("/t/acme/<redacted>")), "{pasted_lines:#?}");
    let failure = lines_of(&log, &failed);
    assert!(failure.iter().any(|l| l.contains("request failed") && l.contains("status=500")), "{failure:#?}");
    assert!(
        log.lines().any(|l| l.contains(&format!("correlation_id={failed}")) && l.contains("ERROR")),
        "the internal error is logged under the same id"
    );
}

#[tokio::test]
async fn ids_name_responses_log_lines_and_500s_on_sqlite() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else { return };
    ids_logs_and_500s(&app).await;
}

#[tokio::test]
async fn ids_name_responses_log_lines_and_500s_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    ids_logs_and_500s(&app).await;
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_kept() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let resp = app.request(Method::GET, "/healthz").header("x-request-id", "lb-7f3a:42").send().await.unwrap();
    assert_eq!(id_of(&resp), "lb-7f3a:42", "the proxy's id is kept");
    let resp = app.request(Method::GET, "/healthz").header("x-request-id", "has space").send().await.unwrap();
    assert!(uuid::Uuid::parse_str(&id_of(&resp)).is_ok(), "an implausible id is replaced");
}
