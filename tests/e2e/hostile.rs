//! Hostile input end to end, against a real `keyplane` process (so that its memory can be
//! read): every operation of the committed document gets malformed bodies (truncated,
//! bytes replaced, wrong types, 10,000-deep nesting, NUL and lone surrogates, invalid
//! UTF-8, over-long fields, the wrong content type), garbage, over-long and non-UTF-8
//! credentials, and hostile paths and query strings; the public sign-in endpoints get a
//! few hundred cases each. No answer may be a 5xx or a dropped connection, every error
//! must be JSON in its surface's shape, and the process's memory must come back to its
//! baseline. 1 MB and 100 MB bodies and raw invalid bytes go over raw sockets, which stop
//! sending once answered. Forged JWTs (`alg: none`, HS256 keyed with the public key, a
//! tampered payload, a wrong or foreign `kid`) are refused wherever a token is accepted.

use crate::bootstrap::ServerProcess;
use crate::support::{base64_basic, split_key, ADMIN_PASSWORD};
use crate::{Backend, TestApp, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What every case needs: valid credentials and ids in a main tenant (`acme`) and in a
/// `victim` tenant that the destructive operations are pointed at.
struct World {
    base: String,
    acme_key: String,
    victim_key: String,
    admin_basic: String,
    acme_access: String,
    victim_access: String,
    /// A refresh token no other case relies on (mutated bodies may rotate or revoke it).
    spare_refresh: String,
    spare_access: String,
    alice_id: String,
    victim_key_id: String,
    victim_session_id: String,
}

/// One operation of the document.
#[derive(Clone)]
struct Operation {
    id: String,
    method: Method,
    template: String,
    content_type: Option<String>,
    security: Vec<Vec<String>>,
}

fn operations() -> Vec<Operation> {
    let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            let content_type = op["requestBody"]["content"].as_object().and_then(|c| c.keys().next().cloned());
            let security = op["security"]
                .as_array()
                .map(|s| s.iter().map(|r| r.as_object().unwrap().keys().cloned().collect()).collect())
                .unwrap_or_default();
            all.push(Operation {
                id: op["operationId"].as_str().unwrap().to_owned(),
                method,
                template: path.clone(),
                content_type,
                security,
            });
        }
    }
    all
}

/// The sign-in and token endpoints tenant applications and their users call.
const PUBLIC: &[&str] = &[
    "login",
    "refresh_token",
    "get_current_user",
    "get_authentication_methods",
    "sensu_login",
    "sensu_test_credentials",
    "sensu_refresh_token",
    "sensu_logout",
    "tenovos_token",
    "tenovos_logout",
    "investsuite_login",
    "investsuite_refresh_token",
    "oauth2_token",
    "oauth2_introspect",
    "oauth2_revoke",
    "get_jwks",
    "get_openid_configuration",
];

impl Operation {
    /// Operations that change or end things are pointed at the victim tenant.
    fn destructive(&self) -> bool {
        self.method == Method::DELETE
            || self.method == Method::PUT
            || self.method == Method::PATCH
            || ["suspend_tenant", "resume_tenant", "rotate_signing_key", "logout", "unlock_user"]
                .contains(&self.id.as_str())
    }

    fn path(&self, w: &World) -> String {
        let victim = self.destructive();
        let tenant = if victim { "victim" } else { "acme" };
        self.template
            .replace("{tenant}", tenant)
            .replace("{user_name}", "alice")
            .replace("{user_id}", &w.alice_id)
            .replace("{key_id}", &w.victim_key_id)
            .replace("{api_key_id}", &w.victim_key_id)
            .replace("{session_id}", &w.victim_session_id)
    }

    fn has(&self, scheme: &str) -> bool {
        self.security.iter().any(|r| r.iter().any(|s| s == scheme))
    }

