//! Contract tests of the three foreign dialects: exact field names and JSON types, status
//! codes and error bodies; cross-dialect use of the same sessions; `ssl_required`.

use crate::{assert_error, claims, split_key, Backend, TestApp, PASSWORD};
use keyplane_api::transport::SslRequired;
use reqwest::Method;
use serde_json::{json, Value};

on_every_backend!(
    sensu_contract,
    tenovos_contract,
    investsuite_contract,
    tokens_cross_dialects,
    malformed_dialect_requests
);

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

async fn sensu_contract(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let resp = app.request(Method::GET, "/t/acme/sensu/auth").basic_auth("alice", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(keys(&body), ["access_token", "expires_at", "refresh_token"]);
    let expires_at = body["expires_at"].as_i64().expect("expires_at is an integer");
    assert_eq!(expires_at, claims(body["access_token"].as_str().unwrap())["exp"].as_i64().unwrap(), "unix seconds");
    assert!((chrono::Utc::now().timestamp() + 880..chrono::Utc::now().timestamp() + 920).contains(&expires_at));

    for (user, pw) in [("alice", "wrong"), ("ghost", PASSWORD)] {
        let resp = app.request(Method::GET, "/t/acme/sensu/auth").basic_auth(user, Some(pw)).send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"message": "Request unauthorized", "code": 5}));
    }
    let resp = app.request(Method::GET, "/t/acme/sensu/auth").send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // /auth/test: 200 with an empty body, or 401.
    let resp =
        app.request(Method::GET, "/t/acme/sensu/auth/test").basic_auth("alice", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "");
    let resp =
        app.request(Method::GET, "/t/acme/sensu/auth/test").basic_auth("alice", Some("nope")).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // /auth/token with an expired access token: accepted, rotated.
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    app.clock.advance(chrono::Duration::minutes(20));
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(access)
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    assert_eq!(keys(&rotated), ["access_token", "expires_at", "refresh_token"]);
    assert_ne!(rotated["refresh_token"], body["refresh_token"]);
    // Reuse of the rotated refresh token, after the reuse grace, ends the session.
    app.clock.advance(chrono::Duration::seconds(11));
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(access)
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(rotated["access_token"].as_str().unwrap())
        .json(&json!({"refresh_token": rotated["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the session is gone");

    // Access and refresh tokens of different sessions do not mix.
    let a: Value = app
        .request(Method::GET, "/t/acme/sensu/auth")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Value = app
        .request(Method::GET, "/t/acme/sensu/auth")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(a["access_token"].as_str().unwrap())
        .json(&json!({"refresh_token": b["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Logout ends the session.
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/logout")
        .bearer_auth(a["access_token"].as_str().unwrap())
        .json(&json!({"refresh_token": a["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp =
        app.with_bearer(a["access_token"].as_str().unwrap(), Method::GET, "/api/v1/users/auth").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(a["access_token"].as_str().unwrap())
        .json(&json!({"refresh_token": a["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // `Authorization: Key` works on the native API.
    let resp =
        app.request(Method::GET, "/api/v1/users").header("Authorization", format!("Key {key}")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app.request(Method::GET, "/t/nope/sensu/auth").basic_auth("alice", Some(PASSWORD)).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.json::<Value>().await.unwrap()["code"].clone()), (404, json!(2)));
}

async fn tenovos_contract(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let (client_id, _) = split_key(&key);
    let tenant: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants/acme").send().await.unwrap().json().await.unwrap();
    let post = |body: Value| {
        app.request(Method::POST, "/t/acme/tenovos/auth/token").header("X-API-Key", &key).json(&body).send()
    };

    let resp = post(json!({"username": "alice", "password": PASSWORD})).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(keys(&body), ["clientId", "endpointUrl", "password", "session", "userPoolId", "username"]);
    assert_eq!(keys(&body["session"]), ["accessToken", "authorization", "expireEpoch", "refreshToken"]);
    assert_eq!(body["password"], "", "the password is never echoed");
    assert_eq!(body["username"], "alice");
    assert_eq!(body["clientId"], client_id);
    assert_eq!(body["userPoolId"], tenant["id"]);
    assert_eq!(body["endpointUrl"], format!("{}/t/acme", app.base));
    let access = body["session"]["accessToken"].as_str().unwrap();
    let epoch = body["session"]["expireEpoch"].as_i64().expect("a number");
    assert_eq!(epoch, claims(access)["exp"].as_i64().unwrap() * 1000, "milliseconds");
    assert!(body["session"]["authorization"].is_string());

    // Refresh with the previous session.
    let resp = post(json!({"session": body["session"].clone()})).await.unwrap();
    assert_eq!(resp.status(), 200);
    let refreshed: Value = resp.json().await.unwrap();
    assert_eq!(refreshed["username"], "alice");
    assert_ne!(refreshed["session"]["refreshToken"], body["session"]["refreshToken"]);
    app.clock.advance(chrono::Duration::seconds(11));
    let resp = post(json!({"session": body["session"].clone()})).await.unwrap();
    assert_eq!(resp.status(), 401, "reuse of the rotated refresh token");
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "error", "message": "Invalid Refresh Token"}));

    // Errors.
    for (body, message) in [
        (json!({"username": "alice"}), "Missing required parameter PASSWORD"),
        (json!({"password": PASSWORD}), "Missing required parameter USERNAME"),
        (json!({}), "Missing required parameter USERNAME"),
        (json!({"session": {"accessToken": access}}), "Missing required parameter REFRESH_TOKEN"),
    ] {
        let resp = post(body.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"status": "error", "message": message}));
    }
    let resp = post(json!({"username": "alice", "password": "wrong"})).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "error", "message": "Incorrect username or password."})
    );

    // X-API-Key: missing, invalid, or of another tenant → 403 {"message":"Forbidden"}.
    let other = app.tenant_with_admin_key("other").await;
    for header in [None, Some("garbage".to_owned()), Some(other)] {
        let mut req = app
            .request(Method::POST, "/t/acme/tenovos/auth/token")
            .json(&json!({"username": "alice", "password": PASSWORD}));
        if let Some(h) = &header {
            req = req.header("X-API-Key", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"message": "Forbidden"}));
    }

    // Sign out with the session.
    let live: Value = post(json!({"username": "alice", "password": PASSWORD})).await.unwrap().json().await.unwrap();
    let resp = app
        .request(Method::DELETE, "/t/acme/tenovos/auth/token")
        .header("X-API-Key", &key)
        .json(&json!({"session": live["session"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = post(json!({"session": live["session"]})).await.unwrap();
    assert_eq!(resp.status(), 401, "signed out");
}

async fn investsuite_contract(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let (id, secret) = split_key(&key);
    let login = |body: Value| app.request(Method::POST, "/t/acme/investsuite/auth/login/").json(&body).send();
    let resp = login(json!({"access_key_id": id, "secret_access_key": secret})).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(keys(&body), ["access_token", "expires_in", "refresh_token", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], json!("900"), "a string of seconds, as in the seed");
    assert_eq!(claims(body["access_token"].as_str().unwrap())["user_name"], id);
    // The seed's curl sends the secret as `password`; a user's name and password work too.
    assert_eq!(login(json!({"access_key_id": id, "password": secret})).await.unwrap().status(), 200);
    let user: Value = login(json!({"username": "alice", "password": PASSWORD})).await.unwrap().json().await.unwrap();
    assert_eq!(claims(user["access_token"].as_str().unwrap())["user_name"], "alice");

    let refresh = |token: &str| {
        app.request(Method::POST, "/t/acme/investsuite/auth/refresh-token/")
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let resp = refresh(body["refresh_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let rotated: Value = resp.json().await.unwrap();
    assert_eq!(keys(&rotated), ["access_token", "expires_in", "refresh_token", "token_type"]);
    assert!(rotated["expires_in"].is_string());
    app.clock.advance(chrono::Duration::seconds(11));
    let resp = refresh(body["refresh_token"].as_str().unwrap()).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
    );

    for (body, status) in [
        (json!({"access_key_id": id, "secret_access_key": "wrong"}), 401),
        (json!({"access_key_id": "0123456789abcdef01234567", "secret_access_key": secret}), 401),
        (json!({"username": "alice", "password": "wrong"}), 401),
        (json!({"access_key_id": id}), 400),
        (json!({}), 400),
        (json!({"access_key_id": 5, "secret_access_key": secret}), 400),
    ] {
        let resp = login(body.clone()).await.unwrap();
        assert_eq!(resp.status(), status, "{body}");
    }
    let resp =
        app.request(Method::POST, "/t/acme/investsuite/auth/refresh-token/").json(&json!({})).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"refresh_token": ["This field is required."]}));
    // Without the trailing slash too.
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/login")
        .json(&json!({"access_key_id": id, "secret_access_key": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A revoked key signs in no more.
    app.as_admin(Method::DELETE, &format!("/api/v1/platform/tenants/acme/keys/{id}")).send().await.unwrap();
    assert_eq!(login(json!({"access_key_id": id, "secret_access_key": secret})).await.unwrap().status(), 401);
}

async fn tokens_cross_dialects(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    // Sensu sign-in → native refresh → OAuth introspection → Tenovos refresh → InvestSuite
    // refresh → OAuth refresh → native logout.
    let sensu: Value = app
        .request(Method::GET, "/t/acme/sensu/auth")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = claims(sensu["access_token"].as_str().unwrap())["sid"].clone();
    let native: Value = app
        .with_bearer(sensu["refresh_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_refresh")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (_, state) =
        app.form("/t/acme/oauth2/introspect", &[("token", native["token"].as_str().unwrap())], Some(&key)).await;
    assert_eq!((state["active"].clone(), state["sid"].clone()), (json!(true), sid.clone()));
    let tenovos: Value = app
        .request(Method::POST, "/t/acme/tenovos/auth/token")
        .header("X-API-Key", &key)
        .json(&json!({"session": {"accessToken": native["token"], "refreshToken": native["refresh_token"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invest: Value = app
        .request(Method::POST, "/t/acme/investsuite/auth/refresh-token/")
        .json(&json!({"refresh_token": tenovos["session"]["refreshToken"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, oauth) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "refresh_token"), ("refresh_token", invest["refresh_token"].as_str().unwrap())],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(claims(oauth["access_token"].as_str().unwrap())["sid"], sid, "one session throughout");
    let resp = app
        .with_bearer(oauth["access_token"].as_str().unwrap(), Method::POST, "/api/v1/users/auth/_logout")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(sensu["access_token"].as_str().unwrap())
        .json(&json!({"refresh_token": oauth["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "logged out everywhere");

    // And the other way: native sign-in, Sensu refresh, Tenovos sign-out.
    let login = app.login(&key, "alice", PASSWORD).await;
    let sensu: Value = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .bearer_auth(login["token"].as_str().unwrap())
        .json(&json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resp = app
        .request(Method::DELETE, "/t/acme/tenovos/auth/token")
        .header("X-API-Key", &key)
        .json(&json!({"session": {"accessToken": sensu["access_token"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, state) =
        app.form("/t/acme/oauth2/introspect", &[("token", sensu["access_token"].as_str().unwrap())], Some(&key)).await;
    assert_eq!(state, json!({"active": false}));
}

async fn malformed_dialect_requests(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let bodies: [&[u8]; 6] = [b"", b"{", b"[]", b"null", b"\xff\xfe", b"{\"refresh_token\": 5, \"username\": [1]}"];
    let content_types = ["application/json", "text/plain"];
    let routes = [
        (Method::POST, "/t/acme/sensu/auth/token", 'S'),
        (Method::POST, "/t/acme/sensu/auth/logout", 'S'),
        (Method::POST, "/t/acme/tenovos/auth/token", 'T'),
        (Method::DELETE, "/t/acme/tenovos/auth/token", 'T'),
        (Method::POST, "/t/acme/investsuite/auth/login/", 'I'),
        (Method::POST, "/t/acme/investsuite/auth/refresh-token/", 'I'),
    ];
    let sensu: Value = app
        .request(Method::GET, "/t/acme/sensu/auth")
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (method, path, dialect) in routes {
        for body in bodies {
            for ct in content_types {
                let req = app
                    .request(method.clone(), path)
                    .header("content-type", ct)
                    .header("X-API-Key", &key)
                    .bearer_auth(sensu["access_token"].as_str().unwrap())
                    .body(body.to_vec());
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                assert!((400..500).contains(&status), "{method} {path} {ct} {body:?}: {status}");
                let err: Value = resp.json().await.unwrap_or(Value::Null);
                let shaped = match dialect {
                    'S' => err["message"].is_string() && err["code"].is_u64(),
                    'T' => err["status"] == "error" && err["message"].is_string(),
                    _ => err.is_object() && !err.as_object().unwrap().is_empty(),
                };
                assert!(shaped, "{method} {path} {ct} {body:?}: {err}");
            }
        }
    }
    // Missing headers.
    let resp = app
        .request(Method::POST, "/t/acme/sensu/auth/token")
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"message": "Request unauthorized", "code": 5}));
    let resp = app
        .request(Method::POST, "/t/acme/tenovos/auth/token")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!((resp.status().as_u16(), resp.json::<Value>().await.unwrap()), (403, json!({"message": "Forbidden"})));
    let resp = app.request(Method::PUT, "/t/acme/sensu/auth").send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

/// `ssl_required = all`: plain HTTP is refused before credentials are read, in each
/// surface's shape; a trusted proxy's `X-Forwarded-Proto: https` is believed, an
/// untrusted one's is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_required_all_refuses_plain_http() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.ssl_required = SslRequired::All;
    })
    .await
    .unwrap();
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/login/")
        .json(&json!({"access_key_id": "x", "secret_access_key": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"detail": "HTTPS is required."}));
    let resp = app
        .request(Method::POST, "/t/acme/investsuite/auth/login/")
        .header("X-Forwarded-Proto", "https")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "X-Forwarded-Proto from an untrusted peer is ignored");
    let resp = app.as_admin(Method::GET, "/api/v1/platform/tenants").send().await.unwrap();
    assert_error(resp, 403, "root.https_required").await;
    let resp = app.request(Method::GET, "/t/acme/sensu/auth").send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 4);
    assert_eq!(app.request(Method::GET, "/healthz").send().await.unwrap().status(), 200, "health stays reachable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_required_external_trusts_only_configured_proxies() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.ssl_required = SslRequired::External;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    let key = app.tenant_with_user("acme").await;
    let (id, secret) = split_key(&key);
    let body = json!({"access_key_id": id, "secret_access_key": secret});
    let login = |xff: &'static str, proto: &'static str| {
        app.request(Method::POST, "/t/acme/investsuite/auth/login/")
            .header("X-Forwarded-For", xff)
            .header("X-Forwarded-Proto", proto)
            .json(&body)
            .send()
    };
    assert_eq!(login("203.0.113.9", "http").await.unwrap().status(), 403, "an external client over plain HTTP");
    assert_eq!(login("203.0.113.9", "https").await.unwrap().status(), 200, "an external client over HTTPS");
    assert_eq!(login("10.1.2.3", "http").await.unwrap().status(), 200, "a private client over plain HTTP");
    let direct = app.request(Method::POST, "/t/acme/investsuite/auth/login/").json(&body).send().await.unwrap();
    assert_eq!(direct.status(), 200, "loopback over plain HTTP");
}
