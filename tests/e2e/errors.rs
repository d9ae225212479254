//! Malformed requests of every kind get the native envelope with a 4xx, never a 500.

use crate::{assert_error, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    malformed_bodies,
    content_types_and_sizes,
    unknown_routes_and_methods,
    every_path_answers_other_methods_with_405_and_allow,
    nothing_yields_a_500,
    health_endpoints,
    every_response_forbids_sniffing,
    head_is_get_without_a_body
);

async fn malformed_bodies(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let post = |body: &'static str| {
        app.with_key(&key, Method::POST, "/api/v1/users").header("content-type", "application/json").body(body)
    };
    let item = assert_error(post("{").send().await.unwrap(), 400, "root.invalid_data").await;
    assert!(item.get("fields").is_none(), "syntax errors name no field");
    assert_error(post("{\"user_name\": \"a\",}").send().await.unwrap(), 400, "root.invalid_data").await;
    assert_error(post("").send().await.unwrap(), 400, "root.invalid_data").await;
    assert_error(post("null").send().await.unwrap(), 400, "root.invalid_data").await;
    assert_error(post("[]").send().await.unwrap(), 400, "root.invalid_data").await;
    assert_error(post("\"text\"").send().await.unwrap(), 400, "root.invalid_data").await;
    let item = assert_error(
        post(r#"{"user_name": ["x"], "password": "correct horse"}"#).send().await.unwrap(),
        400,
        "root.invalid_data",
    )
    .await;
    assert_eq!(item["fields"], json!(["user_name"]));
    let item = assert_error(
        post(r#"{"user_name": "x", "password": 12345678}"#).send().await.unwrap(),
        400,
        "root.invalid_data",
    )
    .await;
    assert_eq!(item["fields"], json!(["password"]));
    assert!(!item["message"].as_str().unwrap().contains("12345678"), "values are not echoed");
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body(format!(r#"{{"user_name":"x","password":"correct horse","metadata":{deep}}}"#))
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "root.invalid_data").await;
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "root.invalid_data").await;
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "x\u{0000}", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "user.user_name.invalid").await;
}

async fn content_types_and_sizes(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let body = r#"{"user_name":"x","password":"correct horse"}"#;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        Some("not a mime"),
        None,
    ] {
        let mut req = app.with_key(&key, Method::POST, "/api/v1/users").body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        assert_error(req.send().await.unwrap(), 415, "root.unsupported_media_type").await;
    }
    for ct in ["application/json; charset=utf-8", "application/merge-patch+json"] {
        let resp = app
            .with_key(&key, Method::POST, "/api/v1/users")
            .header("content-type", ct)
            .body(body.replace("\"x\"", &format!("\"u{}\"", ct.len())))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{ct}");
    }
    let huge = json!({"user_name": "big", "password": "correct horse", "metadata": {"blob": "x".repeat(70 * 1024)}});
    let resp = app.with_key(&key, Method::POST, "/api/v1/users").json(&huge).send().await.unwrap();
    assert_error(resp, 413, "root.payload_too_large").await;
    // Chunked, without Content-Length: still bounded.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let stream = futures_stream(chunks);
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_error(resp, 413, "root.payload_too_large").await;
    let resp = app.with_key(&key, Method::GET, "/api/v1/users/big").send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Chunks(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Chunks(chunks.into_iter())
}

async fn unknown_routes_and_methods(app: &TestApp) {
    for path in ["/api", "/api/v1", "/api/v1/nothing", "/api/v1/users/a/b/c", "/t/acme"] {
        let resp = app.request(Method::GET, path).send().await.unwrap();
        assert_error(resp, 404, "root.not_found").await;
    }
    for (method, path) in [
        (Method::PUT, "/api/v1/users"),
        (Method::DELETE, "/api/v1/users"),
        (Method::POST, "/api/v1/users/alice"),
        (Method::PUT, "/api/v1/platform/tenants"),
        (Method::GET, "/api/v1/platform/tenants/acme/_suspend"),
        (Method::PATCH, "/api/v1/platform/tenants/acme/keys"),
        (Method::PUT, "/api/v1/platform/tenants/acme/keys/abc"),
    ] {
        let resp = app.as_admin(method.clone(), path).send().await.unwrap();
        assert_error(resp, 405, "root.method_not_allowed").await;
    }
}

