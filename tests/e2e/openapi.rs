//! The OpenAPI document: committed copy in sync, served, complete; Swagger UI served from
//! assets inside the binary.

use crate::TestApp;
use reqwest::Method;
use serde_json::Value;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
}

/// Fails when `openapi/openapi.json` is stale; `UPDATE_OPENAPI=1` rewrites it.
#[test]
fn committed_document_is_current() {
    let generated = keyplane_api::openapi::document_json();
    let path = committed_path();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "openapi/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p keyplane-api --test e2e committed_document_is_current` and commit it");
}

#[test]
fn every_route_and_error_is_documented() {
    let doc: Value = serde_json::from_str(&keyplane_api::openapi::document_json()).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/api/v1/platform/tenants", &["get", "post"][..]),
        ("/api/v1/platform/tenants/{tenant}", &["get", "patch", "delete"]),
        ("/api/v1/platform/tenants/{tenant}/_suspend", &["post"]),
        ("/api/v1/platform/tenants/{tenant}/_resume", &["post"]),
        ("/api/v1/platform/tenants/{tenant}/keys", &["get", "post"]),
        ("/api/v1/platform/tenants/{tenant}/keys/{key_id}", &["get", "delete"]),
        ("/api/v1/users", &["get", "post"]),
        ("/api/v1/users/{user_name}", &["get", "patch", "delete"]),
        ("/api/v1/users/auth/_login", &["post"]),
        ("/api/v1/users/auth/_refresh", &["post"]),
        ("/api/v1/users/auth/_logout", &["post"]),
        ("/api/v1/users/auth/methods", &["get"]),
        ("/api/v1/users/auth", &["get"]),
        ("/api/v1/user", &["get"]),
        ("/api/v1/users/auth/sessions", &["get"]),
        ("/api/v1/users/auth/sessions/{session_id}", &["delete"]),
        ("/api/v1/users/{user_name}/sessions", &["get"]),
        ("/api/v1/users/{user_name}/sessions/{session_id}", &["delete"]),
        ("/api/v1/users/auth/keys", &["get", "post", "delete"]),
        ("/api/v1/users/auth/keys/{api_key_id}", &["get", "delete"]),
        ("/api/v1/users/{user_id}/auth/keys", &["get"]),
        ("/api/v1/users/{user_id}/auth/keys/{api_key_id}", &["get", "delete"]),
        ("/api/v1/platform/tenants/{tenant}/authentication-cluster", &["get", "put", "delete"]),
        ("/api/v1/platform/tenants/{tenant}/token-policy", &["get", "put"]),
        ("/api/v1/platform/tenants/{tenant}/signing-keys", &["get"]),
        ("/api/v1/platform/tenants/{tenant}/signing-keys/_rotate", &["post"]),
        ("/t/{tenant}/oauth2/token", &["post"]),
        ("/t/{tenant}/oauth2/introspect", &["post"]),
        ("/t/{tenant}/oauth2/revoke", &["post"]),
        ("/t/{tenant}/.well-known/jwks.json", &["get"]),
        ("/t/{tenant}/.well-known/openid-configuration", &["get"]),
        ("/t/{tenant}/sensu/auth", &["get"]),
        ("/t/{tenant}/sensu/auth/test", &["get"]),
        ("/t/{tenant}/sensu/auth/token", &["post"]),
        ("/t/{tenant}/sensu/auth/logout", &["post"]),
        ("/t/{tenant}/tenovos/auth/token", &["post", "delete"]),
        ("/t/{tenant}/investsuite/auth/login/", &["post"]),
        ("/t/{tenant}/investsuite/auth/refresh-token/", &["post"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ];
    for (path, methods) in expected {
        for method in methods {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is documented");
            if path.starts_with("/api/") && !path.ends_with("/_login") && !path.ends_with("/methods") {
                assert!(op["responses"]["401"].is_object(), "{method} {path} documents 401");
                assert!(op["security"].is_array(), "{method} {path} names its security");
            }
        }
    }
    for (tag, prefix) in [
        ("sensu", "/t/{tenant}/sensu/"),
        ("tenovos", "/t/{tenant}/tenovos/"),
        ("investsuite", "/t/{tenant}/investsuite/"),
    ] {
        for (path, item) in doc["paths"].as_object().unwrap().iter().filter(|(p, _)| p.starts_with(prefix)) {
            for op in item.as_object().unwrap().values() {
                assert_eq!(op["tags"], serde_json::json!([tag]), "{path} carries its dialect's tag");
            }
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    for scheme in ["api_key", "api_key_authorization", "basic", "bearer", "oauth_client"] {
        assert!(schemes[scheme].is_object(), "security scheme {scheme}");
    }
    let description = doc["info"]["description"].as_str().unwrap();
    for code in keyplane_api::error::ErrorCode::ALL {
        let row = format!("| `{}` | {} |", code.as_str(), code.status().as_u16());
        assert!(description.contains(&row), "{row} is listed");
    }
}

on_every_backend!(document_and_swagger_ui_are_served);

async fn document_and_swagger_ui_are_served(app: &TestApp) {
    let served: Value = app.request(Method::GET, "/api-docs/openapi.json").send().await.unwrap().json().await.unwrap();
    let generated: Value = serde_json::from_str(&keyplane_api::openapi::document_json()).unwrap();
    assert_eq!(served, generated);
    let resp = app.request(Method::GET, "/swagger-ui/").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("swagger-ui"));
    let init =
        app.request(Method::GET, "/swagger-ui/swagger-initializer.js").send().await.unwrap().text().await.unwrap();
    assert!(init.contains("/api-docs/openapi.json"), "Swagger UI loads our document");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        let resp = app.request(Method::GET, &format!("/swagger-ui/{asset}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{asset} is built into the binary");
        assert!(resp.bytes().await.unwrap().len() > 10_000);
    }
}
