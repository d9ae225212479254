//! The session service: its ports, the issuers it signs as, and reading sessions back.

use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::SessionId;
use crate::page::{Page, PageRequest};
use crate::scope::Scope;
use crate::services::credentials::CredentialChecker;
use crate::services::signing::SigningKeys;
use crate::session::{Session, SessionRepository, SessionSubject};
use crate::tenant::{Tenant, TenantRepository};
use crate::user::UserRepository;
use std::sync::Arc;

/// The ports sessions need.
pub struct SessionPorts {
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Tenants (policy, status, slug).
    pub tenants: Arc<dyn TenantRepository>,
    /// Tenant users (their last sign-in).
    pub users: Arc<dyn UserRepository>,
    /// Signing keys.
    pub signing: Arc<SigningKeys>,
    /// Whether a session's subject may still act, and with which roles.
    pub credentials: CredentialChecker,
    /// The audit trail (sign-ins, reuse; may buffer off the request path).
    pub audit: Arc<dyn AuditLog>,
    /// Time.
    pub clock: SharedClock,
}

/// Opens, renews, ends and verifies sessions; see the module documentation.
#[derive(Clone)]
pub struct SessionService {
    pub(super) ports: Arc<SessionPorts>,
    base_url: Arc<str>,
}

impl SessionService {
    /// Builds the service; issuers are `<base_url>/t/<slug>` and `<base_url>/platform`.
    pub fn new(ports: SessionPorts, base_url: &str) -> Self {
        Self { ports: Arc::new(ports), base_url: base_url.trim_end_matches('/').into() }
    }

    /// The issuer of `tenant`'s tokens; also the `aud` of its access tokens.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        format!("{}/t/{}", self.base_url, tenant.slug)
    }

    /// The issuer of a scope's tokens.
    pub(super) fn issuer_of(&self, tenant: Option<&Tenant>) -> String {
        tenant.map_or_else(|| format!("{}/platform", self.base_url), |t| self.issuer(t))
    }

    /// The public base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The signing key service.
    pub fn signing(&self) -> &Arc<SigningKeys> {
        &self.ports.signing
    }

    /// Lists active sessions of a scope (one subject's only, when given).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        page: PageRequest,
    ) -> Result<Page<Session>, StorageError> {
        self.ports.sessions.list_active(scope, subject, self.ports.clock.now(), page).await
    }

    /// Finds a session of a scope.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn find(&self, scope: Scope, sid: SessionId) -> Result<Option<Session>, StorageError> {
        self.ports.sessions.find(scope, sid).await
    }
}
