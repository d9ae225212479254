//! The token engine: one use case per flow, each one call that every entry point (native
//! API, Sensu, Tenovos, InvestSuite, OAuth 2.0, the admin API's credentials) makes:
//!
//! - [`sign_in`]: check a credential (password or API key, tenant or platform) and open a
//!   session ([`TokenService::sign_in`], or [`TokenService::check`] without a session);
//! - [`rotation`]: renew tokens ([`TokenService::renew`]);
//! - [`verification`]: authenticate a bearer, introspect, sign out, revoke.
//!
//! The engine decides what kind of token it was given, after verifying it.

mod issue;
pub mod rotation;
pub mod sign_in;
pub mod verification;

#[cfg(test)]
mod tests;

use crate::api_key::ApiKeyRepository;
use crate::authc::ClusterRegistry;
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::SessionId;
use crate::password::PasswordHasher;
use crate::platform::PlatformUserRepository;
use crate::policy::{SigningAlgorithm, TokenPolicy, DEFAULT_REUSE_GRACE_SECS};
use crate::principal::{Principal, Subject};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::signing::{SigningError, SigningKeys};
use crate::session::{Session, SessionRepository, SessionSubject};
use crate::tenant::{Tenant, TenantRepository};
use crate::token::{Claims, CryptoError};
use crate::user::UserRepository;
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

pub use crate::origin::EntryPoint;
pub use rotation::{Renewal, Renewed};
pub use sign_in::{Credentials, Realm, SignInRequest, Verified};
pub use verification::SignOut;

/// Lifetime of platform operators' access tokens and sessions.
const PLATFORM_POLICY: TokenPolicy = TokenPolicy {
    access_token_ttl: Duration::minutes(15),
    session_ttl: Duration::hours(12),
    refresh_reuse_grace: Duration::seconds(DEFAULT_REUSE_GRACE_SECS),
    signing_algorithm: SigningAlgorithm::EdDsa,
};

/// Tokens handed out by a sign-in or a renewal.
#[derive(Clone)]
pub struct Issued {
    /// The access token.
    pub access_token: String,
    /// When it expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token, for sessions that have one.
    pub refresh_token: Option<String>,
    /// The session.
    pub session: Session,
    /// The access token's claims.
    pub claims: Claims,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"<redacted>")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("session", &self.session.id)
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// The access token's lifetime in whole seconds, as issued.
    pub fn expires_in(&self) -> i64 {
        (self.claims.exp - self.claims.iat).max(0)
    }
}

/// Why a sign-in (or a credential check) failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, disabled user, unknown or revoked key: one answer
    /// for all.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The tenant has no authentication cluster.
    #[error("the tenant has no authentication cluster")]
    NoCluster,
    /// The cluster could not answer (detail logged only).
    #[error("authentication cluster failure: {0}")]
    ClusterFailure(String),
    /// The tenant is suspended.
    #[error("the tenant is suspended")]
    TenantSuspended,
    /// Password checks are saturated.
    #[error("too many sign-ins in progress")]
    Busy {
        /// Seconds after which a retry is likely to succeed.
        retry_after_secs: u64,
    },
    /// Key management failed.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, badly signed, of the wrong kind or tenant, expired, or its session or
    /// subject is no longer valid. The reason is for logs only.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// A rotated refresh token was used again: the session has been revoked.
    #[error("refresh token reuse detected; the session was revoked")]
    ReuseDetected,
    /// Key management failed.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<CryptoError> for TokenError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidToken => Self::Invalid("signature"),
            other => Self::Signing(SigningError::Crypto(other)),
        }
    }
}

/// A verified access token and its live session.
#[derive(Debug, Clone)]
pub struct AccessContext {
    /// The verified claims.
    pub claims: Claims,
    /// The session, active at verification time.
    pub session: Session,
    /// The subject's current roles.
    pub roles: Roles,
    /// The user owning the API key the session was opened with, for users' own keys.
    pub key_owner: Option<crate::ids::UserId>,
}

impl AccessContext {
    /// The caller this token authenticates.
    pub fn principal(&self) -> Principal {
        let subject = match self.session.subject {
            SessionSubject::User(u) => Subject::User(u),
            SessionSubject::PlatformUser(u) => Subject::PlatformUser(u),
            SessionSubject::ApiKey(k) => Subject::ApiKey { key: k, owner: self.key_owner },
        };
        Principal {
            subject,
            tenant: self.session.scope.tenant(),
            roles: self.roles.clone(),
            session: Some(self.session.id),
        }
    }
}

/// The ports the token engine needs.
pub struct TokenPorts {
    /// Tenants (policy, status, slug).
    pub tenants: Arc<dyn TenantRepository>,
    /// Tenant users.
    pub users: Arc<dyn UserRepository>,
    /// Platform operators.
    pub platform_users: Arc<dyn PlatformUserRepository>,
    /// Platform operators' API keys.
    pub platform_keys: Arc<dyn crate::platform::PlatformKeyRepository>,
    /// API keys.
    pub keys: Arc<dyn ApiKeyRepository>,
    /// Sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Signing keys.
    pub signing: Arc<SigningKeys>,
    /// Authentication clusters by kind.
    pub clusters: ClusterRegistry,
    /// Password hashing (platform operators).
    pub hasher: Arc<dyn PasswordHasher>,
    /// Brute-force policies and failure counters.
    pub lockout: Arc<dyn crate::lockout::LockoutRepository>,
    /// The audit trail (sign-in events; may buffer off the request path).
    pub audit: Arc<dyn crate::audit::AuditLog>,
    /// Time.
    pub clock: SharedClock,
}

/// The token engine.
#[derive(Clone)]
pub struct TokenService {
    ports: Arc<TokenPorts>,
    base_url: Arc<str>,
}

impl TokenService {
    /// Builds the engine; issuers are `<base_url>/t/<slug>` and `<base_url>/platform`.
    pub fn new(ports: TokenPorts, base_url: &str) -> Self {
        Self { ports: Arc::new(ports), base_url: base_url.trim_end_matches('/').into() }
    }

    /// The issuer of `tenant`'s tokens; also the `aud` of its access tokens.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        format!("{}/t/{}", self.base_url, tenant.slug)
    }

    /// The issuer of a scope's tokens.
    fn issuer_of(&self, tenant: Option<&Tenant>) -> String {
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
    pub async fn sessions(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        page: crate::page::PageRequest,
    ) -> Result<crate::page::Page<Session>, StorageError> {
        self.ports.sessions.list_active(scope, subject, self.ports.clock.now(), page).await
    }

    /// Finds a session of a scope.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn session(&self, scope: Scope, sid: SessionId) -> Result<Option<Session>, StorageError> {
        self.ports.sessions.find(scope, sid).await
    }
}

/// The audience of refresh tokens: the token endpoint that alone accepts them, never a
/// resource server's audience.
pub fn refresh_audience(issuer: &str) -> String {
    format!("{issuer}/oauth2/token")
}
