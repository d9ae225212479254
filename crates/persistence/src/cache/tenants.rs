//! The tenants cache: every tenant look-up (by id or slug) on the request path reads it.

use super::read_through::{cache, through};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::TenantId;
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::tenant::{InsertTenantError, Tenant, TenantRef, TenantRepository, TenantStatus};
use keyplane_domain::token::SigningKey;
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

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
