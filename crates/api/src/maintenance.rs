//! Background upkeep that runs beside the server and stops with it: purging sessions that
//! ended longer ago than their retention, sign-in failure records older than the longest
//! lockout reset window, and audit events past their retention, so that storage stays
//! bounded.

use crate::settings::{AuditSettings, SessionPurgeSettings};
use keyplane_domain::audit::AuditLog;
use keyplane_domain::clock::SharedClock;
use keyplane_domain::lockout::{LockoutRepository, MAX_FAILURE_RESET_SECS};
use keyplane_domain::services::audit::{AuditRetention, AuditRetentionPolicy};
use keyplane_domain::services::retention::{SessionRetention, SessionRetentionPolicy};
use keyplane_domain::session::SessionRepository;
use std::sync::Arc;
use std::time::Duration;

/// The session purge loop: purge (batch after batch), then wait an interval.
pub struct SessionPurge {
    retention: SessionRetention,
    interval: Duration,
    failures: Option<(Arc<dyn LockoutRepository>, SharedClock, u64)>,
}

impl SessionPurge {
    /// The purge configured by `settings`; `None` when purging is disabled
    /// (`interval_ms = 0`).
    pub fn new(
        sessions: Arc<dyn SessionRepository>,
        clock: SharedClock,
        settings: &SessionPurgeSettings,
    ) -> Option<Self> {
        if settings.interval_ms == 0 {
            return None;
        }
        let keep_for = i64::try_from(settings.retention_secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or(chrono::Duration::MAX);
        let policy = SessionRetentionPolicy { keep_for, batch_size: settings.batch_size.max(1) };
        Some(Self {
            retention: SessionRetention::new(sessions, clock, policy),
            interval: Duration::from_millis(settings.interval_ms),
            failures: None,
        })
    }

    /// Also purges sign-in failure records that no policy can count any more (older than
    /// the longest reset window, and not locked), in batches of `batch_size`.
    pub fn with_failures(mut self, lockout: Arc<dyn LockoutRepository>, clock: SharedClock, batch_size: u64) -> Self {
        self.failures = Some((lockout, clock, batch_size.max(1)));
        self
    }

    async fn purge_failures(&self) -> Result<u64, keyplane_domain::error::StorageError> {
        let Some((lockout, clock, batch)) = &self.failures else { return Ok(0) };
        let cutoff = clock.now() - chrono::Duration::seconds(MAX_FAILURE_RESET_SECS);
        let mut total = 0;
        loop {
            let deleted = lockout.purge(cutoff, *batch).await?;
            total += deleted;
            if deleted < *batch {
                return Ok(total);
            }
        }
    }

    /// Runs until the task is aborted. A failed purge is logged and tried again after the
    /// interval.
    pub async fn run(self) {
        loop {
            match self.retention.purge().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "purged ended sessions"),
                Err(e) => tracing::warn!(error = %e, "purging ended sessions failed"),
            }
            match self.purge_failures().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "purged stale sign-in failure records"),
                Err(e) => tracing::warn!(error = %e, "purging sign-in failure records failed"),
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// The audit purge loop: delete events past their retention (batch after batch), then
/// wait an interval.
pub struct AuditPurge {
    retention: AuditRetention,
    interval: Duration,
}

impl AuditPurge {
    /// The purge configured by `settings`; `None` when disabled (`purge_interval_ms = 0`
    /// or `retention_days = 0`, which keeps events forever).
    pub fn new(log: Arc<dyn AuditLog>, clock: SharedClock, settings: &AuditSettings) -> Option<Self> {
        if settings.purge_interval_ms == 0 || settings.retention_days == 0 {
            return None;
        }
        let keep_for = i64::try_from(settings.retention_days)
            .ok()
            .and_then(chrono::Duration::try_days)
            .unwrap_or(chrono::Duration::MAX);
        let policy = AuditRetentionPolicy { keep_for, batch_size: settings.purge_batch_size.max(1) };
        Some(Self {
            retention: AuditRetention::new(log, clock, policy),
            interval: Duration::from_millis(settings.purge_interval_ms),
        })
    }

    /// Runs until the task is aborted. A failed purge is logged and tried again after the
    /// interval.
    pub async fn run(self) {
        loop {
            match self.retention.purge().await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "purged audit events past their retention"),
                Err(e) => tracing::warn!(error = %e, "purging audit events failed"),
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}
