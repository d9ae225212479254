//! The lockout cache: brute-force policies per scope; failure records pass through.

use super::read_through::{cache, through};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::lockout::{
    BruteForcePolicy, Counter, FailureState, LockoutRepository, LockoutSubject, Reservation,
};
use keyplane_domain::scope::Scope;
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;

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

    async fn address_states(
        &self,
        scope: Scope,
        subject: &LockoutSubject,
        limit: u64,
    ) -> Result<Vec<(String, FailureState)>, StorageError> {
        self.inner.address_states(scope, subject, limit).await
    }

    async fn reserve(
        &self,
        scope: Scope,
        counters: &[Counter],
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StorageError> {
        self.inner.reserve(scope, counters, policy, now).await
    }

    async fn fail(
        &self,
        scope: Scope,
        counters: &[Counter],
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureState>, StorageError> {
        self.inner.fail(scope, counters, policy, now).await
    }

    async fn release(&self, scope: Scope, observed: &[(Counter, u32)]) -> Result<(), StorageError> {
        self.inner.release(scope, observed).await
    }

    async fn unlock(&self, scope: Scope, subject: &LockoutSubject, event: &AuditEvent) -> Result<bool, StorageError> {
        self.inner.unlock(scope, subject, event).await
    }

    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
        self.inner.purge(cutoff, limit).await
    }
}
