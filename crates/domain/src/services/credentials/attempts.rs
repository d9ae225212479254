//! Brute-force bookkeeping of every credential check: an attempt on a name is reserved
//! before its password is verified, on the (name, client address) counter and the
//! name's own (see [`crate::lockout`]). A locked counter refuses at once, without a
//! verification and without being counted; one whose limit is filled by attempts being
//! verified answers "busy" (retry shortly); a failure that reaches a limit locks, and is
//! audited as such; a success forgets what it observed; wrong key secrets are counted
//! without ever locking.

use super::checker::CredentialChecker;
use super::request::SignInError;
use crate::audit::{action, Actor, AuditEvent, Outcome};
use crate::error::StorageError;
use crate::lockout::{BruteForcePolicy, Counter, FailureState, LockoutSubject, Reservation};
use crate::origin::RequestContext;
use crate::scope::Scope;
use chrono::{DateTime, Utc};

/// What each counter of an attempt is called in the audit trail and metrics.
const COUNTERS: [&str; 2] = ["address", "user"];

/// A sign-in attempt reserved for lockout.
pub(super) struct Attempt {
    scope: Scope,
    name: String,
    policy: BruteForcePolicy,
    /// The counters it holds a place on, with their records after the reservation
    /// (none when the scope's policy is off).
    reserved: Vec<(Counter, FailureState)>,
}

impl CredentialChecker {
    /// Reserves an attempt for `user_name` in `scope` from the origin's address. A locked
    /// counter gets [`SignInError::InvalidCredentials`] at once: the same answer as a
    /// wrong password, without the hash (a locked answer is fast, which tells an attacker
    /// only what locking an unknown name would tell them too), and the attempt is neither
    /// counted nor extends the lock.
    pub(super) async fn begin_attempt(
        &self,
        scope: Scope,
        user_name: &str,
        origin: &RequestContext,
    ) -> Result<Attempt, SignInError> {
        let policy = self.ports.lockout.policy(scope).await?;
        let attempt = Attempt { scope, name: user_name.to_owned(), policy, reserved: Vec::new() };
        if !policy.enabled {
            return Ok(attempt);
        }
        let counters = policy.counters(user_name, origin.client_address);
        let now = self.ports.clock.now();
        match self.ports.lockout.reserve(scope, &counters, &policy, now).await? {
            Reservation::Granted(states) => {
                Ok(Attempt { reserved: counters.into_iter().zip(states).collect(), ..attempt })
            }
            // Its limit is filled by attempts being verified right now: none can be
            // verified before they settle, but this one was not refused for a failure.
            Reservation::Refused { state, .. } if !state.is_locked(now) => {
                Err(SignInError::Busy { retry_after_secs: 1 })
            }
            Reservation::Refused { counter, state } => {
                let event = self
                    .failed_event(&attempt, origin, "locked")
                    .with("lock", COUNTERS.get(counter).copied().unwrap_or("user"))
                    .with("locked_until", state.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default());
                Err(match self.ports.audit.record(&event).await {
                    Ok(()) => SignInError::InvalidCredentials,
                    Err(e) => SignInError::Storage(e),
                })
            }
        }
    }

    fn failed_event(&self, a: &Attempt, origin: &RequestContext, reason: &'static str) -> AuditEvent {
        let now = self.ports.clock.now();
        AuditEvent::new(
            now,
            a.scope.tenant(),
            Actor::anonymous(),
            action::USER_SIGN_IN_FAILED,
            Outcome::Failure,
            origin,
        )
        .with("user_name", a.name.clone())
        .with("reason", reason)
    }

    /// A failed attempt: its place becomes a failure; records it, and the lock it caused,
    /// if any. Returns the error to answer with.
    pub(super) async fn failed(&self, a: Attempt, origin: &RequestContext, reason: &'static str) -> SignInError {
        let mut failed = self.failed_event(&a, origin, reason);
        let counters: Vec<Counter> = a.reserved.iter().map(|(c, _)| c.clone()).collect();
        let mut states = Vec::new();
        if !counters.is_empty() {
            let now = self.ports.clock.now();
            states = match self.ports.lockout.fail(a.scope, &counters, &a.policy, now).await {
                Ok(states) => states,
                Err(e) => return SignInError::Storage(e),
            };
        }
        if let [address, total] = states.as_slice() {
            failed = failed.with("failed_attempts", address.failures).with("failed_attempts_total", total.failures);
        }
        let mut events = vec![failed];
        // The failure that reaches a counter's limit (or, after a lock, the next one) locks it.
        for ((counter, state), kind) in counters.iter().zip(&states).zip(COUNTERS) {
            if state.failures >= counter.limit {
                let scope = if a.scope.tenant().is_some() { "tenant" } else { "platform" };
                metrics::counter!("keyplane_lockouts_total", "scope" => scope, "counter" => kind).increment(1);
                let now = self.ports.clock.now();
                let locked = AuditEvent::new(
                    now,
                    a.scope.tenant(),
                    Actor::anonymous(),
                    action::USER_LOCKED,
                    Outcome::Failure,
                    origin,
                )
                .with("user_name", a.name.clone())
                .with("lock", kind)
                .with("failed_attempts", state.failures)
                .with("locked_until", state.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default());
                events.push(locked);
            }
        }
        for event in &events {
            if let Err(e) = self.ports.audit.record(event).await {
                return SignInError::Storage(e);
            }
        }
        SignInError::InvalidCredentials
    }

    /// A success frees its place and forgets the failures it observed when reserved.
    pub(super) async fn succeeded(&self, a: Attempt) -> Result<(), SignInError> {
        let observed: Vec<(Counter, u32)> = a.reserved.into_iter().map(|(c, s)| (c, s.failures)).collect();
        if !observed.is_empty() {
            self.ports.lockout.release(a.scope, &observed).await?;
        }
        Ok(())
    }

    /// An attempt that was neither a success nor a failure (the hashing pool was busy, a
    /// backend failed): it frees its place and counts nothing, so that an overloaded
    /// server does not lock its users out. Returns `error`.
    pub(super) async fn abandoned(&self, a: Attempt, error: SignInError) -> SignInError {
        let own: Vec<(Counter, u32)> = a.reserved.into_iter().map(|(c, _)| (c, 0)).collect();
        // Should the store fail here too, the attempt stays counted, as a failure would:
        // the error the caller sees is the first one.
        if !own.is_empty() {
            self.ports.lockout.release(a.scope, &own).await.ok();
        }
        error
    }

    /// Counts a wrong secret, presented at `now`, for the key `public_id` of `scope`: per
    /// key id but never locking the key: a 256-bit secret cannot be guessed, and a lock
    /// would let anyone who knows a public id (it is not a secret) shut a tenant's
    /// application out.
    pub(super) async fn count_wrong_key_secret(
        &self,
        scope: Scope,
        public_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let policy: BruteForcePolicy = self.ports.lockout.policy(scope).await?;
        if policy.enabled {
            let counter = Counter { subject: LockoutSubject::key(public_id), limit: u32::MAX };
            self.ports.lockout.fail(scope, &[counter], &policy, now).await?;
        }
        Ok(())
    }
}
