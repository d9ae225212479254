//! Sessions: a user's own list and revocation; a tenant admin's.

use crate::{assert_error, claims, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(sessions_are_listed_and_ended);

async fn sessions_are_listed_and_ended(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let first = app.login(&key, "alice", PASSWORD).await;
    let second = app.login(&key, "alice", PASSWORD).await;
    let token = second["token"].as_str().unwrap();
    let list: Value =
        app.with_bearer(token, Method::GET, "/api/v1/users/auth/sessions").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 2);
    let sessions = list["sessions"].as_array().unwrap();
    let current: Vec<bool> = sessions.iter().map(|s| s["current"].as_bool().unwrap()).collect();
    assert_eq!(current, [true, false], "newest first, the caller's marked");
    assert_eq!(sessions[0]["id"], claims(token)["sid"]);
    assert_eq!(sessions[0]["user_name"], "alice");

    let first_sid = claims(first["token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();
    let resp = app
        .with_bearer(token, Method::DELETE, &format!("/api/v1/users/auth/sessions/{first_sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp =
        app.with_bearer(first["token"].as_str().unwrap(), Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .with_bearer(token, Method::DELETE, &format!("/api/v1/users/auth/sessions/{first_sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "ending an ended session is harmless");
    let resp = app.with_bearer(token, Method::DELETE, "/api/v1/users/auth/sessions/not-a-uuid").send().await.unwrap();
    assert_error(resp, 404, "sessions.session_not_found").await;
    let resp = app.with_key(&key, Method::GET, "/api/v1/users/auth/sessions").send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;

    // The tenant admin sees and ends any user's sessions.
    let list: Value =
        app.with_key(&key, Method::GET, "/api/v1/users/alice/sessions").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total"], 1);
    let sid = list["sessions"][0]["id"].as_str().unwrap().to_owned();
    let viewer = app.create_key("acme", &["tenant_viewer"]).await["key"].as_str().unwrap().to_owned();
    let resp =
        app.with_key(&viewer, Method::DELETE, &format!("/api/v1/users/alice/sessions/{sid}")).send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let resp = app.with_key(&key, Method::DELETE, &format!("/api/v1/users/alice/sessions/{sid}")).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let resp = app.with_bearer(token, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app.with_key(&key, Method::GET, "/api/v1/users/nobody/sessions").send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;
    // Another tenant's session id is not found.
    let other = app.tenant_with_user("other").await;
    let theirs = app.login(&other, "alice", PASSWORD).await;
    let their_sid = claims(theirs["token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();
    let resp =
        app.with_key(&key, Method::DELETE, &format!("/api/v1/users/alice/sessions/{their_sid}")).send().await.unwrap();
    assert_error(resp, 404, "sessions.session_not_found").await;
}
