//! Brute-force lockout, modeled on Keycloak's brute-force detection and Cognito's
//! lockout, but such that it cannot be turned against a user: sign-in attempts are
//! counted per (scope, case-folded user name, client address) towards `max_failures`,
//! and per (scope, name) towards `max_failures_total`, across every entry point; past
//! either limit that counter is locked for a growing interval. So an attacker's address
//! is locked out of a name long before the name itself is (NIST SP 800-63B §5.2.2),
//! and the user's own address still signs in.
//!
//! An attempt is reserved before the password is verified: one conditional write per
//! counter, in one transaction, that refuses while a lock is in force or while the
//! counter's failures and the attempts being verified fill its limit. So at most the
//! limit's verifications can fail per lock window, whatever the concurrency, on any
//! number of replicas; once a lock has ended, one attempt at a time is verified, and its
//! failure locks again for twice as long. Attempts refused while locked are neither
//! verified nor counted, and do not extend the lock. A failure settles its place as a
//! failure; a success forgets the failures it observed when it was reserved (not those
//! settled since); an attempt that ends neither way frees its place.
//! Wrong API-key secrets are counted per key id too, but never lock the key: its 256-bit
//! secret cannot be guessed, and its public id is no secret.

use crate::audit::AuditEvent;
use crate::error::{Invalid, StorageError};
use crate::scope::Scope;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::net::{IpAddr, Ipv6Addr};

/// How long a reserved attempt holds its place at most: one not settled by then (its
/// process died mid-verification) no longer counts.
pub const PENDING_TTL: Duration = Duration::seconds(120);

/// The longest reset window a policy may have; failure records older than it (and not
/// locked) are purged, so the names an attacker tries cannot grow storage without bound.
pub const MAX_FAILURE_RESET_SECS: i64 = 7 * 86_400;

/// A scope's brute-force policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForcePolicy {
    /// Whether failures are counted and subjects locked (default true).
    pub enabled: bool,
    /// Failures from one client address that lock that address out of the subject: 3 to
    /// 100 (default 10).
    pub max_failures: u32,
    /// Failures from all addresses together that lock the subject as a whole:
    /// `max_failures` to 10000 (default 100).
    pub max_failures_total: u32,
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
            max_failures_total: 100,
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
        max_failures_total: i64,
        lock_seconds: i64,
        max_lock_seconds: i64,
        failure_reset_seconds: i64,
    ) -> Result<Self, Invalid> {
        check("max_failures", max_failures, 3, 100)?;
        check("max_failures_total", max_failures_total, max_failures, 10_000)?;
        check("lock_seconds", lock_seconds, 1, 3_600)?;
        check("max_lock_seconds", max_lock_seconds, lock_seconds, 86_400)?;
        check("failure_reset_seconds", failure_reset_seconds, 1, MAX_FAILURE_RESET_SECS)?;
        Ok(Self {
            enabled,
            max_failures: max_failures as u32,
            max_failures_total: max_failures_total as u32,
            lock: Duration::seconds(lock_seconds),
            max_lock: Duration::seconds(max_lock_seconds),
            failure_reset: Duration::seconds(failure_reset_seconds),
        })
    }

    /// How long the `failures`-th counted attempt locks a counter whose limit is `limit`:
    /// nothing below the limit, `lock` at it, doubling for each attempt beyond (one per
    /// lock, as attempts made while locked are not counted), at most `max_lock`.
    pub fn lock_after(&self, limit: u32, failures: u32) -> Option<Duration> {
        if !self.enabled || failures < limit {
            return None;
        }
        let doublings = (failures - limit).min(30);
        let secs = self.lock.num_seconds().saturating_mul(1_i64 << doublings);
        Some(Duration::seconds(secs.min(self.max_lock.num_seconds())))
    }

    /// The lock of the `failures`-th attempt from one address ([`Self::lock_after`]
    /// `max_failures`).
    pub fn lock_for(&self, failures: u32) -> Option<Duration> {
        self.lock_after(self.max_failures, failures)
    }

    /// The counters an attempt on `user_name` from `address` is reserved on: the
    /// address's, then the name's.
    pub fn counters(&self, user_name: &str, address: Option<IpAddr>) -> [Counter; 2] {
        [
            Counter { subject: LockoutSubject::user_at(user_name, address), limit: self.max_failures },
            Counter { subject: LockoutSubject::user_name(user_name), limit: self.max_failures_total },
        ]
    }
}

