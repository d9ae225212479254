//! Wiring: the repositories (behind read-through caches), the outbound adapters
//! (hashing pool, buffered audit log, token codec under the master key) and the domain
//! services over one open database, as the server and the admin commands use them; and
//! the bootstrap platform admin.

use anyhow::Context;
use keyplane_adapters::{Argon2Hasher, AuditWriter, BufferedAuditLog, JwtCodec, MasterKey};
use keyplane_domain::api_key::ApiKeyRepository;
use keyplane_domain::audit::AuditLog;
use keyplane_domain::clock::SharedClock;
use keyplane_domain::clusters::{ClusterRegistry, NativeCluster};
use keyplane_domain::lockout::LockoutRepository;
use keyplane_domain::password::PasswordHasher;
use keyplane_domain::platform::{PlatformKeyRepository, PlatformUserRepository, BOOTSTRAP_ADMIN};
use keyplane_domain::policy::ClusterKind;
use keyplane_domain::services::api_keys::ApiKeyService;
use keyplane_domain::services::audit::AuditService;
use keyplane_domain::services::bootstrap::{ensure_platform_admin, BootstrapOutcome};
use keyplane_domain::services::operators::OperatorService;
use keyplane_domain::services::sessions::SessionAdmin;
use keyplane_domain::services::signing::{SigningError, SigningKeys};
use keyplane_domain::services::tenants::TenantService;
use keyplane_domain::services::tokens::{TokenPorts, TokenService};
use keyplane_domain::services::users::UserService;
use keyplane_domain::session::SessionRepository;
use keyplane_domain::tenant::TenantRepository;
use keyplane_domain::user::UserRepository;
use keyplane_persistence::cache::{
    CachedApiKeys, CachedLockout, CachedPlatformUsers, CachedSessions, CachedTenants, CachedUsers,
};
use keyplane_persistence::{
    SqlApiKeys, SqlAuditLog, SqlLockout, SqlPlatformKeys, SqlPlatformUsers, SqlSessions, SqlSigningKeys, SqlTenants,
    SqlUsers,
};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

use crate::settings::Settings;
use crate::state::AppState;

/// The services over an open database, as the server and the admin commands use them.
pub(crate) struct Core {
    /// The domain services, as handlers reach them.
    pub state: AppState,
    /// The hashing pool itself (its queue is a metric).
    pub argon: Arc<Argon2Hasher>,
    /// The hashing pool as the domain's port.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Platform operators (bootstrap).
    pub platform_users: Arc<dyn PlatformUserRepository>,
    /// Sessions (purge).
    pub sessions: Arc<dyn SessionRepository>,
    /// Operators' API keys (the command line's reset revokes them).
    pub platform_keys: Arc<dyn PlatformKeyRepository>,
    /// Failure records (purge).
    pub lockout: Arc<dyn LockoutRepository>,
    /// The audit store, unbuffered (purge).
    pub audit_store: Arc<dyn AuditLog>,
    /// The task that stores buffered audit events; spawn it to serve.
    pub audit_writer: AuditWriter,
}

/// Assembles the services over `db`: repositories (cached per `settings`), the hashing
/// pool, the audit log (sign-in events buffered), signing keys under the master key
/// (checked to open the stored ones), and the domain services.
pub(crate) async fn core(
    settings: &Settings,
    db: keyplane_persistence::Database,
    clock: SharedClock,
    base_url: &str,
    create_master_key: bool,
) -> anyhow::Result<Core> {
    let hasher = Argon2Hasher::new(&settings.hashing).map_err(anyhow::Error::msg)?;
    tracing::info!(
        hash_ms = hasher.hash_time().as_secs_f64() * 1000.0,
        threads = hasher.threads(),
        queue = hasher.queue(),
        "password hashing pool ready"
    );
    let argon = Arc::new(hasher);
    let hasher: Arc<dyn PasswordHasher> = argon.clone();
    let repos = Repositories::new(&db, Duration::from_millis(settings.cache_ttl_ms));
    let (tenants, users, keys, platform_users, sessions) =
        (repos.tenants, repos.users, repos.keys, repos.platform_users, repos.sessions);
    let platform_keys: Arc<dyn PlatformKeyRepository> = Arc::new(SqlPlatformKeys::new(db.clone()));

    // Sign-in events go through the buffered log (`audit_sink`), off the request path;
    // administrative changes write their events in their own transactions instead.
    let audit_store: Arc<dyn AuditLog> = Arc::new(SqlAuditLog::new(db.clone()));
    let (buffered, audit_writer) =
        BufferedAuditLog::new(audit_store.clone(), settings.audit.queue_capacity, settings.audit.write_batch_size);
    let audit_sink: Arc<dyn AuditLog> = Arc::new(buffered);

    let codec = Arc::new(JwtCodec::new(&master_key(settings, create_master_key)?));
    let signing = Arc::new(SigningKeys::new(Arc::new(SqlSigningKeys::new(db.clone())), codec, clock.clone()));
    signing.check_master_key().await.map_err(|e| match e {
        SigningError::Crypto(_) => anyhow::anyhow!(
            "the master key does not open the signing keys stored in this database: set KEYPLANE_MASTER_KEY \
             (or {}) to the key the database was first used with",
            settings.data_dir.join("master.key").display()
        ),
        SigningError::Storage(e) => anyhow::Error::new(e).context("reading the signing keys"),
    })?;
    let clusters = ClusterRegistry::default()
        .with(ClusterKind::Native, Arc::new(NativeCluster::new(users.clone(), hasher.clone())));
    let tokens = TokenService::new(
        TokenPorts {
            tenants: tenants.clone(),
            users: users.clone(),
            platform_users: platform_users.clone(),
            platform_keys: platform_keys.clone(),
            keys: keys.clone(),
            sessions: sessions.clone(),
            signing: signing.clone(),
            clusters,
            hasher: hasher.clone(),
            lockout: repos.lockout.clone(),
            audit: audit_sink.clone(),
            clock: clock.clone(),
        },
        base_url,
    );
    let state = AppState {
        tenants: TenantService::new(tenants.clone(), signing, clock.clone()),
        users: UserService::new(users.clone(), keys.clone(), sessions.clone(), hasher.clone(), clock.clone()),
        keys: ApiKeyService::new(keys.clone(), sessions.clone(), clock.clone()),
        operators: OperatorService::new(
            platform_users.clone(),
            platform_keys.clone(),
            sessions.clone(),
            hasher.clone(),
            clock.clone(),
        ),
        tokens,
        audit: AuditService::new(audit_sink),
        sessions: SessionAdmin::new(sessions.clone(), clock.clone()),
        db: db.clone(),
    };
    Ok(Core {
        state,
        argon,
        hasher,
        platform_users,
        sessions,
        platform_keys,
        lockout: repos.lockout,
        audit_store,
        audit_writer,
    })
}

