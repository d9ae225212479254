//! Signing keys per scope: a tenant's first key is made with the tenant, any other scope's
//! on first need (one winner across replicas, enforced by the store); rotated on request;
//! published, and accepted for verification, while any token they signed can still be
//! valid and no longer. What a replica read is cached, bounded in size and for a short
//! time, so that a retirement made elsewhere is seen soon.

use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::SigningKeyId;
use crate::policy::SigningAlgorithm;
use crate::scope::Scope;
use crate::token::{CryptoError, SigningKey, SigningKeyRepository, TokenCodec, Withdrawal};
use chrono::{DateTime, Duration, Utc};
use moka::sync::Cache;
use std::sync::Arc;

/// How long a replica keeps signing with the active key it last read.
const ACTIVE_KEY_TTL: Duration = Duration::seconds(5);
/// How long a replica serves the JWKS it last read.
const PUBLISHED_TTL: Duration = Duration::seconds(1);
/// How long a replica trusts what it read about a key found by `kid` (whether and until
/// when it is retired): a rotation on another replica is seen within this time, far
/// within the shortest retention (an hour).
const KID_TTL: Duration = Duration::seconds(60);
/// How many keys a replica remembers by `kid`; the least used are forgotten first.
const KID_CAPACITY: u64 = 10_000;
/// How many scopes a replica remembers the active key and the JWKS of.
const SCOPE_CAPACITY: u64 = 100_000;

/// Failure of key management.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// Key generation or unsealing failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A cached value and when (by the service's clock) it was read.
type Stamped<T> = (Arc<T>, DateTime<Utc>);

/// Whether a value read at `read_at` may still be served at `now`.
fn fresh(read_at: DateTime<Utc>, now: DateTime<Utc>, ttl: Duration) -> bool {
    read_at <= now && now - read_at < ttl
}

/// Signing key management.
pub struct SigningKeys {
    repo: Arc<dyn SigningKeyRepository>,
    codec: Arc<dyn TokenCodec>,
    clock: SharedClock,
    active: Cache<Scope, Stamped<SigningKey>>,
    by_kid: Cache<String, Stamped<SigningKey>>,
    published: Cache<Scope, Stamped<Vec<SigningKey>>>,
}

impl SigningKeys {
    /// Builds the service over its ports.
    pub fn new(repo: Arc<dyn SigningKeyRepository>, codec: Arc<dyn TokenCodec>, clock: SharedClock) -> Self {
        Self {
            repo,
            codec,
            clock,
            active: Cache::new(SCOPE_CAPACITY),
            by_kid: Cache::new(KID_CAPACITY),
            published: Cache::new(SCOPE_CAPACITY),
        }
    }

    /// The codec, for signing and verifying with the keys this service hands out.
    pub fn codec(&self) -> &Arc<dyn TokenCodec> {
        &self.codec
    }

    /// Checks that the codec (its master key) opens the stored keys, by signing with the
    /// newest one: a replica started with another master key must refuse to start rather
    /// than answer every sign-in with 500.
    ///
    /// # Errors
    /// [`SigningError`]: a storage failure, or the key does not open.
    pub async fn check_master_key(&self) -> Result<(), SigningError> {
        let Some(key) = self.repo.newest().await? else { return Ok(()) };
        let probe = crate::token::Claims {
            iss: String::new(),
            sub: String::new(),
            aud: String::new(),
            exp: 0,
            iat: 0,
            jti: String::new(),
            tid: None,
            sid: uuid::Uuid::nil(),
            user_name: String::new(),
            roles: Vec::new(),
            token_use: crate::token::ACCESS.to_owned(),
            renewable_until: None,
        };
        self.codec.sign(&key, &probe)?;
        Ok(())
    }

    /// Generates a key for `scope` without storing it: the caller stores it together with
    /// what it belongs to (a new tenant's first key, in the tenant's transaction).
    ///
    /// # Errors
    /// [`CryptoError::Key`] when key generation fails.
    pub fn new_key(&self, scope: Scope, algorithm: SigningAlgorithm) -> Result<SigningKey, CryptoError> {
        let id = SigningKeyId::generate();
        let kid = id.to_string();
        let material = self.codec.generate(&kid, algorithm)?;
        Ok(SigningKey {
            id,
            scope,
            kid,
            algorithm,
            public_jwk: material.public_jwk,
            sealed_private: material.sealed_private,
            created_at: self.clock.now(),
            retired_at: None,
            retain_until: None,
        })
    }

