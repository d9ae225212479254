//! The sign-in pipeline as tenant applications meet it: the application's key beside a
//! user's bearer, every example of the seed documents as written, and tokens that a
//! standard JWT library tells apart.

use crate::support::ADMIN_PASSWORD;
use crate::{assert_error, claims, header, TestApp, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    the_applications_key_rides_beside_the_users_bearer,
    ece_refresh_with_basic_credentials_issues_a_token,
    tenovos_accepts_basic_auth,
    a_standard_verifier_never_takes_a_refresh_token_for_an_access_token,
);

async fn the_applications_key_rides_beside_the_users_bearer(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap();
    let both = |method: Method, path: &str| app.with_key(&key, method, path).bearer_auth(token);

    let me: Value = both(Method::GET, "/api/v1/users/auth").send().await.unwrap().json().await.unwrap();
    assert_eq!((me["authenticated_via"].as_str(), me["user_name"].as_str()), (Some("bearer"), Some("alice")));
    assert_eq!(me["subject_type"], "user");
    assert_eq!(me["roles"], json!(["tenant_viewer", "support"]), "the bearer's roles apply, not the key's");

    // Alice is a viewer: she reads users but cannot create them, whatever the key may do.
    assert_eq!(both(Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    let resp = both(Method::POST, "/api/v1/users")
        .json(&json!({"user_name": "mallory", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 403, "root.unauthorized.rbac").await;

    // Her own keys, with the application's key beside her bearer.
    let created = both(Method::POST, "/api/v1/users/auth/keys").json(&json!({"description": "cli"})).send().await;
    let created = created.unwrap();
    assert_eq!(created.status(), 200);
    let own_key = created.json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned();
    // Introspection is for the application's key: a user's own key reads no one's tokens.
    let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", token)], Some(&own_key)).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", token)], Some(&key)).await;
    assert_eq!((status, body["active"].as_bool()), (200, Some(true)));
    let listed: Value = both(Method::GET, "/api/v1/users/auth/keys").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1);

    // _refresh with the access token, and with the refresh token.
    let renewed = both(Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    assert!(renewed.get("refresh_token").is_none(), "an access token renews without rotation");
    let rotated = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_refresh")
        .bearer_auth(login["refresh_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    assert!(rotated.json::<Value>().await.unwrap()["refresh_token"].is_string());

    // A key of another tenant beside the bearer: refused on every route.
    let foreign = app.tenant_with_admin_key("globex").await;
    for (method, path) in [
        (Method::GET, "/api/v1/users/auth"),
        (Method::POST, "/api/v1/users/auth/_refresh"),
        (Method::POST, "/api/v1/users/auth/_logout"),
        (Method::GET, "/api/v1/users/auth/keys"),
    ] {
        let resp = app.with_key(&foreign, method, path).bearer_auth(token).send().await.unwrap();
        assert_error(resp, 401, "root.unauthorized").await;
    }

    // _logout with both ends the session.
    let resp = both(Method::POST, "/api/v1/users/auth/_logout").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app.with_bearer(token, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}

/// ECE's own example: `curl -X POST …/api/v1/users/auth/_refresh --user "username:password"`.
async fn ece_refresh_with_basic_credentials_issues_a_token(app: &TestApp) {
    let resp = app
        .request(Method::POST, "/api/v1/users/auth/_refresh")
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["session_expiration_time", "token"]);
    let token = body["token"].as_str().unwrap();
    assert_eq!(claims(token)["user_name"], "admin");
    assert!(claims(token).get("tid").is_none(), "an operator's token");
    let me = app.with_bearer(token, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_eq!(me.status(), 200);

    let key = app.tenant_with_user("acme").await;
    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_refresh")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let token = resp.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["user_name"], "alice");
    let me: Value =
        app.with_bearer(&token, Method::GET, "/api/v1/users/auth").send().await.unwrap().json().await.unwrap();
    assert_eq!(me["subject_type"], "user");

    let resp = app
        .with_key(&key, Method::POST, "/api/v1/users/auth/_refresh")
        .basic_auth("alice", Some("wrong password"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 401, "root.unauthenticated").await;
}

/// Tenovos' `Security: BasicAuth, ApiKeyAuth`: the credentials in Basic, not the body.
async fn tenovos_accepts_basic_auth(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let post = |body: &'static str, password: &str| {
        app.request(Method::POST, "/t/acme/tenovos/auth/token")
            .header("X-API-Key", &key)
            .header("Content-Type", "application/json")
            .basic_auth("alice", Some(password))
            .body(body)
            .send()
    };
    for body in ["{}", ""] {
        let resp = post(body, PASSWORD).await.unwrap();
        assert_eq!(resp.status(), 200, "body {body:?}");
        let session: Value = resp.json().await.unwrap();
        assert_eq!(session["username"], "alice");
        assert_eq!(session["password"], "");
    }
    let resp = post("{}", "wrong").await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "error", "message": "Incorrect username or password."})
    );
}

/// Verifies `token` as a resource server would with the `jsonwebtoken` crate: the
/// tenant's JWKS, the issuer, and the audience the discovery document names.
fn standard_verify(token: &str, jwks: &Value, discovery: &Value) -> Result<Value, String> {
    let kid = header(token)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).ok_or("no such kid")?;
    let key = jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
    validation.set_audience(&[discovery["access_token_audience"].as_str().unwrap()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims).map_err(|e| e.to_string())
}

async fn a_standard_verifier_never_takes_a_refresh_token_for_an_access_token(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let (access, refresh) = (login["token"].as_str().unwrap(), login["refresh_token"].as_str().unwrap());
    assert_eq!(header(access)["typ"], "at+jwt", "RFC 9068");
    assert_eq!(header(refresh)["typ"], "refresh+jwt");
    let get = |path: &'static str| async move {
        app.request(Method::GET, path).send().await.unwrap().json::<Value>().await.unwrap()
    };
    let (jwks, discovery) =
        (get("/t/acme/.well-known/jwks.json").await, get("/t/acme/.well-known/openid-configuration").await);
    assert_eq!(discovery["access_token_audience"], discovery["issuer"]);
    let verified = standard_verify(access, &jwks, &discovery).expect("an access token verifies");
    assert_eq!(verified["user_name"], "alice");
    let refused = standard_verify(refresh, &jwks, &discovery).expect_err("a refresh token is refused");
    assert!(refused.contains("Audience"), "{refused}");

    // Keyplane itself never takes one for the other either.
    let resp = app.with_bearer(refresh, Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let (status, body) =
        app.form("/t/acme/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", access)], None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // A token whose typ was swapped no longer verifies (the signature covers the header).
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut head = header(access);
    head["typ"] = json!("JWT");
    parts[0] = URL_SAFE_NO_PAD.encode(head.to_string());
    let resp = app.with_bearer(&parts.join("."), Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
}
