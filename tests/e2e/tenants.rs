//! Tenant administration.

use crate::{assert_error, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    tenant_lifecycle,
    tenant_validation_and_conflicts,
    tenant_routes_need_platform_roles,
    tenant_pagination
);

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

async fn tenant_lifecycle(app: &TestApp) {
    let created = app.create_tenant("acme").await;
    assert_eq!(keys_of(&created), ["created_at", "id", "name", "slug", "status", "updated_at"]);
    assert_eq!(created["slug"], "acme");
    assert_eq!(created["name"], "Tenant acme");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap().to_owned();
    uuid::Uuid::parse_str(&id).unwrap();

    for path in ["/api/v1/platform/tenants/acme".to_owned(), format!("/api/v1/platform/tenants/{id}")] {
        let resp = app.as_admin(Method::GET, &path).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap(), created);
    }

    let resp = app
        .as_admin(Method::PATCH, "/api/v1/platform/tenants/acme")
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"name":"Acme Corp"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let patched: Value = resp.json().await.unwrap();
    assert_eq!(patched["name"], "Acme Corp");
    assert_eq!(patched["slug"], "acme");

    let resp = app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_suspend").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "suspended");
    let again = app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_suspend").send().await.unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "suspended", "suspending is idempotent");
    let resp = app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_resume").send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "active");

    let resp = app.as_admin(Method::DELETE, "/api/v1/platform/tenants/acme").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let resp = app.as_admin(Method::GET, "/api/v1/platform/tenants/acme").send().await.unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
    let resp = app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/{id}")).send().await.unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
    // The slug is free again once the tenant is gone.
    app.create_tenant("acme").await;
}

async fn tenant_validation_and_conflicts(app: &TestApp) {
    for slug in
        ["", "-acme", "acme-", "Acme", "ac_me", "ac.me", &"a".repeat(64), "0190a5a4-4c8e-7d6e-9c1b-2f3a4b5c6d7e"]
    {
        let resp = app
            .as_admin(Method::POST, "/api/v1/platform/tenants")
            .json(&json!({"slug": slug, "name": "x"}))
            .send()
            .await
            .unwrap();
        let item = assert_error(resp, 400, "root.invalid_data").await;
        assert_eq!(item["fields"], json!(["slug"]), "slug {slug:?}");
    }
    for name in ["", "   ", "bad\u{0007}name"] {
        let resp = app
            .as_admin(Method::POST, "/api/v1/platform/tenants")
            .json(&json!({"slug": "ok", "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["name"]));
    }
    let resp =
        app.as_admin(Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "ok"})).send().await.unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["name"]));
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants")
        .json(&json!({"slug": "ok", "name": "x", "plan": "gold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["plan"]));

    app.create_tenant("dup").await;
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants")
        .json(&json!({"slug": "dup", "name": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 409, "tenants.slug.conflict").await["fields"], json!(["slug"]));

    let resp = app
        .as_admin(Method::PATCH, "/api/v1/platform/tenants/dup")
        .json(&json!({"slug": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["slug"]), "the slug cannot change");
    let resp = app
        .as_admin(Method::PATCH, "/api/v1/platform/tenants/missing")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
    for path in ["/api/v1/platform/tenants/NOT_A_SLUG", "/api/v1/platform/tenants/00000000-0000-0000-0000-000000000000"]
    {
        let resp = app.as_admin(Method::GET, path).send().await.unwrap();
        assert_error(resp, 404, "tenants.not_found").await;
    }
}

async fn tenant_routes_need_platform_roles(app: &TestApp) {
    let resp = app.request(Method::GET, "/api/v1/platform/tenants").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .request(Method::GET, "/api/v1/platform/tenants")
        .basic_auth("admin", Some("wrong-password"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .request(Method::GET, "/api/v1/platform/tenants")
        .basic_auth("nobody", Some("wrong-password"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthorized").await;

    let key = app.tenant_with_admin_key("own").await;
    let resp = app.with_key(&key, Method::GET, "/api/v1/platform/tenants").send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/platform/tenants")
        .json(&json!({"slug": "x", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    for (method, path) in [
        (Method::PATCH, "/api/v1/platform/tenants/own"),
        (Method::DELETE, "/api/v1/platform/tenants/own"),
        (Method::POST, "/api/v1/platform/tenants/own/_suspend"),
    ] {
        let mut req = app.with_key(&key, method, path);
        if path.ends_with("own") {
            req = req.json(&json!({"name": "mine"}));
        }
        assert_error(req.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    }
    // A tenant's own key may read its tenant.
    let resp = app.with_key(&key, Method::GET, "/api/v1/platform/tenants/own").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["slug"], "own");
}

async fn tenant_pagination(app: &TestApp) {
    for i in 0..5 {
        app.create_tenant(&format!("t{i}")).await;
    }
    let page: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants?from=1&size=2").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["from"], 1);
    assert_eq!(page["size"], 2);
    let slugs: Vec<&str> = page["tenants"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["t1", "t2"], "oldest first");
    let all: Value = app.as_admin(Method::GET, "/api/v1/platform/tenants").send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (all["from"].clone(), all["size"].clone(), all["tenants"].as_array().unwrap().len()),
        (json!(0), json!(20), 5)
    );
    let past: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants?from=50").send().await.unwrap().json().await.unwrap();
    assert_eq!(past["tenants"], json!([]));
    assert_eq!(past["total"], 5);
    for (query, field) in [
        ("size=0", "size"),
        ("size=101", "size"),
        ("from=-1", "from"),
        ("size=ten", "size"),
        ("from=1.5", "from"),
        ("size=99999999999999999999", "size"),
    ] {
        let resp = app.as_admin(Method::GET, &format!("/api/v1/platform/tenants?{query}")).send().await.unwrap();
        assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!([field]), "{query}");
    }
    let resp = app.as_admin(Method::GET, "/api/v1/platform/tenants?size=100").send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
