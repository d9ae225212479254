//! Opening a session for a checked credential: the user's last sign-in, the session and
//! its first tokens, and `user.sign_in.succeeded` naming it.

use super::mint::{Issued, PLATFORM_POLICY};
use super::service::SessionService;
use crate::audit::{action, AuditEvent, Outcome};
use crate::ids::SessionId;
use crate::origin::RequestContext;
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::credentials::{SignInError, Verified};
use crate::session::{Session, SessionSubject};
use crate::tenant::Tenant;
use uuid::Uuid;

/// Who a new session is for.
struct SessionOwner {
    kind: SessionSubject,
    name: String,
    roles: Roles,
}

impl SessionService {
    /// Opens a session for a checked credential (the second half of a sign-in), with a
    /// refresh token when `with_refresh`, and records the sign-in.
    ///
    /// # Errors
    /// [`SignInError::Signing`] or [`SignInError::Storage`].
    pub async fn open(
        &self,
        verified: Verified,
        origin: &RequestContext,
        with_refresh: bool,
    ) -> Result<Issued, SignInError> {
        if let SessionSubject::User(user) = verified.subject {
            if let Some(tenant) = &verified.tenant {
                self.ports.users.record_login(tenant.id, user, self.ports.clock.now()).await?;
            }
        }
        let tenant_id = verified.tenant.as_ref().map(|t| t.id);
        let event = AuditEvent::new(
            self.ports.clock.now(),
            tenant_id,
            verified.subject.actor(&verified.name),
            action::USER_SIGN_IN_SUCCEEDED,
            Outcome::Success,
            origin,
        );
        let owner = SessionOwner { kind: verified.subject, name: verified.name, roles: verified.roles };
        let issued = self.start_session(verified.tenant.as_ref(), owner, with_refresh).await?;
        self.ports.audit.record(&event.with("session_id", issued.session.id.to_string())).await?;
        Ok(issued)
    }

    /// Opens a session for `owner` and mints its first tokens.
    async fn start_session(
        &self,
        tenant: Option<&Tenant>,
        owner: SessionOwner,
        with_refresh: bool,
    ) -> Result<Issued, SignInError> {
        let now = self.ports.clock.now();
        let policy = tenant.map_or(PLATFORM_POLICY, |t| t.policy);
        let session = Session {
            id: SessionId::generate(),
            scope: tenant.map_or(Scope::Platform, |t| Scope::Tenant(t.id)),
            subject: owner.kind,
            subject_name: owner.name,
            created_at: now,
            expires_at: now + policy.session_ttl,
            refresh_jti: with_refresh.then(|| Uuid::new_v4().to_string()),
            previous_refresh_jti: None,
            rotated_at: None,
            refresh_count: 0,
            revoked_at: None,
            revoked_reason: None,
        };
        self.ports.sessions.insert(&session).await?;
        Ok(self.mint(tenant, session, &owner.roles, true, None).await?)
    }
}
