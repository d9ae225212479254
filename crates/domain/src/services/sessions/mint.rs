//! The mint: the access and refresh tokens a session hands out, and the one place that
//! knows their claims, issuer and audiences.

use super::service::SessionService;
use crate::policy::{
    SigningAlgorithm, TokenPolicy, DEFAULT_PERSONAL_KEY_SECS, DEFAULT_RENEWAL_MAX_SECS, DEFAULT_REUSE_GRACE_SECS,
};
use crate::role::Roles;
use crate::services::signing::SigningError;
use crate::session::Session;
use crate::tenant::Tenant;
use crate::token::{Claims, ACCESS, REFRESH};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use uuid::Uuid;

/// Lifetime of platform operators' access tokens and sessions.
pub(super) const PLATFORM_POLICY: TokenPolicy = TokenPolicy {
    access_token_ttl: Duration::minutes(15),
    session_ttl: Duration::hours(12),
    refresh_reuse_grace: Duration::seconds(DEFAULT_REUSE_GRACE_SECS),
    signing_algorithm: SigningAlgorithm::EdDsa,
    access_token_renewal: true,
    access_token_renewal_max: Duration::seconds(DEFAULT_RENEWAL_MAX_SECS),
    password_grant: true,
    personal_key_lifetime: Duration::seconds(DEFAULT_PERSONAL_KEY_SECS),
};

/// The audience of refresh tokens: the token endpoint that alone accepts them, never a
/// resource server's audience.
pub fn refresh_audience(issuer: &str) -> String {
    format!("{issuer}/oauth2/token")
}

/// Tokens handed out by a sign-in or a renewal.
#[derive(Clone)]
pub struct Issued {
    /// The access token.
    pub access_token: String,
    /// When it expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token, for sessions that have one.
    pub refresh_token: Option<String>,
    /// The session.
    pub session: Session,
    /// The access token's claims.
    pub claims: Claims,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"<redacted>")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("session", &self.session.id)
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// The access token's lifetime in whole seconds, as issued.
    pub fn expires_in(&self) -> i64 {
        (self.claims.exp - self.claims.iat).max(0)
    }
}

impl SessionService {
    /// Mints an access token (and, when `with_refresh` and the session has one, a refresh
    /// token carrying the session's current refresh `jti`).
    ///
    /// `chain` is the end of the access-token renewal chain the token continues (an
    /// access token renewing itself); `None` starts a new one, of the policy's
    /// `access_token_renewal_max`. A continued chain caps the new token's expiry.
    pub(super) async fn mint(
        &self,
        tenant: Option<&Tenant>,
        session: Session,
        roles: &Roles,
        with_refresh: bool,
        chain: Option<i64>,
    ) -> Result<Issued, SigningError> {
        let now = self.ports.clock.now();
        let policy = tenant.map_or(PLATFORM_POLICY, |t| t.policy);
        let iss = self.issuer_of(tenant);
        let key = self.ports.signing.active(session.scope, policy.signing_algorithm).await?;
        // Whole seconds, as in the `exp` claim, so every dialect reports the same instant.
        let mut access_expires_at = (now + policy.access_token_ttl).min(session.expires_at).trunc_subsecs(0);
        if let Some(end) = chain.and_then(|end| DateTime::from_timestamp(end, 0)) {
            access_expires_at = access_expires_at.min(end);
        }
        let renewable_until = match chain {
            Some(end) => Some(end),
            None if policy.access_token_renewal => {
                Some((now + policy.access_token_renewal_max).min(session.expires_at).timestamp())
            }
            None => None,
        };
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
            renewable_until,
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
                    renewable_until: None,
                    ..claims.clone()
                };
                Some(codec.sign(&key, &refresh)?)
            }
            _ => None,
        };
        Ok(Issued { access_token, access_expires_at, refresh_token, session, claims })
    }
}
