//! Configuration: defaults, then an optional TOML file (`KEYPLANE_CONFIG`, else
//! `./keyplane.toml` when present), then `KEYPLANE_*` environment variables (nested keys
//! joined with `__`, e.g. `KEYPLANE_HASHING__MEMORY_KIB`).

use crate::transport::SslRequired;
use config::{Config, Environment, File};
use ipnet::IpNet;
use keyplane_adapters::HashingSettings;
use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

/// Everything Keyplane reads at start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// `postgres://…` or `sqlite://…`; unset means a SQLite file in `data_dir`.
    #[serde(serialize_with = "redact")]
    pub database_url: Option<SecretString>,
    /// Where the embedded database and generated files live.
    pub data_dir: PathBuf,
    /// Pooled database connections (PostgreSQL benefits from enough of them for group
    /// commit; SQLite serialises writers anyway).
    pub database_max_connections: u32,
    /// How long a replica may keep tenants, users, keys and sessions it read, in
    /// milliseconds: changes made elsewhere are seen within this time (local changes at
    /// once). 0 disables the caches.
    pub cache_ttl_ms: u64,
    /// HTTP worker threads; unset means one per core.
    pub workers: Option<usize>,
    /// Password of the `admin` operator created on first start; generated and printed
    /// once to stderr when unset.
    #[serde(serialize_with = "redact")]
    pub bootstrap_admin_password: Option<SecretString>,
    /// The operator's master key (base64 of 32 random bytes) that seals signing keys at
    /// rest. Unset: a key file `master.key` in `data_dir`, generated on first start (every
    /// replica must then share that file; set this instead in production).
    #[serde(serialize_with = "redact")]
    pub master_key: Option<SecretString>,
    /// The URL clients reach Keyplane at (issuers are `<base>/t/<slug>`); unset means
    /// `http://<host>:<port>`.
    pub public_base_url: Option<String>,
    /// `none`, `external` (plain HTTP only from loopback and private addresses) or `all`.
    pub ssl_required: SslRequired,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-Proto` and
    /// `X-Forwarded-For` are believed; comma-separated in `KEYPLANE_TRUSTED_PROXIES`.
    #[serde(deserialize_with = "proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Password hashing.
    pub hashing: HashingSettings,
    /// Purging of ended sessions.
    pub session_purge: SessionPurgeSettings,
    /// Rate limits on credential and discovery endpoints.
    pub rate_limit: RateLimitSettings,
    /// Timeouts and connection limits for slow and stalled clients.
    pub http: HttpSettings,
    /// The audit trail: retention and the sign-in event writer.
    pub audit: AuditSettings,
    /// What SIGTERM and SIGINT do.
    pub shutdown: ShutdownSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// TLS termination.
    pub tls: TlsSettings,
}

/// TLS termination (`KEYPLANE_TLS__CERT`, `KEYPLANE_TLS__KEY`): both set, the listener
/// speaks HTTPS only (HTTP/2 or HTTP/1.1 by ALPN) and every response carries HSTS.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM file with the certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// Prometheus metrics (`KEYPLANE_METRICS__*`). `/metrics` on the main port answers
/// loopback and trusted-proxy addresses, and `platform_viewer` credentials from anywhere.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// A second address (`host:port`) serving only `/metrics`, without a credential, for
    /// a scraper on a network the operator controls. Unset: no second listener.
    pub listen: Option<String>,
}

/// Graceful shutdown (`KEYPLANE_SHUTDOWN__*`). On SIGTERM or SIGINT `/readyz` answers 503
/// at once; after `readiness_delay_ms` (time for a load balancer to notice) the listener
/// closes, requests in flight get up to `drain_secs` to finish, queued audit events are
/// stored, the database is closed, and one line says so.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ShutdownSettings {
    /// How long `/readyz` answers 503 before new connections are refused, in
    /// milliseconds (default 0).
    pub readiness_delay_ms: u64,
    /// The most time requests in flight get to finish, in seconds (default 10); those
    /// still running then are cut off.
    pub drain_secs: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { readiness_delay_ms: 0, drain_secs: 10 }
    }
}

/// One token bucket: `per_second` requests replenished each second, up to `burst` at
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    /// Sustained requests per second (at least 1).
    pub per_second: u32,
    /// Requests allowed at once after a quiet period (at least 1).
    pub burst: u32,
}

/// Rate limits (`KEYPLANE_RATE_LIMIT__*`, e.g. `KEYPLANE_RATE_LIMIT__PER_ADDRESS_BURST`):
/// every endpoint that checks a credential (native `_login`, `_refresh`, `methods`; the
/// Sensu, Tenovos and InvestSuite auth endpoints; OAuth token, introspection and
/// revocation; any request with `Authorization: Basic`) draws on one budget per client
/// address and one per tenant; `/t/{tenant}/.well-known/*` on a more generous pair.
/// Over budget: 429 with `Retry-After` in the surface's own shape. Flat fields, so that
/// any one of them can be set alone.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Whether requests are rate-limited at all (default true).
    pub enabled: bool,
    /// Credential requests per client address per second (default 20).
    pub per_address_per_second: u32,
    /// Credential requests per client address at once (default 100).
    pub per_address_burst: u32,
    /// Credential requests per tenant per second (default 200).
    pub per_tenant_per_second: u32,
    /// Credential requests per tenant at once (default 1000).
    pub per_tenant_burst: u32,
    /// Discovery requests per client address per second (default 100).
    pub discovery_per_address_per_second: u32,
    /// Discovery requests per client address at once (default 500).
    pub discovery_per_address_burst: u32,
    /// Discovery requests per tenant per second (default 1000).
    pub discovery_per_tenant_per_second: u32,
    /// Discovery requests per tenant at once (default 5000).
    pub discovery_per_tenant_burst: u32,
    /// IPv6 clients are counted by network of this prefix length (default 64).
    pub ipv6_prefix: u8,
    /// How often keys whose budget is full again are forgotten, in milliseconds
    /// (default 60 s, at least 1 s): memory holds only the clients and tenants active
    /// meanwhile.
    pub cleanup_interval_ms: u64,
}

impl RateLimitSettings {
    /// Sets every credential and discovery budget per address to `quota`.
    pub fn set_per_address(&mut self, quota: QuotaSettings) {
        (self.per_address_per_second, self.per_address_burst) = (quota.per_second, quota.burst);
        (self.discovery_per_address_per_second, self.discovery_per_address_burst) = (quota.per_second, quota.burst);
    }

    /// Sets every credential and discovery budget per tenant to `quota`.
    pub fn set_per_tenant(&mut self, quota: QuotaSettings) {
        (self.per_tenant_per_second, self.per_tenant_burst) = (quota.per_second, quota.burst);
        (self.discovery_per_tenant_per_second, self.discovery_per_tenant_burst) = (quota.per_second, quota.burst);
    }

    /// The named budget: `per_address`, `per_tenant`, `discovery_per_address` or
    /// `discovery_per_tenant`.
    pub fn quota(&self, name: &str) -> QuotaSettings {
        let (per_second, burst) = match name {
            "per_address" => (self.per_address_per_second, self.per_address_burst),
            "per_tenant" => (self.per_tenant_per_second, self.per_tenant_burst),
            "discovery_per_address" => (self.discovery_per_address_per_second, self.discovery_per_address_burst),
            _ => (self.discovery_per_tenant_per_second, self.discovery_per_tenant_burst),
        };
        QuotaSettings { per_second, burst }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            per_address_per_second: 20,
            per_address_burst: 100,
            per_tenant_per_second: 200,
            per_tenant_burst: 1000,
            discovery_per_address_per_second: 100,
            discovery_per_address_burst: 500,
            discovery_per_tenant_per_second: 1000,
            discovery_per_tenant_burst: 5000,
            ipv6_prefix: 64,
            cleanup_interval_ms: 60_000,
        }
    }
}

/// Slow and stalled clients (`KEYPLANE_HTTP__*`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpSettings {
    /// The whole request body must arrive within this time, in milliseconds, or the
    /// request is answered 408 and the connection closed (default 10 s).
    pub body_timeout_ms: u64,
    /// The request line and headers must arrive within this time, in milliseconds, or
    /// the connection gets 408 and is closed (default 5 s).
    pub request_head_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this many seconds; 0 disables
    /// keep-alive (default 5).
    pub keep_alive_secs: u64,
    /// How long a closing connection may take to receive the last bytes, in milliseconds
    /// (default 1 s).
    pub disconnect_timeout_ms: u64,
    /// Concurrent connections per replica, split evenly over the workers; further
    /// connections wait in the listen backlog (default 10 000).
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_timeout_ms: 10_000,
            request_head_timeout_ms: 5_000,
            keep_alive_secs: 5,
            disconnect_timeout_ms: 1_000,
            max_connections: 10_000,
        }
    }
}

/// The audit trail (`KEYPLANE_AUDIT__*`). Events older than `retention_days` are deleted by
/// a background task every `purge_interval_ms`, at most `purge_batch_size` per statement.
/// Sign-in events are queued (at most `queue_capacity`; beyond that the request writes
/// its event itself) and stored `write_batch_size` at a time; the queue is flushed on a
/// graceful shutdown.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuditSettings {
    /// How long events are kept, in days (default 90); 0 keeps them forever.
    pub retention_days: u64,
    /// Pause between purges, in milliseconds; 0 disables purging (default 1 hour).
    pub purge_interval_ms: u64,
    /// The most events one delete statement removes (default 1000).
    pub purge_batch_size: u64,
    /// Sign-in events waiting to be stored (default 8192).
    pub queue_capacity: usize,
    /// The most events stored in one statement (default 256).
    pub write_batch_size: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention_days: 90,
            purge_interval_ms: 60 * 60 * 1000,
            purge_batch_size: 1000,
            queue_capacity: 8192,
            write_batch_size: 256,
        }
    }
}

/// Purging of ended sessions (`KEYPLANE_SESSION_PURGE__*`): a background task deletes
/// sessions that expired or were revoked more than `retention_secs` ago, at most
/// `batch_size` per statement and batch after batch until one comes back short, then
/// waits `interval_ms`. Until their retention ends, ended sessions still answer refresh-
/// token reuse with a revocation and show up to administrators.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SessionPurgeSettings {
    /// Pause between purges, in milliseconds; 0 disables purging (default 5 minutes).
    pub interval_ms: u64,
    /// How long an ended session is kept, in seconds (default 7 days).
    pub retention_secs: u64,
    /// The most sessions one delete statement removes (default 1000).
    pub batch_size: u64,
}

impl Default for SessionPurgeSettings {
    fn default() -> Self {
        Self { interval_ms: 5 * 60 * 1000, retention_secs: 7 * 24 * 3600, batch_size: 1000 }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            database_url: None,
            data_dir: PathBuf::from("./data"),
            database_max_connections: 32,
            cache_ttl_ms: 1000,
            workers: None,
            bootstrap_admin_password: None,
            master_key: None,
            public_base_url: None,
            ssl_required: SslRequired::External,
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            log_format: "text".into(),
            hashing: HashingSettings::default(),
            session_purge: SessionPurgeSettings::default(),
            rate_limit: RateLimitSettings::default(),
            http: HttpSettings::default(),
            audit: AuditSettings::default(),
            shutdown: ShutdownSettings::default(),
            metrics: MetricsSettings::default(),
            tls: TlsSettings::default(),
        }
    }
}

/// Trusted proxies as a list or one comma-separated string, each an address or a CIDR
/// range, spaces allowed around the commas.
fn proxies<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<IpNet>, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(de)? {
        Raw::One(text) => text.split(',').map(str::to_owned).collect(),
        Raw::Many(items) => items,
    };
    items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| D::Error::custom(format!("'{item}' is not an IP address or CIDR range")))
        })
        .collect()
}

/// The `KEYPLANE_*` variables: `__` between a section and its key, and
/// `KEYPLANE_TRUSTED_PROXIES` as a comma-separated list.
fn environment() -> Environment {
    Environment::with_prefix("KEYPLANE")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .ignore_empty(true)
        .list_separator(",")
        .with_list_parse_key("trusted_proxies")
}

/// A secret, as `keyplane config print` shows it: whether it is set, never its value.
fn redact<S: Serializer>(secret: &Option<SecretString>, out: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => out.serialize_str("<redacted>"),
        None => out.serialize_none(),
    }
}

impl Settings {
    /// Loads the layered configuration.
    ///
    /// # Errors
    /// A message naming the file or variable that could not be read.
    pub fn load() -> Result<Self, config::ConfigError> {
        let file = std::env::var("KEYPLANE_CONFIG").ok();
        let mut builder = Config::builder();
        builder = match &file {
            Some(path) => builder.add_source(File::with_name(path).required(true)),
            None => builder.add_source(File::with_name("keyplane.toml").required(false)),
        };
        builder.add_source(environment()).build()?.try_deserialize()
    }

    /// The database URL in force: the configured one, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("keyplane.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_states_every_default() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../keyplane.example.toml");
        let from_file: Settings = Config::builder()
            .add_source(File::from(std::path::Path::new(path)))
            .build()
            .and_then(Config::try_deserialize)
            .expect("keyplane.example.toml parses");
        let as_json = |s: &Settings| serde_json::to_value(s).unwrap();
        assert_eq!(as_json(&from_file), as_json(&Settings::default()));
    }

    #[test]
    fn variables_set_lists_sections_and_scalars() {
        let vars = [
            ("KEYPLANE_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8,192.0.2.7"),
            ("KEYPLANE_HASHING__MAX_WAIT_MS", "250"),
            ("KEYPLANE_PORT", "9000"),
        ];
        let map = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let settings: Settings = Config::builder()
            .add_source(environment().source(Some(map)))
            .build()
            .and_then(Config::try_deserialize)
            .expect("the variables parse");
        assert_eq!(settings.trusted_proxies.len(), 3, "a comma-separated list, a bare address too");
        assert_eq!(settings.hashing.max_wait_ms, 250);
        assert_eq!(settings.port, 9000);
    }

    #[test]
    fn secrets_are_redacted_in_print() {
        let settings = Settings {
            master_key: Some("c2VjcmV0LWtleQ==".to_owned().into()),
            database_url: Some("postgres://u:hunter2@db/k".to_owned().into()),
            ..Settings::default()
        };
        let printed = serde_json::to_string(&settings).unwrap();
        assert!(!printed.contains("c2VjcmV0LWtleQ") && !printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("\"master_key\":\"<redacted>\""), "{printed}");
    }
}
