//! Brute-force lockout, modeled on Keycloak's brute-force detection and Cognito's
//! lockout: failed sign-ins are counted per (scope, case-folded user name) across every
//! entry point, and past the policy's limit the name is locked for a growing interval.
//! Wrong API-key secrets are counted per key id too, but never lock the key: its 256-bit
//! secret cannot be guessed, and its public id is no secret. Counting is one atomic statement in the database, so replicas agree.

use crate::audit::AuditEvent;
use crate::error::{Invalid, StorageError};
use crate::scope::Scope;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// The longest reset window a policy may have; failure records older than it (and not
/// locked) are purged, so the names an attacker tries cannot grow storage without bound.
pub const MAX_FAILURE_RESET_SECS: i64 = 7 * 86_400;

/// A scope's brute-force policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForcePolicy {
    /// Whether failures are counted and subjects locked (default true).
    pub enabled: bool,
    /// Failures that lock the subject: 3 to 100 (default 10).
    pub max_failures: u32,
    /// The first lock: 1 s to 1 h (default 60 s); doubled for each further failure
    /// while locked.
    pub lock: Duration,
    /// The longest lock: up to 24 h, at least `lock` (default 15 min).
    pub max_lock: Duration,
    /// A quiet period after which the count starts again: 1 s to 7 d (default 12 h).
    pub failure_reset: Duration,
}

impl Default for BruteForcePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_failures: 10,
            lock: Duration::seconds(60),
            max_lock: Duration::seconds(900),
            failure_reset: Duration::seconds(43_200),
        }
    }
}

fn check(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(field, format!("must be between {min} and {max}")))
    }
}

impl BruteForcePolicy {
    /// Builds a policy, checking every bound.
    ///
    /// # Errors
    /// [`Invalid`] naming the first field out of range.
    pub fn new(
        enabled: bool,
        max_failures: i64,
        lock_seconds: i64,
        max_lock_seconds: i64,
        failure_reset_seconds: i64,
    ) -> Result<Self, Invalid> {
        check("max_failures", max_failures, 3, 100)?;
        check("lock_seconds", lock_seconds, 1, 3_600)?;
        check("max_lock_seconds", max_lock_seconds, lock_seconds, 86_400)?;
        check("failure_reset_seconds", failure_reset_seconds, 1, MAX_FAILURE_RESET_SECS)?;
        Ok(Self {
            enabled,
            max_failures: max_failures as u32,
            lock: Duration::seconds(lock_seconds),
            max_lock: Duration::seconds(max_lock_seconds),
            failure_reset: Duration::seconds(failure_reset_seconds),
        })
    }

    /// How long the `failures`-th consecutive failure locks the subject: nothing below
    /// the limit, `lock` at it, doubling for each failure beyond, at most `max_lock`.
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        if !self.enabled || failures < self.max_failures {
            return None;
        }
        let doublings = (failures - self.max_failures).min(30);
        let secs = self.lock.num_seconds().saturating_mul(1_i64 << doublings);
        Some(Duration::seconds(secs.min(self.max_lock.num_seconds())))
    }
}

/// Who failures are counted for: a case-folded user name (known or not, so that locking
/// reveals nothing about which users exist), or an API key's public id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockoutSubject(String);

impl LockoutSubject {
    /// A user name as typed, case-folded.
    pub fn user_name(raw: &str) -> Self {
        Self(format!("user:{}", raw.trim().to_lowercase()))
    }

