//! The audit trail: every administrative action recorded with its actor, outcome and entry
//! point and without a secret, the filters and paging of `GET /api/v1/audit`, and its
//! tenant isolation.

use crate::{assert_error, claims, TestApp, PASSWORD};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

on_every_backend!(
    administrative_actions_are_recorded_without_secrets,
    filters_and_paging,
    bad_filters_are_refused_with_their_field,
    tenant_admins_see_their_own_tenant_only,
    platform_operators_see_all_or_one_tenant,
    sign_outs_through_every_entry_point_are_recorded
);

/// Signing out through the native API, Sensu, Tenovos and OAuth revocation each leaves one
/// `session.revoked` (reason `logout`) by the user, naming the session and the entry point.
async fn sign_outs_through_every_entry_point_are_recorded(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    // Native.
    let native = app.login(&key, "alice", PASSWORD).await;
    let token = native["token"].as_str().unwrap();
    ok(app.with_bearer(token, Method::POST, "/api/v1/users/auth/_logout"), 200).await;
    // Sensu: Basic sign-in, then logout with both tokens.
    let sensu = ok(app.request(Method::GET, "/t/acme/sensu/auth").basic_auth("alice", Some(PASSWORD)), 200).await;
    app.secrets_of(&sensu);
    let logout = app
        .with_bearer(sensu["access_token"].as_str().unwrap(), Method::POST, "/t/acme/sensu/auth/logout")
        .json(&json!({"refresh_token": sensu["refresh_token"]}));
    ok(logout, 200).await;
    // Tenovos: sign-in, then DELETE with the session.
    let tenovos = app.with_key(&key, Method::POST, "/t/acme/tenovos/auth/token");
    let tenovos = ok(tenovos.json(&json!({"username": "alice", "password": PASSWORD})), 200).await;
    app.secrets_of(&tenovos);
    let session = &tenovos["session"];
    let delete = app.with_key(&key, Method::DELETE, "/t/acme/tenovos/auth/token").json(&json!({"session": {
        "accessToken": session["accessToken"], "refreshToken": session["refreshToken"]}}));
    ok(delete, 200).await;
    // OAuth: a password grant, then RFC 7009 revocation of its refresh token.
    let grant = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)];
    let (status, granted) = app.form("/t/acme/oauth2/token", &grant, Some(&key)).await;
    assert_eq!(status, 200, "{granted}");
    let refresh = granted["refresh_token"].as_str().unwrap();
    let (status, _) = app.form("/t/acme/oauth2/revoke", &[("token", refresh)], Some(&key)).await;
    assert_eq!(status, 200);

    let trail = ok(app.with_key(&key, Method::GET, "/api/v1/audit?action=session.revoked&size=100"), 200).await;
    let events = trail["events"].as_array().unwrap();
    let mut entry_points: Vec<&str> = events.iter().map(|e| e["entry_point"].as_str().unwrap()).collect();
    entry_points.sort_unstable();
    assert_eq!(entry_points, ["native", "oauth2", "sensu", "tenovos"], "{trail}");
    let mut sessions = std::collections::BTreeSet::new();
    for event in events {
        assert_eq!((&event["actor"]["kind"], &event["actor"]["name"]), (&json!("user"), &json!("alice")), "{event}");
        assert_eq!((&event["outcome"], &event["details"]["reason"]), (&json!("success"), &json!("logout")), "{event}");
        assert!(sessions.insert(event["details"]["session_id"].as_str().unwrap().to_owned()), "one event per session");
    }
    // Signing out again (an ended session) records nothing more.
    ok(app.with_bearer(token, Method::POST, "/api/v1/users/auth/_logout"), 401).await;
    let again = ok(app.with_key(&key, Method::GET, "/api/v1/audit?action=session.revoked"), 200).await;
    assert_eq!(again["total"], 4);
    app.no_secret_logged().unwrap();
}

