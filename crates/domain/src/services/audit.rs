//! The audit trail as a service: reading the trail within the caller's reach, and
//! purging events past their retention.

use crate::audit::{AuditEvent, AuditFilter, AuditLog, AuditScope};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::page::{Page, PageRequest};
use chrono::Duration;
use std::sync::Arc;

/// Reading the audit trail. (Callers are named by their [`crate::principal::Principal`]
/// itself: see [`crate::audit::Initiator::new`].)
#[derive(Clone)]
pub struct AuditService {
    log: Arc<dyn AuditLog>,
}

impl AuditService {
    /// Builds the service over the trail.
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    /// One page of the events in `scope` matching `filter`, newest first.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list(
        &self,
        scope: AuditScope,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StorageError> {
        self.log.list(scope, filter, page).await
    }
}

/// How long audit events are kept and how many are deleted per statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetentionPolicy {
    /// How long an event is kept.
    pub keep_for: Duration,
    /// The most events one delete statement removes.
    pub batch_size: u64,
}

impl Default for AuditRetentionPolicy {
    /// Ninety days, 1000 per batch.
    fn default() -> Self {
        Self { keep_for: Duration::days(90), batch_size: 1000 }
    }
}

/// Deletes audit events past their retention.
pub struct AuditRetention {
    log: Arc<dyn AuditLog>,
    clock: SharedClock,
    policy: AuditRetentionPolicy,
}

impl AuditRetention {
    /// Builds the service over its ports.
    pub fn new(log: Arc<dyn AuditLog>, clock: SharedClock, policy: AuditRetentionPolicy) -> Self {
        Self { log, clock, policy }
    }

    /// Deletes batches of events older than `keep_for` until one comes back short;
    /// returns how many were deleted in all.
    ///
    /// # Errors
    /// Only [`StorageError`] (the batches before it stay deleted).
    pub async fn purge(&self) -> Result<u64, StorageError> {
        let Some(cutoff) = self.clock.now().checked_sub_signed(self.policy.keep_for) else { return Ok(0) };
        let mut total = 0;
        loop {
            let deleted = self.log.purge(cutoff, self.policy.batch_size).await?;
            total += deleted;
            if deleted < self.policy.batch_size {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{action, Actor, AuditFilter, Outcome};
    use crate::ids::TenantId;
    use crate::origin::EntryPoint;
    use crate::origin::RequestContext;
    use crate::testing::{FixedClock, InMemoryAudit};

    async fn failure_at(audit: &InMemoryAudit, at: chrono::DateTime<chrono::Utc>) {
        let request = RequestContext::new(EntryPoint::Native);
        let e = AuditEvent::new(at, None, Actor::anonymous(), action::USER_SIGN_IN_FAILED, Outcome::Failure, &request);
        audit.record(&e).await.unwrap();
    }

    #[tokio::test]
    async fn retention_purges_in_batches_and_keeps_the_window() {
        let clock = FixedClock::default();
        let now = clock.0;
        let audit = Arc::new(InMemoryAudit::default());
        for _ in 0..25 {
            failure_at(&audit, now - Duration::days(91)).await;
        }
        failure_at(&audit, now - Duration::days(89)).await;
        let policy = AuditRetentionPolicy { keep_for: Duration::days(90), batch_size: 10 };
        let retention = AuditRetention::new(audit.clone(), Arc::new(clock), policy);
        assert_eq!(retention.purge().await.unwrap(), 25);
        assert_eq!(audit.events().len(), 1);
    }

    #[tokio::test]
    async fn listing_stays_in_scope_and_filters() {
        let audit = Arc::new(InMemoryAudit::default());
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let now = FixedClock::default().0;
        let request = RequestContext::new(EntryPoint::Admin);
        for (tenant, name) in
            [(Some(a), action::USER_CREATED), (Some(b), action::USER_CREATED), (None, action::TENANT_CREATED)]
        {
            let e = AuditEvent::new(now, tenant, Actor::anonymous(), name, Outcome::Success, &request);
            audit.record(&e).await.unwrap();
        }
        let page = PageRequest::default();
        let all = audit.list(AuditScope::All, &AuditFilter::default(), page).await.unwrap();
        assert_eq!(all.total, 3);
        let only_a = audit.list(AuditScope::Tenant(a), &AuditFilter::default(), page).await.unwrap();
        assert_eq!(only_a.items.iter().map(|e| e.tenant).collect::<Vec<_>>(), [Some(a)]);
        let filter = AuditFilter { action_prefix: Some("tenant.".into()), ..Default::default() };
        assert_eq!(audit.list(AuditScope::All, &filter, page).await.unwrap().total, 1);
    }
}
