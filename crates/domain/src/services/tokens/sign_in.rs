//! Sign-in: the one place a credential is checked, whichever entry point it came through.
//! A password goes to the tenant's authentication cluster (or the platform's operators);
//! an API key is matched in constant time and must be live, of the right tenant, and
//! owned by an enabled user when it is a user's key. Failures are counted here for the
//! brute-force lockout, whichever entry point they came through; audit belongs here too.

use super::issue::SessionOwner;
use super::{Issued, SignInError, TokenError, TokenService};
use crate::api_key::{ApiKey, KeyOwner, KeyRealm, PresentedKey};
use crate::audit::{action, Actor, ActorKind, AuditEvent, Initiator, Outcome};
use crate::authc::ClusterError;
use crate::error::StorageError;
use crate::ids::UserId;
use crate::lockout::{BruteForcePolicy, FailureState, LockoutSubject};
use crate::origin::RequestContext;
use crate::password::{HashError, Password};
use crate::principal::{Principal, Subject};
use crate::role::Roles;
use crate::scope::Scope;
use crate::session::{Session, SessionSubject};
use crate::tenant::{Tenant, TenantRef, TenantStatus};
use crate::user::UserName;
use chrono::Duration;

/// How often at most a key's `last_used_at` is written.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// A sign-in attempt being counted for lockout.
struct Attempt {
    scope: Scope,
    subject: LockoutSubject,
    name: String,
    policy: BruteForcePolicy,
    had_record: bool,
}

/// The audit actor of a session subject.
pub(super) fn actor_of(subject: SessionSubject, name: &str) -> Actor {
    let kind = match subject {
        SessionSubject::User(_) => ActorKind::User,
        SessionSubject::PlatformUser(_) => ActorKind::PlatformUser,
        SessionSubject::ApiKey(_) => ActorKind::ApiKey,
    };
    Actor { kind, id: Some(subject.id()), name: Some(name.to_owned()) }
}

/// What a caller presents.
pub enum Credentials {
    /// A user name and password.
    Password {
        /// The name as typed (compared without case).
        user_name: String,
        /// The password.
        password: Password,
    },
    /// An API key.
    ApiKey(PresentedKey),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { user_name, .. } => {
                f.debug_struct("Password").field("user_name", user_name).field("password", &"<redacted>").finish()
            }
            Self::ApiKey(key) => f.debug_tuple("ApiKey").field(key).finish(),
        }
    }
}

/// Against whom a credential is checked.
#[derive(Debug, Clone, Copy)]
pub enum Realm<'a> {
    /// The platform's operators.
    Platform,
    /// One tenant: its users through its cluster, or its API keys.
    Tenant(&'a Tenant),
    /// An API key's own realm, whichever it is: a tenant's key names its tenant, a
    /// platform key the platform (a password names neither, and fails).
    KeyTenant,
}

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

/// A checked credential: who it is, in which tenant, with which roles now.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who.
    pub subject: SessionSubject,
    /// The user name (or key id).
    pub name: String,
    /// Current roles (a user's key has its owner's).
    pub roles: Roles,
    /// The tenant; `None` for platform operators.
    pub tenant: Option<Tenant>,
    /// For a user's own API key, the user.
    pub key_owner: Option<UserId>,
}

impl Verified {
    /// The caller, for authorisation.
    pub fn principal(&self) -> Principal {
        let subject = match self.subject {
            SessionSubject::User(u) => Subject::User(u),
            SessionSubject::PlatformUser(u) => Subject::PlatformUser(u),
            SessionSubject::ApiKey(k) => Subject::ApiKey { key: k, owner: self.key_owner },
        };
        Principal { subject, tenant: self.tenant.as_ref().map(|t| t.id), roles: self.roles.clone(), session: None }
    }
}

