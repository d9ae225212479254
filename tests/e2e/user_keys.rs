//! Users' own API keys (ECE's `/users/auth/keys`).

use crate::support::SendJson;
use crate::{assert_error, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    users_manage_their_own_keys,
    admins_manage_users_keys,
    a_stolen_session_mints_no_key_without_the_password
);

async fn users_manage_their_own_keys(app: &TestApp) {
    let admin_key = app.tenant_with_user("acme").await;
    let token = app.login(&admin_key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let resp = app
        .with_bearer(&token, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "laptop", "expiration": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store", "the secret is not cached");
    let created: Value = resp.json().await.unwrap();
    let mut fields: Vec<&String> = created.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "access_key_id",
            "creation_date",
            "description",
            "expiration_date",
            "id",
            "key",
            "secret_access_key",
            "user_id"
        ]
    );
    let (access_key_id, secret) =
        (created["access_key_id"].as_str().unwrap(), created["secret_access_key"].as_str().unwrap());
    assert_eq!(access_key_id, created["id"]);
    assert_eq!(created["key"], format!("kp_{access_key_id}_{secret}"), "the InvestSuite pair is the key's two halves");
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/login/")
        .json(&json!({"access_key_id": access_key_id, "secret_access_key": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the pair signs in at InvestSuite's /auth/login/");
    assert_eq!(resp.json::<Value>().await.unwrap()["token_type"], "Bearer");
    let user: Value =
        app.with_key(&admin_key, Method::GET, "/api/v1/users/alice").send().await.unwrap().json().await.unwrap();
    assert_eq!(created["user_id"], user["id"]);
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    // The key acts as alice, with her roles.
    let me: Value = app.with_key(&key, Method::GET, "/api/v1/user").send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user_name"], "alice");
    let info: Value = app.with_key(&key, Method::GET, "/api/v1/users/auth").send().await.unwrap().json().await.unwrap();
    assert_eq!(info["roles"], json!(["tenant_viewer", "support"]));
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;

    let second: Value = app
        .with_bearer(&token, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "ci", "expiration": "never"}))
        .send_json()
        .await;
    assert_eq!(second["expiration_date"], Value::Null, "never, asked for explicitly");
    let list: Value =
        app.with_bearer(&token, Method::GET, "/api/v1/users/auth/keys").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    for field in ["key", "access_key_id", "secret_access_key"] {
        assert!(list["keys"].as_array().unwrap().iter().all(|k| k.get(field).is_none()), "{field} shown once");
    }
    let got: Value = app.with_bearer(&token, Method::GET, &format!("/api/v1/users/auth/keys/{id}")).send_json().await;
    assert_eq!(got["description"], "laptop");

    for (body, field) in [
        (json!({"description": "x", "expiration": "soon"}), "expiration"),
        (json!({"expiration": "1d"}), "description"),
    ] {
        let resp = app.with_bearer(&token, Method::POST, "/api/v1/users/auth/keys").json(&body).send().await.unwrap();
        assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!([field]));
    }

    // Expiry follows the clock.
    app.clock.advance(chrono::Duration::minutes(61));
    let resp = app.with_key(&key, Method::GET, "/api/v1/user").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;

    // Delete one, then bulk-delete (all ids must exist).
    let token = app.login(&admin_key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let resp = app.with_bearer(&token, Method::DELETE, &format!("/api/v1/users/auth/keys/{id}")).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let resp = app.with_bearer(&token, Method::GET, &format!("/api/v1/users/auth/keys/{id}")).send().await.unwrap();
    assert_error(resp, 404, "api_keys.key_not_found").await;
    let second_id = second["id"].as_str().unwrap();
    let resp = app
        .with_bearer(&token, Method::DELETE, "/api/v1/users/auth/keys")
        .json(&json!({"keys": [second_id, id]}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "api_keys.key_not_found").await;
    assert_eq!(
        app.with_key(second["key"].as_str().unwrap(), Method::GET, "/api/v1/user").send().await.unwrap().status(),
        200,
        "nothing deleted"
    );
    let resp = app
        .with_bearer(&token, Method::DELETE, "/api/v1/users/auth/keys")
        .json(&json!({"keys": [second_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app.with_key(second["key"].as_str().unwrap(), Method::GET, "/api/v1/user").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let list: Value =
        app.with_bearer(&token, Method::GET, "/api/v1/users/auth/keys").send().await.unwrap().json().await.unwrap();
    assert_eq!(list, json!({"keys": []}));
}

async fn admins_manage_users_keys(app: &TestApp) {
    let admin_key = app.tenant_with_user("acme").await;
    let token = app.login(&admin_key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let created: Value = app
        .with_bearer(&token, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "d"}))
        .send_json()
        .await;
    let user_id = created["user_id"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    let list: Value =
        app.with_key(&admin_key, Method::GET, &format!("/api/v1/users/{user_id}/auth/keys")).send_json().await;
    assert_eq!(list["keys"][0]["id"], key_id.as_str());
    let got = app
        .with_key(&admin_key, Method::GET, &format!("/api/v1/users/{user_id}/auth/keys/{key_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    // A user key is not an application key: the tenant key routes still list it, owned by the user.
    let all: Value = app.with_key(&admin_key, Method::GET, "/api/v1/platform/tenants/acme/keys").send_json().await;
    assert!(all["keys"].as_array().unwrap().iter().any(|k| k["owner"] == json!({"type": "user", "user_id": user_id})));
    // Disabling the owner revokes the key.
    app.with_key(&admin_key, Method::PATCH, "/api/v1/users/alice")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    let resp = app.with_key(created["key"].as_str().unwrap(), Method::GET, "/api/v1/user").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    app.with_key(&admin_key, Method::PATCH, "/api/v1/users/alice")
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    // The disable revoked the key for good: enabled again, she has to make a new one.
    let resp = app.with_key(created["key"].as_str().unwrap(), Method::GET, "/api/v1/user").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .with_key(&admin_key, Method::DELETE, &format!("/api/v1/users/{user_id}/auth/keys/{key_id}"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "api_keys.key_not_found").await;
    let resp = app.with_key(&admin_key, Method::GET, "/api/v1/users/ghost/auth/keys").send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;
    // Deleting the user deletes its keys. (Disabling her ended her session: sign in again.)
    let token = app.login(&admin_key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let created: Value = app
        .with_bearer(&token, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "d"}))
        .send_json()
        .await;
    app.with_key(&admin_key, Method::DELETE, "/api/v1/users/alice").send().await.unwrap();
    let resp = app.with_key(created["key"].as_str().unwrap(), Method::GET, "/api/v1/user").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

/// A key made with a session needs a sign-in within 5 minutes or the current password
/// (a stolen bearer alone mints nothing); personal keys live 90 days unless the tenant
/// says otherwise or `never` is asked for.
async fn a_stolen_session_mints_no_key_without_the_password(app: &TestApp) {
    let app_key = app.tenant_with_user("acme").await;
    let token = app.login(&app_key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let create = |body: Value| app.with_bearer(&token, Method::POST, "/api/v1/users/auth/keys").json(&body).send();
    let fresh: Value = create(json!({"description": "fresh"})).await.unwrap().json().await.unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(fresh["creation_date"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(fresh["expiration_date"].as_str().unwrap()).unwrap();
    assert!((expires - created).num_seconds().abs_diff(90 * 86_400) <= 1, "the default lifetime: {fresh}");
    let never: Value =
        create(json!({"description": "forever", "expiration": "never"})).await.unwrap().json().await.unwrap();
    assert!(never["expiration_date"].is_null(), "never, when asked for: {never}");

    app.clock.advance(chrono::Duration::minutes(6));
    let resp = create(json!({"description": "stolen"})).await.unwrap();
    assert_error(resp, 401, "authc.reauthentication_required").await;
    let resp = create(json!({"description": "stolen", "current_password": "a guess"})).await.unwrap();
    assert_error(resp, 401, "authc.reauthentication_required").await;
    let resp = create(json!({"description": "mine", "current_password": PASSWORD})).await.unwrap();
    assert_eq!(resp.status(), 200);

    // The tenant's default lifetime.
    let policy = app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy");
    let set: Value =
        policy.json(&json!({"personal_key_lifetime_seconds": 30 * 86_400})).send().await.unwrap().json().await.unwrap();
    assert_eq!(set["personal_key_lifetime_seconds"], 30 * 86_400);
    let token = app.login(&app_key, "alice", PASSWORD).await["token"].as_str().unwrap().to_owned();
    let short: Value = app
        .with_bearer(&token, Method::POST, "/api/v1/users/auth/keys")
        .json(&json!({"description": "short"}))
        .send_json()
        .await;
    let created = chrono::DateTime::parse_from_rfc3339(short["creation_date"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(short["expiration_date"].as_str().unwrap()).unwrap();
    assert!((expires - created).num_seconds().abs_diff(30 * 86_400) <= 1, "{short}");

    // Operators alike: a session signed in long ago needs the password; Basic is one.
    let session = app
        .request(Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "admin", "password": crate::support::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let operator = session["token"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::minutes(6));
    let keys = "/api/v1/platform/users/admin/keys";
    let resp =
        app.with_bearer(&operator, Method::POST, keys).json(&json!({"description": "stolen"})).send().await.unwrap();
    assert_error(resp, 401, "authc.reauthentication_required").await;
    let with_password = json!({"description": "ci", "current_password": crate::support::ADMIN_PASSWORD});
    let resp = app.with_bearer(&operator, Method::POST, keys).json(&with_password).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app.as_admin(Method::POST, keys).json(&json!({"description": "basic"})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
