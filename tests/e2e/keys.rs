//! Tenant API keys: creation (secret once), listing, reading, revocation, expiry, roles.

use crate::{assert_error, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    key_lifecycle,
    revoked_keys_stop_at_once,
    expired_keys_stop,
    key_roles_are_checked,
    viewer_keys_read_only,
    suspended_tenants_authenticate_no_one,
    key_header_forms
);

async fn key_lifecycle(app: &TestApp) {
    app.create_tenant("acme").await;
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"description": "checkout", "roles": ["tenant_admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store", "the secret is not cached");
    let created: Value = resp.json().await.unwrap();
    let mut fields: Vec<&String> = created.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "access_key_id",
            "created_at",
            "description",
            "expires_at",
            "id",
            "key",
            "last_used_at",
            "owner",
            "revoked",
            "revoked_at",
            "roles",
            "secret_access_key"
        ]
    );
    let id = created["id"].as_str().unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("kp_{id}_")), "the key embeds its public id");
    let (access_key_id, secret) =
        (created["access_key_id"].as_str().unwrap(), created["secret_access_key"].as_str().unwrap());
    assert_eq!(access_key_id, id);
    assert_eq!(key, format!("kp_{access_key_id}_{secret}"), "the InvestSuite pair is the key's two halves");
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/login/")
        .json(&json!({"access_key_id": access_key_id, "secret_access_key": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the pair signs in at InvestSuite's /auth/login/");
    assert_eq!(resp.json::<Value>().await.unwrap()["token_type"], "Bearer");
    assert!(key.len() >= 3 + 24 + 1 + 43, "256-bit secret");
    assert_eq!(created["owner"], json!({"type": "application"}));
    assert_eq!(created["roles"], json!(["tenant_admin"]));
    assert_eq!((created["revoked"].clone(), created["last_used_at"].clone()), (json!(false), Value::Null));

    let listed: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants/acme/keys").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["total"], 1);
    let listed_key = &listed["keys"][0];
    assert_eq!(listed_key["id"], id);
    for field in ["key", "access_key_id", "secret_access_key"] {
        assert!(listed_key.get(field).is_none(), "{field} is shown only at creation");
    }
    assert!(!listed.to_string().contains(&key[28..]), "no secret in listings");

    // Use it, then last_used_at is set.
    assert_eq!(app.with_key(key, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    let got: Value = app
        .as_admin(Method::GET, &format!("/api/v1/platform/tenants/acme/keys/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(got["last_used_at"].is_string(), "{got}");
    assert!(got.get("key").is_none());

    // Default roles: none (the key signs users in and administers nothing).
    let resp = app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys").json(&json!({})).send().await.unwrap();
    let default: Value = resp.json().await.unwrap();
    assert_eq!(default["roles"], json!([]));
    assert_eq!(default["description"], "");

    // A tenant admin key does not mint keys, not even lesser ones.
    let resp = app
        .with_key(key, Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"roles": ["tenant_viewer"]}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;

    for missing in ["0123456789abcdef01234567", "not-a-key-id"] {
        let resp =
            app.as_admin(Method::GET, &format!("/api/v1/platform/tenants/acme/keys/{missing}")).send().await.unwrap();
        assert_error(resp, 404, "api_keys.key_not_found").await;
        let resp = app
            .as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/keys/{missing}"))
            .send()
            .await
            .unwrap();
        assert_error(resp, 404, "api_keys.key_not_found").await;
    }
    let resp = app.as_admin(Method::GET, "/api/v1/platform/tenants/nope/keys").send().await.unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
}

async fn revoked_keys_stop_at_once(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let id = key.split('_').nth(1).unwrap().to_owned();
    assert_eq!(app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    let resp = app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/keys/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let resp = app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let got: Value = app
        .as_admin(Method::GET, &format!("/api/v1/platform/tenants/acme/keys/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["revoked"], true);
    assert!(got["revoked_at"].is_string());
    let first_revoked_at = got["revoked_at"].clone();
    let resp = app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/keys/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "revoking twice is idempotent");
    let got: Value = app
        .as_admin(Method::GET, &format!("/api/v1/platform/tenants/acme/keys/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["revoked_at"], first_revoked_at, "the first revocation time stays");
}

async fn expired_keys_stop(app: &TestApp) {
    app.create_tenant("acme").await;
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"expires_at": past}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["expires_at"]));
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"expires_at": "next tuesday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["expires_at"]));

    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let created: Value = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"expires_at": soon, "roles": ["tenant_admin"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["expires_at"].is_string());
    let key = created["key"].as_str().unwrap();
    assert_eq!(app.with_key(key, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    app.clock.advance(chrono::Duration::hours(2));
    let resp = app.with_key(key, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

async fn key_roles_are_checked(app: &TestApp) {
    app.create_tenant("acme").await;
    for roles in [json!(["platform_admin"]), json!(["Admin"]), json!([""]), json!("tenant_admin"), json!([1])] {
        let resp = app
            .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
            .json(&json!({"roles": roles}))
            .send()
            .await
            .unwrap();
        let item = assert_error(resp, 400, "root.invalid_data").await;
        assert!(item["fields"].as_array().unwrap()[0].as_str().unwrap().starts_with("roles"), "{roles}: {item}");
    }
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"description": "x".repeat(513)}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["description"]));
    let custom: Value = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({"roles": ["billing:read", "billing:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(custom["roles"], json!(["billing:read"]), "roles are de-duplicated");
    // A key with only a custom role can authenticate but not administer.
    let key = custom["key"].as_str().unwrap();
    let resp = app.with_key(key, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
}

async fn viewer_keys_read_only(app: &TestApp) {
    let admin_key = app.tenant_with_admin_key("acme").await;
    app.create_user(&admin_key, "alice").await;
    let viewer = app.create_key("acme", &["tenant_viewer"]).await["key"].as_str().unwrap().to_owned();
    assert_eq!(app.with_key(&viewer, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    assert_eq!(app.with_key(&viewer, Method::GET, "/api/v1/users/alice").send().await.unwrap().status(), 200);
    assert_eq!(
        app.with_key(&viewer, Method::GET, "/api/v1/platform/tenants/acme/keys").send().await.unwrap().status(),
        200
    );
    let resp = app
        .with_key(&viewer, Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "bob", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let resp = app
        .with_key(&viewer, Method::PATCH, "/api/v1/users/alice")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let resp = app.with_key(&viewer, Method::DELETE, "/api/v1/users/alice").send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let resp = app
        .with_key(&viewer, Method::POST, "/api/v1/platform/tenants/acme/keys")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
}

async fn suspended_tenants_authenticate_no_one(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    app.create_user(&key, "alice").await;
    app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_suspend").send().await.unwrap();
    let resp = app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap();
    let item = assert_error(resp, 401, "root.unauthorized").await;
    assert!(item["message"].as_str().unwrap().contains("suspended"));
    // The platform admin still manages a suspended tenant.
    let resp = app.as_admin(Method::GET, "/api/v1/users").header("X-Keyplane-Tenant", "acme").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_resume").send().await.unwrap();
    assert_eq!(app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
}

async fn key_header_forms(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let ok = |resp: reqwest::Response| assert_eq!(resp.status(), 200);
    ok(app.request(Method::GET, "/api/v1/users").header("X-API-Key", &key).send().await.unwrap());
    ok(app
        .request(Method::GET, "/api/v1/users")
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap());
    ok(app
        .request(Method::GET, "/api/v1/users")
        .header("Authorization", format!("apikey {key}"))
        .send()
        .await
        .unwrap());
    let mut tampered = key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        ("X-API-Key", tampered.clone()),
        ("X-API-Key", "kp_".to_owned()),
        ("X-API-Key", "garbage".to_owned()),
        ("Authorization", format!("ApiKey {tampered}")),
        ("Authorization", "ApiKey".to_owned()),
        ("Authorization", "Basic !!!not-base64!!!".to_owned()),
        ("Authorization", "Basic bm9jb2xvbg==".to_owned()),
        ("Authorization", "Negotiate abc".to_owned()),
        ("Authorization", "Bearer not-a-token".to_owned()),
    ] {
        let resp = app.request(Method::GET, "/api/v1/users").header(bad.0, &bad.1).send().await.unwrap();
        assert_error(resp, 401, "root.unauthorized").await;
    }
}
