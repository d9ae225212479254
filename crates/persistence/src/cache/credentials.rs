//! The credentials caches: API keys and sessions, what every key check, bearer check and
//! refresh reads; revocation and rotation refresh or drop the entries they touch.

use super::read_through::{cache, through};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::{ApiKey, ApiKeyRepository, InsertKeyError, KeyOwner, KeyPublicId};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{ApiKeyId, SessionId, TenantId};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::scope::Scope;
use keyplane_domain::session::{Session, SessionRepository, SessionSubject};
use moka::future::Cache;
use moka::ops::compute::Op;
use std::sync::Arc;
use std::time::Duration;

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