    /// Valid credentials for this operation, so that malformed bodies reach the parser.
    fn credentials(&self, w: &World) -> Vec<(String, String)> {
        let victim = self.destructive();
        let key = if victim { &w.victim_key } else { &w.acme_key };
        let access = if victim { &w.victim_access } else { &w.acme_access };
        let id = self.id.as_str();
        if self.template.starts_with("/api/v1/platform/") {
            return vec![("authorization".into(), w.admin_basic.clone())];
        }
        if id.starts_with("oauth2_") {
            let (client, secret) = split_key(&w.acme_key);
            return vec![("authorization".into(), format!("Basic {}", base64_basic(client, secret)))];
        }
        if id.starts_with("sensu_") && (id.ends_with("login") || id.ends_with("credentials")) {
            return vec![("authorization".into(), format!("Basic {}", base64_basic("alice", "not the password")))];
        }
        if id.starts_with("sensu_") || (!self.has("api_key") && self.has("bearer")) {
            return vec![("authorization".into(), format!("Bearer {access}"))];
        }
        if self.has("api_key") || id == "login" {
            return vec![("x-api-key".into(), key.clone())];
        }
        Vec::new()
    }

    /// A body the operation accepts (or would, with the right password).
    fn base_body(&self, w: &World) -> Option<String> {
        let body = match self.id.as_str() {
            "login" | "tenovos_token" | "tenovos_logout" | "investsuite_login" => {
                json!({"username": "alice", "password": "not the password"})
            }
            "create_user" => json!({"user_name": "carol", "password": "long enough password", "roles": [],
                "email": "carol@example.com", "full_name": "Carol", "metadata": {"team": "a"}}),
            "update_user" => json!({"full_name": "Alice A", "metadata": {"k": "v"}, "email": "a@example.com"}),
            "create_tenant" => json!({"slug": "fuzz", "name": "Fuzz"}),
            "update_tenant" => json!({"name": "Victim"}),
            "set_authentication_cluster" => json!({"kind": "native"}),
            "set_platform_brute_force_policy" | "set_tenant_brute_force_policy" => json!({"enabled": true,
                "max_failures": 50, "lock_seconds": 1, "max_lock_seconds": 2, "failure_reset_seconds": 60}),
            "create_tenant_key" => json!({"description": "d", "roles": ["tenant_viewer"], "expires_at": null}),
            "set_token_policy" => json!({"access_token_lifetime_seconds": 900, "session_lifetime_seconds": 86400,
                "refresh_token_reuse_grace_seconds": 10, "signing_algorithm": "EdDSA"}),
            "create_own_api_key" | "create_platform_api_key" => json!({"description": "d", "expiration": "1d"}),
            "create_platform_user" => {
                json!({"user_name": "fuzzop", "password": "long enough password", "roles": ["platform_viewer"]})
            }
            "update_platform_user" => json!({"roles": ["platform_viewer"], "enabled": true}),
            "delete_own_api_keys" => json!({"keys": ["nope"]}),
            "investsuite_refresh_token" | "sensu_refresh_token" | "sensu_logout" => {
                json!({"refresh_token": w.spare_refresh})
            }
            "oauth2_token" => return Some("grant_type=password&username=alice&password=not+the+password".into()),
            "oauth2_introspect" => return Some(format!("token={}", w.spare_access)),
            "oauth2_revoke" => return Some("token=not-a-token&token_type_hint=refresh_token".into()),
            _ if self.content_type.is_some() => json!({}),
            _ => return None,
        };
        Some(body.to_string())
    }
}

/// One request to send.
#[derive(Clone)]
struct Case {
    label: String,
    method: Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

const DEEP: usize = 10_000;

/// Values a field should never be given.
fn wrong_values() -> Vec<String> {
    vec![
        "null".into(),
        "true".into(),
        "0".into(),
        "-1".into(),
        "1e400".into(),
        "18446744073709551616".into(),
        "\"\"".into(),
        "[]".into(),
        "{}".into(),
        "\"\\u0000\"".into(),
        "\"a\\u0000b\"".into(),
        "\"\\ud800\"".into(),
        format!("\"{}\"", "x".repeat(60_000)),
        format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP)),
        "{\"\\u0000\": \"\\u0000\"}".into(),
        "[\"\\u0000\"]".into(),
    ]
}

/// Bytes that break parsers.
const NASTY: &[u8] = &[0x00, 0xff, 0xc3, 0x80, b'"', b'\\', b'{', b'[', b'}', b',', b':', b'%', b'&', b'='];