/// Every documented path, called with each method it does not document: 405 with an
/// `Allow` header naming exactly the documented methods (RFC 9110), in the path's own
/// surface's error shape. `/` and `/swagger-ui` lead to the Swagger UI.
async fn every_path_answers_other_methods_with_405_and_allow(app: &TestApp) {
    let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let documented: Vec<&str> = methods.into_iter().filter(|m| item.get(m.to_lowercase()).is_some()).collect();
        let path = template.replace('{', "x").replace('}', "");
        for method in methods.iter().filter(|m| !documented.contains(m)) {
            let resp = app.request(Method::from_bytes(method.as_bytes()).unwrap(), &path).send().await.unwrap();
            assert_eq!(resp.status(), 405, "{method} {template}");
            let allow = resp.headers().get("allow").unwrap_or_else(|| panic!("{method} {template}: no Allow"));
            let mut allowed = documented.clone();
            if documented.contains(&"GET") {
                allowed.insert(1, "HEAD");
            }
            assert_eq!(allow.to_str().unwrap(), allowed.join(", "), "{method} {template}");
            let body: Value = resp.json().await.unwrap_or_else(|e| panic!("{method} {template}: {e}"));
            let shaped = if template.contains("/sensu/") {
                body["code"].is_number() && body["message"].is_string()
            } else if template.contains("/tenovos/") {
                body["message"].is_string()
            } else if template.contains("/investsuite/") {
                body["detail"].is_string()
            } else if template.contains("/oauth2/") || template.contains("/.well-known/") {
                body["error"] == "invalid_request"
            } else {
                body["errors"][0]["code"] == "root.method_not_allowed"
            };
            assert!(shaped, "{method} {template}: {body}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} method/path pairs checked");
    for path in ["/", "/swagger-ui"] {
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302, "{path}");
        assert_eq!(resp.headers()["location"], "/swagger-ui/", "{path}");
    }
    let page = app.request(Method::GET, "/").send().await.unwrap();
    assert!(page.text().await.unwrap().contains("swagger-ui"), "the redirect leads to the page");
    let resp = app.request(Method::POST, "/swagger-ui").send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.headers()["allow"].to_str().unwrap()), (405, "GET"));
    let resp = app.request(Method::PUT, "/t/acme/investsuite/auth/login/").send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"detail": "Method \"PUT\" not allowed."}), "Django REST framework's words");
}

/// HEAD is answered wherever GET is, with GET's status and headers and no body (RFC 9110
/// §9.3.2); where GET is not allowed, HEAD is not either.
async fn head_is_get_without_a_body(app: &TestApp) {
    for path in ["/healthz", "/readyz", "/api-docs/openapi.json", "/api/v1/platform/tenants", "/swagger-ui/"] {
        let get = app.as_admin(Method::GET, path).send().await.unwrap();
        let (status, length) = (get.status(), get.bytes().await.unwrap().len());
        let head = app.as_admin(Method::HEAD, path).send().await.unwrap();
        assert_eq!(head.status(), status, "HEAD {path}");
        let declared = head.headers().get("content-length").map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
        assert!(declared.is_none_or(|d| d == length), "HEAD {path}: Content-Length {declared:?}, GET sent {length}");
    }
    let head = app.as_admin(Method::HEAD, "/api/v1/users/auth/_login").send().await.unwrap();
    assert_eq!(head.status(), 405);
    assert_eq!(head.headers()["allow"], "POST");
    // On the wire: the headers, then nothing; the connection stays usable.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("HEAD /healthz HTTP/1.1\r\nHost: {address}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let responses: Vec<&str> = answer.split("HTTP/1.1 ").filter(|r| !r.is_empty()).collect();
    assert_eq!(responses.len(), 2, "{answer}");
    assert!(responses[0].starts_with("200") && responses[0].ends_with("\r\n\r\n"), "HEAD sends no body: {answer}");
    assert!(responses[1].starts_with("200") && !responses[1].ends_with("\r\n\r\n"), "GET does: {answer}");
}

