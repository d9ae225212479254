//! The token engine: sign-in (through the tenant's authentication cluster, or as a
//! platform operator, or with an API key), sessions, refresh rotation with reuse
//! detection, verification, introspection, logout. Every dialect calls this.

use crate::api_key::{ApiKeyRepository, PresentedKey};
use crate::authc::{ClusterError, ClusterRegistry};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::SessionId;
use crate::password::{HashError, Password, PasswordHasher};
use crate::platform::PlatformUserRepository;
use crate::policy::{SigningAlgorithm, TokenPolicy};
use crate::principal::{Principal, Subject};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::signing::{SigningError, SigningKeys};
use crate::session::{Session, SessionRepository, SessionSubject};
use crate::tenant::{Tenant, TenantRef, TenantRepository, TenantStatus};
use crate::token::{Claims, CryptoError, ACCESS, REFRESH};
use crate::user::{User, UserRepository};
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Lifetime of platform operators' access tokens and sessions.
const PLATFORM_POLICY: TokenPolicy = TokenPolicy {
    access_token_ttl: Duration::minutes(15),
    session_ttl: Duration::hours(12),
    refresh_reuse_grace: Duration::zero(),
    signing_algorithm: SigningAlgorithm::EdDsa,
};

/// Tokens handed out by a sign-in or refresh.
#[derive(Debug, Clone)]
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

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, disabled user: one answer for all.
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
    /// Malformed, badly signed, of the wrong kind or scope, expired, or its session or
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
}

