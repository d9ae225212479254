//! User administration within a tenant.

use crate::{assert_error, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    user_lifecycle,
    user_names_are_unique_without_case,
    user_validation,
    merge_patch_semantics,
    platform_admin_names_the_tenant,
    user_pagination
);

async fn user_lifecycle(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let body = json!({
        "user_name": "Alice", "password": "correct horse battery", "email": "alice@example.com",
        "full_name": "Alice Example", "roles": ["tenant_viewer", "support"], "metadata": {"team": "blue"}
    });
    let resp = app.with_key(&key, Method::POST, "/api/v1/users").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains("correct horse") && !text.contains("password") && !text.contains("argon2"),
        "no password or hash in responses: {text}"
    );
    let user: Value = serde_json::from_str(&text).unwrap();
    let mut fields: Vec<&String> = user.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "email",
            "enabled",
            "failed_addresses",
            "failed_attempts",
            "full_name",
            "id",
            "last_login_at",
            "locked_until",
            "metadata",
            "roles",
            "updated_at",
            "user_name"
        ]
    );
    assert_eq!(user["user_name"], "Alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["roles"], json!(["tenant_viewer", "support"]));
    assert_eq!(user["enabled"], true);
    assert_eq!(user["metadata"], json!({"team": "blue"}));
    assert_eq!(user["last_login_at"], Value::Null);
    let id = user["id"].as_str().unwrap();

    for path in ["/api/v1/users/Alice", "/api/v1/users/alice", "/api/v1/users/ALICE", &format!("/api/v1/users/{id}")] {
        let resp = app.with_key(&key, Method::GET, path).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.json::<Value>().await.unwrap(), user);
    }

    let minimal = app.create_user(&key, "bob").await;
    assert_eq!(
        (minimal["email"].clone(), minimal["full_name"].clone(), minimal["roles"].clone(), minimal["metadata"].clone()),
        (Value::Null, Value::Null, json!([]), json!({}))
    );

    let resp = app.with_key(&key, Method::DELETE, "/api/v1/users/alice").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let resp = app.with_key(&key, Method::GET, "/api/v1/users/alice").send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;
    let resp = app.with_key(&key, Method::DELETE, "/api/v1/users/alice").send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;
    let resp =
        app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"enabled": false})).send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;
}

