//! Platform operators and platform keys, on SQLite and PostgreSQL: operators are created,
//! listed, read, promoted, demoted, disabled and deleted by a `platform_admin`; a
//! `platform_viewer` reads and cannot write; the last enabled admin can be neither
//! demoted, disabled nor deleted, also when 32 admins demote themselves at once through
//! two processes; platform keys (`kpp_…`) act as their operator with at most the
//! operator's roles and die with the operator's right to sign in.

use crate::support::{assert_error, SendJson, ADMIN_PASSWORD};
use crate::{TestApp, PASSWORD};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

const USERS: &str = "/api/v1/platform/users";

impl TestApp {
    /// Creates operator `name` with `roles` as the bootstrap admin; returns its JSON.
    async fn create_operator(&self, name: &str, roles: &[&str]) -> Value {
        self.as_admin(Method::POST, USERS)
            .json(&json!({"user_name": name, "password": PASSWORD, "roles": roles}))
            .send_ok()
            .await
    }

    /// A platform key for operator `owner` created by the bootstrap admin (`roles` when
    /// given); returns the key text.
    async fn create_platform_key(&self, owner: &str, roles: Option<&[&str]>) -> String {
        let mut body = json!({"description": "automation"});
        if let Some(roles) = roles {
            body["roles"] = json!(roles);
        }
        let created = self.as_admin(Method::POST, &format!("{USERS}/{owner}/keys")).json(&body).send_ok().await;
        let key = created["key"].as_str().expect("the key is shown once").to_owned();
        self.secret(&key);
        key
    }

    /// A request as operator `name` with the test password (Basic).
    fn as_operator(&self, name: &str, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).basic_auth(name, Some(PASSWORD))
    }
}

