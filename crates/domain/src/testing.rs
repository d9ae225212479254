//! In-memory port implementations for the domain's unit tests.

use crate::api_key::{ApiKey, ApiKeyRepository, InsertKeyError, KeyOwner, KeyPublicId};
use crate::audit::{AuditEvent, AuditFilter, AuditLog, AuditScope};
use crate::clock::Clock;
use crate::error::StorageError;
use crate::ids::{ApiKeyId, PlatformUserId, SessionId, TenantId, UserId};
use crate::origin::EntryPoint;
use crate::page::{Page, PageRequest};
use crate::password::{HashError, Password, PasswordHash, PasswordHasher};
use crate::platform::{
    OperatorChange, OperatorWrite, PlatformKey, PlatformKeyRepository, PlatformUser, PlatformUserRepository,
};
use crate::policy::SigningAlgorithm;
use crate::scope::Scope;
use crate::session::{Session, SessionRepository, SessionSubject};
use crate::tenant::{InsertTenantError, Tenant, TenantRef, TenantRepository, TenantStatus};
use crate::token::{Claims, CryptoError, KeyMaterial, SigningKey, SigningKeyRepository, TokenCodec};
use crate::user::{User, UserName, UserRepository, WriteUserError};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::{Arc, Mutex};

/// A clock stopped at one instant.
pub struct FixedClock(pub DateTime<Utc>);

impl Default for FixedClock {
    fn default() -> Self {
        Self(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that stands still until the test moves it forward.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Mutex::new(FixedClock::default().0))
    }
}

impl ManualClock {
    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Audit events in a vector: what the in-memory repositories write beside their changes,
/// and an [`AuditLog`] that filters as the port requires.
#[derive(Default)]
pub struct InMemoryAudit(Mutex<Vec<AuditEvent>>);

impl InMemoryAudit {
    /// Every event stored, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The actions stored, oldest first.
    pub fn actions(&self) -> Vec<String> {
        self.events().into_iter().map(|e| e.action).collect()
    }

