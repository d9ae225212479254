//! Reading a presented token back: its signature, that its claims belong to the signing
//! key's scope, and its audience; after which its kind is known. And why a token is refused.

use super::mint::refresh_audience;
use super::service::SessionService;
use crate::error::StorageError;
use crate::scope::Scope;
use crate::services::signing::SigningError;
use crate::token::{Claims, CryptoError, ACCESS, REFRESH};

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, badly signed, of the wrong kind or tenant, expired, or its session or
    /// subject is no longer valid. The reason is for logs only.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// A rotated refresh token was used again: the session has been revoked.
    #[error("refresh token reuse detected; the session was revoked")]
    ReuseDetected,
    /// Key management failed.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<CryptoError> for TokenError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidToken => Self::Invalid("signature"),
            other => Self::Signing(SigningError::Crypto(other)),
        }
    }
}

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

impl SessionService {
    /// Verifies a token's signature, that its claims belong to the signing key's scope,
    /// and its audience; then says what kind of token it is. Expiry is reported, not
    /// enforced.
    ///
    /// # Errors
    /// [`TokenError::Invalid`], or backend failures.
    pub(crate) async fn verify_token(&self, token: &str) -> Result<VerifiedToken, TokenError> {
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
}
