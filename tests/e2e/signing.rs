//! Signing keys: one per scope whatever the concurrency (within one server and across
//! processes), a retired key stops verifying once its retention ends, and a withdrawn
//! one at once.

use crate::{assert_error, claims, header, Backend, TestApp, PASSWORD};
use futures_util::future::join_all;
use keyplane_persistence::entities::signing_keys;
use reqwest::Method;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use std::collections::HashSet;

on_every_backend!(
    a_withdrawn_key_stops_verifying_at_once,
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

/// A key withdrawn (say it leaked) stops verifying at once and leaves the JWKS; the
/// active key's withdrawal makes a new one active; each is audited.
async fn a_withdrawn_key_stops_verifying_at_once(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let first = app.login(&key, "alice", PASSWORD).await;
    let first_token = first["token"].as_str().unwrap().to_owned();
    let first_kid = header(&first_token)["kid"].as_str().unwrap().to_owned();
    let me = |token: String| async move {
        app.with_bearer(&token, Method::GET, "/api/v1/users/auth").send().await.unwrap().status().as_u16()
    };
    let rotated =
        app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/signing-keys/_rotate").send().await.unwrap();
    assert_eq!(rotated.status(), 200);
    assert_eq!(me(first_token.clone()).await, 200, "a retired key still verifies");
    let withdraw = |kid: String| async move {
        app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/signing-keys/{kid}")).send().await.unwrap()
    };
    assert_eq!(withdraw(first_kid.clone()).await.status(), 200);
    assert_eq!(me(first_token.clone()).await, 401, "a withdrawn key no longer verifies");
    assert!(!published_kids(app, "acme").await.contains(&first_kid));
    let refresh =
        app.with_bearer(first["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh");
    assert_eq!(refresh.send().await.unwrap().status(), 401, "nor do its refresh tokens");
    assert_error(withdraw(first_kid).await, 404, "signing_keys.key_not_found").await;

    // The active key: a new one signs from now on.
    let second = app.login(&key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let active_kid = header(&second)["kid"].as_str().unwrap().to_owned();
    assert_eq!(withdraw(active_kid.clone()).await.status(), 200);
    assert_eq!(me(second).await, 401);
    let third = app.login(&key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let new_kid = header(&third)["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, active_kid);
    assert_eq!(me(third).await, 200);
    assert_eq!(published_kids(app, "acme").await, std::slice::from_ref(&new_kid));

    // Another tenant's key, or an unknown one, is not found; the trail names both.
    app.tenant_with_admin_key("globex").await;
    assert_error(withdraw("no-such-kid".into()).await, 404, "signing_keys.key_not_found").await;
    let resp = app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/globex/signing-keys/{new_kid}")).send();
    assert_error(resp.await.unwrap(), 404, "signing_keys.key_not_found").await;
    let trail = app.as_admin(Method::GET, "/api/v1/audit?action=signing_key.withdrawn").send().await.unwrap();
    let trail: Value = trail.json().await.unwrap();
    assert_eq!(trail["total"], 2, "{trail}");
    assert_eq!(trail["events"][0]["details"]["replacement_kid"], new_kid.as_str(), "{trail}");
}
