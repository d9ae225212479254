//! Renewal: a refresh token is exchanged for new tokens and rotated, exactly once however
//! many replicas race for it. A rotated token presented again revokes the session, except
//! within the tenant's reuse grace, where it returns the same successor (an idempotent
//! retry). ECE's `_refresh` also renews with an access token, without rotation.

use super::mint::{Issued, PLATFORM_POLICY};
use super::presented::{TokenError, TokenKind, VerifiedToken};
use super::reasons::REFRESH_TOKEN_REUSE;
use super::service::SessionService;
use crate::audit::{action, AuditEvent, Outcome};
use crate::ids::{SessionId, TenantId};
use crate::origin::{EntryPoint, RequestContext};
use crate::scope::Scope;
use crate::session::Session;
use crate::tenant::Tenant;
use chrono::Duration;
use uuid::Uuid;

/// A renewal request.
#[derive(Clone, Copy)]
pub struct Renewal<'a> {
    /// The presented token: a refresh token (or, with `accept_access`, an access token).
    pub token: &'a str,
    /// The tenant the token must belong to, when the entry point names one.
    pub tenant: Option<TenantId>,
    /// An access token presented alongside (Sensu, Tenovos): correctly signed, possibly
    /// expired, and of the same session.
    pub companion: Option<&'a str>,
    /// Whether a valid access token may renew its own session (ECE's `_refresh`).
    pub accept_access: bool,
    /// Where the request came from, for the audit log (reuse detection).
    pub origin: Option<&'a RequestContext>,
}

impl std::fmt::Debug for Renewal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renewal")
            .field("tenant", &self.tenant)
            .field("accept_access", &self.accept_access)
            .finish_non_exhaustive()
    }
}

impl<'a> Renewal<'a> {
    /// A plain refresh-token exchange, restricted to `tenant` when given.
    pub fn refresh(token: &'a str, tenant: Option<TenantId>) -> Self {
        Self { token, tenant, companion: None, accept_access: false, origin: None }
    }
}

/// Renewed tokens.
#[derive(Debug)]
pub struct Renewed {
    /// The new tokens (`refresh_token` only when one was rotated).
    pub issued: Issued,
    /// Whether a refresh token was rotated (false when an access token renewed).
    pub rotated: bool,
}

impl SessionService {
    /// Renews tokens; see [`Renewal`].
    ///
    /// # Errors
    /// [`TokenError::Invalid`] (bad, expired, foreign or wrong-kind token, ended session,
    /// disabled subject), [`TokenError::ReuseDetected`], or backend failures.
    pub async fn renew(&self, request: Renewal<'_>) -> Result<Renewed, TokenError> {
        let token = self.verify_token(request.token).await?;
        if token.expired {
            return Err(TokenError::Invalid("expired"));
        }
        if request.tenant.is_some_and(|t| token.scope != Scope::Tenant(t)) {
            return Err(TokenError::Invalid("token of another tenant"));
        }
        if let Some(companion) = request.companion {
            let access = self.verify_token(companion).await?;
            if access.kind != TokenKind::Access || access.scope != token.scope || access.claims.sid != token.claims.sid
            {
                return Err(TokenError::Invalid("the access token is of another session"));
            }
        }
        match token.kind {
            TokenKind::Refresh => Ok(Renewed { issued: self.rotate(token, request.origin).await?, rotated: true }),
            TokenKind::Access if request.accept_access => {
                let tenant = self.active_tenant(token.scope).await?;
                let policy = tenant.as_ref().map_or(PLATFORM_POLICY, |t| t.policy);
                if !policy.access_token_renewal {
                    return Err(TokenError::Invalid("access-token renewal is off"));
                }
                // The chain ends where its first token said (or, for a token from before
                // the claim, the policy's maximum after it was issued).
                let end = token
                    .claims
                    .renewable_until
                    .unwrap_or(token.claims.iat + policy.access_token_renewal_max.num_seconds());
                if self.ports.clock.now().timestamp() >= end {
                    return Err(TokenError::Invalid("the access-token renewal chain has ended"));
                }
                let session = self.live_session(token.scope, token.claims.sid).await?;
                let roles = self.live_subject(&session).await?.roles;
                let issued = self.mint(tenant.as_ref(), session, &roles, false, Some(end)).await?;
                Ok(Renewed { issued, rotated: false })
            }
            TokenKind::Access => Err(TokenError::Invalid("an access token is not a refresh token")),
        }
    }

    async fn rotate(&self, token: VerifiedToken, origin: Option<&RequestContext>) -> Result<Issued, TokenError> {
        let scope = token.scope;
        let tenant = self.active_tenant(scope).await?;
        let now = self.ports.clock.now();
        let sid = SessionId::from_uuid(token.claims.sid);
        let new_jti = Uuid::new_v4().to_string();
        let session = match self.ports.sessions.rotate(scope, sid, &token.claims.jti, &new_jti, now).await? {
            Some(rotated) => {
                metrics::counter!("keyplane_refresh_rotations_total", "result" => "rotated").increment(1);
                rotated
            }
            None => self.not_current(scope, sid, &token.claims.jti, tenant.as_ref(), origin).await?,
        };
        let roles = self.live_subject(&session).await?.roles;
        Ok(self.mint(tenant.as_ref(), session, &roles, true, None).await?)
    }

    /// A refresh token that is not the session's current one: within the grace it was
    /// just rotated and the retry gets the same successor; otherwise it is reuse, and the
    /// session ends.
    async fn not_current(
        &self,
        scope: Scope,
        sid: SessionId,
        jti: &str,
        tenant: Option<&Tenant>,
        origin: Option<&RequestContext>,
    ) -> Result<Session, TokenError> {
        let now = self.ports.clock.now();
        let session = self.ports.sessions.find(scope, sid).await?.ok_or(TokenError::Invalid("no session"))?;
        if !session.is_active(now) {
            return Err(TokenError::Invalid("session ended"));
        }
        let grace = tenant.map_or(PLATFORM_POLICY.refresh_reuse_grace, |t| t.policy.refresh_reuse_grace);
        let in_grace = grace > Duration::zero()
            && session.previous_refresh_jti.as_deref() == Some(jti)
            && session.rotated_at.is_some_and(|at| now - at <= grace);
        if in_grace {
            metrics::counter!("keyplane_refresh_rotations_total", "result" => "grace_retry").increment(1);
            return Ok(session);
        }
        metrics::counter!("keyplane_refresh_reuse_detected_total").increment(1);
        let unknown = RequestContext::new(EntryPoint::Native);
        let event = AuditEvent::new(
            now,
            scope.tenant(),
            session.subject.actor(&session.subject_name),
            action::SESSION_REUSE_DETECTED,
            Outcome::Failure,
            origin.unwrap_or(&unknown),
        )
        .with("session_id", sid.to_string());
        // The revocation and its event in one recorded write. Of concurrent replays, the
        // one that ends the session records it there; each other one is a replay too and
        // is recorded on its own, as finding the session already ended.
        if !self.ports.sessions.revoke_recorded(scope, sid, REFRESH_TOKEN_REUSE, now, &event).await? {
            self.ports.audit.record(&event.with("already_ended", true)).await?;
        }
        Err(TokenError::ReuseDetected)
    }
}
