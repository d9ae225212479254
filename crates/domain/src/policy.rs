//! A tenant's token policy and authentication cluster setting.

use crate::error::Invalid;
use chrono::Duration;

/// Signature algorithms Keyplane signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// Ed25519 (the default).
    EdDsa,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Parses a JOSE `alg` name.
    ///
    /// # Errors
    /// [`Invalid`] for `field` when it is neither `EdDSA` nor `ES256`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        match raw {
            "EdDSA" => Ok(Self::EdDsa),
            "ES256" => Ok(Self::Es256),
            _ => Err(Invalid::new(field, "must be 'EdDSA' or 'ES256'")),
        }
    }
}

/// How a tenant's credentials are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterKind {
    /// Users and passwords stored by Keyplane.
    Native,
}

impl ClusterKind {
    /// The stored and serialised name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Native => "native",
        }
    }

    /// Parses a kind name.
    ///
    /// # Errors
    /// [`Invalid`] for `kind` when it names no supported kind.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "native" => Ok(Self::Native),
            _ => Err(Invalid::new("kind", "must be 'native' (external kinds are not available yet)")),
        }
    }
}

/// Default refresh-token reuse grace: two tabs refreshing at once, or a retry after a
/// response lost to a crash, must not end the session.
pub const DEFAULT_REUSE_GRACE_SECS: i64 = 10;

/// Lifetimes and rotation rules of a tenant's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Access token lifetime: 1 minute to 24 hours (default 15 minutes).
    pub access_token_ttl: Duration,
    /// Absolute session lifetime: 1 hour to 365 days (default 30 days).
    pub session_ttl: Duration,
    /// How long a just-rotated refresh token may still be presented, returning the same
    /// successor (default 10 seconds, at most 60; 0 turns the grace off).
    pub refresh_reuse_grace: Duration,
    /// Algorithm of newly generated signing keys.
    pub signing_algorithm: SigningAlgorithm,
    /// Whether a valid access token may renew itself (ECE's `_refresh`; default true).
    pub access_token_renewal: bool,
    /// How long a chain of access tokens renewed from one another may last from the
    /// token that started it (a sign-in or a refresh-token renewal): 60 s to 365 days
    /// (default 12 hours). Never past the session's end.
    pub access_token_renewal_max: Duration,
    /// Whether the OAuth password grant is offered (default true; it always requires
    /// client authentication).
    pub password_grant: bool,
    /// How long a user's personal API key lives when its creator names no expiration:
    /// 1 hour to 10 years (default 90 days). A key that never expires is made only when
    /// asked for explicitly.
    pub personal_key_lifetime: Duration,
}

/// Default of [`TokenPolicy::personal_key_lifetime`], in seconds (90 days).
pub const DEFAULT_PERSONAL_KEY_SECS: i64 = 90 * 86_400;

/// Default of [`TokenPolicy::access_token_renewal_max`], in seconds.
pub const DEFAULT_RENEWAL_MAX_SECS: i64 = 43_200;

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::minutes(15),
            session_ttl: Duration::days(30),
            refresh_reuse_grace: Duration::seconds(DEFAULT_REUSE_GRACE_SECS),
            signing_algorithm: SigningAlgorithm::EdDsa,
            access_token_renewal: true,
            access_token_renewal_max: Duration::seconds(DEFAULT_RENEWAL_MAX_SECS),
            password_grant: true,
            personal_key_lifetime: Duration::seconds(DEFAULT_PERSONAL_KEY_SECS),
        }
    }
}

impl TokenPolicy {
    /// Builds a policy from seconds, checking every bound.
    ///
    /// # Errors
    /// [`Invalid`] naming the first field out of range.
    pub fn from_seconds(access: i64, session: i64, grace: i64, algorithm: SigningAlgorithm) -> Result<Self, Invalid> {
        check("access_token_lifetime_seconds", access, 60, 86_400)?;
        check("session_lifetime_seconds", session, 3_600, 365 * 86_400)?;
        check("refresh_token_reuse_grace_seconds", grace, 0, 60)?;
        Ok(Self {
            access_token_ttl: Duration::seconds(access),
            session_ttl: Duration::seconds(session),
            refresh_reuse_grace: Duration::seconds(grace),
            signing_algorithm: algorithm,
            ..Self::default()
        })
    }

    /// This policy with the renewal and grant switches given, checking their bounds.
    ///
    /// # Errors
    /// [`Invalid`] for `access_token_renewal_max_seconds` out of range.
    pub fn with_grants(self, renewal: bool, renewal_max: i64, password_grant: bool) -> Result<Self, Invalid> {
        check("access_token_renewal_max_seconds", renewal_max, 60, 365 * 86_400)?;
        Ok(Self {
            access_token_renewal: renewal,
            access_token_renewal_max: Duration::seconds(renewal_max),
            password_grant,
            ..self
        })
    }

    /// This policy with personal keys' default lifetime, checking its bounds.
    ///
    /// # Errors
    /// [`Invalid`] for `personal_key_lifetime_seconds` out of range.
    pub fn with_personal_keys(self, lifetime: i64) -> Result<Self, Invalid> {
        check("personal_key_lifetime_seconds", lifetime, 3_600, 3_650 * 86_400)?;
        Ok(Self { personal_key_lifetime: Duration::seconds(lifetime), ..self })
    }
}

fn check(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), Invalid> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Invalid::new(field, format!("must be between {min} and {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert!(TokenPolicy::from_seconds(60, 3600, 0, SigningAlgorithm::EdDsa).is_ok());
        assert!(TokenPolicy::from_seconds(86_400, 365 * 86_400, 60, SigningAlgorithm::Es256).is_ok());
        assert_eq!(
            TokenPolicy::from_seconds(59, 3600, 0, SigningAlgorithm::EdDsa).unwrap_err().field,
            "access_token_lifetime_seconds"
        );
        assert_eq!(
            TokenPolicy::from_seconds(60, 3599, 0, SigningAlgorithm::EdDsa).unwrap_err().field,
            "session_lifetime_seconds"
        );
        assert_eq!(
            TokenPolicy::from_seconds(60, 3600, 61, SigningAlgorithm::EdDsa).unwrap_err().field,
            "refresh_token_reuse_grace_seconds"
        );
        assert_eq!(
            TokenPolicy::from_seconds(60, 3600, -1, SigningAlgorithm::EdDsa).unwrap_err().field,
            "refresh_token_reuse_grace_seconds"
        );
        let d = TokenPolicy::default();
        assert_eq!(
            (d.access_token_ttl.num_seconds(), d.session_ttl.num_seconds(), d.refresh_reuse_grace.num_seconds()),
            (900, 2_592_000, 10)
        );
    }
}