fn body_cases(op: &Operation, w: &World, rng: &mut StdRng, thorough: bool) -> Vec<(String, Vec<u8>, Option<String>)> {
    let Some(base) = op.base_body(w) else { return Vec::new() };
    let content_type = op.content_type.clone();
    let form = content_type.as_deref() == Some("application/x-www-form-urlencoded");
    let mut cases: Vec<(String, Vec<u8>, Option<String>)> = Vec::new();
    let mut push = |label: String, body: Vec<u8>| cases.push((label, body, content_type.clone()));
    let bytes = base.as_bytes();
    // Truncated at (up to) 24 points.
    let step = (bytes.len() / 24).max(1);
    for end in (0..bytes.len()).step_by(step) {
        push(format!("truncated at {end}"), bytes[..end].to_vec());
    }
    // Bytes replaced.
    for i in 0..if thorough { 160 } else { 20 } {
        let mut b = bytes.to_vec();
        for _ in 0..rng.gen_range(1..=3) {
            let at = rng.gen_range(0..b.len());
            b[at] = if rng.gen_bool(0.7) { NASTY[rng.gen_range(0..NASTY.len())] } else { rng.gen() };
        }
        push(format!("bytes replaced #{i}"), b);
    }
    if form {
        for (label, text) in [
            ("invalid percent-encoding", "grant_type=%zz&username=%&password=%ff%fe".to_owned()),
            ("NUL values", "grant_type=password&username=al%00ice&password=%00&token=%00".to_owned()),
            ("repeated parameters", format!("{base}&{base}")),
            ("empty names and values", "=&&=&grant_type=".to_owned()),
            ("a 60 KB value", format!("{base}&scope={}", "x".repeat(60_000))),
            ("no equals signs", "grant_type&username&password".to_owned()),
        ] {
            push(label.to_owned(), text.into_bytes());
        }
    } else {
        let object: Value = serde_json::from_str(&base).unwrap();
        for field in object.as_object().unwrap().keys() {
            for (i, value) in wrong_values().iter().enumerate() {
                let mut o = object.as_object().unwrap().clone();
                o.remove(field);
                let rest = Value::Object(o).to_string();
                let text = format!(
                    "{{\"{field}\": {value}{}",
                    if rest == "{}" { "}".into() } else { format!(",{}", &rest[1..]) }
                );
                push(format!("field {field} given wrong value #{i}"), text.into_bytes());
            }
        }
        for (label, text) in [
            ("empty", String::new()),
            ("null", "null".into()),
            ("an array", "[]".into()),
            ("a string", "\"x\"".into()),
            ("a number", "1".into()),
            ("unbalanced", "{".into()),
            ("deep arrays", "[".repeat(DEEP)),
            ("deep arrays closed", format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP))),
            ("deep objects", "{\"a\":".repeat(DEEP)),
            ("deep objects closed", format!("{}1{}", "{\"a\":".repeat(DEEP), "}".repeat(DEEP))),
            ("duplicate keys", format!("{},{}", &base[..base.len() - 1], &base[1..])),
            ("a byte-order mark", format!("\u{feff}{base}")),
            ("trailing garbage", format!("{base}}}]x")),
            ("an unknown field", format!("{{\"zz\":1,{}", &base[1..])),
            ("a NUL key", format!("{{\"\\u0000\":1,{}", &base[1..])),
        ] {
            push(label.to_owned(), text.into_bytes());
        }
        let mut invalid = bytes.to_vec();
        if let Some(at) = invalid.iter().position(|b| *b == b'"') {
            invalid.splice(at + 1..at + 1, [0xff, 0xfe, 0xc3]);
        }
        push("invalid UTF-8 in a string".into(), invalid);
    }
    // The right body under the wrong content type.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/json; charset=utf-16"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json, application/json"),
        Some("*/*"),
    ] {
        cases.push((format!("content type {ct:?}"), bytes.to_vec(), ct.map(str::to_owned)));
    }
    cases
}