impl AccessContext {
    /// The caller this token authenticates.
    pub fn principal(&self) -> Principal {
        let subject = match self.session.subject {
            SessionSubject::User(u) => Subject::User(u),
            SessionSubject::PlatformUser(u) => Subject::PlatformUser(u),
            SessionSubject::ApiKey(k) => Subject::ApiKey { key: k, owner: None },
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
    /// Time.
    pub clock: SharedClock,
}

/// The token engine.
#[derive(Clone)]
pub struct TokenService {
    ports: Arc<TokenPorts>,
    base_url: Arc<str>,
}

struct SignedIn {
    kind: SessionSubject,
    name: String,
    roles: Roles,
}

impl TokenService {
    /// Builds the engine; issuers are `<base_url>/t/<slug>` and `<base_url>/platform`.
    pub fn new(ports: TokenPorts, base_url: &str) -> Self {
        Self { ports: Arc::new(ports), base_url: base_url.trim_end_matches('/').into() }
    }

    /// The issuer of `tenant`'s tokens.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        format!("{}/t/{}", self.base_url, tenant.slug)
    }

    /// The public base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The signing key service.
    pub fn signing(&self) -> &Arc<SigningKeys> {
        &self.ports.signing
    }

    /// Signs a tenant user in through the tenant's authentication cluster.
    ///
    /// # Errors
    /// See [`SignInError`].
    pub async fn sign_in_user(
        &self,
        tenant: &Tenant,
        user_name: &str,
        password: &Password,
    ) -> Result<Issued, SignInError> {
        let user = self.verify_user(tenant, user_name, password).await?;
        let now = self.ports.clock.now();
        self.ports.users.record_login(tenant.id, user.id, now).await?;
        let subject =
            SignedIn { kind: SessionSubject::User(user.id), name: user.user_name.to_string(), roles: user.roles };
        self.start_session(Scope::Tenant(tenant.id), Some(tenant), subject, true).await
    }

    /// Checks a tenant user's credentials through the cluster without opening a session
    /// (Sensu's `/auth/test`).
    ///
    /// # Errors
    /// See [`SignInError`].
    pub async fn check_user(&self, tenant: &Tenant, user_name: &str, password: &Password) -> Result<(), SignInError> {
        self.verify_user(tenant, user_name, password).await.map(|_| ())
    }

    async fn verify_user(&self, tenant: &Tenant, user_name: &str, password: &Password) -> Result<User, SignInError> {
        if tenant.status != TenantStatus::Active {
            return Err(SignInError::TenantSuspended);
        }
        let kind = tenant.cluster.ok_or(SignInError::NoCluster)?;
        let cluster = self.ports.clusters.get(kind).map_err(cluster_error)?;
        cluster
            .verify(tenant.id, user_name, password)
            .await
            .map_err(cluster_error)?
            .ok_or(SignInError::InvalidCredentials)
    }

    /// Signs a platform operator in.
    ///
    /// # Errors
    /// See [`SignInError`].
    pub async fn sign_in_platform(&self, user_name: &str, password: &Password) -> Result<Issued, SignInError> {
        let user = self.ports.platform_users.find_by_name(user_name).await?;
        let ok =
            self.ports.hasher.verify(password, user.as_ref().map(|u| &u.password_hash)).await.map_err(|e| match e {
                HashError::Busy { retry_after_secs } => SignInError::Busy { retry_after_secs },
                HashError::Failed(why) => SignInError::ClusterFailure(why),
            })?;
        let user = user.filter(|u| ok && u.enabled).ok_or(SignInError::InvalidCredentials)?;
        let subject = SignedIn { kind: SessionSubject::PlatformUser(user.id), name: user.user_name, roles: user.roles };
        self.start_session(Scope::Platform, None, subject, true).await
    }

    /// Signs an API key of `tenant` in (OAuth `client_credentials`, InvestSuite's access
    /// keys). `with_refresh` decides whether the session gets a refresh token.
    ///
    /// # Errors
    /// [`SignInError::InvalidCredentials`] for an unknown, wrong, revoked, expired or
    /// foreign key.
    pub async fn sign_in_key(
        &self,
        tenant: &Tenant,
        key: &PresentedKey,
        with_refresh: bool,
    ) -> Result<Issued, SignInError> {
        if tenant.status != TenantStatus::Active {
            return Err(SignInError::TenantSuspended);
        }
        let now = self.ports.clock.now();
        let stored = self.ports.keys.find(tenant.id, &key.public_id).await?;
        let stored =
            stored.filter(|k| key.matches(&k.digest) && k.is_usable(now)).ok_or(SignInError::InvalidCredentials)?;
        let subject = SignedIn {
            kind: SessionSubject::ApiKey(stored.id),
            name: stored.public_id.to_string(),
            roles: stored.roles,
        };
        self.start_session(Scope::Tenant(tenant.id), Some(tenant), subject, with_refresh).await
    }

    async fn start_session(
        &self,
        scope: Scope,
        tenant: Option<&Tenant>,
        subject: SignedIn,
        with_refresh: bool,
    ) -> Result<Issued, SignInError> {
        let now = self.ports.clock.now();
        let policy = tenant.map_or(PLATFORM_POLICY, |t| t.policy);
        let session = Session {
            id: SessionId::generate(),
            scope,
            subject: subject.kind,
            subject_name: subject.name.clone(),
            created_at: now,
            expires_at: now + policy.session_ttl,
            refresh_jti: with_refresh.then(|| Uuid::new_v4().to_string()),
            previous_refresh_jti: None,
            rotated_at: None,
            refresh_count: 0,
            revoked_at: None,
            revoked_reason: None,
        };
        self.ports.sessions.insert(&session).await?;
        Ok(self.issue(tenant, session, &subject.roles, true).await?)
    }

    /// Mints an access token (and, when `with_refresh` and the session has one, a refresh
    /// token carrying the session's current refresh `jti`).
    async fn issue(
        &self,
        tenant: Option<&Tenant>,
        session: Session,
        roles: &Roles,
        with_refresh: bool,
    ) -> Result<Issued, SigningError> {
        let now = self.ports.clock.now();
        let policy = tenant.map_or(PLATFORM_POLICY, |t| t.policy);
        let iss = tenant.map_or_else(|| format!("{}/platform", self.base_url), |t| self.issuer(t));
        let key = self.ports.signing.active(session.scope, policy.signing_algorithm).await?;
        // Whole seconds, as in the `exp` claim, so every dialect reports the same instant.
        let access_expires_at = (now + policy.access_token_ttl).min(session.expires_at).trunc_subsecs(0);
        let claims = Claims {
            iss: iss.clone(),
            sub: session.subject.id().to_string(),
            aud: iss,
            exp: access_expires_at.timestamp(),
            iat: now.timestamp(),
            jti: Uuid::new_v4().to_string(),
            tid: session.scope.tenant().map(|t| t.as_uuid()),
            sid: session.id.as_uuid(),
            user_name: session.subject_name.clone(),
            roles: roles.to_strings(),
            token_use: ACCESS.to_owned(),
        };
        let codec = self.ports.signing.codec();
        let access_token = codec.sign(&key, &claims)?;
        let refresh_token = match (&session.refresh_jti, with_refresh) {
            (Some(jti), true) => {
                let refresh = Claims {
                    exp: session.expires_at.timestamp(),
                    jti: jti.clone(),
                    token_use: REFRESH.to_owned(),
                    ..claims.clone()
                };
                Some(codec.sign(&key, &refresh)?)
            }
            _ => None,
        };
        Ok(Issued { access_token, access_expires_at, refresh_token, session, claims })
    }

    /// Verifies a token's signature and kind, and that its claims belong to the key's
    /// scope. With `allow_expired` an expired token is accepted (Sensu's refresh).
    async fn verify(&self, token: &str, token_use: &str, allow_expired: bool) -> Result<(Claims, Scope), TokenError> {
        let codec = self.ports.signing.codec();
        let kid = codec.kid_of(token).ok_or(TokenError::Invalid("no kid"))?;
        let key = self.ports.signing.by_kid(&kid).await?.ok_or(TokenError::Invalid("unknown kid"))?;
        let claims = codec.verify(&key, token)?;
        if claims.token_use != token_use {
            return Err(TokenError::Invalid("token_use"));
        }
        if claims.tid != key.scope.tenant().map(|t| t.as_uuid()) {
            return Err(TokenError::Invalid("tid does not match the signing key"));
        }
        if !allow_expired && claims.exp <= self.ports.clock.now().timestamp() {
            return Err(TokenError::Invalid("expired"));
        }
        Ok((claims, key.scope))
    }

    /// Loads the tenant of `scope` and checks that it is active.
    async fn active_tenant(&self, scope: Scope) -> Result<Option<Tenant>, TokenError> {
        match scope {
            Scope::Platform => Ok(None),
            Scope::Tenant(id) => match self.ports.tenants.find(&TenantRef::Id(id)).await? {
                Some(t) if t.status == TenantStatus::Active => Ok(Some(t)),
                _ => Err(TokenError::Invalid("tenant suspended or gone")),
            },
        }
    }

    /// The subject's current roles, or an error when it is gone, disabled or revoked.
    async fn live_roles(&self, session: &Session) -> Result<Roles, TokenError> {
        let now = self.ports.clock.now();
        let gone = TokenError::Invalid("subject disabled or gone");
        match (session.subject, session.scope) {
            (SessionSubject::User(id), Scope::Tenant(t)) => match self.ports.users.find_by_id(t, id).await? {
                Some(u) if u.enabled => Ok(u.roles),
                _ => Err(gone),
            },
            (SessionSubject::PlatformUser(id), Scope::Platform) => {
                match self.ports.platform_users.find_by_id(id).await? {
                    Some(u) if u.enabled => Ok(u.roles),
                    _ => Err(gone),
                }
            }
            (SessionSubject::ApiKey(id), Scope::Tenant(t)) => match self.ports.keys.find_by_id(t, id).await? {
                Some(k) if k.is_usable(now) => Ok(k.roles),
                _ => Err(gone),
            },
            _ => Err(gone),
        }
    }

    /// Verifies an access token: signature, kind, expiry (unless `allow_expired`), an
    /// active session, an active tenant and a subject that is still enabled.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for any failure of those.
    pub async fn authenticate(&self, token: &str, allow_expired: bool) -> Result<AccessContext, TokenError> {
        let (claims, scope) = self.verify(token, ACCESS, allow_expired).await?;
        let session = self.live_session(scope, claims.sid).await?;
        self.active_tenant(scope).await?;
        let roles = self.live_roles(&session).await?;
        Ok(AccessContext { claims, session, roles })
    }

    /// Whether `token` claims to be a refresh token (unverified: only to pick the check).
    pub fn looks_like_refresh(&self, token: &str) -> bool {
        self.ports.signing.codec().token_use_of(token).as_deref() == Some(REFRESH)
    }

    /// Verifies an access token's signature and kind only (expired tokens accepted): for
    /// flows that bind a refresh or a sign-out to the token's session.
    ///
    /// # Errors
    /// [`TokenError::Invalid`].
    pub async fn access_claims(&self, token: &str) -> Result<(Claims, Scope), TokenError> {
        self.verify(token, ACCESS, true).await
    }

    async fn live_session(&self, scope: Scope, sid: Uuid) -> Result<Session, TokenError> {
        let session = self
            .ports
            .sessions
            .find(scope, SessionId::from_uuid(sid))
            .await?
            .ok_or(TokenError::Invalid("no session"))?;
        if !session.is_active(self.ports.clock.now()) {
            return Err(TokenError::Invalid("session ended"));
        }
        Ok(session)
    }

    /// A new access token for the session of a valid access token (the native
    /// `_refresh`); no rotation.
    ///
    /// # Errors
    /// [`TokenError`].
    pub async fn extend(&self, context: &AccessContext) -> Result<Issued, TokenError> {
        let tenant = self.active_tenant(context.session.scope).await?;
        Ok(self.issue(tenant.as_ref(), context.session.clone(), &context.roles, false).await?)
    }

    /// Exchanges a refresh token for new tokens, rotating it. A rotated token presented
    /// again revokes the session (unless within the tenant's reuse grace, which re-issues
    /// the current refresh token). `expected` restricts the tenant the token must belong to.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] or [`TokenError::ReuseDetected`].
    pub async fn refresh(&self, refresh_token: &str, expected: Option<Scope>) -> Result<Issued, TokenError> {
        self.refresh_checked(refresh_token, expected, None).await
    }

    /// As [`TokenService::refresh`], and the refresh token must belong to session `sid`
    /// (Sensu presents the access token alongside).
    ///
    /// # Errors
    /// [`TokenError::Invalid`] or [`TokenError::ReuseDetected`].
    pub async fn refresh_in_session(&self, refresh_token: &str, scope: Scope, sid: Uuid) -> Result<Issued, TokenError> {
        self.refresh_checked(refresh_token, Some(scope), Some(sid)).await
    }

    async fn refresh_checked(
        &self,
        refresh_token: &str,
        expected: Option<Scope>,
        sid: Option<Uuid>,
    ) -> Result<Issued, TokenError> {
        let (claims, scope) = self.verify(refresh_token, REFRESH, false).await?;
        if expected.is_some_and(|e| e != scope) {
            return Err(TokenError::Invalid("refresh token of another tenant"));
        }
        if sid.is_some_and(|s| s != claims.sid) {
            return Err(TokenError::Invalid("refresh token of another session"));
        }
        let tenant = self.active_tenant(scope).await?;
        let now = self.ports.clock.now();
        let sid = SessionId::from_uuid(claims.sid);
        let new_jti = Uuid::new_v4().to_string();
        let session = match self.ports.sessions.rotate(scope, sid, &claims.jti, &new_jti, now).await? {
            Some(rotated) => rotated,
            None => self.not_current(scope, sid, &claims.jti, tenant.as_ref()).await?,
        };
        let roles = self.live_roles(&session).await?;
        Ok(self.issue(tenant.as_ref(), session, &roles, true).await?)
    }

    /// A refresh token that is not the session's current one: within the grace it was
    /// just rotated and may be retried; otherwise it is reuse, and the session ends.
    async fn not_current(
        &self,
        scope: Scope,
        sid: SessionId,
        jti: &str,
        tenant: Option<&Tenant>,
    ) -> Result<Session, TokenError> {
        let now = self.ports.clock.now();
        let session = self.ports.sessions.find(scope, sid).await?.ok_or(TokenError::Invalid("no session"))?;
        if !session.is_active(now) {
            return Err(TokenError::Invalid("session ended"));
        }
        let grace = tenant.map_or(PLATFORM_POLICY.refresh_reuse_grace, |t| t.policy.refresh_reuse_grace);
        let in_grace = session.previous_refresh_jti.as_deref() == Some(jti)
            && session.rotated_at.is_some_and(|at| now - at <= grace)
            && grace > Duration::zero();
        if in_grace {
            return Ok(session);
        }
        self.ports.sessions.revoke(scope, sid, "refresh_token_reuse", now).await?;
        Err(TokenError::ReuseDetected)
    }

    /// Ends a session.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn end_session(&self, scope: Scope, sid: SessionId, reason: &str) -> Result<bool, StorageError> {
        self.ports.sessions.revoke(scope, sid, reason, self.ports.clock.now()).await
    }

