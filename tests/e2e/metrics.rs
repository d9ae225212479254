//! Prometheus `/metrics` from a real `keyplane` process (its own counters), on SQLite and
//! PostgreSQL: HTTP requests by route template (never the raw path), sign-ins by entry
//! point and outcome, rotations and reuse, lockouts, hashing, the database pool and query
//! latency, caches and build info; open to loopback, a credential from elsewhere; and the
//! dedicated listener.

use crate::bootstrap::ServerProcess;
use crate::support::{base64_basic, seed_acme, ADMIN_PASSWORD};
use crate::{Backend, TestApp, PASSWORD};
use serde_json::{json, Value};

/// The value of the sample `name{labels}` (labels in any order), if present.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            return None;
        }
        let all = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        all.then(|| value.parse().ok()).flatten()
    })
}

/// An address of this host that is not loopback, to reach the server as another host would.
fn outside_address() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect("10.254.254.254:9").expect("a route off this host");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "a non-loopback address of this host");
    ip
}

async fn scenario(server: &ServerProcess, admin: &str, plain_http_from_outside: bool) {
    let client = reqwest::Client::new();
    let base = &server.base;
    let url = |path: &str| format!("{base}{path}");
    let key = seed_acme(&client, base, admin).await;
    // A platform_viewer operator and its platform key: what a scraper would be given.
    let created = client
        .post(url("/api/v1/platform/users"))
        .header("authorization", admin)
        .json(&json!({"user_name": "scraper", "password": PASSWORD, "roles": ["platform_viewer"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200, "creating the viewer");
    let viewer_key: Value = client
        .post(url("/api/v1/platform/users/scraper/keys"))
        .header("authorization", admin)
        .json(&json!({"description": "prometheus"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let viewer_key = viewer_key["key"].as_str().expect("a platform key").to_owned();
    let viewer_basic = format!("Basic {}", base64_basic("scraper", PASSWORD));
    let login = |password: &'static str| {
        client
            .post(url("/api/v1/users/auth/_login"))
            .header("x-api-key", &key)
            .json(&json!({"username": "alice", "password": password}))
            .send()
    };
    let session: Value = login(PASSWORD).await.unwrap().json().await.unwrap();
    for _ in 0..10 {
        assert_eq!(login("wrong password").await.unwrap().status(), 401);
    }
    let refresh = |token: String| {
        let request = client.post(url("/api/v1/users/auth/_refresh")).bearer_auth(token);
        async move {
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body["refresh_token"].as_str().unwrap_or_default().to_owned())
        }
    };
    let first = session["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(first.clone()).await;
    assert_eq!(status, 200, "a rotation");
    assert_eq!(refresh(first.clone()).await.0, 200, "a retry within the grace");
    assert_eq!(refresh(second).await.0, 200, "another rotation");
    assert_eq!(refresh(first).await.0, 401, "reuse of a token two rotations old");
    let alice = client.get(url("/api/v1/users/alice")).header("x-api-key", &key).send().await.unwrap();
    assert_eq!(alice.status(), 200);
    assert_eq!(client.get(url("/no/such/path/secret-looking")).send().await.unwrap().status(), 404);

    let resp = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "loopback reads /metrics without a credential");
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let at_least = |name: &str, labels: &[(&str, &str)], min: f64| {
        let value = sample(&text, name, labels).unwrap_or_else(|| panic!("{name}{labels:?} is exported:\n{text}"));
        assert!(value >= min, "{name}{labels:?} = {value}, expected at least {min}");
    };
    at_least(
        "keyplane_http_requests_total",
        &[("method", "POST"), ("route", "/api/v1/users/auth/_login"), ("status", "200")],
        1.0,
    );
    at_least("keyplane_http_requests_total", &[("route", "/api/v1/users/{user_name}"), ("status", "200")], 1.0);
    at_least("keyplane_http_requests_total", &[("route", "unmatched"), ("status", "404")], 1.0);
    at_least("keyplane_http_request_duration_seconds_count", &[("route", "/api/v1/users/auth/_login")], 11.0);
    assert!(!text.contains("alice") && !text.contains("secret-looking"), "labels never carry a raw path");
    let sign_in = |outcome| [("entry_point", "native"), ("credential", "password"), ("outcome", outcome)];
    at_least("keyplane_sign_ins_total", &sign_in("success"), 1.0);
    at_least("keyplane_sign_ins_total", &sign_in("invalid_credentials"), 10.0);
    at_least("keyplane_sign_ins_total", &[("credential", "api_key"), ("outcome", "success")], 1.0);
    at_least("keyplane_lockouts_total", &[("scope", "tenant")], 1.0);
    at_least("keyplane_refresh_rotations_total", &[("result", "rotated")], 2.0);
    at_least("keyplane_refresh_rotations_total", &[("result", "grace_retry")], 1.0);
    at_least("keyplane_refresh_reuse_detected_total", &[], 1.0);
    at_least("keyplane_hashing_duration_seconds_count", &[], 11.0);
    at_least("keyplane_hashing_wait_seconds_count", &[], 11.0);
    at_least("keyplane_hashing_queue_depth", &[], 0.0);
    at_least("keyplane_hashing_threads", &[], 1.0);
    at_least("keyplane_db_connections", &[("state", "idle")], 0.0);
    at_least("keyplane_db_connections", &[("state", "in_use")], 0.0);
    at_least("keyplane_db_query_duration_seconds_count", &[("outcome", "ok")], 10.0);
    at_least("keyplane_cache_requests_total", &[("cache", "api_keys")], 1.0);
    at_least("keyplane_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    assert!(text.contains("# HELP keyplane_sign_ins_total"), "metrics are described");

    // Through a trusted proxy (this host is one in the SQLite run), the forwarded client
    // counts: a request from the internet needs a credential like any other.
    let forwarded = client
        .get(url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 401, "a proxy's client from elsewhere needs a credential");
    let forwarded = client
        .get(url("/metrics"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "https")
        .header("x-api-key", &viewer_key)
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), 200, "a platform_viewer's key behind the proxy");

    // From another host: a platform_viewer credential is needed.
    let port = base.rsplit(':').next().unwrap();
    let outside = format!("http://{}:{port}/metrics", outside_address());
    let refused = client.get(&outside).send().await.unwrap();
    if !plain_http_from_outside {
        // ssl_required = external: a credential from a public address only over HTTPS.
        let public = match outside_address() {
            std::net::IpAddr::V4(v4) => !(v4.is_private() || v4.is_loopback() || v4.is_link_local()),
            std::net::IpAddr::V6(_) => true,
        };
        if public {
            assert_eq!(refused.status(), 403, "plain HTTP from a public address is refused before credentials");
            let operator = client.get(&outside).header("authorization", admin).send().await.unwrap();
            assert_eq!(operator.status(), 403, "even an operator's, over plain HTTP");
            return;
        }
    }
    assert_eq!(refused.status(), 401, "no credential from outside");
    let tenant_key = client.get(&outside).header("x-api-key", &key).send().await.unwrap();
    assert_eq!(tenant_key.status(), 403, "a tenant's key is not an operator's");
    let operator = client.get(&outside).header("authorization", &viewer_basic).send().await.unwrap();
    assert_eq!(operator.status(), 200, "a platform_viewer's password");
    let operator = client.get(&outside).header("x-api-key", &viewer_key).send().await.unwrap();
    assert_eq!(operator.status(), 200, "a platform_viewer's key");
    let operator = client.get(&outside).header("authorization", admin).send().await.unwrap();
    assert_eq!(operator.status(), 200, "an admin's credential");
}

fn metrics_port(server: &ServerProcess) -> u64 {
    server
        .startup_output
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "metrics listening")
        .and_then(|v| v["fields"]["port"].as_u64())
        .expect("the metrics listener reports its port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("keyplane-metrics-{}", uuid::Uuid::new_v4().simple()));
    let server = ServerProcess::start(&[
        ("KEYPLANE_HOST", "0.0.0.0"),
        ("KEYPLANE_DATA_DIR", dir.to_str().unwrap()),
        ("KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("KEYPLANE_METRICS__LISTEN", "127.0.0.1:0"),
        ("KEYPLANE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("KEYPLANE_SSL_REQUIRED", "none"),
    ]);
    scenario(&server, &format!("Basic {}", base64_basic("admin", ADMIN_PASSWORD)), true).await;
    // The dedicated listener: /metrics only, no credential.
    let port = metrics_port(&server);
    let client = reqwest::Client::new();
    let resp = client.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("keyplane_sign_ins_total"));
    let other = client.get(format!("http://127.0.0.1:{port}/api/v1/users")).send().await.unwrap();
    assert_eq!(other.status(), 404, "nothing else on the metrics listener");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened_on_postgres() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else { return };
    let server = app.replica(1, &[("KEYPLANE_HOST", "0.0.0.0"), ("KEYPLANE_TRUSTED_PROXIES", "127.0.0.1/32")]);
    scenario(&server, &format!("Basic {}", base64_basic("admin", ADMIN_PASSWORD)), false).await;
}