impl TokenService {
    /// Signs in: checks the credential and opens a session.
    ///
    /// # Errors
    /// See [`SignInError`]; every credential failure is `InvalidCredentials`.
    pub async fn sign_in(&self, request: SignInRequest<'_>) -> Result<Issued, SignInError> {
        let verified = self.check(request.realm, &request.credentials, request.origin).await?;
        if let SessionSubject::User(user) = verified.subject {
            if let Some(tenant) = &verified.tenant {
                self.ports.users.record_login(tenant.id, user, self.ports.clock.now()).await?;
            }
        }
        let tenant_id = verified.tenant.as_ref().map(|t| t.id);
        let event = AuditEvent::new(
            self.ports.clock.now(),
            tenant_id,
            actor_of(verified.subject, &verified.name),
            action::USER_SIGN_IN_SUCCEEDED,
            Outcome::Success,
            request.origin,
        );
        let owner = SessionOwner { kind: verified.subject, name: verified.name, roles: verified.roles };
        let issued = self.start_session(verified.tenant.as_ref(), owner, request.with_refresh).await?;
        self.ports.audit.record(&event.with("session_id", issued.session.id.to_string())).await?;
        Ok(issued)
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
        let result = self.check_credentials(realm, credentials, origin).await;
        let credential = match credentials {
            Credentials::Password { .. } => "password",
            Credentials::ApiKey(_) => "api_key",
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(SignInError::InvalidCredentials) => "invalid_credentials",
            Err(SignInError::TenantSuspended) => "tenant_suspended",
            Err(SignInError::Busy { .. }) => "busy",
            Err(_) => "error",
        };
        metrics::counter!(
            "keyplane_sign_ins_total",
            "entry_point" => origin.entry_point.as_str(),
            "credential" => credential,
            "outcome" => outcome
        )
        .increment(1);
        result
    }

    async fn check_credentials(
        &self,
        realm: Realm<'_>,
        credentials: &Credentials,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        match (credentials, realm) {
            (Credentials::Password { user_name, password }, Realm::Platform) => {
                self.check_operator(user_name, password, origin).await
            }
            (Credentials::Password { user_name, password }, Realm::Tenant(tenant)) => {
                self.check_user(tenant, user_name, password, origin).await
            }
            (Credentials::Password { .. }, Realm::KeyTenant) => Err(SignInError::InvalidCredentials),
            (Credentials::ApiKey(key), realm) => match (key.realm, realm) {
                (KeyRealm::Tenant, Realm::Tenant(tenant)) => self.check_key(key, Some(tenant), origin).await,
                (KeyRealm::Tenant, Realm::KeyTenant) => self.check_key(key, None, origin).await,
                (KeyRealm::Platform, Realm::Platform | Realm::KeyTenant) => self.check_platform_key(key, origin).await,
                // A tenant's key names no operator, and a platform key no tenant.
                (KeyRealm::Tenant, Realm::Platform) | (KeyRealm::Platform, Realm::Tenant(_)) => {
                    Err(SignInError::InvalidCredentials)
                }
            },
        }
    }

