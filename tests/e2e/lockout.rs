//! Brute-force lockout: attempts counted per (user name, address) and per user name across
//! every entry point (and per key id for wrong key secrets), the same answer for a locked
//! right password as for a wrong one in every surface, growth, reset, unlock, an
//! attacker's address locked out while the user's own signs in, and at most
//! `max_failures` verifications whatever the concurrency, on one process or two.

use crate::support::SendJson;
use crate::support::ADMIN_PASSWORD;
use crate::{assert_error, split_key, TestApp, PASSWORD};
use reqwest::{Method, Response};
use serde_json::{json, Value};

on_every_backend!(
    failures_add_up_across_entry_points_and_a_lock_hides_the_right_password,
    the_lock_grows_and_the_count_resets,
    unknown_names_lock_the_same_way,
    operators_lock_too,
    wrong_key_secrets_never_lock_the_application_out,
    the_policy_is_validated,
);

async fn set_policy(app: &TestApp, tenant: &str, body: Value) -> Value {
    let resp = app
        .as_admin(Method::PUT, &format!("/api/v1/platform/tenants/{tenant}/brute-force-policy"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn status_and_body(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// One sign-in of `user` with `password` through each entry point; the answers.
async fn every_surface(app: &TestApp, key: &str, user: &str, password: &str) -> Vec<(u16, Value)> {
    let mut answers = Vec::new();
    let native = app.with_key(key, Method::POST, "/api/v1/users/auth/_login");
    answers.push(
        status_and_body(native.json(&json!({"username": user, "password": password})).send().await.unwrap()).await,
    );
    let sensu = app.request(Method::GET, "/t/acme/sensu/auth").basic_auth(user, Some(password));
    answers.push(status_and_body(sensu.send().await.unwrap()).await);
    let (status, body) = app
        .form(
            "/t/acme/oauth2/token",
            &[("grant_type", "password"), ("username", user), ("password", password)],
            Some(key),
        )
        .await;
    answers.push((status, body));
    let tenovos = app.request(Method::POST, "/t/acme/tenovos/auth/token").header("X-API-Key", key);
    answers.push(
        status_and_body(tenovos.json(&json!({"username": user, "password": password})).send().await.unwrap()).await,
    );
    let investsuite = app.request(Method::POST, "/t/acme/investsuite/auth/login/");
    answers.push(
        status_and_body(investsuite.json(&json!({"username": user, "password": password})).send().await.unwrap()).await,
    );
    answers
}

async fn user(app: &TestApp, key: &str, name: &str) -> Value {
    app.with_key(key, Method::GET, &format!("/api/v1/users/{name}")).send().await.unwrap().json().await.unwrap()
}

async fn failures_add_up_across_entry_points_and_a_lock_hides_the_right_password(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    set_policy(app, "acme", json!({"max_failures": 5})).await;
    let wrong = every_surface(app, &key, "alice", "wrong password").await;
    assert!(wrong.iter().all(|(status, _)| *status == 400 || *status == 401), "{wrong:?}");
    let alice = user(app, &key, "alice").await;
    assert_eq!(alice["failed_attempts"], 5, "one failure per entry point: {alice}");
    assert!(alice["locked_until"].is_null(), "the name itself is not locked: {alice}");
    let here = &alice["failed_addresses"][0];
    assert_eq!((here["address"].as_str(), here["failed_attempts"].as_u64()), (Some("127.0.0.1"), Some(5)), "{alice}");
    assert!(here["locked_until"].is_string(), "five failures lock this address out: {alice}");

    // Locked: the right password gets exactly the wrong password's answer, everywhere.
    let locked = every_surface(app, &key, "alice", PASSWORD).await;
    assert_eq!(locked, wrong, "no oracle in any surface");
    // Basic on an admin request with the tenant key is one more way in.
    let resp = app.with_key(&key, Method::GET, "/api/v1/users/auth").basic_auth("alice", Some(PASSWORD)).send();
    assert_error(resp.await.unwrap(), 401, "root.unauthorized").await;

    let resp = app.with_key(&key, Method::POST, "/api/v1/users/alice/_unlock").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    let alice = user(app, &key, "alice").await;
    assert_eq!((alice["failed_attempts"].clone(), alice["locked_until"].clone()), (json!(0), Value::Null));
    assert_eq!(alice["failed_addresses"], json!([]), "an unlock clears every address");
    let unlocked = every_surface(app, &key, "alice", PASSWORD).await;
    assert!(unlocked.iter().all(|(status, _)| *status == 200), "{unlocked:?}");

    let resp = app.with_key(&key, Method::POST, "/api/v1/users/nobody/_unlock").send().await.unwrap();
    assert_error(resp, 404, "user.not_found").await;

    // The trail: every failure with its entry point, the lock, the unlock, the successes;
    // sign-in events are written off the request path, so allow them a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let trail: Value = app.with_key(&key, Method::GET, "/api/v1/audit?action=user.&size=100").send_json().await;
        let events = trail["events"].as_array().cloned().unwrap_or_default();
        let count = |action: &str| events.iter().filter(|e| e["action"] == action).count();
        let entry_points: std::collections::BTreeSet<String> = events
            .iter()
            .filter(|e| e["action"] == "user.sign_in.failed")
            .map(|e| e["entry_point"].as_str().unwrap_or_default().to_owned())
            .collect();
        let complete = count("user.sign_in.failed") >= 11
            && count("user.locked") == 1
            && count("user.unlocked") == 1
            && count("user.sign_in.succeeded") >= 4
            && entry_points.len() == 5;
        if complete {
            let text = trail.to_string();
            assert!(!text.contains(PASSWORD) && !text.contains("wrong password"), "no password in the trail");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "incomplete trail: {entry_points:?} {trail}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn login(app: &TestApp, key: &str, password: &str) -> u16 {
    let resp = app.with_key(key, Method::POST, "/api/v1/users/auth/_login");
    resp.json(&json!({"username": "alice", "password": password})).send().await.unwrap().status().as_u16()
}

async fn the_lock_grows_and_the_count_resets(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    let policy = json!({"max_failures": 3, "lock_seconds": 60, "max_lock_seconds": 300, "failure_reset_seconds": 600});
    let applied = set_policy(app, "acme", policy.clone()).await;
    assert_eq!(
        applied,
        json!({"enabled": true, "max_failures": 3, "max_failures_total": 100, "lock_seconds": 60,
               "max_lock_seconds": 300, "failure_reset_seconds": 600})
    );
    for _ in 0..3 {
        assert_eq!(login(app, &key, "wrong").await, 401);
    }
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(login(app, &key, "wrong").await, 401, "a fourth failure locks for twice as long");
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(login(app, &key, PASSWORD).await, 401, "still locked after 61 of 120 s");
    assert_eq!(user(app, &key, "alice").await["failed_attempts"], 4, "an attempt while locked is not counted");
    app.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(login(app, &key, PASSWORD).await, 200, "nor did it extend the lock; a success resets the count");
    for _ in 0..2 {
        assert_eq!(login(app, &key, "wrong").await, 401);
    }
    app.clock.advance(chrono::Duration::seconds(601));
    for _ in 0..2 {
        assert_eq!(login(app, &key, "wrong").await, 401);
    }
    assert_eq!(login(app, &key, PASSWORD).await, 200, "the count started again after the reset window");
}

async fn unknown_names_lock_the_same_way(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    set_policy(app, "acme", json!({"max_failures": 3})).await;
    let attempt = |name: &'static str| {
        let req = app.with_key(&key, Method::POST, "/api/v1/users/auth/_login");
        async move { status_and_body(req.json(&json!({"username": name, "password": "wrong"})).send().await.unwrap()).await }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        known.push(attempt("alice").await);
        unknown.push(attempt("ghost").await);
    }
    assert_eq!(known, unknown, "a known and an unknown name answer alike, locked or not");
    assert_eq!(user(app, &key, "alice").await["failed_attempts"], 3, "attempts while locked are not counted");
}

async fn operators_lock_too(app: &TestApp) {
    let resp = app
        .as_admin(Method::POST, "/api/v1/users/auth/_login")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}));
    let token = resp.send().await.unwrap().json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let resp =
        app.with_bearer(&token, Method::PUT, "/api/v1/platform/brute-force-policy").json(&json!({"max_failures": 3}));
    assert_eq!(resp.send().await.unwrap().status(), 200);
    for _ in 0..3 {
        let resp = app.request(Method::GET, "/api/v1/platform/tenants").basic_auth("admin", Some("guess")).send();
        assert_error(resp.await.unwrap(), 401, "root.unauthorized").await;
    }
    let resp = app.as_admin(Method::GET, "/api/v1/platform/tenants").send().await.unwrap();
    assert_error(resp, 401, "root.unauthorized").await;
    let resp = app.with_bearer(&token, Method::POST, "/api/v1/platform/users/admin/_unlock").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.as_admin(Method::GET, "/api/v1/platform/tenants").send().await.unwrap().status(), 200);
    let policy: Value =
        app.as_admin(Method::GET, "/api/v1/platform/brute-force-policy").send().await.unwrap().json().await.unwrap();
    assert_eq!(policy["max_failures"], 3);
}

