//! Read-through caches in front of the repositories, so that the hot paths (API-key and
//! token checks, refresh) need no database round trip but the one that must be atomic.
//!
//! Every write through a cached repository invalidates what it touched, so a change is in
//! force at once on the replica that made it; other replicas see it when their entry
//! expires (`ttl`, one second by default). Entries are bounded in number, and concurrent
//! misses of one entry share a single load (no stampede on the database when an entry
//! expires under load).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::{ApiKey, ApiKeyRepository, InsertKeyError, KeyOwner, KeyPublicId};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{ApiKeyId, PlatformUserId, SessionId, TenantId, UserId};
use keyplane_domain::lockout::{BruteForcePolicy, FailureState, LockoutRepository, LockoutSubject};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::password::PasswordHash;
use keyplane_domain::platform::{OperatorChange, OperatorWrite, PlatformUser, PlatformUserRepository};
use keyplane_domain::scope::Scope;
use keyplane_domain::session::{Session, SessionRepository, SessionSubject};
use keyplane_domain::tenant::{InsertTenantError, Tenant, TenantRef, TenantRepository, TenantStatus};
use keyplane_domain::token::SigningKey;
use keyplane_domain::user::{User, UserName, UserRepository, WriteUserError};
use moka::future::Cache;
use moka::ops::compute::Op;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How many entries each cache holds at most.
const CAPACITY: u64 = 100_000;

/// Reads through `cache` (named `name` in the metrics): one `load` for all concurrent
/// misses of `key`. Counts `keyplane_cache_requests_total{cache, result="hit"|"miss"}`.
async fn through<K, V>(
    name: &'static str,
    cache: &Cache<K, V>,
    key: K,
    load: impl Future<Output = Result<V, StorageError>>,
) -> Result<V, StorageError>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let missed = std::sync::atomic::AtomicBool::new(false);
    let load = async {
        missed.store(true, std::sync::atomic::Ordering::Relaxed);
        load.await
    };
    let found = cache.try_get_with(key, load).await.map_err(|e: Arc<StorageError>| StorageError::new(e.to_string()));
    let result = if missed.load(std::sync::atomic::Ordering::Relaxed) { "miss" } else { "hit" };
    metrics::counter!("keyplane_cache_requests_total", "cache" => name, "result" => result).increment(1);
    found
}

fn cache<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build()
}

/// Tenants, cached by id and by slug.
pub struct CachedTenants {
    inner: Arc<dyn TenantRepository>,
    entries: Cache<TenantRef, Option<Tenant>>,
}

impl CachedTenants {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn TenantRepository>, ttl: Duration) -> Self {
        Self { inner, entries: cache(ttl) }
    }
}

#[async_trait]
impl TenantRepository for CachedTenants {
    async fn insert(
        &self,
        tenant: &Tenant,
        first_key: &SigningKey,
        event: &AuditEvent,
    ) -> Result<(), InsertTenantError> {
        self.entries.invalidate_all();
        self.inner.insert(tenant, first_key, event).await
    }

    async fn find(&self, tenant: &TenantRef) -> Result<Option<Tenant>, StorageError> {
        through("tenants", &self.entries, tenant.clone(), self.inner.find(tenant)).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StorageError> {
        self.inner.list(page).await
    }

    async fn update(&self, tenant: &Tenant, event: &AuditEvent) -> Result<bool, StorageError> {
        let result = self.inner.update(tenant, event).await;
        self.entries.invalidate_all();
        result
    }

    async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let result = self.inner.set_status(id, status, at, event).await;
        self.entries.invalidate_all();
        result
    }

    async fn delete(&self, id: TenantId, event: &AuditEvent) -> Result<bool, StorageError> {
        let result = self.inner.delete(id, event).await;
        self.entries.invalidate_all();
        result
    }
}

/// Users, cached by id (sign-in by name goes to the store: hashing dominates it).
pub struct CachedUsers {
    inner: Arc<dyn UserRepository>,
    by_id: Cache<(TenantId, UserId), Option<User>>,
}

impl CachedUsers {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn UserRepository>, ttl: Duration) -> Self {
        Self { inner, by_id: cache(ttl) }
    }
}

#[async_trait]
impl UserRepository for CachedUsers {
    async fn insert(&self, user: &User, event: &AuditEvent) -> Result<(), WriteUserError> {
        self.by_id.invalidate(&(user.tenant_id, user.id)).await;
        self.inner.insert(user, event).await
    }

    async fn find_by_name(&self, tenant: TenantId, name: &UserName) -> Result<Option<User>, StorageError> {
        self.inner.find_by_name(tenant, name).await
    }