/// The repositories, behind read-through caches unless the TTL is zero.
struct Repositories {
    tenants: Arc<dyn TenantRepository>,
    users: Arc<dyn UserRepository>,
    keys: Arc<dyn ApiKeyRepository>,
    platform_users: Arc<dyn PlatformUserRepository>,
    sessions: Arc<dyn SessionRepository>,
    lockout: Arc<dyn LockoutRepository>,
}

impl Repositories {
    fn new(db: &keyplane_persistence::Database, ttl: Duration) -> Self {
        let tenants: Arc<dyn TenantRepository> = Arc::new(SqlTenants::new(db.clone()));
        let users: Arc<dyn UserRepository> = Arc::new(SqlUsers::new(db.clone()));
        let keys: Arc<dyn ApiKeyRepository> = Arc::new(SqlApiKeys::new(db.clone()));
        let platform_users: Arc<dyn PlatformUserRepository> = Arc::new(SqlPlatformUsers::new(db.clone()));
        let sessions: Arc<dyn SessionRepository> = Arc::new(SqlSessions::new(db.clone()));
        let lockout: Arc<dyn LockoutRepository> = Arc::new(SqlLockout::new(db.clone()));
        if ttl.is_zero() {
            return Self { tenants, users, keys, platform_users, sessions, lockout };
        }
        Self {
            tenants: Arc::new(CachedTenants::new(tenants, ttl)),
            users: Arc::new(CachedUsers::new(users, ttl)),
            keys: Arc::new(CachedApiKeys::new(keys, ttl)),
            platform_users: Arc::new(CachedPlatformUsers::new(platform_users, ttl)),
            sessions: Arc::new(CachedSessions::new(sessions, ttl)),
            lockout: Arc::new(CachedLockout::new(lockout, ttl)),
        }
    }
}

/// Creates the bootstrap platform admin on first start; a generated password is printed
/// once to stderr.
pub(crate) async fn bootstrap(
    settings: &Settings,
    platform_users: &Arc<dyn PlatformUserRepository>,
    hasher: &Arc<dyn PasswordHasher>,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let configured = settings.bootstrap_admin_password.as_ref().map(|p| p.expose_secret().to_owned());
    match ensure_platform_admin(platform_users, hasher, clock, configured)
        .await
        .context("bootstrapping the platform admin")?
    {
        BootstrapOutcome::AlreadyDone => {}
        BootstrapOutcome::CreatedWithConfiguredPassword => {
            tracing::info!(user = BOOTSTRAP_ADMIN, "created the bootstrap platform admin")
        }
        BootstrapOutcome::CreatedWithGeneratedPassword(password) => {
            tracing::info!(user = BOOTSTRAP_ADMIN, "created the bootstrap platform admin with a generated password");
            // Straight to standard error, never through the log pipeline (which may ship
            // it elsewhere); in JSON mode as one JSON line, so that a collector can read it.
            if settings.log_format == "json" {
                let line = serde_json::json!({
                    "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "level": "WARN",
                    "fields": {
                        "message": format!(
                            "Keyplane bootstrap: platform admin '{BOOTSTRAP_ADMIN}' created with password: {}",
                            password.expose()
                        ),
                        "note": "It is shown only this once."
                    },
                    "target": "keyplane::bootstrap"
                });
                eprintln!("{line}");
            } else {
                eprintln!(
                    "\nKeyplane bootstrap: platform admin '{BOOTSTRAP_ADMIN}' created with password: {}\nIt is shown only this once.\n",
                    password.expose()
                );
            }
        }
    }
    Ok(())
}

/// The configured master key, or the key file in the data directory (created on first
/// start, with a warning, when `create`).
fn master_key(settings: &Settings, create: bool) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.master_key {
        return MasterKey::from_base64(key.expose_secret()).map_err(anyhow::Error::msg);
    }
    let path = settings.data_dir.join("master.key");
    anyhow::ensure!(
        create || path.exists(),
        "no master key: set KEYPLANE_MASTER_KEY to the server's, or KEYPLANE_DATA_DIR to the directory holding its \
         master.key ({} does not exist)",
        path.display()
    );
    let (key, created) = MasterKey::load_or_create(&path).map_err(anyhow::Error::msg)?;
    if created {
        tracing::warn!(path = %path.display(), "no master key configured: generated one; set KEYPLANE_MASTER_KEY in production and share it between replicas");
    } else {
        tracing::warn!(path = %path.display(), "no master key configured: using the key file; set KEYPLANE_MASTER_KEY in production");
    }
    Ok(key)
}