/// The log check itself: a secret the test used, once logged, is found (the check that
/// runs when every test's server stops could otherwise pass by seeing nothing).
#[tokio::test]
async fn a_logged_secret_is_caught() {
    let app = TestApp::spawn(crate::Backend::Sqlite).await.expect("SQLite is always available");
    app.secret("planted-secret-0123456789");
    assert!(app.no_secret_logged().is_ok());
    let key = app.tenant_with_admin_key("acme").await;
    tracing::info!(note = "a line as the server would write it", "sign-in with planted-secret-0123456789");
    let leak = app.no_secret_logged().expect_err("the planted secret is in the log");
    assert!(leak.contains("sign-in with"), "{leak}");
    // Key secrets remembered by the helpers are checked too.
    let (_, secret) = crate::split_key(&key);
    tracing::info!("x-api-key suffix {secret}");
    app.secrets.lock().unwrap().retain(|s| s != "planted-secret-0123456789");
    assert!(app.no_secret_logged().is_err(), "the secret half of a key is caught");
    app.secrets.lock().unwrap().clear();
}

async fn nothing_yields_a_500(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let bodies: Vec<Vec<u8>> = vec![
        b"{}".to_vec(),
        b"{\"user_name\":1e999}".to_vec(),
        b"{\"roles\":[null]}".to_vec(),
        b"{\"metadata\":{\"a\":\"\\ud800\"}}".to_vec(),
        b"{\"expires_at\":\"9999-99-99T00:00:00Z\"}".to_vec(),
        b"{\"expires_at\":\"+275760-09-13T00:00:00Z\"}".to_vec(),
        b"{\"name\":\"x\",\"slug\":\"\\u0000\"}".to_vec(),
        "{\"user_name\":\"ü\",\"password\":\"pässwörd-long\"}".as_bytes().to_vec(),
        vec![0u8; 64],
        b"\xef\xbb\xbf{}".to_vec(),
    ];
    let routes = [
        (Method::POST, "/api/v1/users".to_owned()),
        (Method::PATCH, "/api/v1/users/nobody".to_owned()),
        (Method::POST, "/api/v1/platform/tenants".to_owned()),
        (Method::PATCH, "/api/v1/platform/tenants/acme".to_owned()),
        (Method::POST, "/api/v1/platform/tenants/acme/keys".to_owned()),
    ];
    for (method, path) in &routes {
        for body in &bodies {
            for admin in [true, false] {
                let req =
                    if admin { app.as_admin(method.clone(), path) } else { app.with_key(&key, method.clone(), path) };
                let resp = req.header("content-type", "application/json").body(body.clone()).send().await.unwrap();
                let status = resp.status().as_u16();
                assert!(
                    (200..500).contains(&status),
                    "{method} {path} {:?} gave {status}",
                    String::from_utf8_lossy(body)
                );
                if status >= 400 {
                    let envelope: Value = resp.json().await.expect("JSON error body");
                    assert!(envelope["errors"][0]["code"].is_string());
                }
            }
        }
    }
    for path in [
        "/api/v1/users/%FF%FE",
        "/api/v1/users/%00",
        &format!("/api/v1/users/{}", "a".repeat(5000)),
        "/api/v1/platform/tenants/%2e%2e",
        "/api/v1/platform/tenants/acme/keys/%00",
    ] {
        let resp = app.with_key(&key, Method::GET, path).send().await.unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{path} gave {status}");
    }
}

async fn health_endpoints(app: &TestApp) {
    let resp = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let resp = app.request(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "ok"}));
}

async fn every_response_forbids_sniffing(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let requests = [
        ("a success", app.request(Method::GET, "/healthz")),
        ("a handler's error", app.request(Method::GET, "/api/v1/users")),
        (
            "an extractor's error",
            app.with_key(&key, Method::POST, "/api/v1/users").header("content-type", "application/json").body("{"),
        ),
        ("a 404", app.request(Method::GET, "/no/such/route")),
        ("a 405", app.request(Method::PUT, "/api/v1/users")),
        ("a dialect's error", app.request(Method::POST, "/t/acme/investsuite/auth/login/").json(&json!({}))),
        ("the Swagger UI page", app.request(Method::GET, "/swagger-ui/")),
        ("the OpenAPI document", app.request(Method::GET, "/api-docs/openapi.json")),
    ];
    let mut statuses = Vec::new();
    for (what, request) in requests {
        let resp = request.send().await.unwrap();
        statuses.push(resp.status().as_u16());
        let values: Vec<_> = resp.headers().get_all("x-content-type-options").iter().collect();
        assert_eq!(values, ["nosniff"], "{what}");
    }
    assert_eq!(statuses, [200, 401, 400, 404, 405, 400, 200, 200]);
}
