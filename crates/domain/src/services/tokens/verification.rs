//! Verification: a bearer access token authenticates a request only while its session,
//! tenant and subject are all still valid. Introspection (RFC 7662) answers the same
//! question for any token of a tenant.

use crate::ids::UserId;
use crate::principal::{Principal, Subject};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::credentials::Standing;
use crate::services::sessions::{SessionService, TokenError, TokenKind};
use crate::session::{Session, SessionSubject};
use crate::tenant::Tenant;
use crate::token::Claims;

/// A verified access token and its live session.
#[derive(Debug, Clone)]
pub struct AccessContext {
    /// The verified claims.
    pub claims: Claims,
    /// The session, active at verification time.
    pub session: Session,
    /// The subject's current roles.
    pub roles: Roles,
    /// The user owning the API key the session was opened with, for users' own keys.
    pub key_owner: Option<UserId>,
    /// The subject's current name (user name, or key id), as the audit trail names it.
    pub name: String,
}

impl AccessContext {
    /// The caller this token authenticates.
    pub fn principal(&self) -> Principal {
        let subject = match self.session.subject {
            SessionSubject::User(u) => Subject::User(u),
            SessionSubject::PlatformUser(u) => Subject::PlatformUser(u),
            SessionSubject::ApiKey(k) => Subject::ApiKey { key: k, owner: self.key_owner },
        };
        Principal {
            subject,
            name: self.name.clone(),
            tenant: self.session.scope.tenant(),
            roles: self.roles.clone(),
            session: Some(self.session.id),
            signed_in_at: Some(self.session.created_at),
        }
    }
}

/// Verifies presented tokens against the sessions behind them.
#[derive(Clone)]
pub struct Verifier {
    sessions: SessionService,
}

impl Verifier {
    /// Builds the verifier over the sessions it checks tokens against.
    pub fn new(sessions: SessionService) -> Self {
        Self { sessions }
    }

    /// Verifies an access token: signature, kind, expiry (unless `allow_expired`), an
    /// active session, an active tenant and a subject that is still enabled.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for any failure of those; backend failures.
    pub async fn authenticate(&self, token: &str, allow_expired: bool) -> Result<AccessContext, TokenError> {
        let verified = self.sessions.verify_token(token).await?;
        if verified.kind != TokenKind::Access {
            return Err(TokenError::Invalid("not an access token"));
        }
        if verified.expired && !allow_expired {
            return Err(TokenError::Invalid("expired"));
        }
        let session = self.sessions.live_session(verified.scope, verified.claims.sid).await?;
        self.sessions.active_tenant(verified.scope).await?;
        let standing = self.sessions.live_subject(&session).await?;
        Ok(AccessContext {
            claims: verified.claims,
            session,
            roles: standing.roles,
            key_owner: standing.key_owner,
            name: standing.name,
        })
    }

    /// Introspects any token of `tenant` (RFC 7662): `None` unless it is correctly signed
    /// by `tenant`, unexpired, the current one of its kind, and its session, tenant and
    /// subject are all still valid. The subject's standing is today's: its current roles
    /// and name, not those the token was issued with.
    ///
    /// # Errors
    /// Only backend failures; every token problem is `Ok(None)`.
    pub async fn introspect(
        &self,
        tenant: &Tenant,
        token: &str,
    ) -> Result<Option<(Claims, Session, Standing)>, TokenError> {
        let verified = match self.sessions.verify_token(token).await {
            Ok(v) if !v.expired && v.scope == Scope::Tenant(tenant.id) => v,
            Ok(_) | Err(TokenError::Invalid(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(session) = self.sessions.live_session(verified.scope, verified.claims.sid).await else {
            return Ok(None);
        };
        if verified.kind == TokenKind::Refresh && session.refresh_jti.as_deref() != Some(verified.claims.jti.as_str()) {
            return Ok(None);
        }
        if self.sessions.active_tenant(verified.scope).await.is_err() {
            return Ok(None);
        }
        let Ok(standing) = self.sessions.live_subject(&session).await else { return Ok(None) };
        Ok(Some((verified.claims, session, standing)))
    }
}