async fn status(request: RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

async fn operators_lifecycle(app: &TestApp) {
    let ops = app.create_operator("Ops", &["platform_viewer"]).await;
    let fields: Vec<&str> = ops.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        ["created_at", "enabled", "failed_addresses", "failed_attempts", "id", "locked_until", "roles", "user_name"]
    );
    assert_eq!(
        (&ops["user_name"], &ops["roles"], &ops["enabled"]),
        (&json!("Ops"), &json!(["platform_viewer"]), &json!(true))
    );
    assert!(ops.get("password").is_none() && ops.get("password_hash").is_none());

    // Refused input, each with its code.
    let create = |body: Value| app.as_admin(Method::POST, USERS).json(&body).send();
    let taken = create(json!({"user_name": "OPS", "password": PASSWORD, "roles": ["platform_viewer"]}));
    assert_error(taken.await.unwrap(), 409, "user.user_name.conflict").await;
    for roles in [json!([]), json!(["tenant_admin"]), json!(["platform_admin", "custom"])] {
        let resp = create(json!({"user_name": "x", "password": PASSWORD, "roles": roles})).await.unwrap();
        let item = assert_error(resp, 400, "user.roles.invalid").await;
        assert_eq!(item["fields"], json!(["roles"]));
    }
    let bad_name = create(json!({"user_name": "has space", "password": PASSWORD, "roles": ["platform_viewer"]}));
    assert_error(bad_name.await.unwrap(), 400, "user.user_name.invalid").await;
    let short = create(json!({"user_name": "x", "password": "short", "roles": ["platform_viewer"]}));
    assert_error(short.await.unwrap(), 400, "root.invalid_data").await;
    let unknown = create(json!({"user_name": "x", "password": PASSWORD, "roles": ["platform_viewer"], "admin": true}));
    assert_error(unknown.await.unwrap(), 400, "root.invalid_data").await;

    // Listed by name, read by name (any case) or id.
    let list = app.as_admin(Method::GET, USERS).send_ok().await;
    let names: Vec<&str> = list["users"].as_array().unwrap().iter().map(|u| u["user_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "Ops"]);
    assert_eq!(list["total"], 2);
    let by_name = app.as_admin(Method::GET, &format!("{USERS}/oPS")).send_ok().await;
    assert_eq!(by_name["id"], ops["id"]);
    let by_id = app.as_admin(Method::GET, &format!("{USERS}/{}", ops["id"].as_str().unwrap())).send_ok().await;
    assert_eq!(by_id["user_name"], "Ops");
    assert_error(app.as_admin(Method::GET, &format!("{USERS}/ghost")).send().await.unwrap(), 404, "user.not_found")
        .await;

    // A viewer reads the platform and changes nothing; a tenant's admin key is no operator.
    assert_eq!(status(app.as_operator("ops", Method::GET, USERS)).await, 200);
    assert_eq!(status(app.as_operator("ops", Method::GET, "/api/v1/platform/tenants")).await, 200);
    assert_eq!(status(app.as_operator("ops", Method::GET, "/api/v1/audit")).await, 200);
    let write = app
        .as_operator("ops", Method::POST, USERS)
        .json(&json!({"user_name": "y", "password": PASSWORD, "roles": ["platform_admin"]}));
    assert_error(write.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    let tenant =
        app.as_operator("ops", Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "nope", "name": "Nope"}));
    assert_error(tenant.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    let promote_self =
        app.as_operator("ops", Method::PATCH, &format!("{USERS}/ops")).json(&json!({"roles": ["platform_admin"]}));
    assert_error(promote_self.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    let tenant_key = app.tenant_with_admin_key("acme").await;
    assert_error(app.with_key(&tenant_key, Method::GET, USERS).send().await.unwrap(), 403, "root.unauthorized.rbac")
        .await;
    assert_error(app.request(Method::GET, USERS).send().await.unwrap(), 401, "root.unauthorized").await;

    // The only enabled admin stays one.
    let admin = |method: Method| app.as_admin(method, &format!("{USERS}/admin"));
    let demote = admin(Method::PATCH).json(&json!({"roles": ["platform_viewer"]})).send();
    let item = assert_error(demote.await.unwrap(), 409, "platform.last_admin").await;
    assert!(item["message"].as_str().unwrap().contains("platform_admin"), "{item}");
    assert_error(
        admin(Method::PATCH).json(&json!({"enabled": false})).send().await.unwrap(),
        409,
        "platform.last_admin",
    )
    .await;
    assert_error(admin(Method::DELETE).send().await.unwrap(), 409, "platform.last_admin").await;
    assert_eq!(
        app.as_admin(Method::GET, &format!("{USERS}/admin")).send_ok().await["roles"],
        json!(["platform_admin"])
    );
    // null cannot remove a field.
    let null = admin(Method::PATCH).json(&json!({"roles": null})).send();
    assert_error(null.await.unwrap(), 400, "user.roles.invalid").await;

    // A second admin; then the first may step down, and the second is the last.
    let promoted = app
        .as_admin(Method::PATCH, &format!("{USERS}/ops"))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"roles": ["platform_admin", "platform_viewer"]}).to_string())
        .send_ok()
        .await;
    assert_eq!(promoted["roles"], json!(["platform_admin", "platform_viewer"]));
    let stepped_down =
        app.as_admin(Method::PATCH, &format!("{USERS}/admin")).json(&json!({"roles": ["platform_viewer"]}));
    assert_eq!(stepped_down.send_ok().await["roles"], json!(["platform_viewer"]));
    let as_viewer =
        app.as_admin(Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "nope", "name": "Nope"}));
    assert_error(as_viewer.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    let ops_admin = |method: Method, path: &str| app.as_operator("ops", method, path);
    let disable_ops = ops_admin(Method::PATCH, &format!("{USERS}/ops")).json(&json!({"enabled": false}));
    assert_error(disable_ops.send().await.unwrap(), 409, "platform.last_admin").await;
    let restore = ops_admin(Method::PATCH, &format!("{USERS}/admin")).json(&json!({"roles": ["platform_admin"]}));
    assert_eq!(restore.send_ok().await["roles"], json!(["platform_admin"]));

    // Disabled: no sign-in, no session; enabled again: both. A new password ends sessions.
    let session = app
        .request(Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "ops", "password": PASSWORD}))
        .send_ok()
        .await;
    let token = session["token"].as_str().unwrap().to_owned();
    app.secrets_of(&session);
    assert_eq!(status(app.with_bearer(&token, Method::GET, USERS)).await, 200);
    let disabled =
        app.as_admin(Method::PATCH, &format!("{USERS}/ops")).json(&json!({"enabled": false})).send_ok().await;
    assert_eq!(disabled["enabled"], false);
    assert_eq!(status(app.as_operator("ops", Method::GET, USERS)).await, 401);
    assert_eq!(status(app.with_bearer(&token, Method::GET, USERS)).await, 401, "disabling ends the session");
    app.as_admin(Method::PATCH, &format!("{USERS}/ops")).json(&json!({"enabled": true})).send_ok().await;
    assert_eq!(status(app.as_operator("ops", Method::GET, USERS)).await, 200);
    let new_password = "a new operator password";
    app.secret(new_password);
    app.as_admin(Method::PATCH, &format!("{USERS}/ops")).json(&json!({"password": new_password})).send_ok().await;
    assert_eq!(status(app.as_operator("ops", Method::GET, USERS)).await, 401, "the old password");
    assert_eq!(status(app.request(Method::GET, USERS).basic_auth("ops", Some(new_password))).await, 200);

    // Deleted: gone, and no longer signs in.
    let deleted = app.as_admin(Method::DELETE, &format!("{USERS}/ops")).send_ok().await;
    assert_eq!(deleted, json!({}));
    assert_error(app.as_admin(Method::GET, &format!("{USERS}/ops")).send().await.unwrap(), 404, "user.not_found").await;
    assert_eq!(status(app.request(Method::GET, USERS).basic_auth("ops", Some(new_password))).await, 401);
    assert_error(app.as_admin(Method::DELETE, &format!("{USERS}/ops")).send().await.unwrap(), 404, "user.not_found")
        .await;

    // Every change is on record, without a password.
    let trail = app.as_admin(Method::GET, "/api/v1/audit?action=user.&actor=admin&size=100").send_ok().await;
    let actions: Vec<&str> =
        trail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).rev().collect();
    for expected in
        ["user.created", "user.updated", "user.disabled", "user.enabled", "user.password_changed", "user.deleted"]
    {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(!trail.to_string().contains(new_password));
    app.no_secret_logged().unwrap();
}