    fn push(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// An anonymous administrator, for service calls whose audit trail no test looks at.
pub fn by_nobody() -> crate::audit::Initiator {
    let request = crate::origin::RequestContext::new(EntryPoint::Admin);
    crate::audit::Initiator { actor: crate::audit::Actor::anonymous(), request }
}

/// An event that no test looks at, for seeding data through the ports.
pub fn seed_event() -> AuditEvent {
    let request = crate::origin::RequestContext::new(EntryPoint::Admin);
    AuditEvent::new(
        Utc::now(),
        None,
        crate::audit::Actor::anonymous(),
        "test.seed",
        crate::audit::Outcome::Success,
        &request,
    )
}

#[async_trait]
impl AuditLog for InMemoryAudit {
    async fn record(&self, event: &AuditEvent) -> Result<(), StorageError> {
        self.push(event);
        Ok(())
    }
    async fn list(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError> {
        let mut matching: Vec<AuditEvent> = self
            .events()
            .into_iter()
            .filter(|e| match scope {
                AuditScope::All => true,
                AuditScope::Tenant(t) => e.tenant == Some(t),
            })
            .filter(|e| filter.action_prefix.as_ref().is_none_or(|p| e.action.starts_with(p.as_str())))
            .filter(|e| {
                filter.actor.as_ref().is_none_or(|a| {
                    e.actor.name.as_ref().is_some_and(|n| n.eq_ignore_ascii_case(a))
                        || e.actor.id.is_some_and(|id| id.to_string() == a.to_ascii_lowercase())
                })
            })
            .filter(|e| filter.outcome.is_none_or(|o| o == e.outcome))
            .filter(|e| filter.since.is_none_or(|s| e.time >= s) && filter.until.is_none_or(|u| e.time < u))
            .collect();
        matching.sort_by_key(|e| std::cmp::Reverse((e.time, e.id)));
        Ok(page_of(matching, page))
    }
    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        let mut all = self.0.lock().unwrap();
        let mut purged = 0;
        all.retain(|e| {
            let purge = purged < limit && e.time < cutoff;
            purged += u64::from(purge);
            !purge
        });
        Ok(purged)
    }
}

/// A codec whose keys are only their `kid`: enough for key management, not for tokens.
pub struct KidOnlyCodec;

impl TokenCodec for KidOnlyCodec {
    fn generate(&self, kid: &str, algorithm: SigningAlgorithm) -> Result<KeyMaterial, CryptoError> {
        let public_jwk = serde_json::json!({"kid": kid, "alg": algorithm.as_str()});
        Ok(KeyMaterial { public_jwk, sealed_private: Vec::new() })
    }
    fn sign(&self, _: &SigningKey, _: &Claims) -> Result<String, CryptoError> {
        Err(CryptoError::Key("the test codec does not sign".into()))
    }
    fn kid_of(&self, _: &str) -> Option<String> {
        None
    }
    fn verify(&self, _: &SigningKey, _: &str) -> Result<Claims, CryptoError> {
        Err(CryptoError::InvalidToken)
    }
}

/// Signing keys in a vector, holding the port's rule of one active key per scope. Reads
/// yield to the runtime first, so that concurrent callers interleave as they would
/// against a real database.
#[derive(Default)]
pub struct InMemorySigningKeys(Mutex<Vec<SigningKey>>, pub Arc<InMemoryAudit>);

impl InMemorySigningKeys {
    /// Every stored key of `scope`, oldest first.
    pub fn all(&self, scope: Scope) -> Vec<SigningKey> {
        self.0.lock().unwrap().iter().filter(|k| k.scope == scope).cloned().collect()
    }

    fn active_now(&self, scope: Scope) -> Option<SigningKey> {
        self.0.lock().unwrap().iter().rev().find(|k| k.scope == scope && k.retired_at.is_none()).cloned()
    }
}

#[async_trait]
impl SigningKeyRepository for InMemorySigningKeys {
    async fn insert_if_absent(&self, key: &SigningKey) -> Result<SigningKey, StorageError> {
        {
            let mut all = self.0.lock().unwrap();
            if !all.iter().any(|k| k.scope == key.scope && k.retired_at.is_none()) {
                all.push(key.clone());
            }
        }
        Ok(self.active_now(key.scope).expect("a key was stored"))
    }
    async fn active(&self, scope: Scope) -> Result<Option<SigningKey>, StorageError> {
        tokio::task::yield_now().await;
        Ok(self.active_now(scope))
    }
    async fn newest(&self) -> Result<Option<SigningKey>, StorageError> {
        Ok(self.0.lock().unwrap().last().cloned())
    }
    async fn find_by_kid(&self, kid: &str) -> Result<Option<SigningKey>, StorageError> {
        tokio::task::yield_now().await;
        Ok(self.0.lock().unwrap().iter().find(|k| k.kid == kid).cloned())
    }
    async fn published(&self, scope: Scope, now: DateTime<Utc>) -> Result<Vec<SigningKey>, StorageError> {
        Ok(self.all(scope).into_iter().rev().filter(|k| k.verifies_at(now)).collect())
    }
    async fn rotate(
        &self,
        key: &SigningKey,
        retain_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        self.1.push(event);
        let mut all = self.0.lock().unwrap();
        for old in all.iter_mut().filter(|k| k.scope == key.scope && k.retired_at.is_none()) {
            old.retired_at = Some(key.created_at);
            old.retain_until = Some(retain_until);
        }
        all.push(key.clone());
        Ok(())
    }
    async fn withdraw(
        &self,
        scope: Scope,
        kid: &str,
        replacement: &SigningKey,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<crate::token::Withdrawal, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(key) = all.iter_mut().find(|k| k.scope == scope && k.kid == kid && k.verifies_at(now)) else {
            return Ok(crate::token::Withdrawal::NotFound);
        };
        let was_active = key.retired_at.is_none();
        key.retired_at = key.retired_at.or(Some(now));
        key.retain_until = Some(now);
        if was_active {
            all.push(replacement.clone());
        }
        drop(all);
        self.1.push(event);
        Ok(if was_active { crate::token::Withdrawal::Replaced } else { crate::token::Withdrawal::Withdrawn })
    }
}

/// A "hasher" that prefixes the plaintext: fast and obviously reversible, for tests only.
pub struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, _: Scope, password: &Password) -> Result<PasswordHash, HashError> {
        Ok(PasswordHash::from_phc(format!("plain:{}", password.expose())))
    }
    async fn verify(&self, _: Scope, password: &Password, hash: Option<&PasswordHash>) -> Result<bool, HashError> {
        Ok(hash.is_some_and(|h| h.as_phc() == format!("plain:{}", password.expose())))
    }
}

/// Users in a vector.
#[derive(Default)]
pub struct InMemoryUsers(Mutex<Vec<User>>, pub Arc<InMemoryAudit>);

/// Seeding and changing users without an audit record, for tests of other services.
impl InMemoryUsers {
    /// Users writing their audit events to `audit`.
    pub fn with_audit(audit: Arc<InMemoryAudit>) -> Self {
        Self(Mutex::default(), audit)
    }

