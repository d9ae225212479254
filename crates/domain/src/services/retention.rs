//! Storage stays bounded: sessions that ended (expired or revoked) are deleted once a
//! retention window has passed, in bounded batches. Until then they remain, so that
//! refresh-token reuse is still recognised and administrators can inspect them.

use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::session::SessionRepository;
use chrono::Duration;
use std::sync::Arc;

/// How long ended sessions are kept and how many are deleted per statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRetentionPolicy {
    /// How long a session is kept after it expired or was revoked.
    pub keep_for: Duration,
    /// The most sessions one delete statement removes.
    pub batch_size: u64,
}

impl Default for SessionRetentionPolicy {
    /// Seven days, 1000 per batch.
    fn default() -> Self {
        Self { keep_for: Duration::days(7), batch_size: 1000 }
    }
}

/// Deletes ended sessions past their retention.
pub struct SessionRetention {
    sessions: Arc<dyn SessionRepository>,
    clock: SharedClock,
    policy: SessionRetentionPolicy,
}

impl SessionRetention {
    /// Builds the service over its ports.
    pub fn new(sessions: Arc<dyn SessionRepository>, clock: SharedClock, policy: SessionRetentionPolicy) -> Self {
        Self { sessions, clock, policy }
    }

    /// Deletes one batch: at most `batch_size` sessions that ended more than `keep_for`
    /// ago. Returns how many.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn purge_batch(&self) -> Result<u64, StorageError> {
        // A retention reaching before the calendar's start keeps everything.
        let Some(cutoff) = self.clock.now().checked_sub_signed(self.policy.keep_for) else { return Ok(0) };
        self.sessions.purge(cutoff, self.policy.batch_size).await
    }

    /// Deletes batches until one comes back short of `batch_size`; returns how many
    /// sessions were deleted in all.
    ///
    /// # Errors
    /// Only [`StorageError`] (the batches before it stay deleted).
    pub async fn purge(&self) -> Result<u64, StorageError> {
        let mut total = 0;
        loop {
            let deleted = self.purge_batch().await?;
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
    use crate::ids::SessionId;
    use crate::page::{Page, PageRequest};
    use crate::scope::Scope;
    use crate::session::{Session, SessionSubject};
    use crate::testing::FixedClock;
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;

    /// Sessions that are only end times: what `purge` looks at.
    struct EndedAt(Mutex<Vec<DateTime<Utc>>>, Mutex<Vec<(DateTime<Utc>, u64)>>);

    #[async_trait]
    impl SessionRepository for EndedAt {
        async fn insert(&self, _: &Session) -> Result<(), StorageError> {
            unimplemented!()
        }
        async fn find(&self, _: Scope, _: SessionId) -> Result<Option<Session>, StorageError> {
            unimplemented!()
        }
        async fn rotate(
            &self,
            _: Scope,
            _: SessionId,
            _: &str,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<Option<Session>, StorageError> {
            unimplemented!()
        }
        async fn revoke(&self, _: Scope, _: SessionId, _: &str, _: DateTime<Utc>) -> Result<bool, StorageError> {
            unimplemented!()
        }
        async fn revoke_recorded(
            &self,
            _: Scope,
            _: SessionId,
            _: &str,
            _: DateTime<Utc>,
            _: &crate::audit::AuditEvent,
        ) -> Result<bool, StorageError> {
            unimplemented!()
        }
        async fn revoke_subject(
            &self,
            _: Scope,
            _: SessionSubject,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<u64, StorageError> {
            unimplemented!()
        }
        async fn list_active(
            &self,
            _: Scope,
            _: Option<SessionSubject>,
            _: DateTime<Utc>,
            _: PageRequest,
        ) -> Result<Page<Session>, StorageError> {
            unimplemented!()
        }
        async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError> {
            self.1.lock().unwrap().push((cutoff, limit));
            let mut ended = self.0.lock().unwrap();
            let before = ended.len();
            let mut budget = limit;
            ended.retain(|t| {
                let purge = *t < cutoff && budget > 0;
                budget -= u64::from(purge);
                !purge
            });
            Ok((before - ended.len()) as u64)
        }
    }

    #[tokio::test]
    async fn purges_in_batches_until_one_is_short_and_keeps_the_retention_window() {
        let clock = FixedClock::default();
        let now = clock.0;
        let mut ended = vec![now - Duration::days(8); 2500];
        ended.extend(vec![now - Duration::days(6); 10]);
        let repo = Arc::new(EndedAt(Mutex::new(ended), Mutex::default()));
        let policy = SessionRetentionPolicy { keep_for: Duration::days(7), batch_size: 1000 };
        let retention = SessionRetention::new(repo.clone(), Arc::new(clock), policy);

        assert_eq!(retention.purge().await.unwrap(), 2500);

        let cutoff = now - Duration::days(7);
        assert_eq!(*repo.1.lock().unwrap(), vec![(cutoff, 1000), (cutoff, 1000), (cutoff, 1000)]);
        assert_eq!(repo.0.lock().unwrap().len(), 10, "sessions within the window stay");
        assert_eq!(retention.purge().await.unwrap(), 0);
    }
}
