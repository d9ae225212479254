//! Least privilege for keys and derived credentials (issue 18, items 4 and 5), on SQLite
//! and PostgreSQL: a request authenticated by an API key creates neither keys nor
//! operators and changes no operator's password or roles; a key created without roles
//! administers nothing; an administrator's password reset and a disable revoke the
//! user's (or operator's) own keys, audited, while a change in person keeps them.

use crate::support::{assert_error, SendJson};
use crate::{TestApp, PASSWORD};
use reqwest::Method;
use serde_json::json;

on_every_backend!(
    keys_mint_neither_keys_nor_operators,
    a_key_without_roles_administers_nothing,
    a_reset_or_a_disable_revokes_a_users_own_keys,
    a_reset_or_a_disable_revokes_an_operators_keys,
    an_old_session_mints_no_application_key_and_a_personal_key_is_no_oauth_client,
);

const NEW_PASSWORD: &str = "another long passphrase";

async fn keys_mint_neither_keys_nor_operators(app: &TestApp) {
    let tenant_key = app.tenant_with_admin_key("acme").await;
    let resp = app
        .with_key(&tenant_key, Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"description": "successor", "roles": ["tenant_admin"]}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    // It still manages its tenant's users: creating them and resetting their passwords.
    app.create_user(&tenant_key, "bob").await;
    let reset = app.with_key(&tenant_key, Method::PATCH, "/api/v1/users/bob").json(&json!({"password": NEW_PASSWORD}));
    assert_eq!(reset.send().await.unwrap().status(), 200);

    let created = app
        .as_admin(Method::POST, "/api/v1/platform/users/admin/keys")
        .json(&json!({"description": "automation"}))
        .send_ok()
        .await;
    let platform_key = created["key"].as_str().unwrap().to_owned();
    app.secret(&platform_key);
    app.as_admin(Method::POST, "/api/v1/platform/users")
        .json(&json!({"user_name": "ops", "password": PASSWORD, "roles": ["platform_viewer"]}))
        .send_ok()
        .await;
    let refused = [
        (
            Method::POST,
            "/api/v1/platform/users",
            json!({"user_name": "intruder", "password": PASSWORD, "roles": ["platform_admin"]}),
        ),
        (Method::POST, "/api/v1/platform/users/admin/keys", json!({"description": "successor"})),
        (Method::POST, "/api/v1/platform/users/ops/keys", json!({"description": "successor"})),
        (Method::POST, "/api/v1/platform/tenants/acme/keys", json!({"description": "successor"})),
        (Method::PATCH, "/api/v1/platform/users/ops", json!({"password": NEW_PASSWORD})),
        (Method::PATCH, "/api/v1/platform/users/ops", json!({"roles": ["platform_admin"]})),
        (Method::PATCH, "/api/v1/platform/users/admin", json!({"password": NEW_PASSWORD})),
    ];
    for (method, path, body) in refused {
        let resp = app.with_key(&platform_key, method.clone(), path).json(&body).send().await.unwrap();
        let error = assert_error(resp, 403, "root.unauthorized.rbac").await;
        assert!(error["message"].as_str().unwrap().contains("API key"), "{method} {path}: {error}");
    }
    // What it may still do: read, and disable an operator (which revokes nothing it made).
    let resp =
        app.with_key(&platform_key, Method::PATCH, "/api/v1/platform/users/ops").json(&json!({"enabled": false}));
    assert_eq!(resp.send().await.unwrap().status(), 200);
    let operators = app.with_key(&platform_key, Method::GET, "/api/v1/platform/users").send_json().await;
    assert_eq!(operators["total"], 2, "no operator was created: {operators}");
    // The bootstrap admin in person does all of it.
    let resp = app.as_admin(Method::PATCH, "/api/v1/platform/users/ops").json(&json!({"roles": ["platform_admin"]}));
    assert_eq!(resp.send().await.unwrap().status(), 200);
}

async fn a_key_without_roles_administers_nothing(app: &TestApp) {
    app.tenant_with_user("acme").await;
    let created = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"description": "checkout service"}))
        .send_ok()
        .await;
    assert_eq!(created["roles"], json!([]), "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    app.secret(&key);
    let resp = app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let resp =
        app.with_key(&key, Method::POST, "/api/v1/users").json(&json!({"user_name": "mallory", "password": PASSWORD}));
    assert_error(resp.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    // Its job: signing users in, refreshing and introspecting their tokens.
    let session = app.login(&key, "alice", PASSWORD).await;
    let token = session["token"].as_str().unwrap();
    let (status, active) = app.form("/t/acme/oauth2/introspect", &[("token", token)], Some(&key)).await;
    assert_eq!((status, active["active"].clone()), (200, json!(true)), "{active}");
}

/// A personal key of `user` (who must hold `tenant_admin` to list users with it), made
/// with a fresh session.
async fn personal_key(app: &TestApp, app_key: &str, user: &str, password: &str) -> String {
    let token = app.login(app_key, user, password).await["token"].as_str().unwrap().to_owned();
    let created = app
        .with_bearer(&token, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "laptop"}))
        .send_ok()
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    app.secret(&key);
    key
}

async fn works(app: &TestApp, key: &str) -> u16 {
    app.with_key(key, Method::GET, "/api/v1/users/auth/keys").send().await.unwrap().status().as_u16()
}

