//! `kill -9` under load: refresh chains run against a `keyplane` process while it is
//! killed. After a restart every chain's last received refresh token still works (a
//! rotation the server committed but could not answer is inside the reuse grace, so the
//! retry gets that successor) and the token before it is refused; SQLite passes
//! `PRAGMA integrity_check`.

use crate::{TestApp, PASSWORD};
use reqwest::{Client, Method};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_every_backend!(refresh_chains_survive_kill_9);

const CHAINS: usize = 8;
const GRACE_SECS: u64 = 5;

/// A chain of refresh tokens: the one before the last received, and the last received.
type Chain = Arc<Mutex<(Option<String>, String)>>;

async fn refresh(client: &Client, base: &str, token: &str) -> Result<(u16, Value), reqwest::Error> {
    let resp = client.post(format!("{base}/api/v1/users/auth/_refresh")).bearer_auth(token).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await?))
}

async fn refresh_chains_survive_kill_9(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let resp = app
        .as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
        .json(&json!({"refresh_token_reuse_grace_seconds": GRACE_SECS}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let env = [("KEYPLANE_RATE_LIMIT__ENABLED", "false"), ("KEYPLANE_CACHE_TTL_MS", "0")];
    let server = app.replica(0, &env);
    let base = server.base.clone();
    let client = Client::new();
    let mut chains: Vec<Chain> = Vec::new();
    for _ in 0..CHAINS {
        let login = app.login(&key, "alice", PASSWORD).await;
        chains.push(Arc::new(Mutex::new((None, login["refresh_token"].as_str().unwrap().to_owned()))));
    }
    let load: Vec<_> = chains
        .iter()
        .map(|chain| {
            let (chain, client, base) = (chain.clone(), client.clone(), base.clone());
            tokio::spawn(async move {
                loop {
                    let current = chain.lock().unwrap().1.clone();
                    // A refused connection or a cut answer: the server is gone.
                    let Ok((status, body)) = refresh(&client, &base, &current).await else { return };
                    assert_eq!(status, 200, "a refresh failed before the kill: {body}");
                    *chain.lock().unwrap() = (Some(current), body["refresh_token"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    drop(server); // SIGKILL, then wait
    for task in load {
        task.await.expect("no chain saw a wrong answer before the kill");
    }
    for chain in &chains {
        let chain = chain.lock().unwrap();
        app.secret(&chain.1);
        assert!(chain.0.is_some(), "every chain rotated before the kill");
    }
    if app.database_url.starts_with("sqlite") {
        let db = Database::connect(app.database_url.as_str()).await.unwrap();
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), "PRAGMA integrity_check"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "ok", "the SQLite file is intact after kill -9");
    }

    let restarted = app.replica(0, &env);
    for chain in &chains {
        let last = chain.lock().unwrap().1.clone();
        let (status, body) = refresh(&client, &restarted.base, &last).await.unwrap();
        assert_eq!(status, 200, "the last received refresh token works after the restart: {body}");
        app.secrets_of(&body);
    }
    // Two rotations back now (the last received was just rotated, or its unanswered
    // successor is current): refused even within the grace.
    for chain in &chains {
        let before = chain.lock().unwrap().0.clone().unwrap();
        let (status, _) = refresh(&client, &restarted.base, &before).await.unwrap();
        assert_eq!(status, 401, "the refresh token before the last received is refused");
    }
}
