//! Tenant isolation: a key of tenant A can neither read nor change tenant B's users or
//! keys, and gets "not found" so that existence does not leak.

use crate::{assert_error, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(keys_of_one_tenant_cannot_reach_another);

async fn keys_of_one_tenant_cannot_reach_another(app: &TestApp) {
    let key_a = app.tenant_with_admin_key("tenant-a").await;
    let key_b = app.tenant_with_admin_key("tenant-b").await;
    let tenant_b: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants/tenant-b").send().await.unwrap().json().await.unwrap();
    let b_id = tenant_b["id"].as_str().unwrap();
    app.create_user(&key_a, "shared-name").await;
    let bob_b = app.create_user(&key_b, "bob").await;
    let bob_id = bob_b["id"].as_str().unwrap();
    let b_key_id = key_b.split('_').nth(1).unwrap();

    // Users: A's key sees only A's users, by name or by id, even when naming B.
    let list: Value = app.with_key(&key_a, Method::GET, "/api/v1/users").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["users"][0]["user_name"], "shared-name");
    let list: Value = app
        .with_key(&key_a, Method::GET, "/api/v1/users")
        .header("X-Keyplane-Tenant", "tenant-b")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["users"][0]["user_name"], "shared-name", "a tenant key's own tenant wins over the header");
    for path in ["/api/v1/users/bob".to_owned(), format!("/api/v1/users/{bob_id}")] {
        let resp = app.with_key(&key_a, Method::GET, &path).send().await.unwrap();
        assert_error(resp, 404, "user.not_found").await;
        let resp = app.with_key(&key_a, Method::PATCH, &path).json(&json!({"enabled": false})).send().await.unwrap();
        assert_error(resp, 404, "user.not_found").await;
        let resp = app.with_key(&key_a, Method::DELETE, &path).send().await.unwrap();
        assert_error(resp, 404, "user.not_found").await;
    }
    let bob_now: Value =
        app.with_key(&key_b, Method::GET, "/api/v1/users/bob").send().await.unwrap().json().await.unwrap();
    assert_eq!(bob_now, bob_b, "B's user is untouched");

    // Tenants and keys: B, by slug or id, does not exist for A's key.
    for tenant in ["tenant-b", b_id] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/platform/tenants/{tenant}")),
            (Method::GET, format!("/api/v1/platform/tenants/{tenant}/keys")),
            (Method::POST, format!("/api/v1/platform/tenants/{tenant}/keys")),
            (Method::GET, format!("/api/v1/platform/tenants/{tenant}/keys/{b_key_id}")),
            (Method::DELETE, format!("/api/v1/platform/tenants/{tenant}/keys/{b_key_id}")),
        ] {
            let mut req = app.with_key(&key_a, method.clone(), &path);
            if method == Method::POST {
                req = req.json(&json!({}));
            }
            assert_error(req.send().await.unwrap(), 404, "tenants.not_found").await;
        }
    }
    // B's key id under A's own path is simply not found.
    let resp = app
        .with_key(&key_a, Method::GET, &format!("/api/v1/platform/tenants/tenant-a/keys/{b_key_id}"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "api_keys.key_not_found").await;
    let resp = app
        .with_key(&key_a, Method::DELETE, &format!("/api/v1/platform/tenants/tenant-a/keys/{b_key_id}"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "api_keys.key_not_found").await;
    // B's key still works.
    assert_eq!(app.with_key(&key_b, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    let keys_a: Value = app
        .with_key(&key_a, Method::GET, "/api/v1/platform/tenants/tenant-a/keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys_a["total"], 1, "A lists only its own keys");

    // Deleting tenant B removes its users and keys; A is unaffected.
    app.as_admin(Method::DELETE, "/api/v1/platform/tenants/tenant-b").send().await.unwrap();
    let resp = app.with_key(&key_b, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    assert_eq!(app.with_key(&key_a, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
}