/// A counter an attempt is reserved on, and the count that locks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Whose attempts it counts.
    pub subject: LockoutSubject,
    /// The count that locks it (`u32::MAX`: counts, never locks).
    pub limit: u32,
}

/// The answer to [`LockoutRepository::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every counter took the attempt: their records after it, in order (`failures`
    /// being those the attempt observed).
    Granted(Vec<FailureState>),
    /// The counter at this index refused it, so nothing was reserved anywhere: locked,
    /// or its failures and the attempts being verified fill its limit.
    Refused {
        /// Its position in the counters given.
        counter: usize,
        /// Its record.
        state: FailureState,
    },
}

/// Who failures are counted for: a case-folded user name (known or not, so that locking
/// reveals nothing about which users exist), a user name from one client address, or an
/// API key's public id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockoutSubject(String);

impl LockoutSubject {
    /// A user name as typed, case-folded.
    pub fn user_name(raw: &str) -> Self {
        Self(format!("user:{}", raw.trim().to_lowercase()))
    }

    /// A user name as typed, from one client address: an IPv4 address, or an IPv6
    /// address's /64 (one host's or one customer's network; counting its 2^64 addresses
    /// one by one would give an attacker as many counters). A user name holds no `|`.
    pub fn user_at(raw: &str, address: Option<IpAddr>) -> Self {
        Self(format!("{}|addr:{}", Self::user_name(raw).0, address_key(address)))
    }

    /// An API key's public id.
    pub fn key(public_id: &str) -> Self {
        Self(format!("key:{public_id}"))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the stored forms of this user name's per-address subjects begin with.
    pub fn address_prefix(&self) -> String {
        format!("{}|addr:", self.0)
    }
}

/// How a client address is counted: see [`LockoutSubject::user_at`].
pub fn address_key(address: Option<IpAddr>) -> String {
    match address.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// A subject's failure record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureState {
    /// Consecutive failures within the reset window.
    pub failures: u32,
    /// Attempts reserved and still being verified (see [`PENDING_TTL`]).
    pub pending: u32,
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

/// A user name's lockout as administrators see it: the name's own counter, and those of
/// the addresses that failed on it (at most [`MAX_ADDRESSES_SHOWN`], most recent first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockoutStatus {
    /// Attempts on the name, from every address, that still count towards its lock.
    pub failures: u32,
    /// Until when the name as a whole is locked, if it is.
    pub locked_until: Option<DateTime<Utc>>,
    /// The addresses with attempts that still count.
    pub addresses: Vec<AddressStatus>,
}

/// One address's counter on a user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressStatus {
    /// The address (an IPv6 address's /64; `unknown` when none was known).
    pub address: String,
    /// Its attempts that still count towards its lock.
    pub failures: u32,
    /// Until when it is locked out of the name, if it is.
    pub locked_until: Option<DateTime<Utc>>,
}