    /// Stores a user (see [`UserRepository::insert`]).
    pub async fn insert(&self, user: &User) -> Result<(), WriteUserError> {
        UserRepository::insert(self, user, &seed_event()).await
    }

    /// Enables or disables a user.
    pub async fn set_enabled(
        &self,
        t: TenantId,
        id: UserId,
        on: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        UserRepository::set_enabled(self, t, id, on, at, &seed_event()).await
    }

    /// Sets a user's password hash.
    pub async fn set_password(
        &self,
        t: TenantId,
        id: UserId,
        hash: &PasswordHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        UserRepository::set_password(self, t, id, hash, at, &seed_event()).await
    }

    fn change(&self, tenant: TenantId, id: UserId, event: &AuditEvent, f: impl FnOnce(&mut User)) -> bool {
        let mut all = self.0.lock().unwrap();
        let changed = all.iter_mut().find(|u| u.tenant_id == tenant && u.id == id).map(f).is_some();
        if changed {
            self.1.push(event);
        }
        changed
    }
}

#[async_trait]
impl UserRepository for InMemoryUsers {
    async fn insert(&self, user: &User, event: &AuditEvent) -> Result<(), WriteUserError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|u| u.tenant_id == user.tenant_id && u.user_name.folded() == user.user_name.folded()) {
            return Err(WriteUserError::NameTaken);
        }
        all.push(user.clone());
        self.1.push(event);
        Ok(())
    }
    async fn find_by_name(&self, tenant: TenantId, name: &UserName) -> Result<Option<User>, StorageError> {
        let all = self.0.lock().unwrap();
        Ok(all.iter().find(|u| u.tenant_id == tenant && u.user_name.folded() == name.folded()).cloned())
    }
    async fn find_by_id(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|u| u.tenant_id == tenant && u.id == id).cloned())
    }
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<User>, StorageError> {
        let all: Vec<User> = self.0.lock().unwrap().iter().filter(|u| u.tenant_id == tenant).cloned().collect();
        Ok(page_of(all, page))
    }
    async fn update(&self, user: &User, event: &AuditEvent) -> Result<bool, WriteUserError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|u| {
            u.tenant_id == user.tenant_id && u.id != user.id && u.user_name.folded() == user.user_name.folded()
        }) {
            return Err(WriteUserError::NameTaken);
        }
        match all.iter_mut().find(|u| u.tenant_id == user.tenant_id && u.id == user.id) {
            Some(slot) => {
                // The profile only, as the port requires.
                slot.user_name = user.user_name.clone();
                slot.email = user.email.clone();
                slot.full_name = user.full_name.clone();
                slot.roles = user.roles.clone();
                slot.metadata = user.metadata.clone();
                slot.updated_at = user.updated_at;
                self.1.push(event);
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn set_enabled(
        &self,
        tenant: TenantId,
        id: UserId,
        enabled: bool,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        Ok(self.change(tenant, id, event, |u| {
            u.enabled = enabled;
            u.updated_at = at;
        }))
    }
    async fn set_password(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: &PasswordHash,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        Ok(self.change(tenant, id, event, |u| {
            u.password_hash = hash.clone();
            u.updated_at = at;
        }))
    }
    async fn record_login(&self, tenant: TenantId, id: UserId, at: DateTime<Utc>) -> Result<(), StorageError> {
        if let Some(u) = self.0.lock().unwrap().iter_mut().find(|u| u.tenant_id == tenant && u.id == id) {
            u.last_login_at = Some(at);
        }
        Ok(())
    }
    async fn delete(&self, tenant: TenantId, id: UserId, event: &AuditEvent) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let before = all.len();
        all.retain(|u| !(u.tenant_id == tenant && u.id == id));
        let existed = all.len() != before;
        if existed {
            self.1.push(event);
        }
        Ok(existed)
    }
}

