//! Graceful shutdown of the real binary: on SIGTERM or SIGINT `/readyz` answers 503, a
//! request in flight still gets its answer, new connections are then refused, the queued
//! audit events are stored, the database is closed (no `-wal` file left on SQLite) and
//! the process says "stopped" once and exits 0.

use crate::bootstrap::ServerProcess;
use crate::support::ADMIN_PASSWORD;
use crate::{Backend, TestApp};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READINESS_DELAY_MS: u64 = 1500;

async fn shut_down(mut server: ServerProcess, signal: &str, database_url: &str) {
    let host = server.base.trim_start_matches("http://").to_owned();
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    // A sign-in whose body is only half sent when the signal comes.
    let body = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let mut in_flight = TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/v1/users/auth/_login HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    server.signal(signal);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = client.get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "{signal}: /readyz once told to stop");
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "stopping");

    // After the readiness delay the listener is closed: new connections are refused.
    loop {
        if TcpStream::connect(&host).await.is_err() {
            break;
        }
        assert!(signalled.elapsed() < Duration::from_millis(READINESS_DELAY_MS + 3000), "{signal}: still accepting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(signalled.elapsed() >= Duration::from_millis(READINESS_DELAY_MS), "{signal}: accepting during the delay");

    // The request in flight still gets its answer.
    in_flight.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), in_flight.read_to_end(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{signal}: the request in flight: {response:.300}");

    let (status, output) = tokio::task::spawn_blocking(move || {
        let exit = server.wait_for_exit(Duration::from_secs(15));
        drop(server);
        exit
    })
    .await
    .unwrap();
    assert!(status.success(), "{signal}: exit status {status}; {output:?}");
    assert!(
        output.iter().all(|l| !l.contains("\"level\":\"ERROR\"")),
        "{signal}: a clean stop logs no error: {output:?}"
    );
    let stopped: Vec<&String> = output.iter().filter(|l| l.contains("\"stopped\"")).collect();
    assert_eq!(stopped.len(), 1, "{signal}: one line says it stopped: {output:?}");
    assert!(
        output.iter().all(|l| !l.contains("force") && !l.contains("stopping at once")),
        "{signal}: not forced: {output:?}"
    );

    // The sign-in's audit event was queued when the signal came, and is stored.
    let db = Database::connect(database_url).await.unwrap();
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.sign_in.succeeded'",
        ))
        .await
        .unwrap()
        .unwrap();
    let n: i64 = row.try_get("", "n").unwrap();
    assert_eq!(n, 1, "{signal}: the queued audit event is stored");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_drain_and_stop_cleanly_on_sqlite() {
    for signal in ["TERM", "INT"] {
        let dir = std::env::temp_dir().join(format!("keyplane-shutdown-{}", uuid::Uuid::new_v4().simple()));
        let data_dir = dir.to_str().unwrap().to_owned();
        let delay = READINESS_DELAY_MS.to_string();
        let server = ServerProcess::start(&[
            ("KEYPLANE_DATA_DIR", data_dir.as_str()),
            ("KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("KEYPLANE_SHUTDOWN__READINESS_DELAY_MS", delay.as_str()),
        ]);
        let db = dir.join("keyplane.db");
        shut_down(server, signal, &format!("sqlite://{}", db.display())).await;
        let wal = dir.join("keyplane.db-wal");
        assert!(!wal.exists(), "{signal}: the SQLite database was closed cleanly (no {} left)", wal.display());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_stops_cleanly_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let delay = READINESS_DELAY_MS.to_string();
    let server = app.replica(1, &[("KEYPLANE_SHUTDOWN__READINESS_DELAY_MS", delay.as_str())]);
    shut_down(server, "TERM", &app.database_url).await;
}
