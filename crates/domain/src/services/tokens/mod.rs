//! The token engine as one facade: every entry point (native API, Sensu, Tenovos,
//! InvestSuite, OAuth 2.0, the admin API's credentials) makes the same calls, and
//! [`TokenService`] sends each to the aggregate that owns it:
//!
//! - checking a credential: [`crate::services::credentials`];
//! - opening, renewing and ending sessions: [`crate::services::sessions`];
//! - authenticating a bearer, introspecting: [`verification`];
//! - lockout administration: [`crate::services::lockout`].

pub mod verification;

#[cfg(test)]
mod tests;

use crate::api_key::ApiKeyRepository;
use crate::audit::AuditLog;
use crate::audit::Initiator;
use crate::clock::SharedClock;
use crate::clusters::ClusterRegistry;
use crate::error::StorageError;
use crate::ids::SessionId;
use crate::lockout::{BruteForcePolicy, LockoutRepository, LockoutStatus};
use crate::origin::RequestContext;
use crate::page::{Page, PageRequest};
use crate::password::PasswordHasher;
use crate::platform::{PlatformKeyRepository, PlatformUserRepository};
use crate::scope::Scope;
use crate::services::credentials::{CredentialChecker, CredentialPorts};
use crate::services::lockout::LockoutAdmin;
use crate::services::sessions::{SessionPorts, SessionService};
use crate::services::signing::SigningKeys;
use crate::session::{Session, SessionRepository, SessionSubject};
use crate::tenant::{Tenant, TenantRepository};
use crate::token::Claims;
use crate::user::UserRepository;
use std::sync::Arc;

// The engine's vocabulary, where the entry points have always found it; each type lives
// with the aggregate that owns it.
pub use crate::services::credentials::{Credentials, Realm, SignInError, Verified};
pub use crate::services::sessions::{refresh_audience, Issued, Renewal, Renewed, SignOut, TokenError};
pub use verification::{AccessContext, Verifier};

/// A sign-in: a credential, where it is checked, and how it came in.
#[derive(Debug)]
pub struct SignInRequest<'a> {
    /// Where the credential is checked.
    pub realm: Realm<'a>,
    /// The credential.
    pub credentials: Credentials,
    /// Where the request came from (entry point, client address, …), for the audit log.
    pub origin: &'a RequestContext,
    /// Whether the session gets a refresh token.
    pub with_refresh: bool,
}

/// The ports the token engine needs; [`TokenService::new`] hands each aggregate its own.
pub struct TokenPorts {
    /// Tenants (policy, status, slug).
    pub tenants: Arc<dyn TenantRepository>,
    /// Tenant users.
    pub users: Arc<dyn UserRepository>,
    /// Platform operators.
    pub platform_users: Arc<dyn PlatformUserRepository>,
    /// Platform operators' API keys.
    pub platform_keys: Arc<dyn PlatformKeyRepository>,
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
    pub lockout: Arc<dyn LockoutRepository>,
    /// The audit trail (sign-in events; may buffer off the request path).
    pub audit: Arc<dyn AuditLog>,
    /// Time.
    pub clock: SharedClock,
}

/// The token engine: credential checks, sessions, verification and lockout
/// administration behind one handle.
#[derive(Clone)]
pub struct TokenService {
    credentials: CredentialChecker,
    sessions: SessionService,
    verifier: Verifier,
    lockout: LockoutAdmin,
}

impl TokenService {
    /// Builds the engine; issuers are `<base_url>/t/<slug>` and `<base_url>/platform`.
    pub fn new(ports: TokenPorts, base_url: &str) -> Self {
        let credentials = CredentialChecker::new(CredentialPorts {
            tenants: ports.tenants.clone(),
            users: ports.users.clone(),
            platform_users: ports.platform_users,
            platform_keys: ports.platform_keys,
            keys: ports.keys,
            clusters: ports.clusters,
            hasher: ports.hasher,
            lockout: ports.lockout.clone(),
            audit: ports.audit.clone(),
            clock: ports.clock.clone(),
        });
        let sessions = SessionService::new(
            SessionPorts {
                sessions: ports.sessions,
                tenants: ports.tenants,
                users: ports.users,
                signing: ports.signing,
                credentials: credentials.clone(),
                audit: ports.audit,
                clock: ports.clock.clone(),
            },
            base_url,
        );
        let verifier = Verifier::new(sessions.clone());
        let lockout = LockoutAdmin::new(ports.lockout, ports.clock);
        Self { credentials, sessions, verifier, lockout }
    }