/// Operator accounts in a vector; the last-admin guard holds because the vector is
/// changed under one lock.
#[derive(Default)]
pub struct InMemoryOperators(Mutex<Vec<PlatformUser>>, pub Arc<InMemoryAudit>);

impl InMemoryOperators {
    /// Operators writing their audit events to `audit`.
    pub fn with_audit(audit: Arc<InMemoryAudit>) -> Self {
        Self(Mutex::default(), audit)
    }

    /// Whether the accounts other than `id` keep an enabled admin, `id` being `after`.
    fn keeps_an_admin(all: &[PlatformUser], id: PlatformUserId, after: Option<&PlatformUser>) -> bool {
        all.iter().filter(|u| u.id != id).chain(after).any(PlatformUser::is_active_admin)
    }
}

#[async_trait]
impl PlatformUserRepository for InMemoryOperators {
    async fn insert_if_absent(&self, user: &PlatformUser) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|u| u.user_name.to_lowercase() == user.user_name.to_lowercase()) {
            return Ok(false);
        }
        all.push(user.clone());
        Ok(true)
    }
    async fn find_by_name(&self, name: &str) -> Result<Option<PlatformUser>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|u| u.user_name.to_lowercase() == name.to_lowercase()).cloned())
    }
    async fn find_by_id(&self, id: PlatformUserId) -> Result<Option<PlatformUser>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|u| u.id == id).cloned())
    }
    async fn set_password(&self, id: PlatformUserId, hash: &PasswordHash) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        Ok(all.iter_mut().find(|u| u.id == id).map(|u| u.password_hash = hash.clone()).is_some())
    }
    async fn count(&self) -> Result<u64, StorageError> {
        Ok(self.0.lock().unwrap().len() as u64)
    }
    async fn create(&self, user: &PlatformUser, event: &AuditEvent) -> Result<bool, StorageError> {
        let created = self.insert_if_absent(user).await?;
        if created {
            self.1.push(event);
        }
        Ok(created)
    }
    async fn list(&self, page: PageRequest) -> Result<Page<PlatformUser>, StorageError> {
        let mut all = self.0.lock().unwrap().clone();
        all.sort_by_key(|u| u.user_name.to_lowercase());
        Ok(page_of(all, page))
    }
    async fn update(
        &self,
        id: PlatformUserId,
        change: &OperatorChange,
        events: &[AuditEvent],
    ) -> Result<OperatorWrite, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(at) = all.iter().position(|u| u.id == id) else { return Ok(OperatorWrite::NotFound) };
        let after = change.apply(&all[at]);
        if !Self::keeps_an_admin(&all, id, Some(&after)) {
            return Ok(OperatorWrite::LastAdmin);
        }
        all[at] = after.clone();
        events.iter().for_each(|e| self.1.push(e));
        Ok(OperatorWrite::Done(after))
    }
    async fn delete(&self, id: PlatformUserId, event: &AuditEvent) -> Result<OperatorWrite, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(at) = all.iter().position(|u| u.id == id) else { return Ok(OperatorWrite::NotFound) };
        if !Self::keeps_an_admin(&all, id, None) {
            return Ok(OperatorWrite::LastAdmin);
        }
        self.1.push(event);
        Ok(OperatorWrite::Done(all.remove(at)))
    }
}

/// Platform keys in a vector.
#[derive(Default)]
pub struct InMemoryPlatformKeys(Mutex<Vec<PlatformKey>>, pub Arc<InMemoryAudit>);

impl InMemoryPlatformKeys {
    /// Keys writing their audit events to `audit`.
    pub fn with_audit(audit: Arc<InMemoryAudit>) -> Self {
        Self(Mutex::default(), audit)
    }
}

