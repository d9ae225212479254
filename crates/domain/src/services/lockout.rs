//! Lockout administration: reading a name's failure record, unlocking it, and reading or
//! replacing a scope's brute-force policy. Counting failures is not here: every credential
//! check does that itself (see `services::credentials`).

use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::lockout::{
    AddressStatus, BruteForcePolicy, FailureState, LockoutRepository, LockoutStatus, LockoutSubject,
    MAX_ADDRESSES_SHOWN,
};
use crate::scope::Scope;
use crate::user::UserName;
use std::sync::Arc;

/// Administers brute-force lockout.
#[derive(Clone)]
pub struct LockoutAdmin {
    lockout: Arc<dyn LockoutRepository>,
    clock: SharedClock,
}

impl LockoutAdmin {
    /// Builds the service over its ports.
    pub fn new(lockout: Arc<dyn LockoutRepository>, clock: SharedClock) -> Self {
        Self { lockout, clock }
    }

    /// A user's lockout in `scope` (for administrators): the name's counter and its
    /// addresses', with what still counts at this moment.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn lockout_state(&self, scope: Scope, user_name: &str) -> Result<LockoutStatus, StorageError> {
        if UserName::parse(user_name).is_err() {
            return Ok(LockoutStatus::default());
        }
        let subject = LockoutSubject::user_name(user_name);
        let policy = self.lockout.policy(scope).await?;
        let now = self.clock.now();
        let current = |s: &FailureState| (s.current_failures(now, &policy), s.locked_until.filter(|u| *u > now));
        let (failures, locked_until) = self.lockout.state(scope, &subject).await?.as_ref().map_or((0, None), current);
        let addresses = self
            .lockout
            .address_states(scope, &subject, MAX_ADDRESSES_SHOWN)
            .await?
            .into_iter()
            .filter_map(|(address, state)| {
                let (failures, locked_until) = current(&state);
                (failures > 0 || locked_until.is_some()).then_some(AddressStatus { address, failures, locked_until })
            })
            .collect();
        Ok(LockoutStatus { failures, locked_until, addresses })
    }

    /// Unlocks a user of `scope` and forgets their failures; returns whether there was
    /// anything to forget.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn unlock(&self, scope: Scope, user_name: &str, by: &Initiator) -> Result<bool, StorageError> {
        // A name no user can have was never counted (credential checks refuse it first).
        if UserName::parse(user_name).is_err() {
            return Ok(false);
        }
        let event = by.event(scope.tenant(), action::USER_UNLOCKED, self.clock.now()).with("user_name", user_name);
        self.lockout.unlock(scope, &LockoutSubject::user_name(user_name), &event).await
    }

    /// The scope's brute-force policy.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn brute_force_policy(&self, scope: Scope) -> Result<BruteForcePolicy, StorageError> {
        self.lockout.policy(scope).await
    }

    /// Replaces the scope's brute-force policy.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn set_brute_force_policy(
        &self,
        scope: Scope,
        policy: &BruteForcePolicy,
        by: &Initiator,
    ) -> Result<(), StorageError> {
        let now = self.clock.now();
        let event = by
            .event(scope.tenant(), action::BRUTE_FORCE_POLICY_UPDATED, now)
            .with("max_failures", policy.max_failures)
            .with("max_failures_total", policy.max_failures_total)
            .with("enabled", policy.enabled);
        self.lockout.set_policy(scope, policy, now, &event).await
    }
}
