//! TLS termination with a certificate generated in the test (rcgen): a client that trusts
//! it gets HTTP/2 by ALPN and HSTS on every response; with `ssl_required = all` a tenant,
//! a key, a user, a sign-in and the bearer work end to end over HTTPS, with `https`
//! issuers; plain HTTP to the TLS port is refused cleanly and the port keeps serving.

use crate::support::{base64_basic, seed_acme, SendJson, ADMIN_PASSWORD};
use crate::{Backend, TestApp, PASSWORD};
use keyplane_api::transport::SslRequired;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn tls_on(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("keyplane-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let (cert_path, key_path) = (cert.clone(), key.clone());
    let Some(app) = TestApp::spawn_with(backend, move |s| {
        s.tls.cert = Some(cert_path);
        s.tls.key = Some(key_path);
        s.ssl_required = SslRequired::All;
        s.host = "localhost".into();
    })
    .await
    else {
        return;
    };
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let base = format!("https://localhost:{port}");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(generated.cert.pem().as_bytes()).unwrap())
        .https_only(true)
        .build()
        .unwrap();

    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_2, "HTTP/2 by ALPN");
    assert_eq!(health.headers()["strict-transport-security"], "max-age=31536000");

    let admin = format!("Basic {}", base64_basic("admin", ADMIN_PASSWORD));
    // ssl_required = all admits HTTPS.
    let tenant_key = seed_acme(&client, &base, &admin).await;
    app.secret(&tenant_key);
    let session: Value = client
        .post(format!("{base}/api/v1/users/auth/_login"))
        .header("x-api-key", &tenant_key)
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send_json()
        .await;
    app.secrets_of(&session);
    let token = session["token"].as_str().expect("signed in over HTTPS");
    assert_eq!(crate::claims(token)["iss"], format!("https://localhost:{port}/t/acme"), "an https issuer");
    let me = client.get(format!("{base}/api/v1/user")).bearer_auth(token).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let missing = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("strict-transport-security"), "HSTS on errors too");

    // Plain HTTP to the TLS port: no HTTP answer, the connection closes, nothing breaks.
    let mut plain = tokio::net::TcpStream::connect(format!("localhost:{port}")).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is closed within 5 s");
    assert!(!answer.starts_with(b"HTTP/"), "no plain HTTP answer: {:?}", String::from_utf8_lossy(&answer));
    let again = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(again.status(), 200, "the TLS port keeps serving");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_terminates_with_http2_and_hsts_on_sqlite() {
    tls_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn tls_terminates_with_http2_and_hsts_on_postgres() {
    tls_on(Backend::Postgres).await;
}