#[async_trait]
impl PlatformKeyRepository for InMemoryPlatformKeys {
    async fn insert(&self, key: &PlatformKey, event: &AuditEvent) -> Result<(), InsertKeyError> {
        self.0.lock().unwrap().push(key.clone());
        self.1.push(event);
        Ok(())
    }
    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<PlatformKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.public_id == *public_id).cloned())
    }
    async fn find_by_id(&self, id: ApiKeyId) -> Result<Option<PlatformKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.id == id).cloned())
    }
    async fn find(&self, owner: PlatformUserId, public_id: &KeyPublicId) -> Result<Option<PlatformKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.owner == owner && k.public_id == *public_id).cloned())
    }
    async fn list(&self, owner: PlatformUserId, page: PageRequest) -> Result<Page<PlatformKey>, StorageError> {
        let all = self.0.lock().unwrap();
        let mine = all.iter().filter(|k| k.owner == owner && k.revoked_at.is_none()).cloned().collect();
        Ok(page_of(mine, page))
    }
    async fn revoke(
        &self,
        owner: PlatformUserId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(key) = all.iter_mut().find(|k| k.owner == owner && k.public_id == *public_id) else {
            return Ok(false);
        };
        if key.revoked_at.is_none() {
            key.revoked_at = Some(at);
            self.1.push(event);
        }
        Ok(true)
    }
    async fn touch(&self, key: &PlatformKey, at: DateTime<Utc>) -> Result<(), StorageError> {
        if let Some(k) = self.0.lock().unwrap().iter_mut().find(|k| k.id == key.id) {
            k.last_used_at = Some(at);
        }
        Ok(())
    }
}

fn page_of<T>(all: Vec<T>, page: PageRequest) -> Page<T> {
    let total = all.len() as u64;
    let items = all.into_iter().skip(page.from() as usize).take(page.size() as usize).collect();
    Page { items, total, request: page }
}

/// Tenants in a vector.
#[derive(Default)]
pub struct InMemoryTenants(Mutex<Vec<Tenant>>, pub Arc<InMemoryAudit>);

/// Seeding and changing tenants without an audit record, for tests of other services.
impl InMemoryTenants {
    /// Tenants writing their audit events to `audit`.
    pub fn with_audit(audit: Arc<InMemoryAudit>) -> Self {
        Self(Mutex::default(), audit)
    }

    /// Stores a tenant (see [`TenantRepository::insert`]).
    pub async fn insert(&self, tenant: &Tenant, first_key: &SigningKey) -> Result<(), InsertTenantError> {
        TenantRepository::insert(self, tenant, first_key, &seed_event()).await
    }

    /// Sets a tenant's status.
    pub async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        TenantRepository::set_status(self, id, status, at, &seed_event()).await
    }
}

#[async_trait]
impl TenantRepository for InMemoryTenants {
    async fn insert(
        &self,
        tenant: &Tenant,
        _first_key: &SigningKey,
        event: &AuditEvent,
    ) -> Result<(), InsertTenantError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|t| t.slug == tenant.slug) {
            return Err(InsertTenantError::SlugTaken);
        }
        all.push(tenant.clone());
        self.1.push(event);
        Ok(())
    }
    async fn find(&self, tenant: &TenantRef) -> Result<Option<Tenant>, StorageError> {
        let all = self.0.lock().unwrap();
        Ok(all
            .iter()
            .find(|t| match tenant {
                TenantRef::Id(id) => t.id == *id,
                TenantRef::Slug(slug) => t.slug == *slug,
            })
            .cloned())
    }
    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StorageError> {
        Ok(page_of(self.0.lock().unwrap().clone(), page))
    }
    async fn update(&self, tenant: &Tenant, event: &AuditEvent) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(slot) = all.iter_mut().find(|t| t.id == tenant.id) else {
            return Ok(false);
        };
        // Everything but the status, as the port requires.
        slot.name = tenant.name.clone();
        slot.policy = tenant.policy;
        slot.cluster = tenant.cluster;
        slot.updated_at = tenant.updated_at;
        self.1.push(event);
        Ok(true)
    }
    async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(slot) = all.iter_mut().find(|t| t.id == id) else {
            return Ok(false);
        };
        if slot.status != status {
            slot.status = status;
            slot.updated_at = at;
            self.1.push(event);
        }
        Ok(true)
    }
    async fn delete(&self, id: TenantId, event: &AuditEvent) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let before = all.len();
        all.retain(|t| t.id != id);
        let existed = all.len() != before;
        if existed {
            self.1.push(event);
        }
        Ok(existed)
    }
}