async fn platform_keys(app: &TestApp) {
    app.tenant_with_admin_key("acme").await;
    let created = app
        .as_admin(Method::POST, &format!("{USERS}/admin/keys"))
        .json(&json!({"description": "automation", "expiration": "30d"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    app.secret(&key);
    assert!(key.starts_with(&format!("kpp_{}_", created["id"].as_str().unwrap())), "{created}");
    assert_eq!(created["roles"], json!(["platform_admin"]));
    assert!(created["expiration_date"].is_string() && created["last_used_date"].is_null(), "{created}");

    // It acts as its operator, in either header, on the platform and in any tenant.
    assert_eq!(status(app.with_key(&key, Method::GET, "/api/v1/platform/tenants")).await, 200);
    let other = app.request(Method::GET, "/api/v1/platform/tenants").header("authorization", format!("ApiKey {key}"));
    assert_eq!(status(other).await, 200);
    let tenant =
        app.with_key(&key, Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "beta", "name": "Beta"}));
    assert_eq!(tenant.send_ok().await["slug"], "beta");
    assert_eq!(status(app.with_key(&key, Method::GET, "/api/v1/users").header("X-Keyplane-Tenant", "acme")).await, 200);
    let listed = app.as_admin(Method::GET, &format!("{USERS}/admin/keys")).send_ok().await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
    assert!(listed["keys"][0].get("key").is_none(), "the secret is never shown again");
    assert!(listed["keys"][0]["last_used_date"].is_string(), "its use is recorded: {listed}");

    // Nowhere a tenant's key is expected, and never with a changed secret or prefix.
    let tenovos =
        app.with_key(&key, Method::POST, "/t/acme/tenovos/auth/token").json(&json!({"username": "a", "password": "b"}));
    let tenovos = tenovos.send().await.unwrap();
    assert_eq!(tenovos.status(), 403, "as any key that is not the tenant's");
    assert_eq!(tenovos.json::<Value>().await.unwrap(), json!({"message": "Forbidden"}));
    let native = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}));
    assert_error(native.send().await.unwrap(), 401, "root.unauthorized").await;
    let as_tenant_key = key.replacen("kpp_", "kp_", 1);
    assert_eq!(status(app.with_key(&as_tenant_key, Method::GET, "/api/v1/platform/tenants")).await, 401);
    let mut tampered = key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_error(app.with_key(&tampered, Method::GET, USERS).send().await.unwrap(), 401, "root.unauthorized").await;

    // A viewer's key reads and cannot write; a key never holds more than its operator.
    app.create_operator("watch", &["platform_viewer"]).await;
    let escalate = app
        .as_admin(Method::POST, &format!("{USERS}/watch/keys"))
        .json(&json!({"description": "x", "roles": ["platform_admin"]}));
    assert_error(escalate.send().await.unwrap(), 400, "user.roles.invalid").await;
    let viewer_key = app.create_platform_key("watch", None).await;
    assert_eq!(status(app.with_key(&viewer_key, Method::GET, USERS)).await, 200);
    assert_eq!(status(app.with_key(&viewer_key, Method::GET, "/api/v1/audit")).await, 200);
    let write =
        app.with_key(&viewer_key, Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "x", "name": "X"}));
    assert_error(write.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    // An admin's key narrowed to viewing.
    let narrowed = app.create_platform_key("admin", Some(&["platform_viewer"])).await;
    assert_eq!(status(app.with_key(&narrowed, Method::GET, USERS)).await, 200);
    assert_error(
        app.with_key(&narrowed, Method::DELETE, &format!("{USERS}/watch")).send().await.unwrap(),
        403,
        "root.unauthorized.rbac",
    )
    .await;

    // An operator manages their own keys, not another's.
    let own =
        app.as_operator("watch", Method::POST, &format!("{USERS}/watch/keys")).json(&json!({"description": "mine"}));
    let own = own.send_ok().await;
    app.secrets_of(&own);
    let foreign =
        app.as_operator("watch", Method::POST, &format!("{USERS}/admin/keys")).json(&json!({"description": "theirs"}));
    assert_error(foreign.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    let own_path = format!("{USERS}/watch/keys/{}", own["id"].as_str().unwrap());
    assert_eq!(app.as_operator("watch", Method::GET, &own_path).send_ok().await["description"], "mine");
    assert_eq!(app.as_operator("watch", Method::DELETE, &own_path).send_ok().await, json!({}));
    assert_error(
        app.as_operator("watch", Method::DELETE, &own_path).send().await.unwrap(),
        404,
        "api_keys.key_not_found",
    )
    .await;
    let elsewhere = format!("{USERS}/admin/keys/{}", created["id"].as_str().unwrap());
    assert_error(
        app.as_operator("watch", Method::DELETE, &elsewhere).send().await.unwrap(),
        403,
        "root.unauthorized.rbac",
    )
    .await;
    let wrong_owner = format!("{USERS}/watch/keys/{}", created["id"].as_str().unwrap());
    assert_error(app.as_admin(Method::GET, &wrong_owner).send().await.unwrap(), 404, "api_keys.key_not_found").await;

    // A key mints no keys, not even for its own operator.
    let minted =
        app.with_key(&key, Method::POST, &format!("{USERS}/admin/keys")).json(&json!({"description": "spawn"}));
    assert_error(minted.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    let minted =
        app.with_key(&viewer_key, Method::POST, &format!("{USERS}/watch/keys")).json(&json!({"description": "spawn"}));
    assert_error(minted.send().await.unwrap(), 403, "root.unauthorized.rbac").await;

    // A viewer changes their own password, with their password, and nothing else.
    let watch = format!("{USERS}/watch");
    let changed = "watch's own new password";
    app.secret(changed);
    let own = app.as_operator("watch", Method::PATCH, &watch).json(&json!({"password": changed}));
    assert_eq!(own.send_ok().await["user_name"], "watch");
    assert_eq!(status(app.as_operator("watch", Method::GET, USERS)).await, 401, "the old password");
    let back =
        app.request(Method::PATCH, &watch).basic_auth("watch", Some(changed)).json(&json!({"password": PASSWORD}));
    back.send_ok().await;
    for (body, path) in [
        (json!({"roles": ["platform_admin"]}), watch.as_str()),
        (json!({"enabled": true}), watch.as_str()),
        (json!({"password": "taking over the admin"}), &format!("{USERS}/admin")),
    ] {
        let resp = app.as_operator("watch", Method::PATCH, path).json(&body).send().await.unwrap();
        assert_error(resp, 403, "root.unauthorized.rbac").await;
    }
    let by_key = app.with_key(&viewer_key, Method::PATCH, &watch).json(&json!({"password": "set with a key"}));
    assert_error(by_key.send().await.unwrap(), 403, "root.unauthorized.rbac").await;

    // What a key did is on record under its id.
    let trail = app.as_admin(Method::GET, "/api/v1/audit?action=tenant.created").send_ok().await;
    let beta = trail["events"].as_array().unwrap().iter().find(|e| e["details"]["slug"] == "beta");
    let beta = beta.expect("the tenant the key created is on record");
    assert_eq!(beta["actor"]["kind"], "api_key", "{beta}");
    assert_eq!(beta["actor"]["name"], created["id"], "{beta}");

    // The operator's fate is the key's: disabled (which revokes it for good), demoted,
    // deleted.
    app.as_admin(Method::PATCH, &format!("{USERS}/watch")).json(&json!({"enabled": false})).send_ok().await;
    assert_eq!(status(app.with_key(&viewer_key, Method::GET, USERS)).await, 401);
    app.as_admin(Method::PATCH, &format!("{USERS}/watch")).json(&json!({"enabled": true})).send_ok().await;
    assert_eq!(status(app.with_key(&viewer_key, Method::GET, USERS)).await, 401, "a disable revoked the key");
    let viewer_key = app.create_platform_key("watch", None).await;
    assert_eq!(status(app.with_key(&viewer_key, Method::GET, USERS)).await, 200);
    app.create_operator("deputy", &["platform_admin"]).await;
    let deputy_key = app.create_platform_key("deputy", None).await;
    assert_eq!(
        status(app.with_key(&deputy_key, Method::DELETE, &format!("{USERS}/watch/keys/{}", "0".repeat(24)))).await,
        404
    );
    app.as_admin(Method::PATCH, &format!("{USERS}/deputy"))
        .json(&json!({"roles": ["platform_viewer"]}))
        .send_ok()
        .await;
    let demoted =
        app.with_key(&deputy_key, Method::POST, "/api/v1/platform/tenants").json(&json!({"slug": "y", "name": "Y"}));
    assert_error(demoted.send().await.unwrap(), 403, "root.unauthorized.rbac").await;
    assert_eq!(status(app.with_key(&deputy_key, Method::GET, USERS)).await, 200, "still a viewer");
    app.as_admin(Method::DELETE, &format!("{USERS}/watch")).send_ok().await;
    assert_eq!(status(app.with_key(&viewer_key, Method::GET, USERS)).await, 401, "deleted with its operator");

    // Revoked: refused at once.
    assert_eq!(app.as_admin(Method::DELETE, &elsewhere).send_ok().await, json!({}));
    assert_error(app.with_key(&key, Method::GET, USERS).send().await.unwrap(), 401, "root.unauthorized").await;
    let trail = app.as_admin(Method::GET, "/api/v1/audit?action=api_key.&size=100").send_ok().await;
    let actions: Vec<&str> =
        trail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"api_key.created") && actions.contains(&"api_key.revoked"), "{actions:?}");
    app.no_secret_logged().unwrap();
}