async fn wrong_key_secrets_never_lock_the_application_out(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    set_policy(app, "acme", json!({"max_failures": 3})).await;
    let (id, secret) = split_key(&key);
    let wrong = format!("kp_{id}_{}", "A".repeat(secret.len()));
    for _ in 0..10 {
        let resp = app.with_key(&wrong, Method::GET, "/api/v1/users").send().await.unwrap();
        assert_error(resp, 401, "root.unauthorized").await;
    }
    assert_eq!(app.with_key(&key, Method::GET, "/api/v1/users").send().await.unwrap().status(), 200);
    let (status, _) = app.form("/t/acme/oauth2/token", &[("grant_type", "client_credentials")], Some(&key)).await;
    assert_eq!(status, 200, "knowing a key's public id does not let anyone lock it");
}

async fn the_policy_is_validated(app: &TestApp) {
    app.tenant_with_user("acme").await;
    let defaults: Value =
        app.as_admin(Method::GET, "/api/v1/platform/tenants/acme/brute-force-policy").send_json().await;
    assert_eq!(
        defaults,
        json!({"enabled": true, "max_failures": 10, "max_failures_total": 100, "lock_seconds": 60,
               "max_lock_seconds": 900, "failure_reset_seconds": 43200})
    );
    for (field, value) in [
        ("max_failures", json!(2)),
        ("max_failures", json!(101)),
        ("max_failures_total", json!(9)),
        ("max_failures_total", json!(10_001)),
        ("lock_seconds", json!(0)),
        ("lock_seconds", json!(3601)),
        ("max_lock_seconds", json!(86_401)),
        ("max_lock_seconds", json!(30)),
        ("failure_reset_seconds", json!(0)),
    ] {
        let resp = app
            .as_admin(Method::PUT, "/api/v1/platform/tenants/acme/brute-force-policy")
            .json(&json!({ field: value }))
            .send()
            .await
            .unwrap();
        let body = assert_error(resp, 400, "root.invalid_data").await;
        assert_eq!(body["fields"], json!([field]), "{field} = {value}");
    }
    let resp = app
        .as_admin(Method::PUT, "/api/v1/platform/tenants/acme/brute-force-policy")
        .json(&json!({"max_failures": "ten"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "root.invalid_data").await;
}

/// Two `keyplane` processes on one PostgreSQL database: failures on each add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_count_failures_together() {
    let Some(app) = TestApp::spawn(crate::Backend::Postgres).await else { return };
    let key = app.tenant_with_user("acme").await;
    set_policy(&app, "acme", json!({"max_failures": 4})).await;
    let replicas = [app.replica(0, &[]), app.replica(1, &[])];
    let attempt = |base: &str, password: &str| {
        app.client
            .post(format!("{base}/api/v1/users/auth/_login"))
            .header("X-API-Key", &key)
            .json(&json!({"username": "alice", "password": password}))
            .send()
    };
    for i in 0..4 {
        assert_eq!(attempt(&replicas[i % 2].base, "wrong").await.unwrap().status(), 401);
    }
    for r in &replicas {
        assert_eq!(attempt(&r.base, PASSWORD).await.unwrap().status(), 401, "two failures on each locked alice");
    }
    assert_eq!(user(&app, &key, "alice").await["failed_attempts"], 4, "locked attempts are not counted");
}

/// A flood of sign-ins at one tenant (random names, as an attacker sends them) fills only
/// that tenant's share of the hashing pool: another tenant's users still sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_at_one_tenant_leaves_the_others_served() {
    // All requests come from one address here: the per-address rate limit would answer
    // first; this is about the hashing pool's fairness behind it. The flood is refused
    // at once rather than after waiting for a place, so that its share visibly fills.
    let app = TestApp::spawn_with(crate::Backend::Sqlite, |s| {
        s.rate_limit.enabled = false;
        s.hashing.max_wait_ms = 0;
    })
    .await
    .expect("SQLite is always available");
    let flooded = app.tenant_with_user("acme").await;
    let other = app.tenant_with_user("globex").await;
    let mut refused = 0;
    for round in 0..3 {
        let flood: Vec<_> = (0..48)
            .map(|i| {
                let req = app.with_key(&flooded, Method::POST, "/api/v1/users/auth/_login");
                let body = json!({"username": format!("intruder-{round}-{i}"), "password": "guess"});
                tokio::spawn(async move { req.json(&body).send().await.unwrap().status().as_u16() })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for _ in 0..2 {
            let resp = app.with_key(&other, Method::POST, "/api/v1/users/auth/_login");
            let status = resp.json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap().status();
            assert_eq!(status, 200, "the other tenant's sign-in is served during the flood");
        }
        for task in flood {
            match task.await.unwrap() {
                401 => {}
                429 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    assert!(refused > 0, "the flood saturated its own share");
}

/// Two proxied clients: attempts that name `address` in `X-Forwarded-For` (the test
/// server trusts loopback as its proxy).
async fn login_from(app: &TestApp, key: &str, address: &str, user: &str, password: &str) -> u16 {
    let req = app
        .with_key(key, Method::POST, "/api/v1/users/auth/_login")
        .header("X-Forwarded-For", address)
        .header("X-Forwarded-Proto", "https");
    req.json(&json!({"username": user, "password": password})).send().await.unwrap().status().as_u16()
}

async fn an_attackers_address_is_locked_out_while_the_users_own_signs_in(app: &TestApp) {
    let key = app.tenant_with_user("acme").await;
    set_policy(app, "acme", json!({"max_failures": 3, "max_failures_total": 8})).await;
    for _ in 0..5 {
        assert_eq!(login_from(app, &key, "203.0.113.9", "alice", "guess").await, 401);
    }
    assert_eq!(login_from(app, &key, "203.0.113.9", "alice", PASSWORD).await, 401, "the attacker's address is out");
    assert_eq!(login_from(app, &key, "198.51.100.7", "alice", PASSWORD).await, 200, "alice's own is not");
    let alice = user(app, &key, "alice").await;
    assert_eq!(alice["locked_until"], Value::Null, "{alice}");
    assert_eq!(alice["failed_addresses"].as_array().unwrap().len(), 1, "{alice}");
    assert_eq!(alice["failed_addresses"][0]["address"], "203.0.113.9");
    assert_eq!(alice["failed_addresses"][0]["failed_attempts"], 3);

    // Many addresses together lock the name for everyone (max_failures_total).
    for i in 0..8 {
        assert_eq!(login_from(app, &key, &format!("192.0.2.{i}"), "alice", "guess").await, 401);
    }
    assert_eq!(login_from(app, &key, "198.51.100.7", "alice", PASSWORD).await, 401, "the name is locked");
    let alice = user(app, &key, "alice").await;
    assert_eq!(alice["failed_attempts"], 8);
    assert!(alice["locked_until"].is_string(), "{alice}");
    // IPv6 clients are counted per /64.
    let resp = app.with_key(&key, Method::POST, "/api/v1/users/alice/_unlock").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    for i in 0..3 {
        assert_eq!(login_from(app, &key, &format!("2001:db8:1:2::{i}"), "alice", "guess").await, 401);
    }
    assert_eq!(login_from(app, &key, "2001:db8:1:2::99", "alice", PASSWORD).await, 401, "one /64, one counter");
    assert_eq!(login_from(app, &key, "2001:db8:1:3::1", "alice", PASSWORD).await, 200);

    // The trail names both locks.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let trail: Value =
            app.with_key(&key, Method::GET, "/api/v1/audit?action=user.locked&size=100").send_json().await;
        let locks: Vec<String> = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["details"]["lock"].as_str().unwrap_or_default().to_owned())
            .collect();
        if locks.iter().filter(|l| *l == "address").count() == 2 && locks.iter().any(|l| l == "user") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "both locks audited: {trail}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// 64 parallel wrong guesses at one name, spread over `servers`: the hashing metric of
/// every server together shows at most `max_failures` password verifications.
async fn parallel_guesses_verify_at_most_the_limit(app: &TestApp, servers: usize) {
    let key = app.tenant_with_user("acme").await;
    set_policy(app, "acme", json!({"max_failures": 4})).await;
    let env = [("KEYPLANE_RATE_LIMIT__ENABLED", "false"), ("KEYPLANE_HASHING__MAX_WAIT_MS", "30000")];
    let replicas: Vec<_> = (0..servers).map(|i| app.replica(i, &env)).collect();
    let hashed = |base: String| async move {
        let text = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
        crate::metrics::sample(&text, "keyplane_hashing_duration_seconds_count", &[]).unwrap_or(0.0)
    };
    let mut before = 0.0;
    for r in &replicas {
        before += hashed(r.base.clone()).await;
    }
    let guesses: Vec<_> = (0..64)
        .map(|i| {
            let req = app
                .client
                .post(format!("{}/api/v1/users/auth/_login", replicas[i % servers].base))
                .header("X-API-Key", &key)
                .json(&json!({"username": "alice", "password": format!("guess {i}")}));
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut busy = 0;
    for g in guesses {
        // 401 once locked; 429 while the limit's worth of guesses are being verified.
        match g.await.unwrap() {
            401 => {}
            429 => busy += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let mut after = 0.0;
    for r in &replicas {
        after += hashed(r.base.clone()).await;
    }
    let verified = after - before;
    eprintln!("{servers} server(s): 64 parallel guesses, {verified} password verifications, {busy} answered 429");
    assert!(verified <= 4.0, "at most max_failures verifications, saw {verified}");
    assert!(verified >= 4.0, "the limit's worth of guesses were verified, saw {verified}");
    assert_eq!(user(app, &key, "alice").await["failed_attempts"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_verify_at_most_the_limit_on_one_process() {
    for backend in [crate::Backend::Sqlite, crate::Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else { continue };
        parallel_guesses_verify_at_most_the_limit(&app, 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_verify_at_most_the_limit_across_two_processes() {
    let Some(app) = TestApp::spawn(crate::Backend::Postgres).await else { return };
    parallel_guesses_verify_at_most_the_limit(&app, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attackers_address_is_locked_out_while_the_users_own_signs_in_on_every_backend() {
    for backend in [crate::Backend::Sqlite, crate::Backend::Postgres] {
        let behind_a_proxy = |s: &mut keyplane_api::Settings| {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        };
        let Some(app) = TestApp::spawn_with(backend, behind_a_proxy).await else { continue };
        an_attackers_address_is_locked_out_while_the_users_own_signs_in(&app).await;
    }
}
