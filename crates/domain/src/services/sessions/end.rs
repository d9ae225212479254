//! Ending a session by its own user: sign-out with one of its tokens (every dialect's
//! logout), revocation (RFC 7009), and the native `_logout` by session id. Each records
//! `session.revoked` (reason `logout`) once, in the same write that ends the session.

use super::presented::{TokenError, TokenKind, VerifiedToken};
use super::reasons::LOGOUT;
use super::service::SessionService;
use crate::audit::{action, AuditEvent, Outcome};
use crate::error::StorageError;
use crate::ids::{SessionId, TenantId};
use crate::origin::RequestContext;
use crate::scope::Scope;
use crate::session::Session;
use crate::tenant::Tenant;

/// A sign-out by token.
#[derive(Clone, Copy)]
pub struct SignOut<'a> {
    /// A correctly signed token of the session: an access token or its current refresh
    /// token. An expired access token speaks for the session only beside a live
    /// `companion` (Sensu's logout sends its refresh token with it).
    pub token: &'a str,
    /// The tenant it must belong to, when the entry point names one.
    pub tenant: Option<TenantId>,
    /// A second token that must belong to the same session (Sensu sends both).
    pub companion: Option<&'a str>,
    /// Where the request came from, for the audit trail.
    pub origin: &'a RequestContext,
}

impl std::fmt::Debug for SignOut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignOut").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl SessionService {
    /// Signs out: ends the session behind a correctly signed token; see [`SignOut`].
    /// Returns whether this call ended it (false when it had already ended), recording
    /// `session.revoked` (reason `logout`) when it did.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for a token that is not one of the tenant's, or a companion
    /// of another session; backend failures.
    pub async fn sign_out(&self, request: SignOut<'_>) -> Result<bool, TokenError> {
        let token = self.verify_token(request.token).await?;
        if request.tenant.is_some_and(|t| token.scope != Scope::Tenant(t)) {
            return Err(TokenError::Invalid("token of another tenant"));
        }
        let companion = match request.companion {
            Some(companion) => {
                let other = self.verify_token(companion).await?;
                if other.scope != token.scope || other.claims.sid != token.claims.sid {
                    return Err(TokenError::Invalid("the tokens are of different sessions"));
                }
                Some(other)
            }
            None => None,
        };
        let sid = SessionId::from_uuid(token.claims.sid);
        let Some(session) = self.ports.sessions.find(token.scope, sid).await? else {
            return Err(TokenError::Invalid("no session"));
        };
        // A rotated-away refresh token no longer speaks for the session.
        if token.kind == TokenKind::Refresh && session.refresh_jti.as_deref() != Some(token.claims.jti.as_str()) {
            return Err(TokenError::Invalid("a rotated refresh token"));
        }
        // Nor does an expired one alone: a token leaked from a log long ago must not end
        // its user's session.
        let live = |t: &VerifiedToken| {
            !t.expired && (t.kind == TokenKind::Access || session.refresh_jti.as_deref() == Some(t.claims.jti.as_str()))
        };
        if !live(&token) && !companion.as_ref().is_some_and(live) {
            return Err(TokenError::Invalid("an expired token without a live one of its session"));
        }
        Ok(self.end_recorded(&session, LOGOUT, request.origin).await?)
    }

    /// Revokes the session behind any correctly signed token of `tenant` (RFC 7009);
    /// anything else is ignored, as the RFC asks. Returns whether a session was found.
    ///
    /// # Errors
    /// Only backend failures.
    pub async fn revoke(&self, tenant: &Tenant, token: &str, origin: &RequestContext) -> Result<bool, TokenError> {
        let request = SignOut { token, tenant: Some(tenant.id), companion: None, origin };
        match self.sign_out(request).await {
            Ok(_) => Ok(true),
            Err(TokenError::Invalid(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Signs out of a session by its id (the native `_logout`, whose bearer token was
    /// verified already); returns whether this call ended it, recording `session.revoked`
    /// (reason `logout`) when it did.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn end_session(
        &self,
        scope: Scope,
        sid: SessionId,
        origin: &RequestContext,
    ) -> Result<bool, StorageError> {
        let Some(session) = self.ports.sessions.find(scope, sid).await? else { return Ok(false) };
        self.end_recorded(&session, LOGOUT, origin).await
    }

    /// Ends `session` with its `session.revoked` event, by its own subject, in one write.
    async fn end_recorded(
        &self,
        session: &Session,
        reason: &str,
        origin: &RequestContext,
    ) -> Result<bool, StorageError> {
        let now = self.ports.clock.now();
        let event = AuditEvent::new(
            now,
            session.scope.tenant(),
            session.subject.actor(&session.subject_name),
            action::SESSION_REVOKED,
            Outcome::Success,
            origin,
        )
        .with("session_id", session.id.to_string())
        .with("reason", reason.to_owned());
        self.ports.sessions.revoke_recorded(session.scope, session.id, reason, now, &event).await
    }
}
