//! The accounts caches: tenant users and platform operators, each cached by id (look-ups
//! by name go to the store, since a password hash dominates them).

use super::read_through::{cache, through};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{PlatformUserId, TenantId, UserId};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::password::PasswordHash;
use keyplane_domain::platform::{OperatorChange, OperatorWrite, PlatformUser, PlatformUserRepository};
use keyplane_domain::user::{User, UserName, UserRepository, WriteUserError};
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

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
