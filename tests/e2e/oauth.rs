//! OAuth 2.0 endpoints: token (password, client_credentials, refresh_token), introspection
//! and revocation, with RFC 6749 error shapes.

use crate::{claims, split_key, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    password_and_refresh_grants,
    client_credentials_grant,
    oauth_errors_take_rfc_6749_shape,
    introspection_and_revocation
);

fn error_of(body: &Value) -> &str {
    assert_eq!(body.as_object().unwrap().len(), 2, "{{error, error_description}}: {body}");
    assert!(body["error_description"].is_string());
    body["error"].as_str().unwrap()
}

async fn password_and_refresh_grants(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    // RFC 6749 §4.3.2: the client authenticates (with the tenant's API key).
    let (status, body) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)],
            None,
        )
        .await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"), "no client authentication");
    let (status, body) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)],
            Some(&key),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    fields.sort();
    assert_eq!(fields, ["access_token", "expires_in", "refresh_token", "scope", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "tenant_viewer support");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["user_name"], "alice");

    // A tenant may turn the grant off.
    let off =
        app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy").json(&json!({"password_grant": false}));
    assert_eq!(off.send().await.unwrap().json::<Value>().await.unwrap()["password_grant"], false);
    let (status, refused) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)],
            Some(&key),
        )
        .await;
    assert_eq!((status, error_of(&refused)), (400, "unauthorized_client"));
    let on =
        app.as_admin(Method::PUT, "/api/v1/platform/tenants/acme/token-policy").json(&json!({"password_grant": true}));
    assert_eq!(on.send().await.unwrap().status(), 200);

    let refresh = body["refresh_token"].as_str().unwrap();
    let (status, rotated) =
        app.form("/t/acme/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)], None).await;
    assert_eq!(status, 200);
    assert_ne!(rotated["refresh_token"], body["refresh_token"]);
    app.clock.advance(chrono::Duration::seconds(11));
    let (status, reuse) =
        app.form("/t/acme/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)], None).await;
    assert_eq!((status, error_of(&reuse)), (400, "invalid_grant"));
    let (status, after) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "refresh_token"), ("refresh_token", rotated["refresh_token"].as_str().unwrap())],
            None,
        )
        .await;
    assert_eq!((status, error_of(&after)), (400, "invalid_grant"), "reuse ended the session");

    // A token from the OAuth endpoint works on the native API and vice versa.
    let (_, fresh) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)],
            Some(&key),
        )
        .await;
    let resp = app
        .with_bearer(fresh["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let native = app.login(&key, "alice", PASSWORD).await;
    let (status, _) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "refresh_token"), ("refresh_token", native["refresh_token"].as_str().unwrap())],
            None,
        )
        .await;
    assert_eq!(status, 200);

    // JSON bodies are accepted as well.
    let resp = app
        .request(Method::POST, "/t/acme/oauth2/token")
        .header("X-API-Key", &key)
        .json(&json!({"grant_type": "password", "username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
}

async fn client_credentials_grant(app: &TestApp) {
    let key = app.tenant_with_admin_key("acme").await;
    let (status, body) = app.form("/t/acme/oauth2/token", &[("grant_type", "client_credentials")], Some(&key)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "no refresh token for client credentials");
    let c = claims(body["access_token"].as_str().unwrap());
    let (id, secret) = split_key(&key);
    assert_eq!(c["user_name"], id);
    assert_eq!(c["roles"], json!(["tenant_admin"]));
    // The token acts with the key's roles on the native API.
    assert_eq!(
        app.with_bearer(body["access_token"].as_str().unwrap(), Method::GET, "/api/v1/users")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Client credentials as form fields.
    let (status, _) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Revoking the key makes its tokens inactive.
    let token = body["access_token"].as_str().unwrap().to_owned();
    let other = app.create_key("acme", &["tenant_viewer"]).await["key"].as_str().unwrap().to_owned();
    app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/keys/{id}")).send().await.unwrap();
    let (_, state) = app.form("/t/acme/oauth2/introspect", &[("token", &token)], Some(&other)).await;
    assert_eq!(state, json!({"active": false}));
    let (status, body) = app.form("/t/acme/oauth2/token", &[("grant_type", "client_credentials")], Some(&key)).await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"));
    let (status, body) = app.form("/t/acme/oauth2/token", &[("grant_type", "client_credentials")], None).await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"));
}

async fn oauth_errors_take_rfc_6749_shape(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let other = app.tenant_with_admin_key("other").await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], None, 400, "invalid_request"),
        (vec![("grant_type", "authorization_code")], None, 400, "unsupported_grant_type"),
        (vec![("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)], None, 401, "invalid_client"),
        (vec![("grant_type", "password"), ("username", "alice")], Some(key.as_str()), 400, "invalid_request"),
        (
            vec![("grant_type", "password"), ("username", "alice"), ("password", "wrong")],
            Some(key.as_str()),
            400,
            "invalid_grant",
        ),
        (
            vec![("grant_type", "password"), ("username", "ghost"), ("password", "wrong")],
            Some(key.as_str()),
            400,
            "invalid_grant",
        ),
        (vec![("grant_type", "refresh_token")], None, 400, "invalid_request"),
        (vec![("grant_type", "refresh_token"), ("refresh_token", "garbage")], None, 400, "invalid_grant"),
        (
            vec![("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)],
            Some(other.as_str()),
            401,
            "invalid_client",
        ),
        (vec![("grant_type", "client_credentials")], Some(other.as_str()), 401, "invalid_client"),
    ];
    for (params, client, status, error) in cases {
        let (actual, body) = app.form("/t/acme/oauth2/token", &params, client).await;
        assert_eq!((actual, error_of(&body)), (status, error), "{params:?}");
    }
    let resp = app
        .request(Method::POST, "/t/acme/oauth2/token")
        .form(&[("grant_type", "client_credentials")])
        .basic_auth("not-a-key", Some("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("www-authenticate").is_some());
    let resp = app
        .request(Method::POST, "/t/acme/oauth2/token")
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(error_of(&resp.json::<Value>().await.unwrap()), "invalid_request");
    let resp = app
        .request(Method::POST, "/t/acme/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "repeated parameters are refused");
    let resp = app
        .request(Method::POST, "/t/acme/oauth2/token")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app.request(Method::GET, "/t/acme/oauth2/token").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(error_of(&resp.json::<Value>().await.unwrap()), "invalid_request");
    let (status, body) = app.form("/t/nope/oauth2/token", &[("grant_type", "password")], None).await;
    assert_eq!((status, error_of(&body)), (404, "invalid_request"));
    let huge = "x".repeat(70 * 1024);
    let (status, _) = app.form("/t/acme/oauth2/token", &[("grant_type", "password"), ("username", &huge)], None).await;
    assert_eq!(status, 413);

    app.as_admin(Method::DELETE, "/api/v1/platform/tenants/acme/authentication-cluster").send().await.unwrap();
    let (status, body) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)],
            Some(&key),
        )
        .await;
    assert_eq!(status, 501);
    assert!(body["error_description"].as_str().unwrap().contains("authc.no_authentication_cluster"));
}

async fn introspection_and_revocation(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let login = app.login(&key, "alice", PASSWORD).await;
    let token = login["token"].as_str().unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();
    let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", token)], None).await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"), "callers authenticate with an API key");
    let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", token)], Some(&key)).await;
    assert_eq!(status, 200);
    let c = claims(token);
    assert_eq!(body["active"], true);
    for field in ["sub", "exp", "iat", "iss", "aud", "jti", "tid", "sid", "roles", "token_use"] {
        assert_eq!(body[field], c[field], "{field}");
    }
    assert_eq!(body["username"], "alice");
    assert_eq!(body["token_type"], "Bearer");
    let resp = app
        .request(Method::POST, "/t/acme/oauth2/introspect")
        .header("X-API-Key", &key)
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!((body["active"].clone(), body["token_use"].clone()), (json!(true), json!("refresh")));
    // Roles are the user's as they stand now, not those the token was issued with.
    let promote = app.with_key(&key, Method::PATCH, "/api/v1/users/alice").json(&json!({"roles": ["tenant_admin"]}));
    assert_eq!(promote.send().await.unwrap().status(), 200);
    let (_, body) = app.form("/t/acme/oauth2/introspect", &[("token", token)], Some(&key)).await;
    assert_eq!(
        (&body["active"], &body["roles"], &body["scope"]),
        (&json!(true), &json!(["tenant_admin"]), &json!("tenant_admin"))
    );
    assert_ne!(body["roles"], c["roles"], "the token itself still says what it was issued with");
    for garbage in ["", "abc", "a.b.c"] {
        let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", garbage)], Some(&key)).await;
        if garbage.is_empty() {
            assert_eq!(status, 400);
        } else {
            assert_eq!((status, body), (200, json!({"active": false})));
        }
    }
    app.clock.advance(chrono::Duration::minutes(16));
    let (_, body) = app.form("/t/acme/oauth2/introspect", &[("token", token)], Some(&key)).await;
    assert_eq!(body, json!({"active": false}), "expired");
    // An expired access token cannot end the session it came from (a token leaked from a
    // log long ago): revocation answers 200, as RFC 7009 does for any token it ignores.
    let (status, _) = app.form("/t/acme/oauth2/revoke", &[("token", token)], Some(&key)).await;
    assert_eq!(status, 200);
    let (_, body) = app.form("/t/acme/oauth2/introspect", &[("token", refresh)], Some(&key)).await;
    assert_eq!(body["active"], true, "the session lives on: {body}");

    let (status, body) = app.form("/t/acme/oauth2/revoke", &[("token", refresh)], None).await;
    assert_eq!((status, body), (200, Value::Null));
    let (_, body) = app.form("/t/acme/oauth2/introspect", &[("token", refresh)], Some(&key)).await;
    assert_eq!(body, json!({"active": false}));
    let (status, _) =
        app.form("/t/acme/oauth2/token", &[("grant_type", "refresh_token"), ("refresh_token", refresh)], None).await;
    assert_eq!(status, 400);
    let (status, _) = app.form("/t/acme/oauth2/revoke", &[("token", "garbage")], None).await;
    assert_eq!(status, 200, "unknown tokens revoke fine");
    let (status, body) = app.form("/t/acme/oauth2/revoke", &[], None).await;
    assert_eq!((status, error_of(&body)), (400, "invalid_request"));
}
