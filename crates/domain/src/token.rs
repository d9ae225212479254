//! JWTs: the claims Keyplane puts in access and refresh tokens, signing keys, and the
//! ports for their storage and for the cryptography.

use crate::audit::AuditEvent;
use crate::error::StorageError;
use crate::ids::SigningKeyId;
use crate::policy::SigningAlgorithm;
use crate::scope::Scope;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `token_use` of access tokens.
pub const ACCESS: &str = "access";
/// `token_use` of refresh tokens.
pub const REFRESH: &str = "refresh";

/// The claims of every Keyplane token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: `<base>/t/<slug>` (or `<base>/platform`).
    pub iss: String,
    /// Subject: the user's, operator's or API key's id.
    pub sub: String,
    /// Audience: the issuer.
    pub aud: String,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issue time (unix seconds).
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Tenant id (absent on platform tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<Uuid>,
    /// Session id.
    pub sid: Uuid,
    /// The subject's name: user name, or the key id for API keys.
    pub user_name: String,
    /// Roles at issue time.
    pub roles: Vec<String>,
    /// `access` or `refresh`.
    pub token_use: String,
    /// On access tokens that may renew themselves (ECE's `_refresh`): until when (unix
    /// seconds) the chain of tokens renewed from one another may last; a renewed token
    /// never expires after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable_until: Option<i64>,
}

/// A signing key as stored: its public JWK in the clear, its private half sealed under
/// the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Row id.
    pub id: SigningKeyId,
    /// Platform or tenant.
    pub scope: Scope,
    /// The JOSE `kid`, unique across the platform.
    pub kid: String,
    /// Algorithm.
    pub algorithm: SigningAlgorithm,
    /// The public key as a JWK (with `kid`, `alg`, `use`).
    pub public_jwk: serde_json::Value,
    /// The private key, encrypted (AES-256-GCM) under the master key.
    pub sealed_private: Vec<u8>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// Until when a retired key stays published (every token it signed has expired by
    /// then).
    pub retain_until: Option<DateTime<Utc>>,
}

impl SigningKey {
    /// Whether tokens signed with this key may still verify at `now`: always while it is
    /// active, and for a retired key only until its retention ends.
    pub fn verifies_at(&self, now: DateTime<Utc>) -> bool {
        match (self.retired_at, self.retain_until) {
            (None, _) => true,
            (Some(_), Some(until)) => now < until,
            (Some(_), None) => false,
        }
    }
}

/// Fresh key material from the codec.
pub struct KeyMaterial {
    /// The public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// The sealed private key.
    pub sealed_private: Vec<u8>,
}

/// Why a cryptographic operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The token is malformed or its signature does not verify.
    #[error("invalid token")]
    InvalidToken,
    /// A key could not be generated, unsealed or used.
    #[error("key failure: {0}")]
    Key(String),
}

/// Key generation, signing and verification.
pub trait TokenCodec: Send + Sync {
    /// Generates a key pair for `kid`.
    ///
    /// # Errors
    /// [`CryptoError::Key`].
    fn generate(&self, kid: &str, algorithm: SigningAlgorithm) -> Result<KeyMaterial, CryptoError>;

    /// Signs `claims` with `key`. The JOSE `typ` follows `token_use`: `at+jwt` for access
    /// tokens (RFC 9068), `refresh+jwt` for refresh tokens.
    ///
    /// # Errors
    /// [`CryptoError::Key`] when the key cannot be unsealed.
    fn sign(&self, key: &SigningKey, claims: &Claims) -> Result<String, CryptoError>;

    /// The `kid` in a token's header, without verifying anything.
    fn kid_of(&self, token: &str) -> Option<String>;

    /// Verifies the signature with `key` and parses the claims; a `typ` header that does
    /// not match `token_use` is an invalid token. Time is not checked here:
    /// the caller compares `exp` with its clock.
    ///
    /// # Errors
    /// [`CryptoError::InvalidToken`].
    fn verify(&self, key: &SigningKey, token: &str) -> Result<Claims, CryptoError>;
}

/// Storage of signing keys. At most one key per scope is active (not retired) at any
/// time, whatever the concurrency: the store enforces it with a constraint, so that two
/// replicas generating a scope's first key at once cannot both publish one.
#[async_trait]
pub trait SigningKeyRepository: Send + Sync {
    /// Stores `key` as the active key of its scope unless the scope has one already, and
    /// returns the scope's active key afterwards: `key` itself, or the one that won. Of
    /// any number of concurrent calls for one scope, across processes, exactly one stores
    /// its key (an insert that does nothing on conflict with the one-active-key
    /// constraint, then a read of the winner; never a check before the insert).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn insert_if_absent(&self, key: &SigningKey) -> Result<SigningKey, StorageError>;

    /// The active key of `scope`, if any.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn active(&self, scope: Scope) -> Result<Option<SigningKey>, StorageError>;

    /// The most recently created key of any scope (to check at start that the master key
    /// opens the stored keys).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn newest(&self) -> Result<Option<SigningKey>, StorageError>;

    /// Finds a key by `kid` in any scope: the one unscoped look-up, since a token's `kid`
    /// is how its scope is learned (the caller then checks the claims against it).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_kid(&self, kid: &str) -> Result<Option<SigningKey>, StorageError>;

    /// Keys to publish at `now`: the active ones and retired ones still retained.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn published(&self, scope: Scope, now: DateTime<Utc>) -> Result<Vec<SigningKey>, StorageError>;

    /// Makes `key` the active key of its scope: in one transaction, retires the active
    /// key (at `key.created_at`, retained until `retain_until`) and stores `key`, so the
    /// scope never has two active keys nor, to a reader, none. A concurrent rotation of
    /// the same scope is retried over the winner rather than failing. `event` is stored in
    /// the same transaction.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn rotate(
        &self,
        key: &SigningKey,
        retain_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<(), StorageError>;

    /// Withdraws the key `kid` of `scope` at `now`, in one transaction with `event`: it
    /// is retired (if it was not) and its retention ends now, so it neither verifies nor
    /// is published any more. When it was the active key, `replacement` becomes the
    /// active one in the same transaction (and the event names it). A key that no longer
    /// verifies, or is of another scope, is `NotFound`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn withdraw(
        &self,
        scope: Scope,
        kid: &str,
        replacement: &SigningKey,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Withdrawal, StorageError>;
}

/// What [`SigningKeyRepository::withdraw`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// No such key verifies in the scope.
    NotFound,
    /// A retired key was withdrawn.
    Withdrawn,
    /// The active key was withdrawn, and the replacement made active.
    Replaced,
}
