//! The break-glass commands of the `keyplane` binary, for what cannot go through the API
//! (no operator can sign in, no tenant exists yet): they open the configured database
//! directly, with the same services and rules as the server, and record their changes
//! in the audit trail as done by the admin CLI. Each returns what to print; errors are
//! sentences for a person.

use crate::settings::Settings;
use crate::wiring::{core, Core};
use anyhow::Context;
use keyplane_domain::api_key::{KeyDescription, KeyOwner};
use keyplane_domain::audit::{Actor, ActorKind, Initiator};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::origin::RequestContext;
use keyplane_domain::page::PageRequest;
use keyplane_domain::role::Roles;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::api_keys::NewKey;
use keyplane_domain::services::bootstrap::{reset_operator_password, ResetPorts};
use keyplane_domain::services::tenants::CreateTenantError;
use keyplane_domain::tenant::{TenantName, TenantRef, TenantSlug};
use serde_json::json;
use std::sync::Arc;

/// Who the CLI's changes are recorded as.
fn initiator() -> Initiator {
    Initiator {
        actor: Actor { kind: ActorKind::Anonymous, id: None, name: Some("keyplane admin CLI".to_owned()) },
        request: RequestContext::new(EntryPoint::Admin)
            .with_user_agent(Some(&format!("keyplane-cli/{}", env!("CARGO_PKG_VERSION")))),
    }
}

/// The configured database (which must exist, be migrated and hold an operator), with
/// the server's services over it (no caches: a running server sees the changes within
/// its cache TTL).
pub struct AdminContext {
    state: crate::state::AppState,
    operators: Arc<dyn keyplane_domain::platform::PlatformUserRepository>,
    sessions: Arc<dyn keyplane_domain::session::SessionRepository>,
    platform_keys: Arc<dyn keyplane_domain::platform::PlatformKeyRepository>,
    lockout: Arc<dyn keyplane_domain::lockout::LockoutRepository>,
    hasher: Arc<dyn keyplane_domain::password::PasswordHasher>,
    audit: Arc<dyn keyplane_domain::audit::AuditLog>,
    writer: keyplane_adapters::AuditWriterHandle,
}

