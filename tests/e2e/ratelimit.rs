//! Rate limits: every credential endpoint answers 429 with `Retry-After` in its own
//! surface's shape once a budget is spent; clients behind a trusted proxy are counted
//! apart, forwarding headers from anyone else are ignored; a flooded tenant leaves the
//! others served.

use crate::{TestApp, PASSWORD};
use keyplane_api::settings::QuotaSettings;
use keyplane_api::Settings;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

/// Runs each scenario on SQLite and on PostgreSQL with its own settings.
macro_rules! on_every_backend_with {
    ($($scenario:ident => $adjust:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::TestApp::spawn_with($crate::Backend::Sqlite, super::$adjust).await.expect("SQLite is always available");
                    super::$scenario(&app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn_with($crate::Backend::Postgres, super::$adjust).await {
                        super::$scenario(&app).await;
                    }
                }
            }
        )*
    };
}

on_every_backend_with! {
    every_surface_answers_in_its_own_shape => one_per_client,
    clients_behind_a_trusted_proxy_are_counted_apart => two_per_client,
    forwarded_for_from_an_untrusted_peer_is_ignored => untrusted_two_per_client,
    a_flooded_tenant_leaves_the_others_served => five_per_tenant,
}

const QUIET: QuotaSettings = QuotaSettings { per_second: 1000, burst: 1000 };

fn one_per_client(s: &mut Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    s.rate_limit.set_per_address(QuotaSettings { per_second: 1, burst: 1 });
}

fn two_per_client(s: &mut Settings) {
    s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    s.rate_limit.set_per_address(QuotaSettings { per_second: 1, burst: 2 });
}

fn untrusted_two_per_client(s: &mut Settings) {
    s.rate_limit.set_per_address(QuotaSettings { per_second: 1, burst: 2 });
}

fn five_per_tenant(s: &mut Settings) {
    s.rate_limit.set_per_address(QUIET);
    s.rate_limit.set_per_tenant(QuotaSettings { per_second: 1, burst: 5 });
}

/// One request per surface, to a tenant that need not exist: the limit applies before.
fn requests(app: &TestApp) -> Vec<(&'static str, RequestBuilder)> {
    vec![
        (
            "native",
            app.request(Method::POST, "/api/v1/users/auth/_login").json(&json!({"username": "a", "password": "b"})),
        ),
        ("native-basic", app.request(Method::GET, "/api/v1/platform/tenants").basic_auth("admin", Some("guess"))),
        ("sensu", app.request(Method::GET, "/t/acme/sensu/auth").basic_auth("a", Some("b"))),
        ("tenovos", app.request(Method::POST, "/t/acme/tenovos/auth/token").json(&json!({"username": "a"}))),
        ("investsuite", app.request(Method::POST, "/t/acme/investsuite/auth/login/").json(&json!({}))),
        ("oauth2", app.request(Method::POST, "/t/acme/oauth2/token").form(&[("grant_type", "password")])),
        ("discovery", app.request(Method::GET, "/t/acme/.well-known/jwks.json")),
    ]
}

async fn limited(resp: Response, what: &str) -> (Value, Vec<String>) {
    assert_eq!(resp.status(), 429, "{what}");
    assert_eq!(resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()), Some("1".into()), "{what}");
    let mut keys: Vec<String> = Vec::new();
    let body: Value = resp.json().await.unwrap();
    if let Some(object) = body.as_object() {
        keys = object.keys().cloned().collect();
        keys.sort();
    }
    (body, keys)
}

async fn every_surface_answers_in_its_own_shape(app: &TestApp) {
    for (i, (surface, _)) in requests(app).into_iter().enumerate() {
        let client = format!("10.0.1.{}", i + 1);
        let send = || {
            let (_, builder) = requests(app).into_iter().nth(i).unwrap();
            builder.header("X-Forwarded-For", client.as_str()).send()
        };
        let first = send().await.unwrap();
        assert_ne!(first.status(), 429, "{surface}: the first request is within the burst");
        let second = send().await.unwrap();
        let native_codes = second.headers().get("x-cloud-error-codes").map(|v| v.to_str().unwrap().to_owned());
        let (body, keys) = limited(second, surface).await;
        match surface {
            "native" | "native-basic" => {
                assert_eq!(native_codes.as_deref(), Some("root.rate_limited"));
                assert_eq!(body["errors"][0]["code"], "root.rate_limited");
                assert_eq!(body["errors"].as_array().unwrap().len(), 1);
            }
            "sensu" => {
                assert_eq!(keys, ["code", "message"]);
                assert_eq!(body["code"], 0);
            }
            "tenovos" => {
                assert_eq!(keys, ["message", "status"]);
                assert_eq!(body["status"], "error");
            }
            "investsuite" => {
                assert_eq!(body, json!({"detail": "Request was throttled. Expected available in 1 seconds."}))
            }
            "oauth2" | "discovery" => {
                assert_eq!(keys, ["error", "error_description"]);
                assert_eq!(body["error"], "temporarily_unavailable");
            }
            other => unreachable!("{other}"),
        }
    }
}

async fn clients_behind_a_trusted_proxy_are_counted_apart(app: &TestApp) {
    let attempt = |client: &'static str| {
        app.request(Method::GET, "/t/acme/sensu/auth")
            .basic_auth("a", Some("b"))
            .header("X-Forwarded-For", client)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("10.0.113.7").await.unwrap().status(), 404);
    }
    limited(attempt("10.0.113.7").await.unwrap(), "the third from one client").await;
    assert_eq!(attempt("10.0.113.8").await.unwrap().status(), 404, "another client has its own budget");
    // A chain: the last address that is not a trusted proxy is the client.
    let chained = app
        .request(Method::GET, "/t/acme/sensu/auth")
        .basic_auth("a", Some("b"))
        .header("X-Forwarded-For", "10.0.113.9, 127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(chained.status(), 404);
}

async fn forwarded_for_from_an_untrusted_peer_is_ignored(app: &TestApp) {
    let attempt = |client: &'static str| {
        app.request(Method::GET, "/t/acme/sensu/auth")
            .basic_auth("a", Some("b"))
            .header("X-Forwarded-For", client)
            .send()
    };
    assert_eq!(attempt("10.0.113.1").await.unwrap().status(), 404);
    assert_eq!(attempt("10.0.113.2").await.unwrap().status(), 404);
    limited(attempt("10.0.113.3").await.unwrap(), "a spoofed address is the same peer").await;
}

async fn a_flooded_tenant_leaves_the_others_served(app: &TestApp) {
    // Setup spends the platform's budget (Basic), not the tenants'.
    app.create_tenant("flooded").await;
    app.tenant_with_user("calm").await;
    let sign_in = |tenant: &str, password: &str| {
        app.request(Method::GET, &format!("/t/{tenant}/sensu/auth")).basic_auth("alice", Some(password)).send()
    };
    for _ in 0..5 {
        assert_eq!(sign_in("flooded", "wrong").await.unwrap().status(), 401);
    }
    limited(sign_in("flooded", "wrong").await.unwrap(), "the flooded tenant").await;
    let calm = sign_in("calm", PASSWORD).await.unwrap();
    assert_eq!(calm.status(), 200, "another tenant is still served");
    let other_surface = app
        .request(Method::POST, "/t/flooded/tenovos/auth/token")
        .json(&json!({"username": "alice", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    limited(other_surface, "the tenant's budget covers every surface").await;
}
