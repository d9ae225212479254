//! What every flow shares: opening a session, minting its tokens, and verifying a
//! presented token (signature, scope, audience), after which its kind is known.

use super::{refresh_audience, Issued, SignInError, TokenError, TokenService, PLATFORM_POLICY};
use crate::ids::SessionId;
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::signing::SigningError;
use crate::session::{Session, SessionSubject};
use crate::tenant::{Tenant, TenantRef, TenantStatus};
use crate::token::{Claims, ACCESS, REFRESH};
use chrono::SubsecRound;
use uuid::Uuid;

/// The kind of a verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token (`typ: at+jwt`, `aud` = the issuer).
    Access,
    /// A refresh token (its own `typ` and audience).
    Refresh,
}

/// A token whose signature, scope and audience verified.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// Its claims.
    pub claims: Claims,
    /// The scope of the key that signed it.
    pub scope: Scope,
    /// What it is.
    pub kind: TokenKind,
    /// Whether it has expired (the caller decides whether that matters).
    pub expired: bool,
}

/// Who a new session is for.
pub(super) struct SessionOwner {
    pub kind: SessionSubject,
    pub name: String,
    pub roles: Roles,
}

impl TokenService {
    /// Opens a session for `owner` and mints its first tokens.
    pub(super) async fn start_session(
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
        Ok(self.mint(tenant, session, &owner.roles, true).await?)
    }

    /// Mints an access token (and, when `with_refresh` and the session has one, a refresh
    /// token carrying the session's current refresh `jti`).
    pub(super) async fn mint(
        &self,
        tenant: Option<&Tenant>,
        session: Session,
        roles: &Roles,
        with_refresh: bool,
    ) -> Result<Issued, SigningError> {
        let now = self.ports.clock.now();
        let policy = tenant.map_or(PLATFORM_POLICY, |t| t.policy);
        let iss = self.issuer_of(tenant);
        let key = self.ports.signing.active(session.scope, policy.signing_algorithm).await?;
        // Whole seconds, as in the `exp` claim, so every dialect reports the same instant.
        let access_expires_at = (now + policy.access_token_ttl).min(session.expires_at).trunc_subsecs(0);
        let claims = Claims {
            iss: iss.clone(),
            sub: session.subject.id().to_string(),
            aud: iss.clone(),
            exp: access_expires_at.timestamp(),
            iat: now.timestamp(),
            jti: Uuid::new_v4().to_string(),
            tid: session.scope.tenant().map(|t| t.as_uuid()),
            sid: session.id.as_uuid(),
            user_name: session.subject_name.clone(),
            roles: roles.to_strings(),
            token_use: ACCESS.to_owned(),
        };
        let codec = self.ports.signing.codec();
        let access_token = codec.sign(&key, &claims)?;
        let refresh_token = match (&session.refresh_jti, with_refresh) {
            (Some(jti), true) => {
                let refresh = Claims {
                    aud: refresh_audience(&iss),
                    exp: session.expires_at.timestamp(),
                    jti: jti.clone(),
                    token_use: REFRESH.to_owned(),
                    ..claims.clone()
                };
                Some(codec.sign(&key, &refresh)?)
            }
            _ => None,
        };
        Ok(Issued { access_token, access_expires_at, refresh_token, session, claims })
    }

    /// Verifies a token's signature, that its claims belong to the signing key's scope,
    /// and its audience; then says what kind of token it is. Expiry is reported, not
    /// enforced.
    ///
    /// # Errors
    /// [`TokenError::Invalid`], or backend failures.
    pub(super) async fn verify_token(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let codec = self.ports.signing.codec();
        let kid = codec.kid_of(token).ok_or(TokenError::Invalid("no kid"))?;
        let key = self.ports.signing.by_kid(&kid).await?.ok_or(TokenError::Invalid("unknown kid"))?;
        let claims = codec.verify(&key, token)?;
        if claims.tid != key.scope.tenant().map(|t| t.as_uuid()) {
            return Err(TokenError::Invalid("tid does not match the signing key"));
        }
        let kind = match claims.token_use.as_str() {
            ACCESS if claims.aud == claims.iss => TokenKind::Access,
            REFRESH if claims.aud == refresh_audience(&claims.iss) => TokenKind::Refresh,
            _ => return Err(TokenError::Invalid("token_use or audience")),
        };
        let expired = claims.exp <= self.ports.clock.now().timestamp();
        Ok(VerifiedToken { claims, scope: key.scope, kind, expired })
    }

    /// Loads the tenant of `scope` and checks that it is active.
    pub(super) async fn active_tenant(&self, scope: Scope) -> Result<Option<Tenant>, TokenError> {
        match scope {
            Scope::Platform => Ok(None),
            Scope::Tenant(id) => match self.ports.tenants.find(&TenantRef::Id(id)).await? {
                Some(t) if t.status == TenantStatus::Active => Ok(Some(t)),
                _ => Err(TokenError::Invalid("tenant suspended or gone")),
            },
        }
    }

    /// The session `sid` of `scope`, if it is still active.
    pub(super) async fn live_session(&self, scope: Scope, sid: Uuid) -> Result<Session, TokenError> {
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
}