/// API keys in a vector.
#[derive(Default)]
pub struct InMemoryApiKeys(Mutex<Vec<ApiKey>>, pub Arc<InMemoryAudit>);

/// Seeding keys without an audit record, for tests of other services.
impl InMemoryApiKeys {
    /// Keys writing their audit events to `audit`.
    pub fn with_audit(audit: Arc<InMemoryAudit>) -> Self {
        Self(Mutex::default(), audit)
    }

    /// Stores a key (see [`ApiKeyRepository::insert`]).
    pub async fn insert(&self, key: &ApiKey) -> Result<(), InsertKeyError> {
        ApiKeyRepository::insert(self, key, &seed_event()).await
    }
}

#[async_trait]
impl ApiKeyRepository for InMemoryApiKeys {
    async fn insert(&self, key: &ApiKey, event: &AuditEvent) -> Result<(), InsertKeyError> {
        self.0.lock().unwrap().push(key.clone());
        self.1.push(event);
        Ok(())
    }
    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.public_id == *public_id).cloned())
    }
    async fn find(&self, tenant: TenantId, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.tenant_id == tenant && k.public_id == *public_id).cloned())
    }
    async fn find_by_id(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.tenant_id == tenant && k.id == id).cloned())
    }
    async fn list(
        &self,
        tenant: TenantId,
        owner: Option<KeyOwner>,
        unrevoked_only: bool,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StorageError> {
        let all = self.0.lock().unwrap();
        let matching = all
            .iter()
            .filter(|k| k.tenant_id == tenant && owner.is_none_or(|o| o == k.owner))
            .filter(|k| !unrevoked_only || k.revoked_at.is_none())
            .cloned()
            .collect();
        Ok(page_of(matching, page))
    }
    async fn revoke(
        &self,
        tenant: TenantId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(key) = all.iter_mut().find(|k| k.tenant_id == tenant && k.public_id == *public_id) else {
            return Ok(false);
        };
        if key.revoked_at.is_none() {
            key.revoked_at = Some(at);
            self.1.push(event);
        }
        Ok(true)
    }
    async fn touch(&self, key: &ApiKey, at: DateTime<Utc>) -> Result<(), StorageError> {
        if let Some(k) = self.0.lock().unwrap().iter_mut().find(|k| k.tenant_id == key.tenant_id && k.id == key.id) {
            k.last_used_at = Some(at);
        }
        Ok(())
    }
}

/// Sessions in a vector.
#[derive(Default)]
pub struct InMemorySessions(Mutex<Vec<Session>>, pub Arc<InMemoryAudit>);

impl InMemorySessions {
    /// Sessions writing their audit events to `audit`.
    pub fn with_audit(audit: Arc<InMemoryAudit>) -> Self {
        Self(Mutex::default(), audit)
    }

    /// Opens an active session of `subject` in `scope`; returns its id.
    pub fn open(&self, scope: Scope, subject: SessionSubject, now: DateTime<Utc>) -> SessionId {
        let session = Session {
            id: SessionId::generate(),
            scope,
            subject,
            subject_name: "test".into(),
            created_at: now,
            expires_at: now + chrono::Duration::days(1),
            refresh_jti: Some(uuid::Uuid::new_v4().to_string()),
            previous_refresh_jti: None,
            rotated_at: None,
            refresh_count: 0,
            revoked_at: None,
            revoked_reason: None,
        };
        let id = session.id;
        self.0.lock().unwrap().push(session);
        id
    }

    /// Why the session ended, or `None` while it is active.
    pub fn ended(&self, id: SessionId) -> Option<String> {
        let all = self.0.lock().unwrap();
        all.iter().find(|s| s.id == id).expect("a known session").revoked_reason.clone()
    }
}

