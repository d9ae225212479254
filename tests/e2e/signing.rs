//! Signing keys: one per scope whatever the concurrency (within one server and across
//! processes), and a retired key stops verifying once its retention ends.

use crate::{assert_error, claims, header, Backend, TestApp, PASSWORD};
use futures_util::future::join_all;
use keyplane_persistence::entities::signing_keys;
use reqwest::Method;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use std::collections::HashSet;

on_every_backend!(
    a_retired_key_stops_verifying_once_its_retention_ends,
    concurrent_first_token_requests_publish_one_key,
);

/// The `kid`s in a tenant's JWKS.
async fn published_kids(app: &TestApp, slug: &str) -> Vec<String> {
    let resp = app.request(Method::GET, &format!("/t/{slug}/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let jwks: Value = resp.json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn put_policy(app: &TestApp, policy: Value) {
    let resp =
        app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy").json(&policy).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

async fn a_retired_key_stops_verifying_once_its_retention_ends(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    // A token that outlives the retention the rotation below will give its key: issued
    // under a 24-hour access lifetime, before the policy shrinks to one hour.
    put_policy(app, json!({"access_token_lifetime_seconds": 86_400})).await;
    let old_token = app.login(&key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let old_kid = header(&old_token)["kid"].as_str().unwrap().to_owned();
    put_policy(app, json!({"access_token_lifetime_seconds": 900, "session_lifetime_seconds": 3600})).await;
    let resp = app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/signing-keys/_rotate").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let new_kid = resp.json::<Value>().await.unwrap()["kid"].as_str().unwrap().to_owned();
    let whoami = || app.with_bearer(&old_token, Method::GET, "/api/v1/users/auth").send();

    // Within the retention (one hour, the new policy's longest lifetime) it still works.
    app.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(whoami().await.unwrap().status(), 200);
    assert_eq!(published_kids(app, "acme").await, [new_kid.clone(), old_kid.clone()]);

    // After it, the token (unexpired, its session active) is refused: its key is gone.
    app.clock.advance(chrono::Duration::minutes(2));
    assert!(claims(&old_token)["exp"].as_i64().unwrap() > app_now(app), "the token itself has not expired");
    assert_error(whoami().await.unwrap(), 401, "root.unauthorized").await;
    assert_eq!(published_kids(app, "acme").await, std::slice::from_ref(&new_kid));
    let fresh = app.login(&key, "alice", PASSWORD).await;
    let fresh_token = fresh["token"].as_str().unwrap();
    assert_eq!(header(fresh_token)["kid"], new_kid.as_str());
    assert_eq!(app.with_bearer(fresh_token, Method::GET, "/api/v1/users/auth").send().await.unwrap().status(), 200);
}

fn app_now(app: &TestApp) -> i64 {
    use keyplane_domain::clock::Clock;
    app.clock.now().timestamp()
}

/// Fires `n` client-credentials token requests at `slug` at once; returns the `kid`s
/// of the tokens, all of which must have been issued.
async fn first_tokens(app: &TestApp, slug: &str, key: &str, n: usize) -> HashSet<String> {
    let path = format!("/t/{slug}/oauth2/token");
    let requests = (0..n).map(|_| app.form(&path, &[("grant_type", "client_credentials")], Some(key)));
    let mut kids = HashSet::new();
    for (status, body) in join_all(requests).await {
        assert_eq!(status, 200, "{body}");
        kids.insert(header(body["access_token"].as_str().unwrap())["kid"].as_str().unwrap().to_owned());
    }
    kids
}

async fn concurrent_first_token_requests_publish_one_key(app: &TestApp) {
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.unwrap();

    // A tenant whose key is missing (as for tenants from before keys were made with their
    // tenant): the first token requests race to create it; the database keeps one.
    let key = app.tenant_with_admin_key("legacy").await;
    db.execute_unprepared("DELETE FROM signing_keys").await.unwrap();
    let kids = first_tokens(app, "legacy", &key, 32).await;
    assert_eq!(kids.len(), 1, "every token is signed with the one key: {kids:?}");
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(published_kids(app, "legacy").await, Vec::from_iter(kids));

    // A new tenant has its key from the start.
    let key = app.tenant_with_admin_key("acme").await;
    let kids = first_tokens(app, "acme", &key, 32).await;
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(published_kids(app, "acme").await, Vec::from_iter(kids));
}

/// Active platform keys in the database.
async fn active_platform_keys(database_url: &str) -> u64 {
    let db = sea_orm::Database::connect(database_url).await.unwrap();
    signing_keys::Entity::find()
        .filter(signing_keys::Column::TenantId.is_null())
        .filter(signing_keys::Column::RetiredAt.is_null())
        .count(&db)
        .await
        .unwrap()
}

/// Three servers (this test's and two `keyplane` processes) on one PostgreSQL database
/// race for the platform's first key: one is stored, and every token is signed with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_a_database_create_one_platform_key() {
    const QUEUE: usize = 64;
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |s| s.hashing.queue = QUEUE).await else { return };
    let queue = QUEUE.to_string();
    let env = [("KEYPLANE_HASHING__QUEUE", queue.as_str())];
    // 24 sign-ins of one operator from one address at once: more than the default
    // lockout lets be verified at a time (each might be a guess); this is about keys.
    let policy = app.as_admin(reqwest::Method::PUT, "/api/v1/platform/brute-force-policy");
    assert_eq!(policy.json(&json!({"max_failures": 50})).send().await.unwrap().status(), 200);
    let (first, second) = (app.replica(0, &env), app.replica(1, &env));
    assert_eq!(active_platform_keys(&app.database_url).await, 0);

    let bases = [app.base.clone(), first.base.clone(), second.base.clone()];
    let logins = (0..24).map(|i| {
        app.client
            .post(format!("{}/api/v1/users/auth/_login", bases[i % bases.len()]))
            .json(&json!({"username": "admin", "password": crate::support::ADMIN_PASSWORD}))
            .send()
    });
    let mut kids = HashSet::new();
    for resp in join_all(logins).await {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        kids.insert(header(body["token"].as_str().unwrap())["kid"].as_str().unwrap().to_owned());
    }
    assert_eq!(kids.len(), 1, "every platform token is signed with the one key: {kids:?}");
    assert_eq!(active_platform_keys(&app.database_url).await, 1);
}
