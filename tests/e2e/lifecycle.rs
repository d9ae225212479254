//! Lifecycle: disabling or deleting a user, changing their password and revoking a key
//! end the affected sessions at once; concurrent updates never write an old status back.

use crate::{assert_error, claims, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    disabling_ends_the_users_sessions_and_her_keys,
    deleting_ends_the_users_sessions_and_her_keys,
    revoking_a_key_ends_its_sessions,
    a_new_password_keeps_the_callers_session_only,
    disabling_survives_a_concurrent_profile_patch,
    suspension_survives_a_concurrent_policy_change
);

/// A signed-in session: its access and refresh tokens.
struct Signed {
    access: String,
    refresh: String,
}

async fn native_login(app: &TestApp, key: &str, user: &str, password: &str) -> Signed {
    let body = app.login(key, user, password).await;
    Signed { access: body["token"].as_str().unwrap().into(), refresh: body["refresh_token"].as_str().unwrap().into() }
}

/// Signs in at InvestSuite's `/auth/login/` with a key's two halves.
async fn investsuite_login(app: &TestApp, created: &Value) -> Signed {
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/login/")
        .json(&json!({
            "access_key_id": created["access_key_id"], "secret_access_key": created["secret_access_key"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    Signed {
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
    }
}

/// Creates a key for the user signed in with `access`; returns the creation response.
async fn own_key(app: &TestApp, access: &str) -> Value {
    let resp = app
        .with_bearer(access, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn active(app: &TestApp, key: &str, access: &str) -> bool {
    let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", access)], Some(key)).await;
    assert_eq!(status, 200, "{body}");
    if body["active"] == false {
        assert_eq!(body, json!({"active": false}));
    }
    body["active"] == true
}

/// The session is live: its access token introspects active and its refresh token rotates
/// (the rotated one is returned).
async fn assert_live(app: &TestApp, key: &str, s: &Signed) -> Signed {
    assert!(active(app, key, &s.access).await, "the session should be active");
    let (status, body) =
        app.form("/t/acme/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", &s.refresh)], None).await;
    assert_eq!(status, 200, "{body}");
    Signed {
        access: body["access_token"].as_str().unwrap().into(),
        refresh: body["refresh_token"].as_str().unwrap().into(),
    }
}

/// The session is over: its access token introspects inactive, is refused by the native
/// API and by `_refresh`, and its refresh token is refused.
async fn assert_ended(app: &TestApp, key: &str, s: &Signed) {
    assert!(!active(app, key, &s.access).await, "the session should have ended");
    let (status, body) =
        app.form("/t/acme/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", &s.refresh)], None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let resp = app.with_bearer(&s.access, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

async fn patch_user(app: &TestApp, key: &str, user: &str, body: Value) -> Value {
    let resp = app.with_key(key, Method::PATCH, &format!("/api/v1/users/{user}")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "patching {user} with {body}");
    resp.json().await.unwrap()
}

async fn disabling_ends_the_users_sessions_and_her_keys(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let alice = native_login(app, &key, "alice", PASSWORD).await;
    let her_key = own_key(app, &alice.access).await;
    let by_key = investsuite_login(app, &her_key).await;
    let alice = assert_live(app, &key, &alice).await;
    let by_key = assert_live(app, &key, &by_key).await;

    assert_eq!(patch_user(app, &key, "alice", json!({"enabled": false})).await["enabled"], false);
    assert_ended(app, &key, &alice).await;
    assert_ended(app, &key, &by_key).await;

    // Ended, not merely refused while she is disabled: enabling her again revives nothing.
    assert_eq!(patch_user(app, &key, "alice", json!({"enabled": true})).await["enabled"], true);
    assert_ended(app, &key, &alice).await;
    assert_ended(app, &key, &by_key).await;
    let again = native_login(app, &key, "alice", PASSWORD).await;
    assert_live(app, &key, &again).await;
}

async fn deleting_ends_the_users_sessions_and_her_keys(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    app.create_user(&key, "bob").await;
    let alice = native_login(app, &key, "alice", PASSWORD).await;
    let by_key = investsuite_login(app, &own_key(app, &alice.access).await).await;
    let bob = native_login(app, &key, "bob", PASSWORD).await;

    let resp = app.with_key(&key, Method::DELETE, "/api/v1/users/alice").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_ended(app, &key, &alice).await;
    assert_ended(app, &key, &by_key).await;
    assert_live(app, &key, &bob).await;
}

async fn revoking_a_key_ends_its_sessions(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    // A tenant application key: an InvestSuite session and a client-credentials token.
    let app_key = app.create_key("acme", &["tenant_viewer"]).await;
    let by_app_key = investsuite_login(app, &app_key).await;
    let (status, body) = app
        .form("/t/acme/oauth2/token", &[("grant_type", "client_credentials")], Some(app_key["key"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200, "{body}");
    let client_token = body["access_token"].as_str().unwrap().to_owned();
    assert!(active(app, &key, &client_token).await);
    let by_app_key = assert_live(app, &key, &by_app_key).await;

    let id = app_key["id"].as_str().unwrap();
    let resp = app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/keys/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_ended(app, &key, &by_app_key).await;
    assert!(!active(app, &key, &client_token).await);
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/refresh-token/")
        .json(&json!({"refresh_token": by_app_key.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // A user's own key, deleted by the user: its session ends, hers goes on.
    let alice = native_login(app, &key, "alice", PASSWORD).await;
    let her_key = own_key(app, &alice.access).await;
    let by_her_key = investsuite_login(app, &her_key).await;
    let path = format!("/api/v1/users/auth/keys/{}", her_key["id"].as_str().unwrap());
    assert_eq!(app.with_bearer(&alice.access, Method::DELETE, &path).send().await.unwrap().status(), 200);
    assert_ended(app, &key, &by_her_key).await;
    assert_live(app, &key, &alice).await;
}

async fn a_new_password_keeps_the_callers_session_only(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "carol", "password": PASSWORD, "roles": ["tenant_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let current = native_login(app, &key, "carol", PASSWORD).await;
    let other = native_login(app, &key, "carol", PASSWORD).await;
    let by_key = investsuite_login(app, &own_key(app, &current.access).await).await;

    // Carol changes her own password with her bearer token.
    let resp = app
        .with_bearer(&current.access, Method::PATCH, "/api/v1/users/carol")
        .json(&json!({"password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_ended(app, &key, &other).await;
    let current = assert_live(app, &key, &current).await;
    // Her key is not opened by the password: its session goes on.
    assert_live(app, &key, &by_key).await;
    let sessions: Value =
        app.with_key(&key, Method::GET, "/api/v1/users/carol/sessions").send().await.unwrap().json().await.unwrap();
    assert_eq!(sessions["total"], 1, "{sessions}");
    assert_eq!(sessions["sessions"][0]["id"], claims(&current.access)["sid"]);
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "carol", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthenticated").await;
    let fresh = native_login(app, &key, "carol", "a brand new password").await;

    // Set by an administrator (no session of hers to keep), it ends all of them.
    patch_user(app, &key, "carol", json!({"password": "another new password"})).await;
    assert_ended(app, &key, &current).await;
    assert_ended(app, &key, &fresh).await;
}

async fn disabling_survives_a_concurrent_profile_patch(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    for round in 0..20 {
        patch_user(app, &key, "alice", json!({"enabled": true})).await;
        let name = format!("Alice {round}");
        let profile = app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"full_name": name}));
        let disable = app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"enabled": false}));
        let (profile, disable) = tokio::join!(profile.send(), disable.send());
        assert_eq!(
            (profile.unwrap().status().as_u16(), disable.unwrap().status().as_u16()),
            (200, 200),
            "round {round}"
        );
        let user: Value =
            app.with_key(&key, Method::GET, "/api/v1/users/alice").send().await.unwrap().json().await.unwrap();
        assert_eq!((&user["enabled"], &user["full_name"]), (&json!(false), &json!(name)), "round {round}");
    }
}

async fn suspension_survives_a_concurrent_policy_change(app: &TestApp) {
    app.create_tenant("acme").await;
    let base = "/api/v1/platform/tenants/acme";
    for round in 0..20 {
        let resp = app.as_admin(Method::POST, &format!("{base}/_resume")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ttl = 60 * (round + 1);
        let policy = app
            .as_admin(Method::PUT, &format!("{base}/token-policy"))
            .json(&json!({"access_token_lifetime_seconds": ttl}));
        let suspend = app.as_admin(Method::POST, &format!("{base}/_suspend"));
        let (policy, suspend) = tokio::join!(policy.send(), suspend.send());
        assert_eq!(
            (policy.unwrap().status().as_u16(), suspend.unwrap().status().as_u16()),
            (200, 200),
            "round {round}"
        );
        let tenant: Value = app.as_admin(Method::GET, base).send().await.unwrap().json().await.unwrap();
        assert_eq!(tenant["status"], "suspended", "round {round}");
        let policy: Value =
            app.as_admin(Method::GET, &format!("{base}/token-policy")).send().await.unwrap().json().await.unwrap();
        assert_eq!(policy["access_token_lifetime_seconds"], ttl, "round {round}");
    }
}