fn header_values(rng: &mut StdRng, thorough: bool) -> Vec<(String, String, Vec<u8>)> {
    let b64 = |raw: &[u8]| base64::engine::general_purpose::STANDARD.encode(raw);
    let big = "A".repeat(64 * 1024);
    let mut values: Vec<(String, String, Vec<u8>)> = [
        ("authorization", "".into()),
        ("authorization", "Bearer".into()),
        ("authorization", "Bearer ".into()),
        ("authorization", "Bearer a.b.c".into()),
        ("authorization", "Bearer ..".into()),
        ("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.".into()),
        ("authorization", format!("Bearer {big}")),
        ("authorization", "Basic".into()),
        ("authorization", "Basic !!!".into()),
        ("authorization", format!("Basic {}", b64(b"no colon"))),
        ("authorization", format!("Basic {}", b64(b":"))),
        ("authorization", format!("Basic {}", b64(&[0xff, 0xfe, b':', 0xff]))),
        ("authorization", format!("Basic {}", b64(b"\0:\0"))),
        ("authorization", format!("Basic {}", b64(format!("alice:{}", "p".repeat(40_000)).as_bytes()))),
        ("authorization", format!("Basic {}", b64(format!("{}:x", "u".repeat(40_000)).as_bytes()))),
        ("authorization", format!("Basic {big}")),
        ("authorization", "Digest username=\"a\"".into()),
        ("authorization", "ApiKey garbage".into()),
        ("authorization", "ApiKey kp_zz_zz".into()),
        ("authorization", format!("ApiKey kp_{}_{}", "a".repeat(24), "s".repeat(200))),
        ("authorization", format!("Key {big}")),
        ("authorization", "bearer bearer bearer".into()),
        ("x-api-key", "".into()),
        ("x-api-key", "garbage".into()),
        ("x-api-key", big.clone()),
        ("x-api-key", format!("kp_{}_{}", "0".repeat(24), "s".repeat(129))),
        ("x-keyplane-tenant", "%00".into()),
        ("x-keyplane-tenant", big.clone()),
        ("x-forwarded-for", "::::, not an address, 999.1.1.1".into()),
        ("x-forwarded-proto", big.clone()),
        ("user-agent", big.clone()),
    ]
    .into_iter()
    .map(|(n, v)| (format!("{n}: {:.40}", v), n.to_owned(), v.into_bytes()))
    .collect();
    // Bytes that are not UTF-8 (obs-text): HTTP allows them in a field value.
    for (name, raw) in [
        ("authorization", b"Bearer \xff\xfe\x80".to_vec()),
        ("authorization", b"Basic \xff\xff".to_vec()),
        ("authorization", b"\xc3\x28 x".to_vec()),
        ("x-api-key", b"kp_\xff\xfe".to_vec()),
        ("user-agent", b"\xff\xfe\xfd".to_vec()),
        ("x-request-id", b"\xff\xfe".to_vec()),
    ] {
        values.push((format!("{name}: non-UTF-8"), name.to_owned(), raw));
    }
    for i in 0..if thorough { 160 } else { 8 } {
        let len = rng.gen_range(0..400);
        let raw: Vec<u8> = (0..len)
            .map(|_| loop {
                let b: u8 = rng.gen();
                if b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80 {
                    break b;
                }
            })
            .collect();
        let name = if i % 2 == 0 { "authorization" } else { "x-api-key" };
        values.push((format!("random {name} #{i}"), name.to_owned(), raw));
    }
    values
}

fn cases_for(op: &Operation, w: &World, rng: &mut StdRng) -> Vec<Case> {
    let thorough = PUBLIC.contains(&op.id.as_str());
    let path = op.path(w);
    let credentials: Vec<(String, Vec<u8>)> = op.credentials(w).into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
    let base_body = op.base_body(w).map(String::into_bytes);
    let content_type = op.content_type.clone();
    let case = |label: String, path: String, headers: Vec<(String, Vec<u8>)>, body: Option<Vec<u8>>| Case {
        label: format!("{} {}: {label}", op.method, op.id),
        method: op.method.clone(),
        path,
        headers,
        body,
    };
    let with_type = |mut headers: Vec<(String, Vec<u8>)>, ct: Option<String>| {
        if let Some(ct) = ct {
            headers.push(("content-type".into(), ct.into_bytes()));
        }
        headers
    };
    let mut cases = Vec::new();
    for (label, body, ct) in body_cases(op, w, rng, thorough) {
        cases.push(case(label, path.clone(), with_type(credentials.clone(), ct), Some(body)));
    }
    for (label, name, value) in header_values(rng, thorough) {
        let mut headers: Vec<(String, Vec<u8>)> = credentials.iter().filter(|(n, _)| *n != name).cloned().collect();
        headers.push((name, value));
        cases.push(case(label, path.clone(), with_type(headers, content_type.clone()), base_body.clone()));
    }
    let queries = ["size=abc&from=-1", "size=1e99", "from=99999999999999999999", "%ff=%fe", "a=%zz&%=", "size=0"];
    for query in queries.iter().map(|q| q.to_string()).chain([format!("q={}", "x".repeat(8_000))]) {
        let label = format!("query {query:.40}");
        cases.push(case(
            label,
            format!("{path}?{query}"),
            with_type(credentials.clone(), content_type.clone()),
            base_body.clone(),
        ));
    }
    for (param, values) in [
        ("{tenant}", &["%00", "%ff%fe", "..", "%2e%2e", "ACME", "a%2Fb"][..]),
        ("{user_name}", &["%00", "%ff", "a%00b", "..%2F..", "x"][..]),
        ("{user_id}", &["not-a-uuid", "%00", "00000000-0000-0000-0000-000000000000"][..]),
        ("{key_id}", &["%00", "zz"][..]),
        ("{api_key_id}", &["%00", "zz"][..]),
        ("{session_id}", &["not-a-uuid", "%ff"][..]),
    ] {
        if !op.template.contains(param) {
            continue;
        }
        for value in values.iter().map(|v| v.to_string()).chain(["a".repeat(300), "%41".repeat(2_000)]) {
            let path = Operation { template: op.template.replace(param, &value), ..op.clone() }.path(w);
            cases.push(case(
                format!("{param} = {value:.30}"),
                path,
                with_type(credentials.clone(), content_type.clone()),
                base_body.clone(),
            ));
        }
    }
    cases
}

