//! Storage stays bounded: the server purges sessions that ended longer ago than their
//! retention, in the background, and keeps the others.

use crate::{claims, Backend, TestApp, PASSWORD};
use keyplane_persistence::entities::sessions;
use reqwest::Method;
use sea_orm::EntityTrait;
use std::time::{Duration, Instant};

/// Whether session `sid` (a `sid` claim) is still stored.
async fn stored(db: &sea_orm::DatabaseConnection, sid: &serde_json::Value) -> bool {
    let id = uuid::Uuid::parse_str(sid.as_str().unwrap()).unwrap();
    sessions::Entity::find_by_id(id).one(db).await.unwrap().is_some()
}

async fn ended_sessions_are_purged_after_their_retention(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |s| {
        s.session_purge.interval_ms = 50;
        s.session_purge.retention_secs = 3600;
        s.session_purge.batch_size = 1;
    })
    .await
    else {
        return;
    };
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.unwrap();
    let key = app.tenant_with_user("acme").await;
    let mut ended = Vec::new();
    for _ in 0..3 {
        let token = app.login(&key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
        let resp = app.with_bearer(&token, Method::POST, "/api/v1/users/auth/_logout").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        ended.push(claims(&token)["sid"].clone());
    }
    let active = claims(app.login(&key, "alice", PASSWORD).await["token"].as_str().unwrap())["sid"].clone();

    // Several purges run within the retention: nothing goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for sid in ended.iter().chain([&active]) {
        assert!(stored(&db, sid).await, "{sid} is kept within the retention");
    }

    // Past it, the revoked sessions go (one per batch: the purge loops) and the active one stays.
    app.clock.advance(chrono::Duration::minutes(61));
    let deadline = Instant::now() + Duration::from_secs(20);
    for sid in &ended {
        while stored(&db, sid).await {
            assert!(Instant::now() < deadline, "{sid} was not purged");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(stored(&db, &active).await, "an active session is never purged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_are_purged_after_their_retention_sqlite() {
    ended_sessions_are_purged_after_their_retention(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_are_purged_after_their_retention_postgres() {
    ended_sessions_are_purged_after_their_retention(Backend::Postgres).await;
}