    /// The key that signs new tokens in `scope`. A scope without one (the platform, or a
    /// tenant older than keys made with their tenant) gets one generated with
    /// `algorithm`; when several callers, on any replicas, do that at once, the store
    /// keeps one and every caller signs with that one.
    ///
    /// # Errors
    /// [`SigningError`].
    pub async fn active(&self, scope: Scope, algorithm: SigningAlgorithm) -> Result<Arc<SigningKey>, SigningError> {
        let now = self.clock.now();
        if let Some((key, read_at)) = self.active.get(&scope) {
            if fresh(read_at, now, ACTIVE_KEY_TTL) {
                return Ok(key);
            }
        }
        let key = match self.repo.active(scope).await? {
            Some(key) => Arc::new(key),
            None => {
                let candidate = self.new_key(scope, algorithm)?;
                let winner = self.repo.insert_if_absent(&candidate).await?;
                self.published.invalidate(&scope);
                Arc::new(winner)
            }
        };
        self.by_kid.insert(key.kid.clone(), (key.clone(), now));
        self.active.insert(scope, (key.clone(), now));
        Ok(key)
    }

    /// Finds a key that may verify tokens now by `kid`, in any scope: `None` for an
    /// unknown key and for a retired one whose retention has ended.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn by_kid(&self, kid: &str) -> Result<Option<Arc<SigningKey>>, StorageError> {
        let now = self.clock.now();
        let key = match self.by_kid.get(kid) {
            Some((key, read_at)) if fresh(read_at, now, KID_TTL) => key,
            _ => {
                let Some(key) = self.repo.find_by_kid(kid).await? else { return Ok(None) };
                let key = Arc::new(key);
                self.by_kid.insert(key.kid.clone(), (key.clone(), now));
                key
            }
        };
        Ok(key.verifies_at(now).then_some(key))
    }

    /// Generates a new active key with `algorithm` and retires the old one, which stays
    /// published and verifying for `retain_for` (the longest lifetime of a token it
    /// signed). Records `signing_key.rotated` by `by` (the new key's public `kid` and
    /// algorithm) in the rotation's transaction.
    ///
    /// # Errors
    /// [`SigningError`].
    pub async fn rotate(
        &self,
        scope: Scope,
        algorithm: SigningAlgorithm,
        retain_for: Duration,
        by: &Initiator,
    ) -> Result<SigningKey, SigningError> {
        let key = self.new_key(scope, algorithm)?;
        let now = key.created_at;
        let event = by
            .event(scope.tenant(), action::SIGNING_KEY_ROTATED, now)
            .with("kid", key.kid.as_str())
            .with("algorithm", algorithm.as_str());
        self.repo.rotate(&key, now + retain_for, &event).await?;
        // The retired key may be cached as active: forget every key, to re-read them.
        self.by_kid.invalidate_all();
        self.published.invalidate(&scope);
        let shared = Arc::new(key.clone());
        self.by_kid.insert(key.kid.clone(), (shared.clone(), now));
        self.active.insert(scope, (shared, now));
        Ok(key)
    }

    /// Withdraws the key `kid` of `scope` at once (a key that leaked, say): tokens it
    /// signed stop verifying and it leaves the JWKS; when it was the active key, a new
    /// one made with `algorithm` signs from now on. Records `signing_key.withdrawn` by
    /// `by`. Returns the new active key when one was made; `None` for no such key.
    /// Another replica stops accepting the key within its key cache (60 s).
    ///
    /// # Errors
    /// [`SigningError`].
    pub async fn withdraw(
        &self,
        scope: Scope,
        kid: &str,
        algorithm: SigningAlgorithm,
        by: &Initiator,
    ) -> Result<Option<Withdrawal>, SigningError> {
        let replacement = self.new_key(scope, algorithm)?;
        let now = replacement.created_at;
        let event = by.event(scope.tenant(), action::SIGNING_KEY_WITHDRAWN, now).with("kid", kid.to_owned());
        let done = self.repo.withdraw(scope, kid, &replacement, now, &event).await?;
        if done == Withdrawal::NotFound {
            return Ok(None);
        }
        self.by_kid.invalidate_all();
        self.published.invalidate(&scope);
        self.active.invalidate(&scope);
        Ok(Some(done))
    }

    /// The keys to publish in `scope`'s JWKS (read at most once a second per replica;
    /// a rotation here is visible at once).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn published(&self, scope: Scope) -> Result<Arc<Vec<SigningKey>>, StorageError> {
        let now = self.clock.now();
        if let Some((keys, read_at)) = self.published.get(&scope) {
            if fresh(read_at, now, PUBLISHED_TTL) {
                return Ok(keys);
            }
        }
        let keys = Arc::new(self.repo.published(scope, now).await?);
        self.published.insert(scope, (keys.clone(), now));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests;