    /// Introspects any token of `tenant` (RFC 7662): `None` unless it is correctly signed
    /// by `tenant`, unexpired, and its session, tenant and subject are all still valid.
    ///
    /// # Errors
    /// Only backend failures; every token problem is `Ok(None)`.
    pub async fn introspect(&self, tenant: &Tenant, token: &str) -> Result<Option<(Claims, Session)>, TokenError> {
        for token_use in [ACCESS, REFRESH] {
            let (claims, scope) = match self.verify(token, token_use, false).await {
                Ok(v) => v,
                Err(TokenError::Invalid(_)) => continue,
                Err(e) => return Err(e),
            };
            if scope != Scope::Tenant(tenant.id) {
                return Ok(None);
            }
            let Ok(session) = self.live_session(scope, claims.sid).await else { return Ok(None) };
            if token_use == REFRESH && session.refresh_jti.as_deref() != Some(claims.jti.as_str()) {
                return Ok(None);
            }
            if self.active_tenant(scope).await.is_err() || self.live_roles(&session).await.is_err() {
                return Ok(None);
            }
            return Ok(Some((claims, session)));
        }
        Ok(None)
    }

    /// Revokes the session behind any correctly signed token of `tenant` (RFC 7009);
    /// anything else is ignored, as the RFC asks. Returns whether a session was found.
    ///
    /// # Errors
    /// Only backend failures.
    pub async fn revoke_token(&self, tenant: &Tenant, token: &str) -> Result<bool, TokenError> {
        for token_use in [ACCESS, REFRESH] {
            match self.verify(token, token_use, true).await {
                Ok((claims, scope)) if scope == Scope::Tenant(tenant.id) => {
                    self.end_session(scope, SessionId::from_uuid(claims.sid), "revoked").await?;
                    return Ok(true);
                }
                Ok(_) | Err(TokenError::Invalid(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
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

    /// Ends every session of a subject (a deleted or disabled user, a revoked key).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn end_subject_sessions(
        &self,
        scope: Scope,
        subject: SessionSubject,
        reason: &str,
    ) -> Result<u64, StorageError> {
        self.ports.sessions.revoke_subject(scope, subject, reason, self.ports.clock.now()).await
    }
}

fn cluster_error(e: ClusterError) -> SignInError {
    match e {
        ClusterError::Backend(why) => SignInError::ClusterFailure(why),
        ClusterError::Busy { retry_after_secs } => SignInError::Busy { retry_after_secs },
    }
}

/// Unix seconds to a timestamp (for responses that carry `exp`).
pub fn from_unix(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}
