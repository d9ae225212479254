//! Test support: start the real Keyplane server on port 0 with a fresh database (a
//! temporary SQLite file, or a uniquely named PostgreSQL database) and talk HTTP to it.

use keyplane_api::{Application, Settings};
use keyplane_domain::clock::{Clock, SystemClock};
use reqwest::{Client, Method, RequestBuilder, Response};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Password of the bootstrap `admin` in every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Set to `1` (CI does) to fail instead of skipping when PostgreSQL is unreachable.
pub const REQUIRE_POSTGRES_VAR: &str = "KEYPLANE_TEST_REQUIRE_POSTGRES";
/// Admin connection used to create test databases.
pub const POSTGRES_URL_VAR: &str = "KEYPLANE_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A clock that runs with the system clock plus an offset the test moves forward.
#[derive(Default)]
pub struct ManualClock {
    offset: Mutex<chrono::Duration>,
}

impl ManualClock {
    /// Moves time forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        *self.offset.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        SystemClock.now() + *self.offset.lock().unwrap()
    }
}

/// The storage a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A plain client (no default credentials).
    pub client: Client,
    /// Which storage it runs on.
    pub backend: Backend,
    /// The server's clock.
    pub clock: Arc<ManualClock>,
    /// The database URL the server runs on.
    pub database_url: String,
    data_dir: PathBuf,
    pg_database: Option<String>,
    /// Where this server's log began in [`log`] (all servers of the run share it).
    log_from: usize,
    /// Passwords, key secrets and tokens this test used: none may be in the log.
    pub(crate) secrets: Mutex<Vec<String>>,
}

/// Every line every server of this run logged, at `debug`: the servers run in this
/// process and share one subscriber, installed by the first one with the server's own
/// log format.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = CapturedLog(log.clone());
        keyplane_api::logging::install("text", "debug", move || writer.clone(), false)
            .expect("nothing else installs a subscriber in the test process");
        log
    })
}

#[derive(Clone)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Response fields that hold a secret: remembered by the helpers that see them.
const SECRET_FIELDS: &[&str] =
    &["key", "secret_access_key", "access_token", "refresh_token", "token", "refreshToken", "accessToken"];

impl Drop for TestApp {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            if let Err(leak) = self.no_secret_logged() {
                panic!("{leak}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(name) = self.pg_database.take() {
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let admin = Database::connect(admin_url().as_str()).await.ok()?;
                    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.ok()
                })
            })
            .join();
        }
    }
}