async fn user_names_are_unique_without_case(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    app.create_user(&key, "Carol").await;
    for dup in ["carol", "CAROL", "Carol"] {
        let resp = app
            .with_key(&key, Method::POST, "/api/v1/users")
            .json(&json!({"user_name": dup, "password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(assert_error(resp, 409, "user.user_name.conflict").await["fields"], json!(["user_name"]));
    }
    app.create_user(&key, "dave").await;
    let resp = app
        .with_key(&key, Method::PATCH, "/api/v1/users/dave")
        .json(&json!({"user_name": "CAROL"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 409, "user.user_name.conflict").await;
    // Renaming to another case of one's own name is allowed.
    let resp = app
        .with_key(&key, Method::PATCH, "/api/v1/users/dave")
        .json(&json!({"user_name": "Dave"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["user_name"], "Dave");
    // The same name in another tenant is fine.
    let other = app.tenant_with_admin_key("other").await;
    app.create_user(&other, "carol").await;
}

async fn user_validation(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let cases = [
        (json!({"user_name": "", "password": "correct horse"}), "user.user_name.invalid", "user_name"),
        (json!({"user_name": "has space", "password": "correct horse"}), "user.user_name.invalid", "user_name"),
        (json!({"user_name": "a/b", "password": "correct horse"}), "user.user_name.invalid", "user_name"),
        (json!({"user_name": "x".repeat(129), "password": "correct horse"}), "user.user_name.invalid", "user_name"),
        (
            json!({"user_name": "ok", "password": "correct horse", "roles": ["platform_admin"]}),
            "user.roles.invalid",
            "roles",
        ),
        (json!({"user_name": "ok", "password": "correct horse", "roles": ["Bad Role"]}), "user.roles.invalid", "roles"),
        (json!({"user_name": "ok", "password": "short"}), "root.invalid_data", "password"),
        (
            json!({"user_name": "ok", "password": "correct horse", "email": "not-an-email"}),
            "root.invalid_data",
            "email",
        ),
        (json!({"user_name": "ok", "password": "correct horse", "metadata": [1, 2]}), "root.invalid_data", "metadata"),
        (
            json!({"user_name": "ok", "password": "correct horse", "metadata": {"big": "x".repeat(17 * 1024)}}),
            "root.invalid_data",
            "metadata",
        ),
        (
            json!({"user_name": "ok", "password": "correct horse", "full_name": "x".repeat(257)}),
            "root.invalid_data",
            "full_name",
        ),
        (json!({"user_name": "ok"}), "root.invalid_data", "password"),
        (json!({"password": "correct horse"}), "root.invalid_data", "user_name"),
        (json!({"user_name": "ok", "password": "correct horse", "enabled": "yes"}), "root.invalid_data", "enabled"),
        (
            json!({"user_name": "ok", "password": "correct horse", "roles": "tenant_admin"}),
            "root.invalid_data",
            "roles",
        ),
        (json!({"user_name": "ok", "password": "correct horse", "admin": true}), "root.invalid_data", "admin"),
    ];
    for (body, code, field) in cases {
        let resp = app.with_key(&key, Method::POST, "/api/v1/users").json(&body).send().await.unwrap();
        let item = assert_error(resp, 400, code).await;
        assert_eq!(item["fields"], json!([field]), "{body}");
        assert!(!item["message"].as_str().unwrap().contains("correct horse"), "no password in errors");
    }
    let resp = app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["total"], 0, "no invalid request created a user");
}

async fn merge_patch_semantics(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let body = json!({"user_name": "erin", "password": "correct horse", "email": "e@example.com", "full_name": "Erin", "metadata": {"a": 1, "nested": {"x": 1, "y": 2}}});
    let created: Value =
        app.with_key(&key, Method::POST, "/api/v1/users").json(&body).send().await.unwrap().json().await.unwrap();

    let patch = r#"{"email": null, "metadata": {"a": null, "nested": {"y": 3}, "b": true}, "roles": ["tenant_admin"], "enabled": false}"#;
    let resp = app
        .with_key(&key, Method::PATCH, "/api/v1/users/erin")
        .header("content-type", "application/merge-patch+json")
        .body(patch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let patched: Value = resp.json().await.unwrap();
    assert_eq!(patched["email"], Value::Null, "null clears");
    assert_eq!(patched["full_name"], "Erin", "absent fields stay");
    assert_eq!(patched["metadata"], json!({"nested": {"x": 1, "y": 3}, "b": true}), "metadata merges recursively");
    assert_eq!(patched["roles"], json!(["tenant_admin"]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);

    // Persisted, not just echoed.
    let got: Value = app.with_key(&key, Method::GET, "/api/v1/users/erin").send().await.unwrap().json().await.unwrap();
    assert_eq!(got, patched);

    let resp =
        app.with_key(&key, Method::PATCH, "/api/v1/users/erin").json(&json!({"metadata": null})).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["metadata"], json!({}));
    let resp = app
        .with_key(&key, Method::PATCH, "/api/v1/users/erin")
        .json(&json!({"password": "new password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for (patch, code, field) in [
        (json!({"password": "short"}), "root.invalid_data", "password"),
        (json!({"user_name": "bad name"}), "user.user_name.invalid", "user_name"),
        (json!({"roles": ["platform_viewer"]}), "user.roles.invalid", "roles"),
        (json!({"enabled": null}), "root.invalid_data", "enabled"),
        (json!({"email": "nope"}), "root.invalid_data", "email"),
        (json!({"metadata": {"big": "x".repeat(17 * 1024)}}), "root.invalid_data", "metadata"),
        (json!({"id": "00000000-0000-0000-0000-000000000000"}), "root.invalid_data", "id"),
    ] {
        let resp = app.with_key(&key, Method::PATCH, "/api/v1/users/erin").json(&patch).send().await.unwrap();
        assert_eq!(assert_error(resp, 400, code).await["fields"], json!([field]), "{patch}");
    }
}

async fn platform_admin_names_the_tenant(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    app.create_user(&key, "frank").await;
    let resp = app.as_admin(Method::GET, "/api/v1/users").header("X-Keyplane-Tenant", "acme").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["total"], 1);
    let tenant: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants/acme").send().await.unwrap().json().await.unwrap();
    let by_id = app
        .as_admin(Method::GET, "/api/v1/users/frank")
        .header("X-Keyplane-Tenant", tenant["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.status(), 200);
    let resp = app
        .as_admin(Method::POST, "/api/v1/users")
        .header("X-Keyplane-Tenant", "acme")
        .json(&json!({"user_name": "grace", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let resp = app.as_admin(Method::GET, "/api/v1/users").send().await.unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["X-Keyplane-Tenant"]));
    let resp = app.as_admin(Method::GET, "/api/v1/users").header("X-Keyplane-Tenant", "nope").send().await.unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
}

async fn user_pagination(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    for name in ["delta", "Alpha", "charlie", "Bravo"] {
        app.create_user(&key, name).await;
    }
    let page: Value =
        app.with_key(&key, Method::GET, "/api/v1/users?from=1&size=2").send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = page["users"].as_array().unwrap().iter().map(|u| u["user_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Bravo", "charlie"], "ordered by name without case");
    assert_eq!((page["total"].clone(), page["from"].clone(), page["size"].clone()), (json!(4), json!(1), json!(2)));
    let resp = app.with_key(&key, Method::GET, "/api/v1/users?size=1000").send().await.unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["size"]));
}