    /// A platform key: known, matching (constant time), live, and its owner enabled. It
    /// grants the roles it was given that its owner still holds.
    async fn check_platform_key(
        &self,
        presented: &PresentedKey,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let now = self.ports.clock.now();
        let key = self.ports.platform_keys.find_for_authentication(&presented.public_id).await?;
        let key = key.ok_or(SignInError::InvalidCredentials)?;
        if !presented.matches(&key.digest) {
            let actor =
                Actor { kind: ActorKind::ApiKey, id: Some(key.id.as_uuid()), name: Some(key.public_id.to_string()) };
            let event = AuditEvent::new(now, None, actor, action::USER_SIGN_IN_FAILED, Outcome::Failure, origin)
                .with("reason", "wrong_key_secret");
            self.ports.audit.record(&event).await?;
            return Err(SignInError::InvalidCredentials);
        }
        if !key.is_usable(now) {
            return Err(SignInError::InvalidCredentials);
        }
        let owner = self.ports.platform_users.find_by_id(key.owner).await?;
        let owner = owner.filter(|o| o.enabled).ok_or(SignInError::InvalidCredentials)?;
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL) {
            self.ports.platform_keys.touch(&key, now).await?;
        }
        Ok(Verified {
            subject: SessionSubject::ApiKey(key.id),
            name: key.public_id.to_string(),
            roles: key.granted(&owner.roles),
            tenant: None,
            key_owner: None,
        })
    }

    async fn check_operator(
        &self,
        user_name: &str,
        password: &Password,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        if UserName::parse(user_name).is_err() {
            return Err(self.malformed_name(Scope::Platform, password, origin).await);
        }
        let attempt = self.begin_attempt(Scope::Platform, user_name, origin).await?;
        let user = self.ports.platform_users.find_by_name(user_name).await?;
        let ok = self
            .ports
            .hasher
            .verify(Scope::Platform, password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(hash)?;
        let Some(user) = user.filter(|u| ok && u.enabled) else {
            return Err(self.failed(attempt, origin, "wrong_credentials").await);
        };
        self.succeeded(attempt).await?;
        Ok(Verified {
            subject: SessionSubject::PlatformUser(user.id),
            name: user.user_name,
            roles: user.roles,
            tenant: None,
            key_owner: None,
        })
    }

    async fn check_user(
        &self,
        tenant: &Tenant,
        user_name: &str,
        password: &Password,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let kind = tenant.cluster.ok_or(SignInError::NoCluster)?;
        let cluster = self.ports.clusters.get(kind).map_err(cluster_error)?;
        if UserName::parse(user_name).is_err() {
            return Err(self.malformed_name(Scope::Tenant(tenant.id), password, origin).await);
        }
        let attempt = self.begin_attempt(Scope::Tenant(tenant.id), user_name, origin).await?;
        let user = cluster.verify(tenant.id, user_name, password).await.map_err(cluster_error)?;
        let Some(user) = user else { return Err(self.failed(attempt, origin, "wrong_credentials").await) };
        self.succeeded(attempt).await?;
        // Only a caller who knows a user's password learns that the tenant is suspended.
        if tenant.status != TenantStatus::Active {
            return Err(SignInError::TenantSuspended);
        }
        Ok(Verified {
            subject: SessionSubject::User(user.id),
            name: user.user_name.to_string(),
            roles: user.roles,
            tenant: Some(tenant.clone()),
            key_owner: None,
        })
    }

    /// An API key: known, matching (constant time), live, of `expected` when given, its
    /// tenant active, and its owner enabled when it is a user's key.
    async fn check_key(
        &self,
        presented: &PresentedKey,
        expected: Option<&Tenant>,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let now = self.ports.clock.now();
        let key = self.ports.keys.find_for_authentication(&presented.public_id).await?;
        let key =
            key.filter(|k| expected.is_none_or(|t| t.id == k.tenant_id)).ok_or(SignInError::InvalidCredentials)?;
        if !presented.matches(&key.digest) {
            // Counted per key id, but never locking the key: a 256-bit secret cannot be
            // guessed, and a lock would let anyone who knows a public id (it is not a
            // secret) shut a tenant's application out.
            let scope = Scope::Tenant(key.tenant_id);
            let policy = self.ports.lockout.policy(scope).await?;
            if policy.enabled {
                let counting_only = BruteForcePolicy { max_failures: u32::MAX, ..policy };
                let subject = LockoutSubject::key(key.public_id.as_str());
                self.ports.lockout.record_failure(scope, &subject, &counting_only, now).await?;
            }
            let actor =
                Actor { kind: ActorKind::ApiKey, id: Some(key.id.as_uuid()), name: Some(key.public_id.to_string()) };
            let event =
                AuditEvent::new(now, Some(key.tenant_id), actor, action::USER_SIGN_IN_FAILED, Outcome::Failure, origin)
                    .with("reason", "wrong_key_secret");
            self.ports.audit.record(&event).await?;
            return Err(SignInError::InvalidCredentials);
        }
        if !key.is_usable(now) {
            return Err(SignInError::InvalidCredentials);
        }
        let tenant = match expected {
            Some(t) => t.clone(),
            None => {
                self.ports.tenants.find(&TenantRef::Id(key.tenant_id)).await?.ok_or(SignInError::InvalidCredentials)?
            }
        };
        if tenant.status != TenantStatus::Active {
            return Err(SignInError::TenantSuspended);
        }
        let (roles, key_owner) = match self.key_roles(&key).await? {
            Some(live) => live,
            None => return Err(SignInError::InvalidCredentials),
        };
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL) {
            self.ports.keys.touch(&key, now).await?;
        }
        Ok(Verified {
            subject: SessionSubject::ApiKey(key.id),
            name: key.public_id.to_string(),
            roles,
            tenant: Some(tenant),
            key_owner,
        })
    }

    /// A name no user can have (empty, too long, control characters, a NUL that no
    /// database stores): refused like a wrong password, after the same hash, but neither
    /// looked up nor counted, and audited without the attacker's text.
    async fn malformed_name(&self, scope: Scope, password: &Password, origin: &RequestContext) -> SignInError {
        if let Err(e) = self.ports.hasher.verify(scope, password, None).await {
            return hash(e);
        }
        let event = AuditEvent::new(
            self.ports.clock.now(),
            scope.tenant(),
            Actor::anonymous(),
            action::USER_SIGN_IN_FAILED,
            Outcome::Failure,
            origin,
        )
        .with("reason", "malformed_user_name");
        match self.ports.audit.record(&event).await {
            Ok(()) => SignInError::InvalidCredentials,
            Err(e) => SignInError::Storage(e),
        }
    }

    /// Starts a counted attempt for `user_name` in `scope`: `None` when the scope's policy
    /// is off; a locked name gets [`SignInError::InvalidCredentials`] at once (the same
    /// answer as a wrong password, without the hash), and that attempt counts too.
    async fn begin_attempt(
        &self,
        scope: Scope,
        user_name: &str,
        origin: &RequestContext,
    ) -> Result<Attempt, SignInError> {
        let subject = LockoutSubject::user_name(user_name);
        let policy = self.ports.lockout.policy(scope).await?;
        let attempt = Attempt { scope, subject, name: user_name.to_owned(), policy, had_record: false };
        if !policy.enabled {
            return Ok(attempt);
        }
        let now = self.ports.clock.now();
        let state = self.ports.lockout.state(scope, &attempt.subject).await?;
        let attempt = Attempt { had_record: state.is_some(), ..attempt };
        if state.is_some_and(|s| s.is_locked(now)) {
            return Err(self.failed(attempt, origin, "locked").await);
        }
        Ok(attempt)
    }

    /// Counts a failed attempt and records it; returns the error to answer with.
    async fn failed(&self, a: Attempt, origin: &RequestContext, reason: &'static str) -> SignInError {
        let now = self.ports.clock.now();
        let tenant = a.scope.tenant();
        let failed =
            AuditEvent::new(now, tenant, Actor::anonymous(), action::USER_SIGN_IN_FAILED, Outcome::Failure, origin)
                .with("user_name", a.name.clone())
                .with("reason", reason);
        if !a.policy.enabled {
            return match self.ports.audit.record(&failed).await {
                Ok(()) => SignInError::InvalidCredentials,
                Err(e) => SignInError::Storage(e),
            };
        }
        let state = match self.ports.lockout.record_failure(a.scope, &a.subject, &a.policy, now).await {
            Ok(state) => state,
            Err(e) => return SignInError::Storage(e),
        };
        let mut events = vec![failed.with("failed_attempts", state.failures)];
        // The failure that reaches the limit is the one that locks.
        if state.failures == a.policy.max_failures {
            let scope = if tenant.is_some() { "tenant" } else { "platform" };
            metrics::counter!("keyplane_lockouts_total", "scope" => scope).increment(1);
            let locked =
                AuditEvent::new(now, tenant, Actor::anonymous(), action::USER_LOCKED, Outcome::Failure, origin)
                    .with("user_name", a.name.clone())
                    .with("locked_until", state.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default());
            events.push(locked);
        }
        for event in &events {
            if let Err(e) = self.ports.audit.record(event).await {
                return SignInError::Storage(e);
            }
        }
        SignInError::InvalidCredentials
    }

    /// A success resets the count.
    async fn succeeded(&self, a: Attempt) -> Result<(), SignInError> {
        if a.had_record {
            self.ports.lockout.clear(a.scope, &a.subject).await?;
        }
        Ok(())
    }

    /// A user's failure record in `scope` (for administrators).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn lockout_state(&self, scope: Scope, user_name: &str) -> Result<Option<FailureState>, StorageError> {
        if UserName::parse(user_name).is_err() {
            return Ok(None);
        }
        let state = self.ports.lockout.state(scope, &LockoutSubject::user_name(user_name)).await?;
        let policy = self.ports.lockout.policy(scope).await?;
        let now = self.ports.clock.now();
        Ok(state.filter(|s| s.current_failures(now, &policy) > 0 || s.is_locked(now)))
    }

    /// Unlocks a user of `scope` and forgets their failures; returns whether there was
    /// anything to forget.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn unlock(&self, scope: Scope, user_name: &str, by: &Initiator) -> Result<bool, StorageError> {
        // A name no user can have was never counted (see `malformed_name`).
        if UserName::parse(user_name).is_err() {
            return Ok(false);
        }
        let event =
            by.event(scope.tenant(), action::USER_UNLOCKED, self.ports.clock.now()).with("user_name", user_name);
        self.ports.lockout.unlock(scope, &LockoutSubject::user_name(user_name), &event).await
    }

    /// The scope's brute-force policy.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn brute_force_policy(&self, scope: Scope) -> Result<BruteForcePolicy, StorageError> {
        self.ports.lockout.policy(scope).await
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
        let now = self.ports.clock.now();
        let event = by
            .event(scope.tenant(), action::BRUTE_FORCE_POLICY_UPDATED, now)
            .with("max_failures", policy.max_failures)
            .with("enabled", policy.enabled);
        self.ports.lockout.set_policy(scope, policy, now, &event).await
    }

    /// A key's effective roles: its own for an application key, its owner's current ones
    /// for a user's key; `None` when the owner is disabled or gone.
    async fn key_roles(&self, key: &ApiKey) -> Result<Option<(Roles, Option<UserId>)>, StorageError> {
        match key.owner {
            KeyOwner::Application => Ok(Some((key.roles.clone(), None))),
            KeyOwner::User(owner) => Ok(match self.ports.users.find_by_id(key.tenant_id, owner).await? {
                Some(user) if user.enabled => Some((user.roles, Some(owner))),
                _ => None,
            }),
        }
    }

    /// The session subject's current roles (and key owner), or an error when it is gone,
    /// disabled or revoked: a session lives no longer than its subject's right to sign in.
    pub(super) async fn live_subject(&self, session: &Session) -> Result<(Roles, Option<UserId>), TokenError> {
        let now = self.ports.clock.now();
        let gone = TokenError::Invalid("subject disabled or gone");
        match (session.subject, session.scope) {
            (SessionSubject::User(id), Scope::Tenant(t)) => match self.ports.users.find_by_id(t, id).await? {
                Some(u) if u.enabled => Ok((u.roles, None)),
                _ => Err(gone),
            },
            (SessionSubject::PlatformUser(id), Scope::Platform) => {
                match self.ports.platform_users.find_by_id(id).await? {
                    Some(u) if u.enabled => Ok((u.roles, None)),
                    _ => Err(gone),
                }
            }
            (SessionSubject::ApiKey(id), Scope::Tenant(t)) => match self.ports.keys.find_by_id(t, id).await? {
                Some(k) if k.is_usable(now) => self.key_roles(&k).await?.ok_or(gone),
                _ => Err(gone),
            },
            _ => Err(gone),
        }
    }
}

fn hash(e: HashError) -> SignInError {
    match e {
        HashError::Busy { retry_after_secs } => SignInError::Busy { retry_after_secs },
        HashError::Failed(why) => SignInError::ClusterFailure(why),
    }
}

fn cluster_error(e: ClusterError) -> SignInError {
    match e {
        ClusterError::Backend(why) => SignInError::ClusterFailure(why),
        ClusterError::Busy { retry_after_secs } => SignInError::Busy { retry_after_secs },
    }
}
