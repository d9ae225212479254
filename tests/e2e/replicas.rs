//! Two `keyplane` processes on one PostgreSQL database with one master key, as replicas
//! behind a load balancer: what is revoked, ended, disabled or suspended on replica 1 is
//! refused by replica 2 within 1.5 s, though replica 2 had just used (and cached) it.
//! Each delay is measured and printed. (Cross-replica refresh races: `tokens.rs`;
//! lockout counted across replicas: `lockout.rs`.)

use crate::support::ADMIN_PASSWORD;
use crate::{TestApp, PASSWORD};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_millis(1_500);

/// Polls `request` until it is refused (401 or 403); returns how long that took after
/// the change.
async fn refused_after(what: &str, changed: Instant, request: impl Fn() -> RequestBuilder) -> Duration {
    loop {
        let status = request().send().await.unwrap().status().as_u16();
        let elapsed = changed.elapsed();
        if status == 401 || status == 403 {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "replicas: {what} refused by the other replica after {elapsed:?}");
            return elapsed;
        }
        assert_eq!(status, 200, "{what}: unexpected status before the refusal");
        assert!(elapsed < Duration::from_secs(10), "{what} is still accepted by the other replica after {elapsed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ok(request: RequestBuilder) -> Value {
    let resp = request.send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_replica_revokes_the_other_refuses_within_1_5_s() {
    let Some(app) = TestApp::spawn(crate::Backend::Postgres).await else { return };
    let key = app.tenant_with_user("acme").await;
    let env = [("KEYPLANE_RATE_LIMIT__ENABLED", "false")];
    let (one, two) = (app.replica(0, &env), app.replica(1, &env));
    let client = Client::new();
    let on = |base: &str, method: Method, path: &str| client.request(method, format!("{base}{path}"));
    let admin = |method: Method, path: &str| on(&one.base, method, path).basic_auth("admin", Some(ADMIN_PASSWORD));
    let mut delays = Vec::new();

    // A key revoked on replica 1.
    let created = ok(admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"description": "revoked soon", "roles": ["tenant_admin"]})))
    .await;
    let doomed = created["key"].as_str().unwrap().to_owned();
    app.secret(&doomed);
    let use_doomed = || on(&two.base, Method::GET, "/api/v1/users").header("X-API-Key", &doomed);
    ok(use_doomed()).await;
    let path = format!("/api/v1/platform/tenants/acme/keys/{}", created["access_key_id"].as_str().unwrap());
    ok(admin(Method::DELETE, &path)).await;
    delays.push(refused_after("a revoked key", Instant::now(), use_doomed).await);

    // A session ended on replica 1.
    let login = |base: &str| {
        on(base, Method::POST, "/api/v1/users/auth/_login")
            .header("X-API-Key", &key)
            .json(&json!({"username": "alice", "password": PASSWORD}))
    };
    let session = ok(login(&one.base)).await;
    app.secrets_of(&session);
    let token = session["token"].as_str().unwrap().to_owned();
    let use_token = |token: String| {
        let base = two.base.clone();
        move || on(&base, Method::GET, "/api/v1/users/auth").bearer_auth(&token)
    };
    ok(use_token(token.clone())()).await;
    ok(on(&one.base, Method::POST, "/api/v1/users/auth/_logout").bearer_auth(&token)).await;
    delays.push(refused_after("an ended session", Instant::now(), use_token(token)).await);

    // A user disabled on replica 1.
    let session = ok(login(&one.base)).await;
    app.secrets_of(&session);
    let token = session["token"].as_str().unwrap().to_owned();
    ok(use_token(token.clone())()).await;
    ok(on(&one.base, Method::PATCH, "/api/v1/users/alice")
        .header("X-API-Key", &key)
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"enabled": false}).to_string()))
    .await;
    delays.push(refused_after("a disabled user's token", Instant::now(), use_token(token)).await);

    // A tenant suspended on replica 1.
    let use_key = || on(&two.base, Method::GET, "/api/v1/users").header("X-API-Key", &key);
    ok(use_key()).await;
    ok(admin(Method::POST, "/api/v1/platform/tenants/acme/_suspend")).await;
    delays.push(refused_after("a suspended tenant's key", Instant::now(), use_key).await);

    for delay in delays {
        assert!(delay <= BOUND, "refused after {delay:?}, more than {BOUND:?}");
    }
}