    /// An API key's public id.
    pub fn key(public_id: &str) -> Self {
        Self(format!("key:{public_id}"))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subject's failure record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureState {
    /// Consecutive failures within the reset window.
    pub failures: u32,
    /// Until when the subject is locked, if it is or was.
    pub locked_until: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_failure_at: DateTime<Utc>,
}

impl FailureState {
    /// Whether the subject is locked at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// The failures that still count at `now` under `policy` (none after the reset window).
    pub fn current_failures(&self, now: DateTime<Utc>, policy: &BruteForcePolicy) -> u32 {
        if now - self.last_failure_at >= policy.failure_reset && !self.is_locked(now) {
            0
        } else {
            self.failures
        }
    }
}

/// Storage of policies and failure counters. Every method is scoped.
#[async_trait]
pub trait LockoutRepository: Send + Sync {
    /// The scope's policy; the default when none was set.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn policy(&self, scope: Scope) -> Result<BruteForcePolicy, StorageError>;

    /// Replaces the scope's policy, storing `event` (`brute_force_policy.updated`) in the
    /// same transaction.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn set_policy(
        &self,
        scope: Scope,
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<(), StorageError>;

    /// An administrator's unlock: forgets the subject's failures and lock, storing `event`
    /// (`user.unlocked`) in the same transaction. Returns whether there was a record.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn unlock(&self, scope: Scope, subject: &LockoutSubject, event: &AuditEvent) -> Result<bool, StorageError>;

    /// The subject's record, if it has one.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn state(&self, scope: Scope, subject: &LockoutSubject) -> Result<Option<FailureState>, StorageError>;

    /// Counts one failure at `now`, atomically across processes: the count starts again
    /// at 1 when the last failure is older than `policy.failure_reset` (and no lock is in
    /// force), and the lock that `policy.lock_for` gives the new count is applied, never
    /// shortening one already in force. Returns the record after the update. Of any
    /// number of concurrent calls, every one is counted.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn record_failure(
        &self,
        scope: Scope,
        subject: &LockoutSubject,
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<FailureState, StorageError>;

    /// Forgets the subject's failures and lock (a success, or an admin's unlock); returns
    /// whether there was a record.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn clear(&self, scope: Scope, subject: &LockoutSubject) -> Result<bool, StorageError>;

    /// Deletes up to `limit` records whose last failure is before `cutoff` and whose lock
    /// (if any) ended before it: the unbounded set of names an attacker can try stays
    /// bounded. Returns how many were deleted. The one unscoped method.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn purge(&self, cutoff: DateTime<Utc>, limit: u64) -> Result<u64, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced_and_name_the_field() {
        assert!(BruteForcePolicy::new(true, 3, 1, 1, 1).is_ok());
        assert!(BruteForcePolicy::new(true, 100, 3600, 86_400, MAX_FAILURE_RESET_SECS).is_ok());
        for (args, field) in [
            ((2, 60, 900, 60), "max_failures"),
            ((101, 60, 900, 60), "max_failures"),
            ((10, 0, 900, 60), "lock_seconds"),
            ((10, 3601, 86_400, 60), "lock_seconds"),
            ((10, 60, 59, 60), "max_lock_seconds"),
            ((10, 60, 86_401, 60), "max_lock_seconds"),
            ((10, 60, 900, 0), "failure_reset_seconds"),
        ] {
            let e = BruteForcePolicy::new(true, args.0, args.1, args.2, args.3).unwrap_err();
            assert_eq!(e.field, field, "{args:?}");
        }
    }

    #[test]
    fn the_lock_doubles_per_failure_up_to_the_maximum() {
        let p = BruteForcePolicy::default();
        assert_eq!(p.lock_for(9), None);
        let secs: Vec<i64> = (10..=16).map(|n| p.lock_for(n).unwrap().num_seconds()).collect();
        assert_eq!(secs, [60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(p.lock_for(u32::MAX).unwrap().num_seconds(), 900);
        assert_eq!(BruteForcePolicy { enabled: false, ..p }.lock_for(50), None);
    }

    #[test]
    fn names_fold_and_keys_do_not_collide_with_names() {
        assert_eq!(LockoutSubject::user_name(" Alice "), LockoutSubject::user_name("alice"));
        assert_ne!(LockoutSubject::user_name("key:abc"), LockoutSubject::key("abc"));
    }
}