#[async_trait]
impl SessionRepository for InMemorySessions {
    async fn insert(&self, session: &Session) -> Result<(), StorageError> {
        self.0.lock().unwrap().push(session.clone());
        Ok(())
    }
    async fn find(&self, scope: Scope, id: SessionId) -> Result<Option<Session>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|s| s.scope == scope && s.id == id).cloned())
    }
    async fn rotate(
        &self,
        scope: Scope,
        id: SessionId,
        presented: &str,
        new_jti: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(s) = all.iter_mut().find(|s| {
            s.scope == scope && s.id == id && s.refresh_jti.as_deref() == Some(presented) && s.is_active(now)
        }) else {
            return Ok(None);
        };
        s.previous_refresh_jti = s.refresh_jti.replace(new_jti.to_owned());
        s.rotated_at = Some(now);
        s.refresh_count += 1;
        Ok(Some(s.clone()))
    }
    async fn revoke(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let Some(s) = all.iter_mut().find(|s| s.scope == scope && s.id == id && s.revoked_at.is_none()) else {
            return Ok(false);
        };
        s.revoked_at = Some(now);
        s.revoked_reason = Some(reason.to_owned());
        Ok(true)
    }
    async fn revoke_recorded(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let ended = self.revoke(scope, id, reason, now).await?;
        if ended {
            self.1.push(event);
        }
        Ok(ended)
    }
    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        let mut all = self.0.lock().unwrap();
        let mut purged = 0;
        all.retain(|s| {
            let ended = s.revoked_at.map_or(s.expires_at, |r| r.min(s.expires_at));
            let purge = purged < limit && ended < cutoff;
            purged += u64::from(purge);
            !purge
        });
        Ok(purged)
    }
    async fn revoke_subject(
        &self,
        scope: Scope,
        subject: SessionSubject,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let mut ended = 0;
        for s in self.0.lock().unwrap().iter_mut() {
            if s.scope == scope && s.subject == subject && s.revoked_at.is_none() {
                s.revoked_at = Some(now);
                s.revoked_reason = Some(reason.to_owned());
                ended += 1;
            }
        }
        Ok(ended)
    }
    async fn list_active(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Session>, StorageError> {
        let all = self.0.lock().unwrap();
        let mut matching: Vec<Session> = all
            .iter()
            .filter(|s| s.scope == scope && subject.is_none_or(|sub| sub == s.subject) && s.is_active(now))
            .cloned()
            .collect();
        matching.reverse();
        Ok(page_of(matching, page))
    }
}

/// The position of `counter`'s record in `all`, made empty when it has none.
fn lockout_record(
    all: &mut Vec<(Scope, crate::lockout::LockoutSubject, crate::lockout::FailureState)>,
    scope: Scope,
    counter: &crate::lockout::Counter,
    now: DateTime<Utc>,
) -> usize {
    all.iter().position(|(s, n, _)| *s == scope && *n == counter.subject).unwrap_or_else(|| {
        let fresh = crate::lockout::FailureState { failures: 0, pending: 0, locked_until: None, last_failure_at: now };
        all.push((scope, counter.subject.clone(), fresh));
        all.len() - 1
    })
}

/// Lockout state in memory, with the repository's counting rules.
#[derive(Default)]
pub struct InMemoryLockout {
    policies: Mutex<Vec<(Scope, crate::lockout::BruteForcePolicy)>>,
    records: Mutex<Vec<(Scope, crate::lockout::LockoutSubject, crate::lockout::FailureState)>>,
}

