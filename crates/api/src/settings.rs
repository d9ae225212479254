//! Configuration: defaults, then an optional TOML file (`KEYPLANE_CONFIG`, else
//! `./keyplane.toml` when present), then `KEYPLANE_*` environment variables (nested keys
//! joined with `__`, e.g. `KEYPLANE_HASHING__MEMORY_KIB`).

use crate::hashing::HashingSettings;
use crate::transport::SslRequired;
use config::{Config, Environment, File};
use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;
use std::path::PathBuf;

/// Everything Keyplane reads at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// `postgres://…` or `sqlite://…`; unset means a SQLite file in `data_dir`.
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
    pub bootstrap_admin_password: Option<SecretString>,
    /// The operator's master key (base64 of 32 random bytes) that seals signing keys at
    /// rest. Unset: a key file `master.key` in `data_dir`, generated on first start (every
    /// replica must then share that file; set this instead in production).
    pub master_key: Option<SecretString>,
    /// The URL clients reach Keyplane at (issuers are `<base>/t/<slug>`); unset means
    /// `http://<host>:<port>`.
    pub public_base_url: Option<String>,
    /// `none`, `external` (plain HTTP only from loopback and private addresses) or `all`.
    pub ssl_required: SslRequired,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-Proto` and
    /// `X-Forwarded-For` are believed; comma-separated in `KEYPLANE_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Password hashing.
    pub hashing: HashingSettings,
    /// Purging of ended sessions.
    pub session_purge: SessionPurgeSettings,
    /// The audit trail: retention and the sign-in event writer.
    pub audit: AuditSettings,
}

/// The audit trail (`KEYPLANE_AUDIT__*`). Events older than `retention_days` are deleted by
/// a background task every `purge_interval_ms`, at most `purge_batch_size` per statement.
/// Sign-in events are queued (at most `queue_capacity`; beyond that the request writes
/// its event itself) and stored `write_batch_size` at a time; the queue is flushed on a
/// graceful shutdown.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
            audit: AuditSettings::default(),
        }
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
        builder
            .add_source(
                Environment::with_prefix("KEYPLANE")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .ignore_empty(true),
            )
            .build()?
            .try_deserialize()
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