/// What went wrong with one case, if anything.
async fn send(client: &reqwest::Client, base: &str, case: &Case) -> Option<String> {
    let mut request = client.request(case.method.clone(), format!("{base}{}", case.path));
    for (name, value) in &case.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        let Ok(value) = HeaderValue::from_bytes(value) else { continue };
        request = request.header(name, value);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => return Some(format!("{}: no answer ({e:?})", case.label)),
    };
    let status = response.status().as_u16();
    let text = match response.bytes().await {
        Ok(t) => t,
        Err(e) => return Some(format!("{}: the body broke off ({e})", case.label)),
    };
    if status >= 500 {
        return Some(format!("{}: {status} {}", case.label, String::from_utf8_lossy(&text)));
    }
    if status >= 400 && serde_json::from_slice::<Value>(&text).is_err() {
        return Some(format!(
            "{}: {status} without a JSON error body: {:?}",
            case.label,
            String::from_utf8_lossy(&text)
        ));
    }
    None
}

async fn run(client: &reqwest::Client, base: &str, cases: &[Case]) -> Vec<String> {
    futures_util::stream::iter(cases.iter())
        .map(|case| send(client, base, case))
        .buffer_unordered(8)
        .filter_map(|failure| async move { failure })
        .collect()
        .await
}

fn resident_kib(server: &ServerProcess) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

async fn world(app: &TestApp, base: &str) -> World {
    let acme_key = app.tenant_with_user("acme").await;
    let victim_key = app.tenant_with_user("victim").await;
    let created = app
        .with_key(&victim_key, Method::POST, "/api/v1/users/auth/keys")
        .bearer_auth(app.login(&victim_key, "alice", PASSWORD).await["token"].as_str().unwrap())
        .json(&json!({"description": "for the fuzz"}))
        .send()
        .await
        .unwrap();
    let victim_key_id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap_or("zz").to_owned();
    let acme = app.login(&acme_key, "alice", PASSWORD).await;
    let victim = app.login(&victim_key, "alice", PASSWORD).await;
    let spare = app.login(&acme_key, "alice", PASSWORD).await;
    let alice: Value =
        app.with_key(&acme_key, Method::GET, "/api/v1/users/alice").send().await.unwrap().json().await.unwrap();
    World {
        base: base.to_owned(),
        acme_key,
        victim_key,
        admin_basic: format!("Basic {}", base64_basic("admin", ADMIN_PASSWORD)),
        acme_access: acme["token"].as_str().unwrap().to_owned(),
        victim_access: victim["token"].as_str().unwrap().to_owned(),
        spare_refresh: spare["refresh_token"].as_str().unwrap().to_owned(),
        spare_access: spare["token"].as_str().unwrap().to_owned(),
        alice_id: alice["id"].as_str().unwrap().to_owned(),
        victim_key_id,
        victim_session_id: crate::claims(victim["token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned(),
    }
}

/// Sends `head` and then up to `body_len` bytes of `chunk`s, stopping as soon as the
/// server answers; returns the answer and how many body bytes went out.
async fn raw_exchange(base: &str, head: &[u8], body_len: usize) -> (String, usize) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(head).await.unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut reader, mut writer) = stream.split();
    while sent < body_len && Instant::now() < deadline {
        tokio::select! {
            read = reader.read(&mut buf) => {
                match read {
                    Ok(0) => break,
                    Ok(n) => { received.extend_from_slice(&buf[..n]); break; }
                    Err(e) => panic!("the connection was reset before an answer ({e}) after {sent} bytes"),
                }
            }
            written = writer.write_all(&chunk[..chunk.len().min(body_len - sent)]) => {
                match written {
                    Ok(()) => sent += chunk.len().min(body_len - sent),
                    // The server may stop reading once it has answered: read the answer.
                    Err(_) => break,
                }
            }
        }
    }
    // Read the rest of the answer (until the headers and a body are in, or EOF).
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                return (text, sent);
            }
        }
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return (text, sent),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("the connection was reset ({e}); received {text:?}"),
            Err(_) => panic!("no complete answer within 10 s; received {text:?}"),
        }
    }
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

