//! The native sign-in API and the token engine: claims, expiry, refresh rotation, reuse
//! detection, logout, signing keys and JWKS, authentication clusters, isolation.

use crate::{assert_error, claims, header, TestApp, PASSWORD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    access_token_renewal_is_bounded_and_can_be_turned_off,
    login_issues_tokens_with_every_claim,
    failed_sign_ins_look_alike,
    refresh_rotates_and_reuse_revokes_the_session,
    access_refresh_and_logout,
    expiry_follows_the_policy_clock,
    platform_admin_signs_in_without_a_key,
    tokens_verify_with_the_jwks_alone,
    rotation_keeps_old_keys_until_their_tokens_expire,
    no_cluster_answers_501_and_a_failing_one_502,
    tokens_of_one_tenant_are_rejected_by_another,
    disabled_deleted_and_suspended_end_everything,
    token_policy_is_validated_and_applied,
    concurrent_refreshes_have_one_winner,
    reuse_grace_allows_a_quick_retry,
);

async fn login_issues_tokens_with_every_claim(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let body = app.login(&key, "ALICE", PASSWORD).await;
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["refresh_token", "session_expiration_time", "token"]);
    let token = body["token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    let tenant: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants/acme").send().await.unwrap().json().await.unwrap();
    let user: Value =
        app.with_key(&key, Method::GET, "/api/v1/users/alice").send().await.unwrap().json().await.unwrap();

    let c = claims(token);
    let issuer = format!("{}/t/acme", app.base);
    assert_eq!(c["iss"], issuer);
    assert_eq!(c["aud"], issuer);
    assert_eq!(c["sub"], user["id"]);
    assert_eq!(c["tid"], tenant["id"]);
    assert_eq!(c["user_name"], "alice");
    assert_eq!(c["roles"], json!(["tenant_viewer", "support"]));
    assert_eq!(c["token_use"], "access");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900, "15 minutes by default");
    uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).unwrap();
    uuid::Uuid::parse_str(c["sid"].as_str().unwrap()).unwrap();
    let h = header(token);
    assert_eq!(h["alg"], "EdDSA");
    assert!(h["kid"].is_string());
    let expiration = chrono::DateTime::parse_from_rfc3339(body["session_expiration_time"].as_str().unwrap()).unwrap();
    assert_eq!(expiration.timestamp(), c["exp"].as_i64().unwrap());

    let r = claims(refresh);
    assert_eq!(r["token_use"], "refresh");
    assert_eq!(r["sid"], c["sid"]);
    assert_ne!(r["jti"], c["jti"]);
    let session_days = (r["exp"].as_i64().unwrap() - r["iat"].as_i64().unwrap()) / 86_400;
    assert_eq!(session_days, 30, "30-day sessions by default");

    // The token authenticates the admin API as alice, with her roles.
    let me: Value =
        app.with_bearer(token, Method::GET, "/api/v1/users/auth").send().await.unwrap().json().await.unwrap();
    assert_eq!(me["authenticated_via"], "bearer");
    assert_eq!(me["subject_id"], user["id"]);
    assert_eq!(me["session_id"], c["sid"]);
    assert_eq!(me["user_name"], "alice");
    let own: Value = app.with_bearer(token, Method::GET, "/api/v1/user").send().await.unwrap().json().await.unwrap();
    assert_eq!(own["id"], user["id"]);
    assert!(own["last_login_at"].is_string(), "sign-in records last_login_at");
    assert_eq!(
        app.with_bearer(token, Method::GET, "/api/v1/users").send().await.unwrap().status(),
        200,
        "tenant_viewer reads"
    );
    let resp = app
        .with_bearer(token, Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "x", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
    let methods: Value =
        app.with_key(&key, Method::GET, "/api/v1/users/auth/methods").send().await.unwrap().json().await.unwrap();
    assert_eq!(methods, json!({"password_enabled": true, "sso_enabled": false}));
}

