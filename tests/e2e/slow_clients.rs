//! Slow and stalled clients, over raw sockets: a stalled body gets 408 in its surface's
//! shape within the body timeout and its connection is closed; a body left unread closes
//! its connection; idle keep-alive connections and stalled request heads are cut off; a
//! replica serves at most its configured number of connections.

use crate::{Backend, TestApp};
use keyplane_api::Settings;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn quick_timeouts(s: &mut Settings) {
    s.http.body_timeout_ms = 1000;
    s.http.request_head_timeout_ms = 1000;
    s.http.keep_alive_secs = 1;
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// Reads until the server closes the connection (or `limit` passes: a failure);
/// returns the text received and when the close came.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Instant) {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into_owned(), Instant::now()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection was still open after {limit:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

fn status_and_body(response: &str) -> (u16, Value) {
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn stall_body(app: &TestApp, head: &str) -> (u16, Value, Duration, String) {
    let mut stream = connect(app).await;
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"user").await.unwrap();
    let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let (status, body) = status_and_body(&response);
    (status, body, closed - started, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_in_its_surface_shape_and_the_connection_closes() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, quick_timeouts).await else { continue };
        let native = "POST /api/v1/users/auth/_login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        let (status, body, took, raw) = stall_body(&app, native).await;
        assert_eq!(status, 408, "{raw}");
        assert_eq!(body["errors"][0]["code"], "root.request_timeout");
        assert!(raw.to_ascii_lowercase().contains("connection: close"), "{raw}");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");

        app.create_tenant("acme").await;
        let investsuite = "POST /t/acme/investsuite/auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        let (status, body, took, raw) = stall_body(&app, investsuite).await;
        assert_eq!(status, 408, "{raw}");
        assert_eq!(body, serde_json::json!({"detail": "The request body was not received in time."}));
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");

        let chunked = "POST /t/acme/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n";
        let (status, body, took, raw) = stall_body(&app, chunked).await;
        assert_eq!(status, 408, "{raw}");
        assert_eq!(body["error"], "invalid_request");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_body_closes_its_connection() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.body_timeout_ms = 30_000).await.unwrap();
    for head in [
        // Refused before the body is read: unknown tenant.
        "POST /t/nosuch/sensu/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ref",
        "POST /t/nosuch/sensu/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"re",
        // A body sent to a path that reads none.
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
    ] {
        let mut stream = connect(&app).await;
        let started = Instant::now();
        stream.write_all(head.as_bytes()).await.unwrap();
        let (response, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        let (status, _) = status_and_body(&response);
        assert!(status >= 400, "{response}");
        assert!(response.to_ascii_lowercase().contains("connection: close"), "{response}");
        assert!(closed - started < Duration::from_secs(3), "closed after {:?}", closed - started);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_stalled_heads_are_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, quick_timeouts).await.unwrap();
    let mut idle = connect(&app).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let started = Instant::now();
    let (response, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(closed - started < Duration::from_secs(3), "keep-alive lasted {:?}", closed - started);

    let mut stalled = connect(&app).await;
    stalled.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let (response, closed) = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(closed - started < Duration::from_secs(3), "a stalled head lasted {:?}", closed - started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_at_most_its_connection_limit() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.http.max_connections = 2;
        s.http.request_head_timeout_ms = 30_000;
    })
    .await
    .unwrap();
    let first = connect(&app).await;
    let second = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(700)).build().unwrap();
    let url = format!("{}/healthz", app.base);
    assert!(client.get(&url).send().await.is_err(), "a third connection is not served while two are held");
    drop((first, second));
    let resp = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(resp.status(), 200, "served once the held connections close");
}