async fn a_reset_or_a_disable_revokes_a_users_own_keys(app: &TestApp) {
    let app_key = app.tenant_with_admin_key("acme").await;
    app.with_key(&app_key, Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "bob", "password": PASSWORD, "roles": ["tenant_admin"]}))
        .send_ok()
        .await;
    // In person, bob changes his own password: his key survives.
    let key = personal_key(app, &app_key, "bob", PASSWORD).await;
    let token = app.login(&app_key, "bob", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let own = app.with_bearer(&token, Method::PATCH, "/api/v1/users/bob").json(&json!({"password": NEW_PASSWORD}));
    assert_eq!(own.send().await.unwrap().status(), 200);
    assert_eq!(works(app, &key).await, 200, "a change in person keeps the user's keys");

    // An administrator's reset revokes it.
    let reset = app.with_key(&app_key, Method::PATCH, "/api/v1/users/bob").json(&json!({"password": PASSWORD}));
    assert_eq!(reset.send().await.unwrap().status(), 200);
    assert_eq!(works(app, &key).await, 401, "a reset revokes the user's keys");

    // So does a disable, for good: enabling the user again does not bring the key back.
    let second = personal_key(app, &app_key, "bob", PASSWORD).await;
    for enabled in [false, true] {
        let resp = app.with_key(&app_key, Method::PATCH, "/api/v1/users/bob").json(&json!({"enabled": enabled}));
        assert_eq!(resp.send().await.unwrap().status(), 200);
    }
    assert_eq!(works(app, &second).await, 401, "a disable revokes the user's keys");

    let trail = app.with_key(&app_key, Method::GET, "/api/v1/audit?action=api_key.revoked&size=100").send_json().await;
    let reasons: Vec<&str> =
        trail["events"].as_array().unwrap().iter().map(|e| e["details"]["reason"].as_str().unwrap_or("")).collect();
    assert_eq!(reasons, ["user_disabled", "password_reset"], "each revocation audited: {trail}");
}

async fn a_reset_or_a_disable_revokes_an_operators_keys(app: &TestApp) {
    app.as_admin(Method::POST, "/api/v1/platform/users")
        .json(&json!({"user_name": "ops", "password": PASSWORD, "roles": ["platform_viewer"]}))
        .send_ok()
        .await;
    let make_key = || async {
        let created = app
            .request(Method::POST, "/api/v1/platform/users/ops/keys")
            .basic_auth("ops", Some(PASSWORD))
            .json(&json!({"description": "automation"}))
            .send_ok()
            .await;
        created["key"].as_str().unwrap().to_owned()
    };
    let reads = |key: String| async move {
        app.with_key(&key, Method::GET, "/api/v1/platform/tenants").send().await.unwrap().status().as_u16()
    };
    let key = make_key().await;
    assert_eq!(reads(key.clone()).await, 200);
    let reset = app.as_admin(Method::PATCH, "/api/v1/platform/users/ops").json(&json!({"password": NEW_PASSWORD}));
    assert_eq!(reset.send().await.unwrap().status(), 200);
    let reset = app.as_admin(Method::PATCH, "/api/v1/platform/users/ops").json(&json!({"password": PASSWORD}));
    assert_eq!(reset.send().await.unwrap().status(), 200);
    assert_eq!(reads(key).await, 401, "an admin's reset revokes the operator's keys");
    let key = make_key().await;
    for enabled in [false, true] {
        let resp = app.as_admin(Method::PATCH, "/api/v1/platform/users/ops").json(&json!({"enabled": enabled}));
        assert_eq!(resp.send().await.unwrap().status(), 200);
    }
    assert_eq!(reads(key).await, 401, "a disable revokes them for good");
    let trail = app.as_admin(Method::GET, "/api/v1/audit?action=api_key.revoked&size=100").send_json().await;
    assert_eq!(trail["total"], 2, "{trail}");
}

async fn an_old_session_mints_no_application_key_and_a_personal_key_is_no_oauth_client(app: &TestApp) {
    let app_key = app.tenant_with_admin_key("acme").await;
    app.with_key(&app_key, Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "bob", "password": PASSWORD, "roles": ["tenant_admin"]}))
        .send_ok()
        .await;
    let token = app.login(&app_key, "bob", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let personal = personal_key(app, &app_key, "bob", PASSWORD).await;
    app.clock.advance(chrono::Duration::minutes(6));
    let create = |body: serde_json::Value| {
        app.with_bearer(&token, Method::POST, "/api/v1/platform/tenants/acme/keys").json(&body).send()
    };
    let resp = create(json!({"description": "stolen", "roles": ["tenant_admin"]})).await.unwrap();
    assert_error(resp, 401, "authc.reauthentication_required").await;
    let resp = create(json!({"description": "mine", "current_password": PASSWORD})).await.unwrap();
    assert_eq!(resp.status(), 201);
    // A user's own key is not the application: it cannot be the password grant's client.
    let grant = [("grant_type", "password"), ("username", "bob"), ("password", PASSWORD)];
    let (status, body) = app.form("/t/acme/oauth2/token", &grant, Some(&personal)).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, _) = app.form("/t/acme/oauth2/token", &grant, Some(&app_key)).await;
    assert_eq!(status, 200);
}