    async fn find_by_id(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError> {
        through("users", &self.by_id, (tenant, id), self.inner.find_by_id(tenant, id)).await
    }

    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<User>, StorageError> {
        self.inner.list(tenant, page).await
    }

    async fn update(&self, user: &User, event: &AuditEvent) -> Result<bool, WriteUserError> {
        let result = self.inner.update(user, event).await;
        self.by_id.invalidate(&(user.tenant_id, user.id)).await;
        result
    }

    async fn set_enabled(
        &self,
        tenant: TenantId,
        id: UserId,
        enabled: bool,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let result = self.inner.set_enabled(tenant, id, enabled, at, event).await;
        self.by_id.invalidate(&(tenant, id)).await;
        result
    }

    async fn set_password(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: &PasswordHash,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let result = self.inner.set_password(tenant, id, hash, at, event).await;
        self.by_id.invalidate(&(tenant, id)).await;
        result
    }

    async fn record_login(&self, tenant: TenantId, id: UserId, at: DateTime<Utc>) -> Result<(), StorageError> {
        self.inner.record_login(tenant, id, at).await
    }

    async fn delete(&self, tenant: TenantId, id: UserId, event: &AuditEvent) -> Result<bool, StorageError> {
        let result = self.inner.delete(tenant, id, event).await;
        self.by_id.invalidate(&(tenant, id)).await;
        result
    }
}

/// Platform operators, cached by id.
pub struct CachedPlatformUsers {
    inner: Arc<dyn PlatformUserRepository>,
    by_id: Cache<PlatformUserId, Option<PlatformUser>>,
}

impl CachedPlatformUsers {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn PlatformUserRepository>, ttl: Duration) -> Self {
        Self { inner, by_id: cache(ttl) }
    }
}

#[async_trait]
impl PlatformUserRepository for CachedPlatformUsers {
    async fn insert_if_absent(&self, user: &PlatformUser) -> Result<bool, StorageError> {
        self.by_id.invalidate(&user.id).await;
        self.inner.insert_if_absent(user).await
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<PlatformUser>, StorageError> {
        self.inner.find_by_name(name).await
    }

    async fn find_by_id(&self, id: PlatformUserId) -> Result<Option<PlatformUser>, StorageError> {
        through("platform_users", &self.by_id, id, self.inner.find_by_id(id)).await
    }

    async fn set_password(&self, id: PlatformUserId, hash: &PasswordHash) -> Result<bool, StorageError> {
        let changed = self.inner.set_password(id, hash).await;
        self.by_id.invalidate(&id).await;
        changed
    }

    async fn count(&self) -> Result<u64, StorageError> {
        self.inner.count().await
    }

    async fn create(&self, user: &PlatformUser, event: &AuditEvent) -> Result<bool, StorageError> {
        self.by_id.invalidate(&user.id).await;
        self.inner.create(user, event).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<PlatformUser>, StorageError> {
        self.inner.list(page).await
    }

    async fn update(
        &self,
        id: PlatformUserId,
        change: &OperatorChange,
        events: &[AuditEvent],
    ) -> Result<OperatorWrite, StorageError> {
        // Before and after, which narrows the window; a look-up that read the old row just
        // before the write can still cache it, for one TTL at most (as for every cache here).
        self.by_id.invalidate(&id).await;
        let written = self.inner.update(id, change, events).await;
        self.by_id.invalidate(&id).await;
        written
    }

    async fn delete(&self, id: PlatformUserId, event: &AuditEvent) -> Result<OperatorWrite, StorageError> {
        self.by_id.invalidate(&id).await;
        let written = self.inner.delete(id, event).await;
        self.by_id.invalidate(&id).await;
        written
    }
}

/// API keys, cached by public id (authentication) and by row id (sessions of keys).
pub struct CachedApiKeys {
    inner: Arc<dyn ApiKeyRepository>,
    by_public_id: Cache<String, Option<ApiKey>>,
    by_id: Cache<(TenantId, ApiKeyId), Option<ApiKey>>,
}

impl CachedApiKeys {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ApiKeyRepository>, ttl: Duration) -> Self {
        Self { inner, by_public_id: cache(ttl), by_id: cache(ttl) }
    }

    fn forget(&self) {
        self.by_public_id.invalidate_all();
        self.by_id.invalidate_all();
    }
}

#[async_trait]
impl ApiKeyRepository for CachedApiKeys {
    async fn insert(&self, key: &ApiKey, event: &AuditEvent) -> Result<(), InsertKeyError> {
        self.by_public_id.invalidate(key.public_id.as_str()).await;
        self.inner.insert(key, event).await
    }

    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        through(
            "api_keys",
            &self.by_public_id,
            public_id.as_str().to_owned(),
            self.inner.find_for_authentication(public_id),
        )
        .await
    }

    async fn find(&self, tenant: TenantId, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        let found = self.find_for_authentication(public_id).await?;
        Ok(found.filter(|k| k.tenant_id == tenant))
    }