/// Sends `req`, asserts `status`, returns the JSON body.
async fn ok(req: RequestBuilder, status: u16) -> Value {
    let resp = req.send().await.unwrap();
    let actual = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

/// The audit page `query` returns as `admin` (Basic) for `tenant`.
async fn audit_as_admin(app: &TestApp, tenant: Option<&str>, query: &str) -> Value {
    let mut req = app.as_admin(Method::GET, &format!("/api/v1/audit{query}"));
    if let Some(t) = tenant {
        req = req.header("X-Keyplane-Tenant", t);
    }
    ok(req, 200).await
}

fn actions(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect()
}

/// The newest event of `action` on `page`.
fn newest<'a>(page: &'a Value, action: &str) -> &'a Value {
    page["events"].as_array().unwrap().iter().find(|e| e["action"] == action).unwrap_or_else(|| {
        panic!("no {action} in {:?}", actions(page));
    })
}

async fn administrative_actions_are_recorded_without_secrets(app: &TestApp) {
    let tenant = app.create_tenant("acme").await;
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let created = app.create_key("acme", &["tenant_admin"]).await;
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["access_key_id"].as_str().unwrap().to_owned();
    let secret = created["secret_access_key"].as_str().unwrap().to_owned();

    // The tenant's key administers its users; the request carries a user agent.
    let users = |m: Method, p: &str| app.with_key(&key, m, p).header("User-Agent", "audit-test/1.0");
    let alice =
        ok(users(Method::POST, "/api/v1/users").json(&json!({"user_name": "alice", "password": PASSWORD})), 200).await;
    ok(users(Method::PATCH, "/api/v1/users/alice").json(&json!({"email": "alice@example.com"})), 200).await;
    ok(users(Method::PATCH, "/api/v1/users/alice").json(&json!({"password": "a brand new secret"})), 200).await;
    let login = app.login(&key, "alice", "a brand new secret").await;
    let sid = claims(login["token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();
    ok(users(Method::DELETE, &format!("/api/v1/users/alice/sessions/{sid}")), 200).await;
    ok(users(Method::PATCH, "/api/v1/users/alice").json(&json!({"enabled": false})), 200).await;
    ok(users(Method::DELETE, "/api/v1/users/alice"), 200).await;

    // The platform admin changes the tenant's settings.
    let t = "/api/v1/platform/tenants/acme";
    ok(
        app.as_admin(Method::PUT, &format!("{t}/token-policy")).json(&json!({"access_token_lifetime_seconds": 600})),
        200,
    )
    .await;
    ok(app.as_admin(Method::PUT, &format!("{t}/authentication-cluster")).json(&json!({"kind": "native"})), 200).await;
    ok(app.as_admin(Method::POST, &format!("{t}/signing-keys/_rotate")), 200).await;
    let other = app.create_key("acme", &["tenant_viewer"]).await;
    let other_id = other["access_key_id"].as_str().unwrap();
    ok(app.as_admin(Method::DELETE, &format!("{t}/keys/{other_id}")), 200).await;
    ok(app.as_admin(Method::DELETE, &format!("{t}/keys/{other_id}")), 200).await;
    ok(app.as_admin(Method::POST, &format!("{t}/_suspend")), 200).await;
    ok(app.as_admin(Method::POST, &format!("{t}/_suspend")), 200).await;
    ok(app.as_admin(Method::POST, &format!("{t}/_resume")), 200).await;

    // Each event is there as soon as its change answered 200: same transaction.
    let page = audit_as_admin(app, Some("acme"), "?size=100").await;
    let text = page.to_string();
    for secret in [PASSWORD, "a brand new secret", secret.as_str(), key.as_str(), "alice@example.com"] {
        assert!(!text.contains(secret), "a secret in the audit trail: {text}");
    }
    // Sign-ins are recorded too (see lockout.rs); here only the administrative trail.
    let mut seen: Vec<_> = actions(&page).into_iter().filter(|a| !a.starts_with("user.sign_in.")).collect();
    seen.reverse();
    assert_eq!(
        seen,
        [
            "tenant.created",
            "api_key.created",
            "user.created",
            "user.updated",
            "user.password_changed",
            "session.revoked",
            "user.disabled",
            "user.deleted",
            "token_policy.updated",
            "authentication_cluster.updated",
            "signing_key.rotated",
            "api_key.created",
            "api_key.revoked",
            "tenant.suspended",
            "tenant.resumed",
        ],
        "oldest first; a repeated revocation or suspension is no second event"
    );
    assert_eq!(seen.len(), 15);
    let administrative = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e["action"].as_str().unwrap_or_default().starts_with("user.sign_in."));
    for event in administrative {
        assert_eq!(event["tenant_id"], tenant_id.as_str(), "{event}");
        assert_eq!(event["outcome"], "success", "{event}");
        assert_eq!(event["entry_point"], "admin", "{event}");
        assert!(event["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{event}");
        assert_eq!(event["client_address"], "127.0.0.1", "{event}");
    }
    let by_key = newest(&page, "user.created");
    assert_eq!(by_key["actor"], json!({"kind": "api_key", "id": by_key["actor"]["id"], "name": key_id}));
    assert_eq!(by_key["user_agent"], "audit-test/1.0");
    assert_eq!(by_key["details"], json!({"user_id": alice["id"], "user_name": "alice"}));
    assert_eq!(newest(&page, "user.updated")["details"]["fields"], json!(["email"]));
    assert_eq!(newest(&page, "session.revoked")["details"]["session_id"], sid.as_str());
    let by_admin = newest(&page, "tenant.created");
    assert_eq!(
        (by_admin["actor"]["kind"].as_str(), by_admin["actor"]["name"].as_str()),
        (Some("platform_user"), Some("admin"))
    );
    assert_eq!(newest(&page, "api_key.revoked")["details"]["key_id"], other_id);
}

async fn filters_and_paging(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    for name in ["u1", "u2", "u3"] {
        app.create_user(&key, name).await;
    }
    ok(app.with_key(&key, Method::DELETE, "/api/v1/users/u2"), 200).await;
    let get = |query: &str| ok(app.with_key(&key, Method::GET, &format!("/api/v1/audit{query}")), 200);

    let all = get("").await;
    assert_eq!(
        actions(&all),
        ["user.deleted", "user.created", "user.created", "user.created", "api_key.created", "tenant.created"]
    );
    assert_eq!((all["from"].clone(), all["size"].clone(), all["total"].clone()), (json!(0), json!(20), json!(6)));
    let keys: Vec<&String> = all.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["events", "from", "size", "total"]);

    let users = get("?action=user.").await;
    assert_eq!(users["total"], 4);
    assert_eq!(get("?action=user.created&size=2&from=1").await["events"].as_array().unwrap().len(), 2);
    assert_eq!(get("?action=user.created&size=2&from=2").await["events"].as_array().unwrap().len(), 1);
    assert_eq!(get("?action=user.deleted").await["events"][0]["details"]["user_name"], "u2");
    assert_eq!(get("?action=session").await["total"], 0);
    assert_eq!(get("?outcome=failure").await["total"], 0);
    assert_eq!(get("?outcome=success").await["total"], 6);
    // The key's public id names it; the platform admin created the tenant.
    let key_id = crate::split_key(&key).0;
    assert_eq!(get(&format!("?actor={key_id}")).await["total"], 4);
    assert_eq!(get("?actor=ADMIN").await["total"], 2);
    let admin_id = get("?actor=admin").await["events"][0]["actor"]["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&format!("?actor={admin_id}")).await["total"], 2);

    let newest = all["events"][0]["time"].as_str().unwrap().to_owned();
    let enc = |t: &str| t.replace('+', "%2B");
    assert_eq!(get(&format!("?since={}", enc(&newest))).await["total"], 1, "since is inclusive");
    assert_eq!(get(&format!("?until={}", enc(&newest))).await["total"], 5, "until is exclusive");
    assert_eq!(get("?since=2999-01-01T00:00:00Z").await["total"], 0);
}

async fn bad_filters_are_refused_with_their_field(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-02-30T00:00:00Z", "until"),
        ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
        ("tenant=other", "tenant"),
        ("outcome=ok", "outcome"),
        ("action=User.Created", "action"),
        ("action=user%25", "action"),
        ("size=0", "size"),
        ("size=1000", "size"),
        ("from=-1", "from"),
        ("from=first", "from"),
        ("actor=a%00b", "actor"),
        ("actor=%1B%5B31m", "actor"),
    ] {
        let resp = app.with_key(&key, Method::GET, &format!("/api/v1/audit?{query}")).send().await.unwrap();
        let item = assert_error(resp, 400, "root.invalid_data").await;
        assert_eq!(item["fields"], json!([field]), "{query}");
    }
    let resp = app.request(Method::GET, "/api/v1/audit").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    // Metadata keys with a control character (NUL or another) are refused alike, on
    // both backends, before anything is stored.
    for metadata in [json!({"a\u{0}": 1}), json!({"a": {"b\u{7}": true}})] {
        let body = json!({"user_name": "mallory", "password": PASSWORD, "roles": [], "metadata": metadata});
        let resp = app.with_key(&key, Method::POST, "/api/v1/users").json(&body).send().await.unwrap();
        let item = assert_error(resp, 400, "root.invalid_data").await;
        assert_eq!(item["fields"], json!(["metadata"]), "{metadata}");
    }
    // A patch may not write such a key, but deleting one (null) is always allowed.
    app.create_user(&key, "mallory").await;
    let patch = |metadata: Value| {
        app.with_key(&key, Method::PATCH, "/api/v1/users/mallory").json(&json!({"metadata": metadata})).send()
    };
    let item = assert_error(patch(json!({"x\u{1b}": 1})).await.unwrap(), 400, "root.invalid_data").await;
    assert_eq!(item["fields"], json!(["metadata"]));
    let item = assert_error(patch(json!({"x": "a\u{0}"})).await.unwrap(), 400, "root.invalid_data").await;
    assert_eq!(item["fields"], json!(["metadata"]));
    let user = patch(json!({"x\u{1b}": null, "kept": true})).await.unwrap();
    assert_eq!(user.status(), 200);
    assert_eq!(user.json::<Value>().await.unwrap()["metadata"], json!({"kept": true}));
}

async fn tenant_admins_see_their_own_tenant_only(app: &TestApp) {
    let a = app.tenant_with_admin_key("tenant-a").await;
    let b = app.tenant_with_admin_key("tenant-b").await;
    app.create_user(&a, "alice").await;
    app.create_user(&b, "bob").await;
    let a_id = ok(app.with_key(&a, Method::GET, "/api/v1/platform/tenants/tenant-a"), 200).await["id"].clone();

    for header in [None, Some("tenant-b")] {
        let mut req = app.with_key(&a, Method::GET, "/api/v1/audit?size=100");
        if let Some(h) = header {
            req = req.header("X-Keyplane-Tenant", h);
        }
        let page = ok(req, 200).await;
        assert_eq!(page["total"], 3, "{page}");
        assert!(page["events"].as_array().unwrap().iter().all(|e| e["tenant_id"] == a_id), "{page}");
        assert!(!page.to_string().contains("bob"), "another tenant's event leaked: {page}");
    }
    let found = ok(app.with_key(&a, Method::GET, "/api/v1/audit?actor=bob"), 200).await;
    assert_eq!(found["total"], 0);

    // A viewer key has no audit trail.
    let viewer = app.create_key("tenant-a", &["tenant_viewer"]).await["key"].as_str().unwrap().to_owned();
    let resp = app.with_key(&viewer, Method::GET, "/api/v1/audit").send().await.unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
}

async fn platform_operators_see_all_or_one_tenant(app: &TestApp) {
    let a = app.tenant_with_admin_key("tenant-a").await;
    app.tenant_with_admin_key("tenant-b").await;
    app.create_user(&a, "alice").await;

    let all = audit_as_admin(app, None, "?size=100").await;
    assert_eq!(all["total"], 5, "{all}");
    let only_b = audit_as_admin(app, Some("tenant-b"), "").await;
    assert_eq!(actions(&only_b), ["api_key.created", "tenant.created"]);
    let resp = app.as_admin(Method::GET, "/api/v1/audit").header("X-Keyplane-Tenant", "nope").send().await.unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
}