async fn failed_sign_ins_look_alike(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let mut bodies = Vec::new();
    for (user, password) in [("alice", "wrong password"), ("nobody", PASSWORD), ("", PASSWORD), ("alice", "")] {
        let resp = app
            .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        bodies.push(assert_error(resp, 401, "root.unauthenticated").await);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "unknown user and wrong password give the same answer: {bodies:?}"
    );
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["password"]));
    let resp = app
        .request(Method::POST, "/api/v1/users/auth/_login")
        .header("X-API-Key", "kp_nope")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    // Disabled users fail the same way.
    app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"enabled": false})).send().await.unwrap();
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 401, "root.unauthenticated").await, bodies[0]);
}

async fn refresh_rotates_and_reuse_revokes_the_session(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let first = login["refresh_token"].as_str().unwrap().to_owned();
    let resp = app.with_bearer(&first, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "rotated on use");
    assert_eq!(claims(&second)["sid"], claims(&first)["sid"]);
    let access = rotated["token"].as_str().unwrap().to_owned();
    assert_eq!(app.with_bearer(&access, Method::GET, "/api/v1/users/auth").send().await.unwrap().status(), 200);

    // Reuse of the rotated token after the 10 s grace: refused, and the whole session ends.
    app.clock.advance(chrono::Duration::seconds(11));
    let resp = app.with_bearer(&first, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app.with_bearer(&second, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app.with_bearer(&access, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;

    // The reuse is on record, written with the revocation: once, however often the
    // rotated token is replayed afterwards.
    let resp = app.with_bearer(&first, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let trail = app.with_key(&key, Method::GET, "/api/v1/audit?action=session.reuse_detected").send().await.unwrap();
    let trail: Value = trail.json().await.unwrap();
    let events = trail["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{trail}");
    assert_eq!(events[0]["details"]["session_id"], claims(&first)["sid"], "{trail}");
    assert_eq!((&events[0]["outcome"], &events[0]["actor"]["name"]), (&json!("failure"), &json!("alice")));
}

async fn access_refresh_and_logout(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap();
    let resp = app.with_bearer(token, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["session_expiration_time", "token"], "refreshing with the access token: ECE's shape");
    let fresh = body["token"].as_str().unwrap();
    assert_eq!(claims(fresh)["sid"], claims(token)["sid"]);

    let resp = app.request(Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app.with_bearer("not.a.jwt", Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;

    let resp = app.with_bearer(fresh, Method::POST, "/api/v1/users/auth/_logout").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    for t in [token, fresh, login["refresh_token"].as_str().unwrap()] {
        let resp = app.with_bearer(t, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
        assert_error(resp, 401, "root.unauthorized").await;
    }
    let resp = app.with_bearer(fresh, Method::POST, "/api/v1/users/auth/_logout").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

async fn expiry_follows_the_policy_clock(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap();
    app.clock.advance(chrono::Duration::minutes(16));
    let resp = app.with_bearer(token, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .with_bearer(login["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the refresh token outlives the access token");
    let refresh = resp.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::Duration::days(31));
    let resp = app.with_bearer(&refresh, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

async fn platform_admin_signs_in_without_a_key(app: &TestApp) {
    let resp = app
        .request(Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "admin", "password": crate::support::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["iss"], format!("{}/platform", app.base));
    assert!(c.get("tid").is_none(), "platform tokens carry no tenant");
    assert_eq!(c["roles"], json!(["platform_admin"]));
    let resp = app
        .with_bearer(token, Method::POST, "/api/v1/platform/tenants")
        .json(&json!({"slug": "made-by-token", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = app
        .request(Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "admin", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthenticated").await;
}

/// Verifies `token` with nothing but the JWKS fetched over HTTP.
async fn verify_with_jwks(app: &TestApp, slug: &str, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let jwks: JwkSet = app
        .request(Method::GET, &format!("/t/{slug}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = header(token)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks.find(&kid).expect("the token's kid is published");
    let alg = if header(token)["alg"] == "ES256" { Algorithm::ES256 } else { Algorithm::EdDSA };
    let mut validation = Validation::new(alg);
    let issuer = format!("{}/t/{slug}", app.base);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(&[&issuer]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &validation).map(|d| d.claims)
}

async fn tokens_verify_with_the_jwks_alone(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap();
    let verified = verify_with_jwks(app, "acme", token).await.expect("verifies with the JWKS alone");
    assert_eq!(verified["user_name"], "alice");
    let mut tampered = token.to_owned();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    assert!(verify_with_jwks(app, "acme", &tampered).await.is_err());

    let discovery: Value = app
        .request(Method::GET, "/t/acme/.well-known/openid-configuration")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], format!("{}/t/acme", app.base));
    assert_eq!(discovery["jwks_uri"], format!("{}/t/acme/.well-known/jwks.json", app.base));
    assert_eq!(discovery["token_endpoint"], format!("{}/t/acme/oauth2/token", app.base));
    assert_eq!(discovery["introspection_endpoint"], format!("{}/t/acme/oauth2/introspect", app.base));
    assert_eq!(discovery["revocation_endpoint"], format!("{}/t/acme/oauth2/revoke", app.base));
    let resp = app.request(Method::GET, "/t/nope/.well-known/jwks.json").send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // ES256, selected through the policy, verifies the same way.
    app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
        .json(&json!({"signing_algorithm": "ES256"}))
        .send()
        .await
        .unwrap();
    let rotated: Value = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/signing-keys/_rotate")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["algorithm"], "ES256");
    assert_eq!(rotated["public_jwk"]["crv"], "P-256");
    let es = app.login(&key, "alice", PASSWORD).await;
    let es_token = es["token"].as_str().unwrap();
    assert_eq!(header(es_token)["alg"], "ES256");
    assert_eq!(verify_with_jwks(app, "acme", es_token).await.expect("ES256 verifies")["user_name"], "alice");
}

async fn rotation_keeps_old_keys_until_their_tokens_expire(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let old = app.login(&key, "alice", PASSWORD).await;
    let old_token = old["token"].as_str().unwrap();
    let old_kid = header(old_token)["kid"].as_str().unwrap().to_owned();
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/signing-keys/_rotate")
        .json(&json!({"algorithm": "EdDSA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let new_kid = resp.json::<Value>().await.unwrap()["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);

    let fresh = app.login(&key, "alice", PASSWORD).await;
    assert_eq!(header(fresh["token"].as_str().unwrap())["kid"], new_kid, "new tokens carry the new kid");
    let jwks: Value =
        app.request(Method::GET, "/t/acme/.well-known/jwks.json").send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");
    assert!(verify_with_jwks(app, "acme", old_token).await.is_ok(), "old tokens verify until they expire");
    assert_eq!(app.with_bearer(old_token, Method::GET, "/api/v1/users/auth").send().await.unwrap().status(), 200);
    let listed: Value = app
        .as_admin(Method::GET, "/api/v1/platform/tenants/acme/signing-keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<(&str, &str)> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    assert!(statuses.contains(&(new_kid.as_str(), "active")) && statuses.contains(&(old_kid.as_str(), "retired")));
    // Refresh tokens signed by the old key keep working: the key stays for the session lifetime.
    let resp = app
        .with_bearer(old["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Once every token it signed has expired, the retired key leaves the JWKS.
    app.clock.advance(chrono::Duration::days(31));
    let jwks: Value =
        app.request(Method::GET, "/t/acme/.well-known/jwks.json").send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [new_kid.as_str()]);
    let resp = app
        .as_admin(Method::POST, "/api/v1/platform/tenants/acme/signing-keys/_rotate")
        .json(&json!({"algorithm": "RS256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["algorithm"]));
}

async fn no_cluster_answers_501_and_a_failing_one_502(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let cluster: Value = app
        .as_admin(Method::GET, "/api/v1/platform/tenants/acme/authentication-cluster")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cluster, json!({"kind": "native"}), "new tenants use the native cluster");
    let resp =
        app.as_admin(Method::DELETE, "/api/v1/platform/tenants/acme/authentication-cluster").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 501, "authc.no_authentication_cluster").await;
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "nobody", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 501, "authc.no_authentication_cluster").await;
    let methods: Value =
        app.with_key(&key, Method::GET, "/api/v1/users/auth/methods").send().await.unwrap().json().await.unwrap();
    assert_eq!(methods["password_enabled"], false);
    let resp = app.as_admin(Method::GET, "/api/v1/platform/tenants/acme/authentication-cluster").send().await.unwrap();
    assert_error(resp, 404, "tenants.authentication_cluster_not_found").await;
    let resp = app
        .as_admin(Method::PUT, "/api/v1/platform/tenants/acme/authentication-cluster")
        .json(&json!({"kind": "ldap"}))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!(["kind"]));
    let resp = app
        .with_key(&key, Method::PUT, "/api/v1/platform/tenants/acme/authentication-cluster")
        .json(&json!({"kind": "native"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the tenant's admin configures its cluster");
    app.login(&key, "alice", PASSWORD).await;

    // A backend that fails: the native cluster's credential store holds a hash it
    // cannot read.
    let db = sea_orm::Database::connect(app.database_url.as_str()).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE users SET password_hash = 'not-a-phc-string' WHERE user_name = 'alice'")
        .await
        .unwrap();
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let item = assert_error(resp, 502, "authc.authentication_cluster_error").await;
    assert!(!item["message"].as_str().unwrap().contains("phc"), "no backend detail leaks");
}

async fn tokens_of_one_tenant_are_rejected_by_another(app: &TestApp) {
    let key_a = app.tenant_with_user("tenant-a").await;
    let key_b = app.tenant_with_user("tenant-b").await;
    let a = app.login(&key_a, "alice", PASSWORD).await;
    let token = a["token"].as_str().unwrap();
    let refresh = a["refresh_token"].as_str().unwrap();
    let (status, body) = app.form("/t/tenant-b/oauth2/introspect", &[("token", token)], Some(&key_b)).await;
    assert_eq!((status, body), (200, json!({"active": false})));
    let (status, body) = app
        .form("/t/tenant-b/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)], None)
        .await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_grant")));
    let resp = app.with_bearer(token, Method::GET, "/api/v1/platform/tenants/tenant-b").send().await.unwrap();
    assert_error(resp, 404, "tenants.not_found").await;
    let resp = app
        .with_bearer(token, Method::GET, "/api/v1/users")
        .header("X-Keyplane-Tenant", "tenant-b")
        .send()
        .await
        .unwrap();
    let users: Value = resp.json().await.unwrap();
    assert!(users["users"].as_array().unwrap().iter().all(|u| u["user_name"] == "alice"));
    let b_users: Value = app.with_key(&key_b, Method::GET, "/api/v1/users").send().await.unwrap().json().await.unwrap();
    assert_ne!(users["users"][0]["id"], b_users["users"][0]["id"], "A's token lists A's users only");
    // A's token still works at A after all that.
    let (status, body) = app.form("/t/tenant-a/oauth2/introspect", &[("token", token)], Some(&key_a)).await;
    assert_eq!((status, body["active"].clone()), (200, json!(true)));
}

async fn disabled_deleted_and_suspended_end_everything(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let active = |body: Value| body["active"] == true;
    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap().to_owned();
    assert!(active(app.form("/t/acme/oauth2/introspect", &[("token", &token)], Some(&key)).await.1));

    app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"enabled": false})).send().await.unwrap();
    assert!(
        !active(app.form("/t/acme/oauth2/introspect", &[("token", &token)], Some(&key)).await.1),
        "disabled: inactive"
    );
    let resp = app
        .with_bearer(login["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"enabled": true})).send().await.unwrap();

    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap().to_owned();
    app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_suspend").send().await.unwrap();
    let resp = app.with_bearer(&token, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .with_bearer(login["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    app.as_admin(Method::POST, "/api/v1/platform/tenants/acme/_resume").send().await.unwrap();
    assert!(
        active(app.form("/t/acme/oauth2/introspect", &[("token", &token)], Some(&key)).await.1),
        "resumed: valid again"
    );

    app.with_key(&key, Method::DELETE, "/api/v1/users/alice").send().await.unwrap();
    assert!(
        !active(app.form("/t/acme/oauth2/introspect", &[("token", &token)], Some(&key)).await.1),
        "deleted: inactive"
    );
    let resp = app
        .with_bearer(login["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

async fn token_policy_is_validated_and_applied(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let policy: Value = app
        .as_admin(Method::GET, "/api/v1/platform/tenants/acme/token-policy")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        policy,
        json!({"access_token_lifetime_seconds": 900, "session_lifetime_seconds": 2_592_000, "refresh_token_reuse_grace_seconds": 10, "signing_algorithm": "EdDSA",
               "access_token_renewal": true, "access_token_renewal_max_seconds": 43_200, "password_grant": true,
               "personal_key_lifetime_seconds": 7_776_000})
    );
    for (field, value) in [
        ("access_token_lifetime_seconds", json!(59)),
        ("access_token_lifetime_seconds", json!(86_401)),
        ("session_lifetime_seconds", json!(3_599)),
        ("session_lifetime_seconds", json!(365 * 86_400 + 1)),
        ("refresh_token_reuse_grace_seconds", json!(61)),
        ("refresh_token_reuse_grace_seconds", json!(-1)),
        ("signing_algorithm", json!("HS256")),
        ("access_token_lifetime_seconds", json!("60")),
        ("access_token_renewal_max_seconds", json!(59)),
        ("access_token_renewal_max_seconds", json!(365 * 86_400 + 1)),
        ("access_token_renewal", json!("yes")),
        ("password_grant", json!(1)),
        ("personal_key_lifetime_seconds", json!(3_599)),
    ] {
        let resp = app
            .as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
            .json(&json!({field: value}))
            .send()
            .await
            .unwrap();
        assert_eq!(assert_error(resp, 400, "root.invalid_data").await["fields"], json!([field]), "{field}={value}");
    }
    let resp = app
        .with_key(&key, Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
        .json(&json!({"access_token_lifetime_seconds": 60, "session_lifetime_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token = app.login(&key, "alice", PASSWORD).await;
    let c = claims(token["token"].as_str().unwrap());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 60);
    let r = claims(token["refresh_token"].as_str().unwrap());
    assert_eq!(r["exp"].as_i64().unwrap() - r["iat"].as_i64().unwrap(), 3600);
    let viewer = app.create_key("acme", &["tenant_viewer"]).await["key"].as_str().unwrap().to_owned();
    let resp = app
        .with_key(&viewer, Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;
}

/// Fires `n` refreshes of one token at once; returns the successor refresh token `jti`
/// of every one that succeeded.
async fn race(app: &TestApp, bases: &[String], refresh: &str, n: usize) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/users/auth/_refresh", bases[i % bases.len()]);
            let token = refresh.to_owned();
            tokio::spawn(async move {
                let resp = client.post(url).bearer_auth(token).send().await.unwrap();
                (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut successors = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, body) => successors.push(claims(body["refresh_token"].as_str().unwrap())["jti"].to_string()),
            (401, _) => {}
            (other, body) => panic!("unexpected status {other}: {body}"),
        }
    }
    successors
}

/// Within the reuse grace every racer gets the one successor (a single rotation); without
/// it exactly one racer wins and the others end the session.
async fn assert_one_rotation(app: &TestApp, key: &str, bases: &[String]) {
    for _ in 0..3 {
        let login = app.login(key, "alice", PASSWORD).await;
        let mut successors = race(app, bases, login["refresh_token"].as_str().unwrap(), 16).await;
        successors.dedup();
        assert_eq!(successors.len(), 1, "one rotation, whoever wins: {successors:?}");
    }
    app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
        .json(&json!({"refresh_token_reuse_grace_seconds": 0}))
        .send()
        .await
        .unwrap();
    // Other replicas see the policy when their cached copy expires (1 s by default).
    for base in bases {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let policy: Value = app
                .client
                .get(format!("{base}/api/v1/platform/tenants/acme/token-policy"))
                .basic_auth("admin", Some(crate::support::ADMIN_PASSWORD))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if policy["refresh_token_reuse_grace_seconds"] == 0 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the policy never reached {base}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    // The tenant is cached by slug and by id separately: let every copy expire.
    if bases.len() > 1 {
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    }
    for _ in 0..3 {
        let login = app.login(key, "alice", PASSWORD).await;
        let winners = race(app, bases, login["refresh_token"].as_str().unwrap(), 16).await;
        assert_eq!(winners.len(), 1, "without a grace exactly one of the concurrent refreshes wins");
    }
}

async fn concurrent_refreshes_have_one_winner(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    assert_one_rotation(app, &key, std::slice::from_ref(&app.base)).await;
}

async fn reuse_grace_allows_a_quick_retry(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy")
        .json(&json!({"refresh_token_reuse_grace_seconds": 30}))
        .send()
        .await
        .unwrap();
    let login = app.login(&key, "alice", PASSWORD).await;
    let first = login["refresh_token"].as_str().unwrap();
    let refresh = |t: String| app.with_bearer(&t, Method::POST, "/api/v1/users/auth/_refresh").send();
    let second: Value = refresh(first.to_owned()).await.unwrap().json().await.unwrap();
    let retry = refresh(first.to_owned()).await.unwrap();
    assert_eq!(retry.status(), 200, "a retry within the grace succeeds");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(
        claims(retry["refresh_token"].as_str().unwrap())["jti"],
        claims(second["refresh_token"].as_str().unwrap())["jti"],
        "and hands back the current refresh token"
    );
    app.clock.advance(chrono::Duration::seconds(31));
    let late = refresh(first.to_owned()).await.unwrap();
    assert_error(late, 401, "root.unauthorized").await;
    let resp = refresh(second["refresh_token"].as_str().unwrap().to_owned()).await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

/// Two `keyplane` processes on one PostgreSQL database: concurrent refreshes of one token
/// spread over both still have exactly one winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_share_rotation() {
    let Some(app) = TestApp::spawn(crate::Backend::Postgres).await else { return };
    let key = app.tenant_with_user("acme").await;
    let (first, second) = (app.replica(0, &[]), app.replica(1, &[]));
    let bases = [first.base.clone(), second.base.clone()];
    assert_one_rotation(&app, &key, &bases).await;
    // Tokens from one process work on the other.
    let login = app.login(&key, "alice", PASSWORD).await;
    let resp = app
        .client
        .get(format!("{}/api/v1/users/auth", first.base))
        .bearer_auth(login["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// ECE's `_refresh` with an access token: a chain of renewals ends
/// `access_token_renewal_max_seconds` after the sign-in that started it (the refresh
/// token starts a new chain), and a tenant can turn it off.
async fn access_token_renewal_is_bounded_and_can_be_turned_off(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let policy =
        |body: Value| app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy").json(&body).send();
    let set: Value = policy(json!({"access_token_renewal_max_seconds": 3600})).await.unwrap().json().await.unwrap();
    assert_eq!(
        (set["access_token_renewal"].clone(), set["access_token_renewal_max_seconds"].clone()),
        (json!(true), json!(3600))
    );
    let login = app.login(&key, "alice", PASSWORD).await;
    let started = claims(login["token"].as_str().unwrap())["iat"].as_i64().unwrap();
    let renew = |token: String| async move {
        let resp = app.with_bearer(&token, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    let mut token = login["token"].as_str().unwrap().to_owned();
    for _ in 0..4 {
        app.clock.advance(chrono::Duration::minutes(14));
        let (status, body) = renew(token.clone()).await;
        assert_eq!(status, 200, "{body}");
        token = body["token"].as_str().unwrap().to_owned();
        let c = claims(&token);
        assert_eq!(c["renewable_until"].as_i64(), Some(started + 3600), "the chain keeps its end: {c}");
        assert!(c["exp"].as_i64().unwrap() <= started + 3600, "no renewed token outlives the chain: {c}");
    }
    app.clock.advance(chrono::Duration::minutes(5));
    let (status, _) = renew(token.clone()).await;
    assert_eq!(status, 401, "the chain has ended");
    // The refresh token starts a new chain.
    let (status, body) = renew(login["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = renew(body["token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 200);
    // Turned off: an access token no longer renews itself.
    assert_eq!(policy(json!({"access_token_renewal": false})).await.unwrap().status(), 200);
    let fresh = app.login(&key, "alice", PASSWORD).await;
    assert!(claims(fresh["token"].as_str().unwrap()).get("renewable_until").is_none());
    let (status, _) = renew(fresh["token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 401);
    let resp = policy(json!({"access_token_renewal_max_seconds": 59})).await.unwrap();
    assert_error(resp, 400, "root.invalid_data").await;
}
