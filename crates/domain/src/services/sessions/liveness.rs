//! Whether a session may still act: it is active, its tenant is active, and its subject
//! still has the right to sign in. Renewal and bearer verification both ask here.

use super::presented::TokenError;
use super::service::SessionService;
use crate::ids::SessionId;
use crate::scope::Scope;
use crate::services::credentials::Standing;
use crate::session::Session;
use crate::tenant::{Tenant, TenantRef, TenantStatus};
use uuid::Uuid;

impl SessionService {
    /// Loads the tenant of `scope` and checks that it is active.
    pub(crate) async fn active_tenant(&self, scope: Scope) -> Result<Option<Tenant>, TokenError> {
        match scope {
            Scope::Platform => Ok(None),
            Scope::Tenant(id) => match self.ports.tenants.find(&TenantRef::Id(id)).await? {
                Some(t) if t.status == TenantStatus::Active => Ok(Some(t)),
                _ => Err(TokenError::Invalid("tenant suspended or gone")),
            },
        }
    }

    /// The session `sid` of `scope`, if it is still active.
    pub(crate) async fn live_session(&self, scope: Scope, sid: Uuid) -> Result<Session, TokenError> {
        let session = self
            .ports
            .sessions
            .find(scope, SessionId::from_uuid(sid))
            .await?
            .ok_or(TokenError::Invalid("no session"))?;
        if !session.is_active(self.ports.clock.now()) {
            return Err(TokenError::Invalid("session ended"));
        }
        Ok(session)
    }

    /// How the session's subject stands now (roles, key owner, name), or an error when it
    /// is gone, disabled or revoked: a session lives no longer than its subject's right to
    /// sign in.
    pub(crate) async fn live_subject(&self, session: &Session) -> Result<Standing, TokenError> {
        let standing = self.ports.credentials.standing(session.subject, session.scope).await?;
        standing.ok_or(TokenError::Invalid("subject disabled or gone"))
    }
}
