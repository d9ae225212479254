//! Ending one session on record (`session.revoked`): by an administrator, or by its own
//! user from the session list. Sign-out with a token is not this: see `end`.

use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::SessionId;
use crate::scope::Scope;
use crate::session::SessionRepository;
use std::sync::Arc;

/// Ends sessions on an administrator's (or their own user's) request.
#[derive(Clone)]
pub struct SessionAdmin {
    sessions: Arc<dyn SessionRepository>,
    clock: SharedClock,
}

impl SessionAdmin {
    /// Builds the service over its ports.
    pub fn new(sessions: Arc<dyn SessionRepository>, clock: SharedClock) -> Self {
        Self { sessions, clock }
    }

    /// Ends session `sid` of `scope` for `reason`, recording `session.revoked` by `by` in
    /// the same transaction; returns whether this call ended it (an ended session is
    /// neither ended nor recorded again).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn end(&self, scope: Scope, sid: SessionId, reason: &str, by: &Initiator) -> Result<bool, StorageError> {
        let now = self.clock.now();
        let event = by
            .event(scope.tenant(), action::SESSION_REVOKED, now)
            .with("session_id", sid.to_string())
            .with("reason", reason.to_owned());
        self.sessions.revoke_recorded(scope, sid, reason, now, &event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::testing::{by_nobody, FixedClock, InMemoryAudit, InMemorySessions};

    #[tokio::test]
    async fn ending_a_session_is_recorded_once() {
        let clock = Arc::new(FixedClock::default());
        let audit = Arc::new(InMemoryAudit::default());
        let sessions = Arc::new(InMemorySessions::with_audit(audit.clone()));
        let t = TenantId::generate();
        let sid = sessions.open(
            Scope::Tenant(t),
            crate::session::SessionSubject::User(crate::ids::UserId::generate()),
            clock.0,
        );
        let admin = SessionAdmin::new(sessions.clone(), clock);
        assert!(admin.end(Scope::Tenant(t), sid, "revoked", &by_nobody()).await.unwrap());
        assert!(!admin.end(Scope::Tenant(t), sid, "revoked", &by_nobody()).await.unwrap());
        let events = audit.events();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].action.as_str(), events[0].tenant), (action::SESSION_REVOKED, Some(t)));
        assert_eq!(events[0].details.get("session_id"), Some(&sid.to_string().into()));
    }
}