    /// The issuer of `tenant`'s tokens; also the `aud` of its access tokens.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        self.sessions.issuer(tenant)
    }

    /// The public base URL.
    pub fn base_url(&self) -> &str {
        self.sessions.base_url()
    }

    /// The signing key service.
    pub fn signing(&self) -> &Arc<SigningKeys> {
        self.sessions.signing()
    }

    /// Signs in: checks the credential and opens a session.
    ///
    /// # Errors
    /// See [`SignInError`]; every credential failure is `InvalidCredentials`.
    pub async fn sign_in(&self, request: SignInRequest<'_>) -> Result<Issued, SignInError> {
        let verified = self.credentials.check(request.realm, &request.credentials, request.origin).await?;
        self.sessions.open(verified, request.origin, request.with_refresh).await
    }

    /// Checks a credential without opening a session (credentials on an administrative
    /// request, Sensu's `/auth/test`).
    ///
    /// # Errors
    /// See [`SignInError`].
    pub async fn check(
        &self,
        realm: Realm<'_>,
        credentials: &Credentials,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        self.credentials.check(realm, credentials, origin).await
    }

    /// Renews tokens; see [`Renewal`].
    ///
    /// # Errors
    /// [`TokenError::Invalid`] (bad, expired, foreign or wrong-kind token, ended session,
    /// disabled subject), [`TokenError::ReuseDetected`], or backend failures.
    pub async fn renew(&self, request: Renewal<'_>) -> Result<Renewed, TokenError> {
        self.sessions.renew(request).await
    }

    /// Verifies an access token: signature, kind, expiry (unless `allow_expired`), an
    /// active session, an active tenant and a subject that is still enabled.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for any failure of those; backend failures.
    pub async fn authenticate(&self, token: &str, allow_expired: bool) -> Result<AccessContext, TokenError> {
        self.verifier.authenticate(token, allow_expired).await
    }

    /// Introspects any token of `tenant` (RFC 7662); see [`Verifier::introspect`].
    ///
    /// # Errors
    /// Only backend failures; every token problem is `Ok(None)`.
    pub async fn introspect(
        &self,
        tenant: &Tenant,
        token: &str,
    ) -> Result<Option<(Claims, Session, crate::services::credentials::Standing)>, TokenError> {
        self.verifier.introspect(tenant, token).await
    }

    /// Signs out: ends the session behind a correctly signed token; see [`SignOut`] and
    /// [`SessionService::sign_out`].
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for a token that is not one of the tenant's, or a companion
    /// of another session; backend failures.
    pub async fn sign_out(&self, request: SignOut<'_>) -> Result<bool, TokenError> {
        self.sessions.sign_out(request).await
    }

    /// Revokes the session behind any correctly signed token of `tenant` (RFC 7009);
    /// anything else is ignored, as the RFC asks. Returns whether a session was found.
    ///
    /// # Errors
    /// Only backend failures.
    pub async fn revoke(&self, tenant: &Tenant, token: &str, origin: &RequestContext) -> Result<bool, TokenError> {
        self.sessions.revoke(tenant, token, origin).await
    }

    /// Signs out of a session by its id (the native `_logout`); see
    /// [`SessionService::end_session`].
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn end_session(
        &self,
        scope: Scope,
        sid: SessionId,
        origin: &RequestContext,
    ) -> Result<bool, StorageError> {
        self.sessions.end_session(scope, sid, origin).await
    }

    /// Lists active sessions of a scope (one subject's only, when given).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn sessions(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        page: PageRequest,
    ) -> Result<Page<Session>, StorageError> {
        self.sessions.list(scope, subject, page).await
    }

    /// Finds a session of a scope.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn session(&self, scope: Scope, sid: SessionId) -> Result<Option<Session>, StorageError> {
        self.sessions.find(scope, sid).await
    }

    /// A user's lockout in `scope`, per name and per address (for administrators).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn lockout_state(&self, scope: Scope, user_name: &str) -> Result<LockoutStatus, StorageError> {
        self.lockout.lockout_state(scope, user_name).await
    }

    /// Unlocks a user of `scope` and forgets their failures; returns whether there was
    /// anything to forget.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn unlock(&self, scope: Scope, user_name: &str, by: &Initiator) -> Result<bool, StorageError> {
        self.lockout.unlock(scope, user_name, by).await
    }

    /// The scope's brute-force policy.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn brute_force_policy(&self, scope: Scope) -> Result<BruteForcePolicy, StorageError> {
        self.lockout.brute_force_policy(scope).await
    }

    /// Replaces the scope's brute-force policy.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn set_brute_force_policy(
        &self,
        scope: Scope,
        policy: &BruteForcePolicy,
        by: &Initiator,
    ) -> Result<(), StorageError> {
        self.lockout.set_brute_force_policy(scope, policy, by).await
    }
}