    async fn find_by_id(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKey>, StorageError> {
        through("api_keys", &self.by_id, (tenant, id), self.inner.find_by_id(tenant, id)).await
    }

    async fn list(
        &self,
        tenant: TenantId,
        owner: Option<KeyOwner>,
        unrevoked_only: bool,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StorageError> {
        self.inner.list(tenant, owner, unrevoked_only, page).await
    }

    async fn revoke(
        &self,
        tenant: TenantId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let result = self.inner.revoke(tenant, public_id, at, event).await;
        self.forget();
        result
    }

    async fn touch(&self, key: &ApiKey, at: DateTime<Utc>) -> Result<(), StorageError> {
        let result = self.inner.touch(key, at).await;
        // Give the cached copy the new time, so the next check does not touch again, but
        // only if it is still the copy `key` was read from: a revocation (or any change)
        // since then dropped or replaced it, and a stale copy written back would let a
        // revoked key work here until the entry expires.
        let mut touched = key.clone();
        touched.last_used_at = Some(at);
        self.by_public_id
            .entry(key.public_id.as_str().to_owned())
            .and_compute_with(|cached| {
                let unchanged = cached.is_some_and(|entry| entry.value().as_ref() == Some(key));
                std::future::ready(if unchanged { Op::Put(Some(touched)) } else { Op::Nop })
            })
            .await;
        result
    }
}

/// Sessions, cached by id; rotation and revocation refresh or drop the entry.
pub struct CachedSessions {
    inner: Arc<dyn SessionRepository>,
    by_id: Cache<(Scope, SessionId), Option<Session>>,
}

impl CachedSessions {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionRepository>, ttl: Duration) -> Self {
        Self { inner, by_id: cache(ttl) }
    }
}

#[async_trait]
impl SessionRepository for CachedSessions {
    async fn insert(&self, session: &Session) -> Result<(), StorageError> {
        self.inner.insert(session).await?;
        self.by_id.insert((session.scope, session.id), Some(session.clone())).await;
        Ok(())
    }

    async fn find(&self, scope: Scope, id: SessionId) -> Result<Option<Session>, StorageError> {
        through("sessions", &self.by_id, (scope, id), self.inner.find(scope, id)).await
    }

    async fn rotate(
        &self,
        scope: Scope,
        id: SessionId,
        presented: &str,
        new_jti: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StorageError> {
        let rotated = self.inner.rotate(scope, id, presented, new_jti, now).await;
        match &rotated {
            Ok(Some(session)) => self.by_id.insert((scope, id), Some(session.clone())).await,
            _ => self.by_id.invalidate(&(scope, id)).await,
        }
        rotated
    }

    async fn revoke(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let result = self.inner.revoke(scope, id, reason, now).await;
        self.by_id.invalidate(&(scope, id)).await;
        result
    }

    async fn revoke_recorded(
        &self,
        scope: Scope,
        id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let result = self.inner.revoke_recorded(scope, id, reason, now, event).await;
        self.by_id.invalidate(&(scope, id)).await;
        result
    }

    async fn revoke_subject(
        &self,
        scope: Scope,
        subject: SessionSubject,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let result = self.inner.revoke_subject(scope, subject, reason, now).await;
        self.by_id.invalidate_all();
        result
    }

    async fn list_active(
        &self,
        scope: Scope,
        subject: Option<SessionSubject>,
        now: DateTime<Utc>,
        page: PageRequest,
    ) -> Result<Page<Session>, StorageError> {
        self.inner.list_active(scope, subject, now, page).await
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        // Cached copies of purged sessions show them ended already: nothing to drop.
        self.inner.purge(cutoff, limit).await
    }
}

#[cfg(test)]
mod tests;

/// Lockout state: policies cached per scope (a change made here applies at once, made
/// elsewhere within the TTL). Failure records are always read and written through: they
/// must agree across replicas, and each is read only by a sign-in that costs a hash.
pub struct CachedLockout {
    inner: Arc<dyn LockoutRepository>,
    policies: Cache<Scope, BruteForcePolicy>,
}

impl CachedLockout {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LockoutRepository>, ttl: Duration) -> Self {
        Self { inner, policies: cache(ttl) }
    }
}

#[async_trait]
impl LockoutRepository for CachedLockout {
    async fn policy(&self, scope: Scope) -> Result<BruteForcePolicy, StorageError> {
        through("brute_force_policies", &self.policies, scope, self.inner.policy(scope)).await
    }

    async fn set_policy(
        &self,
        scope: Scope,
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<(), StorageError> {
        let result = self.inner.set_policy(scope, policy, now, event).await;
        self.policies.invalidate(&scope).await;
        result
    }

    async fn state(&self, scope: Scope, subject: &LockoutSubject) -> Result<Option<FailureState>, StorageError> {
        self.inner.state(scope, subject).await
    }

    async fn record_failure(
        &self,
        scope: Scope,
        subject: &LockoutSubject,
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<FailureState, StorageError> {
        self.inner.record_failure(scope, subject, policy, now).await
    }

    async fn clear(&self, scope: Scope, subject: &LockoutSubject) -> Result<bool, StorageError> {
        self.inner.clear(scope, subject).await
    }

    async fn unlock(&self, scope: Scope, subject: &LockoutSubject, event: &AuditEvent) -> Result<bool, StorageError> {
        self.inner.unlock(scope, subject, event).await
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        self.inner.purge(cutoff, limit).await
    }
}