impl AdminContext {
    /// Opens the database `settings` name.
    ///
    /// # Errors
    /// The database cannot be opened or migrated; the master key does not open the
    /// stored signing keys.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        // Never a new database, master key or operator: a command run with the wrong
        // configuration must fail, not administer an empty installation of its own.
        let url = settings.effective_database_url();
        if settings.database_url.is_none() {
            let file = settings.data_dir.join("keyplane.db");
            anyhow::ensure!(
                file.exists(),
                "no Keyplane database at {}: set KEYPLANE_DATABASE_URL, or KEYPLANE_DATA_DIR to the server's data \
                 directory",
                file.display()
            );
        }
        let db = keyplane_persistence::connect(&url, 2).await.context("connecting to the database")?;
        let pending = keyplane_persistence::pending_migrations(&db).await.context("reading the schema version")?;
        anyhow::ensure!(
            pending == 0,
            "the database lacks {pending} migration(s): run `keyplane migrate` (or start the server) first"
        );
        let uncached = Settings { cache_ttl_ms: 0, ..settings.clone() };
        let base_url =
            settings.public_base_url.clone().unwrap_or_else(|| format!("http://{}:{}", settings.host, settings.port));
        let clock: keyplane_domain::clock::SharedClock = Arc::new(keyplane_domain::clock::SystemClock);
        let Core { state, platform_users, sessions, platform_keys, lockout, hasher, audit_store, audit_writer, .. } =
            core(&uncached, db, clock, &base_url, false).await?;
        anyhow::ensure!(
            platform_users.count().await? > 0,
            "the database holds no platform operator: start the server once to create `admin`"
        );
        eprintln!("keyplane: using {}", describe(&url));
        Ok(Self {
            state,
            operators: platform_users,
            sessions,
            platform_keys,
            lockout,
            hasher,
            audit: audit_store,
            writer: audit_writer.spawn(),
        })
    }

    /// Stores what is queued and closes the database.
    pub async fn close(self) {
        self.writer.shutdown().await;
        let _ = self.state.db.close().await;
    }

    /// `keyplane admin reset-password <name>`: a new password for an operator, ending
    /// their sessions, revoking their API keys and clearing their lockout.
    ///
    /// # Errors
    /// No such operator, a password under 8 characters, storage failures.
    pub async fn reset_password(&self, name: &str, password: Option<String>) -> anyhow::Result<String> {
        let clock: keyplane_domain::clock::SharedClock = Arc::new(keyplane_domain::clock::SystemClock);
        let ports = ResetPorts {
            operators: &self.operators,
            sessions: &self.sessions,
            platform_keys: &self.platform_keys,
            lockout: &self.lockout,
            hasher: &self.hasher,
            audit: &self.audit,
            clock: &clock,
        };
        let reset = reset_operator_password(ports, name, password, &initiator()).await?;
        let ended = format!("{} session(s) ended, {} API key(s) revoked.", reset.sessions_ended, reset.keys_revoked);
        Ok(match reset.generated {
            Some(password) => format!(
                "New password for platform operator '{}' (shown only this once): {}\n{ended}",
                reset.user.user_name,
                password.expose()
            ),
            None => format!("Password of platform operator '{}' set.\n{ended}", reset.user.user_name),
        })
    }

    /// `keyplane tenant list`: one JSON object per line.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_tenants(&self) -> anyhow::Result<String> {
        let mut lines = Vec::new();
        let mut from = 0;
        loop {
            let page = PageRequest::parse(Some(from), Some(100)).map_err(|e| anyhow::anyhow!("{e}"))?;
            let found = self.state.tenants.list(page).await?;
            for t in &found.items {
                lines.push(
                    json!({"id": t.id.to_string(), "slug": t.slug.as_str(), "name": t.name.as_str(),
                        "status": t.status.as_str(), "created_at": t.created_at})
                    .to_string(),
                );
            }
            from += 100;
            if found.items.is_empty() || from as u64 >= found.total {
                break;
            }
        }
        Ok(lines.join("\n"))
    }

    /// `keyplane tenant create --slug <slug> --name <name>`.
    ///
    /// # Errors
    /// An invalid slug or name, a slug in use, storage failures.
    pub async fn create_tenant(&self, slug: &str, name: &str) -> anyhow::Result<String> {
        let slug = TenantSlug::parse(slug).map_err(|e| anyhow::anyhow!("{e}"))?;
        let name = TenantName::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
        let tenant = match self.state.tenants.create(slug.clone(), name, &initiator()).await {
            Ok(tenant) => tenant,
            Err(CreateTenantError::SlugTaken) => anyhow::bail!("a tenant with the slug '{slug}' already exists"),
            Err(e) => return Err(e.into()),
        };
        Ok(json!({"id": tenant.id.to_string(), "slug": tenant.slug.as_str(), "name": tenant.name.as_str()}).to_string())
    }

    /// `keyplane key create --tenant <slug>`: an application key, printed once.
    ///
    /// # Errors
    /// No such tenant, invalid roles or description, storage failures.
    pub async fn create_key(&self, tenant: &str, roles: &[String], description: &str) -> anyhow::Result<String> {
        let reference =
            TenantRef::parse(tenant).ok_or_else(|| anyhow::anyhow!("'{tenant}' is not a tenant slug or id"))?;
        let tenant =
            self.state.tenants.find(&reference).await?.ok_or_else(|| anyhow::anyhow!("no tenant '{tenant}' exists"))?;
        let new = NewKey {
            description: KeyDescription::parse(description).map_err(|e| anyhow::anyhow!("{e}"))?,
            owner: KeyOwner::Application,
            roles: Roles::parse_tenant("role", roles).map_err(|e| anyhow::anyhow!("{e}"))?,
            expires_at: None,
        };
        let created = self.state.keys.create(tenant.id, new, &initiator()).await?;
        Ok(json!({"id": created.key.public_id.as_str(), "tenant": tenant.slug.as_str(),
            "roles": roles, "key": created.full_text})
        .to_string())
    }

    /// `keyplane user unlock <name> [--tenant <slug>]`: forgets a name's failed sign-ins
    /// (a tenant user's, or a platform operator's without `--tenant`).
    ///
    /// # Errors
    /// No such tenant, storage failures.
    pub async fn unlock(&self, name: &str, tenant: Option<&str>) -> anyhow::Result<String> {
        let scope = match tenant {
            None => Scope::Platform,
            Some(raw) => {
                let reference =
                    TenantRef::parse(raw).ok_or_else(|| anyhow::anyhow!("'{raw}' is not a tenant slug or id"))?;
                let tenant = self
                    .state
                    .tenants
                    .find(&reference)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no tenant '{raw}' exists"))?;
                Scope::Tenant(tenant.id)
            }
        };
        let forgot = self.state.tokens.unlock(scope, name, &initiator()).await?;
        Ok(if forgot {
            format!("'{name}' unlocked: its failed sign-ins are forgotten.")
        } else {
            format!("'{name}' had no failed sign-ins on record.")
        })
    }
}

/// The database a URL names, without its credentials: `postgres://host/db`, or the
/// SQLite file.
fn describe(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "the configured database".to_owned() };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let rest = rest.split('?').next().unwrap_or(rest);
    format!("{scheme}://{rest}")
}

/// `keyplane config print`: the configuration in force as JSON, secrets redacted.
pub fn print_config(settings: &Settings) -> String {
    serde_json::to_string_pretty(settings).unwrap_or_default()
}
