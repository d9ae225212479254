//! Brute-force bookkeeping of every credential check: a name's failures are counted
//! towards a lock (the failure that reaches the limit locks, and is audited as such), a
//! success resets them, and wrong key secrets are counted without ever locking.

use super::checker::CredentialChecker;
use super::request::SignInError;
use crate::audit::{action, Actor, AuditEvent, Outcome};
use crate::error::StorageError;
use crate::lockout::{BruteForcePolicy, LockoutSubject};
use crate::origin::RequestContext;
use crate::scope::Scope;
use chrono::{DateTime, Utc};

/// A sign-in attempt being counted for lockout.
pub(super) struct Attempt {
    scope: Scope,
    subject: LockoutSubject,
    name: String,
    policy: BruteForcePolicy,
    had_record: bool,
}

impl CredentialChecker {
    /// Starts a counted attempt for `user_name` in `scope`: `None` when the scope's policy
    /// is off; a locked name gets [`SignInError::InvalidCredentials`] at once (the same
    /// answer as a wrong password, without the hash), and that attempt counts too.
    pub(super) async fn begin_attempt(
        &self,
        scope: Scope,
        user_name: &str,
        origin: &RequestContext,
    ) -> Result<Attempt, SignInError> {
        let subject = LockoutSubject::user_name(user_name);
        let policy = self.ports.lockout.policy(scope).await?;
        let attempt = Attempt { scope, subject, name: user_name.to_owned(), policy, had_record: false };
        if !policy.enabled {
            return Ok(attempt);
        }
        let now = self.ports.clock.now();
        let state = self.ports.lockout.state(scope, &attempt.subject).await?;
        let attempt = Attempt { had_record: state.is_some(), ..attempt };
        if state.is_some_and(|s| s.is_locked(now)) {
            return Err(self.failed(attempt, origin, "locked").await);
        }
        Ok(attempt)
    }

    /// Counts a failed attempt and records it; returns the error to answer with.
    pub(super) async fn failed(&self, a: Attempt, origin: &RequestContext, reason: &'static str) -> SignInError {
        let now = self.ports.clock.now();
        let tenant = a.scope.tenant();
        let failed =
            AuditEvent::new(now, tenant, Actor::anonymous(), action::USER_SIGN_IN_FAILED, Outcome::Failure, origin)
                .with("user_name", a.name.clone())
                .with("reason", reason);
        if !a.policy.enabled {
            return match self.ports.audit.record(&failed).await {
                Ok(()) => SignInError::InvalidCredentials,
                Err(e) => SignInError::Storage(e),
            };
        }
        let state = match self.ports.lockout.record_failure(a.scope, &a.subject, &a.policy, now).await {
            Ok(state) => state,
            Err(e) => return SignInError::Storage(e),
        };
        let mut events = vec![failed.with("failed_attempts", state.failures)];
        // The failure that reaches the limit is the one that locks.
        if state.failures == a.policy.max_failures {
            let scope = if tenant.is_some() { "tenant" } else { "platform" };
            metrics::counter!("keyplane_lockouts_total", "scope" => scope).increment(1);
            let locked =
                AuditEvent::new(now, tenant, Actor::anonymous(), action::USER_LOCKED, Outcome::Failure, origin)
                    .with("user_name", a.name.clone())
                    .with("locked_until", state.locked_until.map(|t| t.to_rfc3339()).unwrap_or_default());
            events.push(locked);
        }
        for event in &events {
            if let Err(e) = self.ports.audit.record(event).await {
                return SignInError::Storage(e);
            }
        }
        SignInError::InvalidCredentials
    }

    /// A success resets the count.
    pub(super) async fn succeeded(&self, a: Attempt) -> Result<(), SignInError> {
        if a.had_record {
            self.ports.lockout.clear(a.scope, &a.subject).await?;
        }
        Ok(())
    }

    /// Counts a wrong secret, presented at `now`, for the key `public_id` of `scope`: per key id but never
    /// locking the key: a 256-bit secret cannot be guessed, and a lock would let anyone
    /// who knows a public id (it is not a secret) shut a tenant's application out.
    pub(super) async fn count_wrong_key_secret(
        &self,
        scope: Scope,
        public_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let policy = self.ports.lockout.policy(scope).await?;
        if policy.enabled {
            let counting_only = BruteForcePolicy { max_failures: u32::MAX, ..policy };
            let subject = LockoutSubject::key(public_id);
            self.ports.lockout.record_failure(scope, &subject, &counting_only, now).await?;
        }
        Ok(())
    }
}