/// 32 admins (the bootstrap one and 31 more) each demote themselves at the same moment,
/// half through one `keyplane` process and half through another: exactly one is refused
/// with `platform.last_admin`, and exactly one enabled admin is left.
async fn concurrent_demotions_leave_one_admin(app: &TestApp) {
    const ADMINS: usize = 32;
    let mut admins = vec![("admin".to_owned(), ADMIN_PASSWORD)];
    for i in 1..ADMINS {
        let name = format!("op{i}");
        app.create_operator(&name, &["platform_admin"]).await;
        admins.push((name, PASSWORD));
    }
    // Every demotion hashes a password at the same moment: room for all of them.
    let env = [("KEYPLANE_RATE_LIMIT__ENABLED", "false"), ("KEYPLANE_HASHING__QUEUE", "64")];
    let replicas = [app.replica(0, &env), app.replica(1, &env)];
    let client = reqwest::Client::new();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(ADMINS));
    let mut tasks = Vec::new();
    for (i, (name, password)) in admins.into_iter().enumerate() {
        let url = format!("{}{USERS}/{name}", replicas[i % 2].base);
        let (client, barrier) = (client.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            // Each demotes itself in person (a key may not change roles).
            let resp = client
                .patch(url)
                .basic_auth(&name, Some(password))
                .json(&json!({"roles": ["platform_viewer"]}))
                .send()
                .await;
            let resp = resp.unwrap();
            let status = resp.status().as_u16();
            let code = resp.headers().get("x-cloud-error-codes").map(|v| v.to_str().unwrap().to_owned());
            (status, code)
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let demoted = outcomes.iter().filter(|(s, _)| *s == 200).count();
    let refused = outcomes.iter().filter(|(s, c)| *s == 409 && c.as_deref() == Some("platform.last_admin")).count();
    assert_eq!((demoted, refused), (ADMINS - 1, 1), "{outcomes:?}");
    // The bootstrap admin reads, whether it is the survivor or now a viewer.
    let list = app.as_admin(Method::GET, &format!("{USERS}?size=100")).send_ok().await;
    let admins: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["enabled"] == true && u["roles"].as_array().unwrap().contains(&json!("platform_admin")))
        .map(|u| u["user_name"].as_str().unwrap())
        .collect();
    assert_eq!(admins.len(), 1, "exactly one admin is left: {admins:?}");
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "platform users: {ADMINS} concurrent self-demotions → {demoted} done, {refused} refused; left: {admins:?}"
    );
}

on_every_backend!(operators_lifecycle, platform_keys, concurrent_demotions_leave_one_admin);
