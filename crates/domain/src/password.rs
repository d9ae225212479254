//! Passwords: the plaintext that must never be logged, the stored hash, and the hashing
//! port (Argon2id in production, run off the async workers).

use crate::error::Invalid;
use crate::scope::Scope;
use async_trait::async_trait;
use std::fmt;

/// A plaintext password from a request. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts a new password: 8 to 1024 characters.
    ///
    /// # Errors
    /// [`Invalid`] for `password`.
    pub fn parse_new(raw: String) -> Result<Self, Invalid> {
        let len = raw.chars().count();
        if !(8..=1024).contains(&len) {
            return Err(Invalid::new("password", "must be 8 to 1024 characters long"));
        }
        Ok(Self(raw))
    }

    /// Wraps a password presented at sign-in, unchecked (a wrong one simply fails).
    pub fn presented(raw: String) -> Self {
        Self(raw)
    }

    /// The plaintext, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a hasher or read from storage.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// Why hashing or verifying could not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hashing pool's queue is full; the client should retry later.
    #[error("the password hashing queue is full")]
    Busy {
        /// Seconds after which a retry is likely to succeed.
        retry_after_secs: u64,
    },
    /// The hasher failed (a malformed stored hash, a worker that panicked, …).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and verifies passwords.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password with a fresh salt. `lane` is whose work it is (the tenant,
    /// or the platform): the pool is shared fairly between lanes.
    ///
    /// # Errors
    /// [`HashError::Busy`] when `lane`'s share is saturated; [`HashError::Failed`]
    /// otherwise.
    async fn hash(&self, lane: Scope, password: &Password) -> Result<PasswordHash, HashError>;

    /// Checks a password against a stored hash. With `hash` `None` (unknown user) it
    /// spends the same time on a dummy hash and answers `false`, so that an unknown user
    /// and a wrong password cannot be told apart.
    ///
    /// # Errors
    /// [`HashError::Busy`] when `lane`'s share is saturated; [`HashError::Failed`]
    /// otherwise.
    async fn verify(&self, lane: Scope, password: &Password, hash: Option<&PasswordHash>) -> Result<bool, HashError>;
}