/// How many address counters [`LockoutStatus`] shows.
pub const MAX_ADDRESSES_SHOWN: u64 = 20;

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

    /// An administrator's unlock: forgets the subject's failures and lock and those of
    /// its per-address counters ([`LockoutSubject::address_prefix`]), storing `event`
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

    /// The records of the subject's per-address counters, the most recent attempt first,
    /// at most `limit`: each with the address key it counts (see [`address_key`]).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn address_states(
        &self,
        scope: Scope,
        subject: &LockoutSubject,
        limit: u64,
    ) -> Result<Vec<(String, FailureState)>, StorageError>;

    /// Reserves one attempt on each of `counters`, all or nothing, atomically across
    /// processes. A counter refuses while it is locked at `now`, and while its failures
    /// (none after a quiet `policy.failure_reset`) and the attempts being verified
    /// (reserved within [`PENDING_TTL`]) reach its limit, except that once its lock has
    /// ended it takes one attempt at a time. A granted attempt is counted as being
    /// verified until [`Self::fail`] or [`Self::release`] settles it.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn reserve(
        &self,
        scope: Scope,
        counters: &[Counter],
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Reservation, StorageError>;

    /// Settles an attempt as failed on each of `counters`, in one transaction: its place
    /// (if it held one) becomes a failure, counted from 1 again after a quiet reset
    /// window; a counter whose failures reach its limit is locked for
    /// [`BruteForcePolicy::lock_after`], never shortening a lock in force. Returns the
    /// records after it, in order. Wrong key secrets are counted with it directly.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn fail(
        &self,
        scope: Scope,
        counters: &[Counter],
        policy: &BruteForcePolicy,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureState>, StorageError>;

    /// Settles an attempt that did not fail: frees its place, and forgets the failures
    /// given with each counter (a success, those it observed when reserved, so that
    /// failures settled since stay counted; an attempt that ended neither way, none). A
    /// counter left below its limit loses its lock; one left empty is deleted.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn release(&self, scope: Scope, observed: &[(Counter, u32)]) -> Result<(), StorageError>;

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
        assert!(BruteForcePolicy::new(true, 3, 3, 1, 1, 1).is_ok());
        assert!(BruteForcePolicy::new(true, 100, 10_000, 3600, 86_400, MAX_FAILURE_RESET_SECS).is_ok());
        for (args, field) in [
            ((2, 100, 60, 900, 60), "max_failures"),
            ((101, 200, 60, 900, 60), "max_failures"),
            ((10, 9, 60, 900, 60), "max_failures_total"),
            ((10, 10_001, 60, 900, 60), "max_failures_total"),
            ((10, 100, 0, 900, 60), "lock_seconds"),
            ((10, 100, 3601, 86_400, 60), "lock_seconds"),
            ((10, 100, 60, 59, 60), "max_lock_seconds"),
            ((10, 100, 60, 86_401, 60), "max_lock_seconds"),
            ((10, 100, 60, 900, 0), "failure_reset_seconds"),
        ] {
            let e = BruteForcePolicy::new(true, args.0, args.1, args.2, args.3, args.4).unwrap_err();
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
        assert_eq!(p.lock_after(100, 99), None);
        assert_eq!(p.lock_after(100, 101).unwrap().num_seconds(), 120);
    }

    #[test]
    fn names_fold_and_keys_do_not_collide_with_names() {
        assert_eq!(LockoutSubject::user_name(" Alice "), LockoutSubject::user_name("alice"));
        assert_ne!(LockoutSubject::user_name("key:abc"), LockoutSubject::key("abc"));
        let at = |ip: &str| LockoutSubject::user_at("Alice", Some(ip.parse().unwrap()));
        assert_eq!(at("203.0.113.9").as_str(), "user:alice|addr:203.0.113.9");
        assert_eq!(at("::ffff:203.0.113.9"), at("203.0.113.9"), "a mapped IPv4 address is that address");
        assert_eq!(at("2001:db8:1:2:aaaa::1"), at("2001:db8:1:2:bbbb::9"), "one /64, one counter");
        assert_ne!(at("2001:db8:1:2::1"), at("2001:db8:1:3::1"));
        assert_eq!(LockoutSubject::user_at("alice", None).as_str(), "user:alice|addr:unknown");
        assert!(at("10.0.0.1").as_str().starts_with(&LockoutSubject::user_name("ALICE").address_prefix()));
        assert!(!LockoutSubject::user_name("alice2")
            .as_str()
            .starts_with(&LockoutSubject::user_name("alice").address_prefix()));
    }
}