fn admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Creates a fresh PostgreSQL database and returns its URL, or `None` when PostgreSQL is
/// unreachable and not required. Databases left by earlier runs (over an hour old) are
/// dropped on the way.
async fn fresh_postgres_database() -> Option<(String, String)> {
    let admin_url = admin_url();
    let required = std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    // Probed once per run, within about a second: an unreachable server is not waited
    // out by every test (a pool's 30 s each), and the skip is said once, uncaptured.
    static UNREACHABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(e) = UNREACHABLE.get() {
        assert!(!required, "PostgreSQL is required ({REQUIRE_POSTGRES_VAR}) but unreachable at {admin_url}: {e}");
        return None;
    }
    let quick = sea_orm::ConnectOptions::new(admin_url.as_str())
        .connect_timeout(std::time::Duration::from_secs(1))
        .acquire_timeout(std::time::Duration::from_secs(1))
        .sqlx_logging(false)
        .to_owned();
    let admin = match Database::connect(quick).await {
        Ok(db) => db,
        Err(e) if required => {
            panic!("PostgreSQL is required ({REQUIRE_POSTGRES_VAR}) but unreachable at {admin_url}: {e}")
        }
        Err(e) => {
            if UNREACHABLE.set(e.to_string()).is_ok() {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "NOTE: PostgreSQL is unreachable at {admin_url} ({e}): the PostgreSQL half of every test is SKIPPED \
                     (set {REQUIRE_POSTGRES_VAR}=1 to fail instead)"
                );
            }
            return None;
        }
    };
    let stale = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'kp\\_test\\_%'",
        ))
        .await
        .unwrap_or_default();
    for row in stale {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let created = name.split('_').nth(2).and_then(|t| t.parse::<u64>().ok()).unwrap_or(u64::MAX);
        if now_secs().saturating_sub(created) > 3600 && created != u64::MAX {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
    let name = format!("kp_test_{}_{}", now_secs(), unique_suffix());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create the test database");
    let (prefix, _) = admin_url.rsplit_once('/').expect("the PostgreSQL URL names a database");
    Some((format!("{prefix}/{name}"), name))
}

impl TestApp {
    /// Starts a server on `backend`; `None` when that backend is unavailable and allowed
    /// to be skipped.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server on `backend` after `adjust` has changed its settings.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        let data_dir = std::env::temp_dir().join(format!("keyplane-test-{}", unique_suffix()));
        let mut settings = Settings {
            port: 0,
            data_dir: data_dir.clone(),
            workers: Some(1),
            database_max_connections: 8,
            ..Settings::default()
        };
        settings.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        let mut pg_database = None;
        if backend == Backend::Postgres {
            let (url, name) = fresh_postgres_database().await?;
            settings.database_url = Some(url.into());
            pg_database = Some(name);
        }
        adjust(&mut settings);
        let database_url = settings.effective_database_url();
        let log_from = log().lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        let clock = Arc::new(ManualClock::default());
        let app = Application::build_with_clock(settings, clock.clone()).await.expect("the application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let secrets =
            Mutex::new(vec![ADMIN_PASSWORD.to_owned(), PASSWORD.to_owned(), base64_basic("admin", ADMIN_PASSWORD)]);
        Some(Self {
            base,
            client: Client::new(),
            backend,
            clock,
            database_url,
            data_dir,
            pg_database,
            log_from,
            secrets,
        })
    }

    /// A `keyplane` process sharing this server's database and master key, as a replica
    /// behind a load balancer would; `env` adds or overrides settings.
    pub fn replica(&self, i: usize, env: &[(&str, &str)]) -> crate::bootstrap::ServerProcess {
        let master_key = std::fs::read_to_string(self.data_dir.join("master.key")).expect("the master key file");
        let dir = self.data_dir.join(format!("replica-{i}")).display().to_string();
        let mut all = vec![
            ("KEYPLANE_DATABASE_URL", self.database_url.as_str()),
            ("KEYPLANE_MASTER_KEY", master_key.trim()),
            ("KEYPLANE_DATA_DIR", dir.as_str()),
        ];
        all.extend_from_slice(env);
        crate::bootstrap::ServerProcess::start(&all)
    }

    /// Remembers `secret` (a password, key or token the test used): the test fails if the
    /// server logs it.
    pub fn secret(&self, secret: &str) {
        if secret.len() >= 8 {
            self.secrets.lock().unwrap().push(secret.to_owned());
        }
    }

    /// Remembers every secret-holding field of a response body (see [`SECRET_FIELDS`]).
    pub fn secrets_of(&self, body: &Value) {
        match body {
            Value::Object(map) => {
                for (name, value) in map {
                    match value.as_str() {
                        Some(text) if SECRET_FIELDS.contains(&name.as_str()) => self.secret(text),
                        _ => self.secrets_of(value),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.secrets_of(item)),
            _ => {}
        }
    }

    /// An error naming the log line when anything logged since this server started holds
    /// one of the test's secrets (or the secret half of an API key).
    pub fn no_secret_logged(&self) -> Result<(), String> {
        let log = log().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let logged = String::from_utf8_lossy(&log[self.log_from.min(log.len())..]).into_owned();
        drop(log);
        let secrets = self.secrets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let halves = secrets.iter().filter_map(|s| {
            let rest = s.strip_prefix("kpp_").or_else(|| s.strip_prefix("kp_"))?;
            rest.split_once('_').map(|(_, secret)| secret)
        });
        for secret in secrets.iter().map(String::as_str).chain(halves) {
            if let Some(at) = logged.find(secret) {
                let line = logged[..at].rsplit('\n').next().unwrap_or("");
                return Err(format!("a secret used by this test is in the server's log, after: {line:?}"));
            }
        }
        Ok(())
    }

    /// What the servers of this run logged since this one started (other tests' servers
    /// log into the same buffer: filter by request id).
    pub fn logged(&self) -> String {
        let log = log().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&log[self.log_from.min(log.len())..]).into_owned()
    }

    /// Where the server keeps its files (the master key among them).
    pub fn data_dir_path(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// A request to `path` (relative to the server) without credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// A request authenticated as the bootstrap platform admin (Basic).
    pub fn as_admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).basic_auth("admin", Some(ADMIN_PASSWORD))
    }

    /// A request authenticated with an API key (`X-API-Key`).
    pub fn with_key(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).header("X-API-Key", key)
    }

    /// Creates a tenant as the platform admin; returns its JSON.
    pub async fn create_tenant(&self, slug: &str) -> Value {
        let resp = self
            .as_admin(Method::POST, "/api/v1/platform/tenants")
            .json(&json!({"slug": slug, "name": format!("Tenant {slug}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "creating tenant {slug}");
        resp.json().await.unwrap()
    }

    /// Creates a key for `tenant` with `roles`; returns the created key's JSON.
    pub async fn create_key(&self, tenant: &str, roles: &[&str]) -> Value {
        let resp = self
            .as_admin(Method::POST, &format!("/api/v1/platform/tenants/{tenant}/keys"))
            .json(&json!({"description": "test", "roles": roles}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "creating a key for {tenant}");
        let key: Value = resp.json().await.unwrap();
        self.secrets_of(&key);
        key
    }

    /// A tenant with a `tenant_admin` key; returns the full key text.
    pub async fn tenant_with_admin_key(&self, slug: &str) -> String {
        self.create_tenant(slug).await;
        self.create_key(slug, &["tenant_admin"]).await["key"].as_str().unwrap().to_owned()
    }

    /// Creates a user with the tenant key `key`; returns its JSON.
    pub async fn create_user(&self, key: &str, user_name: &str) -> Value {
        let resp = self
            .with_key(key, Method::POST, "/api/v1/users")
            .json(&json!({"user_name": user_name, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "creating user {user_name}");
        resp.json().await.unwrap()
    }
}

impl TestApp {
    /// Signs `user` in to the tenant of `key` with the native `_login`; returns the body.
    pub async fn login(&self, key: &str, user: &str, password: &str) -> Value {
        let resp = self
            .with_key(key, Method::POST, "/api/v1/users/auth/_login")
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "signing {user} in");
        self.secret(password);
        let body: Value = resp.json().await.unwrap();
        self.secrets_of(&body);
        body
    }

    /// A request with `Authorization: Bearer <token>`.
    pub fn with_bearer(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    /// A tenant with an admin key and a user `alice` (password `correct horse battery`);
    /// returns the key.
    pub async fn tenant_with_user(&self, slug: &str) -> String {
        let key = self.tenant_with_admin_key(slug).await;
        let resp = self
            .with_key(&key, Method::POST, "/api/v1/users")
            .json(&json!({"user_name": "alice", "password": PASSWORD, "roles": ["tenant_viewer", "support"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        key
    }

    /// POSTs a form to `path` and returns status and JSON body (`Null` when empty).
    pub async fn form(&self, path: &str, params: &[(&str, &str)], key: Option<&str>) -> (u16, Value) {
        let mut req = self.request(Method::POST, path).form(params);
        if let Some(key) = key {
            let (id, secret) = split_key(key);
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        for (name, value) in params {
            if ["password", "client_secret", "refresh_token", "token"].contains(name) {
                self.secret(value);
            }
        }
        self.secrets_of(&body);
        (status, body)
    }
}

/// Sends a request and reads its JSON body (panicking on a transport or JSON failure).
pub trait SendJson {
    /// `send().await.unwrap().json().await.unwrap()`.
    fn send_json(self) -> impl std::future::Future<Output = Value> + Send;

    /// Sends a request that must succeed (2xx, else the test fails with the body);
    /// returns its JSON body.
    fn send_ok(self) -> impl std::future::Future<Output = Value> + Send;
}

impl SendJson for RequestBuilder {
    async fn send_json(self) -> Value {
        self.send().await.unwrap().json().await.unwrap()
    }

    async fn send_ok(self) -> Value {
        let resp = self.send().await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// Over any client and base URL (a TLS listener, a separate process): the platform admin
/// (`admin_auth`, an `Authorization` value) creates tenant `acme` and a `tenant_admin` key,
/// and the key creates `alice` with [`PASSWORD`]; returns the key.
pub async fn seed_acme(client: &Client, base: &str, admin_auth: &str) -> String {
    let created = client
        .post(format!("{base}/api/v1/platform/tenants"))
        .header("authorization", admin_auth)
        .json(&json!({"slug": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "creating tenant acme at {base}");
    let key = client
        .post(format!("{base}/api/v1/platform/tenants/acme/keys"))
        .header("authorization", admin_auth)
        .json(&json!({"description": "seed", "roles": ["tenant_admin"]}))
        .send_json()
        .await;
    let key = key["key"].as_str().expect("the key is shown once").to_owned();
    create_alice(client, base, &key).await;
    key
}

/// Creates `alice` (with [`PASSWORD`]) in the tenant of `key`, over any client.
pub async fn create_alice(client: &Client, base: &str, key: &str) {
    let user = client
        .post(format!("{base}/api/v1/users"))
        .header("x-api-key", key)
        .json(&json!({"user_name": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200, "creating alice at {base}");
}

/// The password `tenant_with_user` gives `alice`.
pub const PASSWORD: &str = "correct horse battery";

/// Splits `kp_<id>_<secret>` into the OAuth client id and secret.
pub fn split_key(key: &str) -> (&str, &str) {
    let rest = key.strip_prefix("kp_").unwrap();
    rest.split_once('_').unwrap()
}

/// The claims of a JWT, decoded without verification (for assertions).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The header of a JWT.
pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Asserts a native error: exact status, the code in the body and in
/// `x-cloud-error-codes`, and the exact envelope shape. Returns the error item.
pub async fn assert_error(resp: Response, status: u16, code: &str) -> Value {
    let actual = resp.status().as_u16();
    let header = resp.headers().get("x-cloud-error-codes").map(|v| v.to_str().unwrap().to_owned());
    let challenge = resp.headers().get("www-authenticate").is_some();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.expect("error bodies are JSON");
    assert_eq!(actual, status, "status for {body}");
    assert_eq!(header.as_deref(), Some(code), "x-cloud-error-codes for {body}");
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let errors = body["errors"].as_array().expect("an errors array");
    assert_eq!(errors.len(), 1, "{body}");
    let item = &errors[0];
    assert_eq!(item["code"], code, "{body}");
    assert!(item["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
    assert!(keys.iter().all(|k| ["code", "message", "fields"].contains(&k.as_str())), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only `errors` at the top: {body}");
    if status == 401 {
        assert!(challenge, "every 401 carries WWW-Authenticate");
    }
    item.clone()
}

/// Runs a scenario against SQLite and against PostgreSQL (skipped, or failed when
/// required, if PostgreSQL is unreachable).
#[macro_export]
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$scenario(&app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        super::$scenario(&app).await;
                    }
                }
            }
        )*
    };
}

/// The value of a Basic `Authorization` header for `user` and `password`.
pub fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}