async fn big_and_raw_bodies(w: &World) {
    let host = w.base.trim_start_matches("http://");
    let key = &w.acme_key;
    let sensu = format!("authorization: Bearer {}", w.acme_access);
    let (client, secret) = split_key(key);
    let oauth = format!("authorization: Basic {}", base64_basic(client, secret));
    let native = format!("x-api-key: {key}");
    for (label, path, credential, framing, len) in [
        ("1 MB declared", "/api/v1/users/auth/_login", &native, "content-length", 1 << 20),
        ("100 MB declared", "/api/v1/users/auth/_login", &native, "content-length", 100 << 20),
        ("100 MB declared, Sensu", "/t/acme/sensu/auth/token", &sensu, "content-length", 100 << 20),
        ("100 MB declared, OAuth", "/t/acme/oauth2/token", &oauth, "content-length", 100 << 20),
        ("100 MB chunked", "/api/v1/users/auth/_login", &native, "chunked", 100 << 20),
        ("100 MB chunked, InvestSuite", "/t/acme/investsuite/auth/login/", &native, "chunked", 100 << 20),
    ] {
        let started = Instant::now();
        let framing_header = if framing == "chunked" {
            "transfer-encoding: chunked".to_owned()
        } else {
            format!("content-length: {len}")
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\n{credential}\r\ncontent-type: application/json\r\n{framing_header}\r\n\r\n"
        );
        let (response, sent) = if framing == "chunked" {
            // One chunk announcing the whole size: the server sees the body grow past its limit.
            let head = format!("{head}{len:x}\r\n");
            raw_exchange(&w.base, head.as_bytes(), len).await
        } else {
            raw_exchange(&w.base, head.as_bytes(), len).await
        };
        assert_eq!(status_of(&response), 413, "{label}: {response:.300}");
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        assert!(serde_json::from_str::<Value>(body).is_ok(), "{label}: the surface's JSON error body: {response:.300}");
        assert!(sent < 16 << 20, "{label}: answered only after {sent} bytes");
        eprintln!("{label}: 413 after {} KiB sent, in {:?}", sent / 1024, started.elapsed());
    }
    // A request head past actix's 128 KiB: refused by the HTTP layer itself with a bare
    // 431 (the one refusal that cannot carry a surface's body) and a closed connection.
    let head = format!("GET /api/v1/user HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer ");
    let (response, sent) = raw_exchange(&w.base, head.as_bytes(), 1 << 20).await;
    assert_eq!(status_of(&response), 431, "a 1 MiB header: {response:.300}");
    assert!(response.to_ascii_lowercase().contains("connection: close"), "{response:.300}");
    eprintln!("a header growing to 1 MiB: 431 after {} KiB sent", sent / 1024);
    // Invalid UTF-8 in the body and in header values, straight on the wire.
    for (label, extra, body) in [
        (
            "invalid UTF-8 in the body",
            String::new(),
            b"{\"username\":\"al\xffice\",\"password\":\"\xc3\x28\"}".to_vec(),
        ),
        ("invalid UTF-8 in the key", "x-api-key: kp_\u{00ff}\r\n".to_owned(), b"{}".to_vec()),
    ] {
        let mut head = format!(
            "POST /api/v1/users/auth/_login HTTP/1.1\r\nhost: {host}\r\nx-api-key: {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        // Latin-1 bytes rather than their UTF-8 encoding.
        head = head.iter().flat_map(|b| if *b == 0xc3 { None } else { Some(*b) }).collect();
        head.extend_from_slice(&body);
        let (response, _) = raw_exchange(&w.base, &head, 0).await;
        let status = status_of(&response);
        assert!((400..500).contains(&status), "{label}: {response:.300}");
    }
}

async fn hostile_input_on(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let server = app.replica(1, &[("KEYPLANE_RATE_LIMIT__ENABLED", "false"), ("KEYPLANE_CACHE_TTL_MS", "0")]);
    let w = world(&app, &server.base).await;
    let mut rng = StdRng::seed_from_u64(20_261_124);
    let mut cases = Vec::new();
    for op in operations() {
        cases.extend(cases_for(&op, &w, &mut rng));
    }
    let public: Vec<usize> = PUBLIC
        .iter()
        .map(|id| cases.iter().filter(|c| c.label.split(' ').nth(1) == Some(&format!("{id}:"))).count())
        .collect();
    assert!(public.iter().all(|n| *n >= 200), "a few hundred cases per public endpoint: {public:?}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // Warm up (every kind of case once, as far as the allocator is concerned), then
    // measure the baseline, run everything, and measure again.
    let warm_up: Vec<Case> = cases.iter().step_by(10).cloned().collect();
    let mut failures = run(&client, &w.base, &warm_up).await;
    let baseline = resident_kib(&server);
    let started = Instant::now();
    failures.extend(run(&client, &w.base, &cases).await);
    big_and_raw_bodies(&w).await;
    failures.extend(run(&client, &w.base, &cases).await);
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = resident_kib(&server);
    eprintln!(
        "{backend:?}: {} cases twice in {elapsed:?} ({} per public endpoint at least); resident memory {} MiB before, {} MiB after",
        cases.len(),
        public.iter().min().unwrap(),
        baseline / 1024,
        after / 1024
    );
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len() * 2, failures.join("\n"));
    assert!(after <= baseline + baseline / 4 + 16 * 1024, "resident memory grew from {baseline} KiB to {after} KiB");
    // The server still serves, and the tokens the cases carried are intact.
    let me = app.client.get(format!("{}/api/v1/user", w.base)).bearer_auth(&w.acme_access).send().await.unwrap();
    assert_eq!(me.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clean_4xx_answers_on_sqlite() {
    hostile_input_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clean_4xx_answers_on_postgres() {
    hostile_input_on(Backend::Postgres).await;
}

/// A token with `header` and `payload` (JSON) and `signature` (already encoded).
fn forge(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

fn hs256(header: &Value, payload: &Value, secret: &[u8]) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = header["kid"].as_str().map(str::to_owned);
    h.typ = header["typ"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&h, payload, &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
}

/// Forgeries of `token` (a real access or refresh token of the `acme` tenant).
fn forgeries(token: &str, jwk: &Value, foreign_kid: &str) -> Vec<(String, String)> {
    let header = crate::header(token);
    let payload = crate::claims(token);
    let signature = token.rsplit('.').next().unwrap();
    let mut elevated = payload.clone();
    elevated["roles"] = json!(["tenant_admin"]);
    let mut other_sub = payload.clone();
    other_sub["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let mut later = payload.clone();
    later["exp"] = json!(payload["exp"].as_i64().unwrap() + 86_400 * 365);
    let mut none = header.clone();
    none["alg"] = json!("none");
    let mut none_lower = header.clone();
    none_lower["alg"] = json!("None");
    let mut wrong_kid = header.clone();
    wrong_kid["kid"] = json!(uuid::Uuid::new_v4().to_string());
    let mut foreign = header.clone();
    foreign["kid"] = json!(foreign_kid);
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    let x = jwk["x"].as_str().unwrap();
    let mut forged = vec![
        ("alg none, no signature".to_owned(), forge(&none, &payload, "")),
        ("alg none, elevated".to_owned(), forge(&none, &elevated, "")),
        ("alg None, original signature".to_owned(), forge(&none_lower, &payload, signature)),
        ("tampered roles".to_owned(), forge(&header, &elevated, signature)),
        ("tampered subject".to_owned(), forge(&header, &other_sub, signature)),
        ("tampered expiry".to_owned(), forge(&header, &later, signature)),
        ("unknown kid".to_owned(), forge(&wrong_kid, &payload, signature)),
        ("another tenant's kid".to_owned(), forge(&foreign, &payload, signature)),
        ("no kid".to_owned(), forge(&no_kid, &payload, signature)),
        ("signature cut short".to_owned(), token[..token.len() - 4].to_owned()),
        ("no signature".to_owned(), token[..token.rfind('.').unwrap() + 1].to_owned()),
        ("a fourth segment".to_owned(), format!("{token}.e30")),
        ("HS256 keyed with x".to_owned(), hs256(&header, &elevated, x.as_bytes())),
        (
            "HS256 keyed with the public key bytes".to_owned(),
            hs256(&header, &elevated, &URL_SAFE_NO_PAD.decode(x).unwrap()),
        ),
        ("HS256 keyed with the JWK".to_owned(), hs256(&header, &elevated, jwk.to_string().as_bytes())),
    ];
    if let Some(y) = jwk["y"].as_str() {
        forged.push(("HS256 keyed with y".to_owned(), hs256(&header, &elevated, y.as_bytes())));
    }
    forged
}

async fn forged_tokens_on(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else { return };
    let key = app.tenant_with_user("acme").await;
    let other_key = app.tenant_with_user("other").await;
    let session = app.login(&key, "alice", PASSWORD).await;
    let other = app.login(&other_key, "alice", PASSWORD).await;
    let access = session["token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let jwks: Value =
        app.request(Method::GET, "/t/acme/.well-known/jwks.json").send().await.unwrap().json().await.unwrap();
    let kid = crate::header(&access)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap().clone();
    let foreign_kid = crate::header(other["token"].as_str().unwrap())["kid"].as_str().unwrap().to_owned();
    let mut refused = 0;
    for (label, token) in forgeries(&access, &jwk, &foreign_kid) {
        for path in ["/api/v1/user", "/api/v1/users/auth/sessions", "/api/v1/users/auth/keys"] {
            let resp = app.with_bearer(&token, Method::GET, path).send().await.unwrap();
            assert_eq!(resp.status(), 401, "{label} on {path}");
            refused += 1;
        }
        let resp =
            app.with_bearer(&token, Method::GET, "/api/v1/users").header("X-API-Key", &key).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{label} beside the key");
        let (status, body) = app.form("/t/acme/oauth2/introspect", &[("token", token.as_str())], Some(&key)).await;
        assert_eq!((status, &body["active"]), (200, &json!(false)), "{label} introspected");
        let resp = app
            .request(Method::POST, "/t/acme/sensu/auth/token")
            .bearer_auth(&token)
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{label} as Sensu's access token");
        refused += 5;
    }
    for (label, token) in forgeries(&refresh, &jwk, &foreign_kid) {
        let resp = app.with_bearer(&token, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
        assert_eq!(resp.status(), 401, "{label} refreshed natively");
        let resp = app
            .request(Method::POST, "/t/acme/investsuite/auth/refresh-token/")
            .json(&json!({"refresh_token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{label} refreshed through InvestSuite");
        let (status, body) = app
            .form(
                "/t/acme/oauth2/token",
                &[("grant_type", "refresh_token"), ("refresh_token", token.as_str())],
                Some(&key),
            )
            .await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{label} refreshed through OAuth");
        refused += 3;
    }
    // The originals still work: every refusal above was the forgery's.
    let me = app.with_bearer(&access, Method::GET, "/api/v1/user").send().await.unwrap();
    assert_eq!(me.status(), 200);
    let renewed = app.with_bearer(&refresh, Method::POST, "/api/v1/users/auth/_refresh").send().await.unwrap();
    assert_eq!(renewed.status(), 200);
    app.secrets_of(&renewed.json::<Value>().await.unwrap());
    eprintln!("{backend:?}: {refused} forged-token requests refused");
}

#[tokio::test]
async fn forged_tokens_are_refused_on_sqlite() {
    forged_tokens_on(Backend::Sqlite).await;
}

#[tokio::test]
async fn forged_tokens_are_refused_on_postgres() {
    forged_tokens_on(Backend::Postgres).await;
}