#[async_trait]
impl crate::lockout::LockoutRepository for InMemoryLockout {
    async fn policy(&self, scope: Scope) -> Result<crate::lockout::BruteForcePolicy, StorageError> {
        let all = self.policies.lock().unwrap();
        Ok(all.iter().find(|(s, _)| *s == scope).map(|(_, p)| *p).unwrap_or_default())
    }
    async fn set_policy(
        &self,
        scope: Scope,
        policy: &crate::lockout::BruteForcePolicy,
        _: DateTime<Utc>,
        _: &AuditEvent,
    ) -> Result<(), StorageError> {
        let mut all = self.policies.lock().unwrap();
        all.retain(|(s, _)| *s != scope);
        all.push((scope, *policy));
        Ok(())
    }
    async fn state(
        &self,
        scope: Scope,
        subject: &crate::lockout::LockoutSubject,
    ) -> Result<Option<crate::lockout::FailureState>, StorageError> {
        let all = self.records.lock().unwrap();
        Ok(all.iter().find(|(s, n, _)| *s == scope && n == subject).map(|(_, _, st)| *st))
    }
    async fn address_states(
        &self,
        scope: Scope,
        subject: &crate::lockout::LockoutSubject,
        limit: u64,
    ) -> Result<Vec<(String, crate::lockout::FailureState)>, StorageError> {
        let prefix = subject.address_prefix();
        let all = self.records.lock().unwrap();
        let mut found: Vec<(String, crate::lockout::FailureState)> = all
            .iter()
            .filter(|(s, _, _)| *s == scope)
            .filter_map(|(_, n, st)| n.as_str().strip_prefix(prefix.as_str()).map(|a| (a.to_owned(), *st)))
            .collect();
        found.sort_by_key(|(_, st)| std::cmp::Reverse(st.last_failure_at));
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(found)
    }
    async fn reserve(
        &self,
        scope: Scope,
        counters: &[crate::lockout::Counter],
        policy: &crate::lockout::BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<crate::lockout::Reservation, StorageError> {
        let mut all = self.records.lock().unwrap();
        let current = |st: &crate::lockout::FailureState| {
            let failures = if now - st.last_failure_at >= policy.failure_reset { 0 } else { st.failures };
            // In memory no process dies mid-verification: a place is always settled.
            (failures, st.pending)
        };
        for (index, counter) in counters.iter().enumerate() {
            let Some(st) = all.iter().find(|(s, n, _)| *s == scope && *n == counter.subject).map(|r| r.2) else {
                continue;
            };
            let (failures, pending) = current(&st);
            let after_lock = failures >= counter.limit && pending == 0;
            if st.is_locked(now) || (failures + pending >= counter.limit && !after_lock) {
                return Ok(crate::lockout::Reservation::Refused { counter: index, state: st });
            }
        }
        let mut states = Vec::new();
        for counter in counters {
            let index = lockout_record(&mut all, scope, counter, now);
            let state = &mut all[index].2;
            let (failures, pending) = current(state);
            if failures == 0 {
                state.locked_until = None;
            }
            state.failures = failures;
            state.pending = pending + 1;
            states.push(*state);
        }
        Ok(crate::lockout::Reservation::Granted(states))
    }
    async fn fail(
        &self,
        scope: Scope,
        counters: &[crate::lockout::Counter],
        policy: &crate::lockout::BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::lockout::FailureState>, StorageError> {
        let mut all = self.records.lock().unwrap();
        let mut states = Vec::new();
        for counter in counters {
            let index = lockout_record(&mut all, scope, counter, now);
            let state = &mut all[index].2;
            let failures = if now - state.last_failure_at >= policy.failure_reset { 0 } else { state.failures };
            state.failures = failures + 1;
            state.pending = state.pending.saturating_sub(1);
            state.last_failure_at = now;
            if let Some(lock) = policy.lock_after(counter.limit, state.failures) {
                state.locked_until = Some(state.locked_until.map_or(now + lock, |held| held.max(now + lock)));
            }
            states.push(*state);
        }
        Ok(states)
    }
    async fn release(&self, scope: Scope, observed: &[(crate::lockout::Counter, u32)]) -> Result<(), StorageError> {
        let mut all = self.records.lock().unwrap();
        for (counter, count) in observed {
            for (s, n, st) in all.iter_mut() {
                if *s == scope && *n == counter.subject {
                    st.failures = st.failures.saturating_sub(*count);
                    st.pending = st.pending.saturating_sub(1);
                    if st.failures < counter.limit {
                        st.locked_until = None;
                    }
                }
            }
            all.retain(|(s, n, st)| !(*s == scope && *n == counter.subject && st.failures == 0 && st.pending == 0));
        }
        Ok(())
    }
    async fn unlock(
        &self,
        scope: Scope,
        subject: &crate::lockout::LockoutSubject,
        _: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let prefix = subject.address_prefix();
        let mut all = self.records.lock().unwrap();
        let before = all.len();
        all.retain(|(s, n, _)| !(*s == scope && (n == subject || n.as_str().starts_with(&prefix))));
        Ok(all.len() != before)
    }
    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        let mut all = self.records.lock().unwrap();
        let mut purged = 0;
        all.retain(|(_, _, st)| {
            let stale = st.last_failure_at < cutoff && st.locked_until.is_none_or(|u| u < cutoff) && purged < limit;
            purged += u64::from(stale);
            !stale
        });
        Ok(purged)
    }
}
