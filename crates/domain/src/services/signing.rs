//! Signing keys per scope: generated on first need, rotated on request, published while
//! any token they signed can still be valid. Keys are cached by `kid` (they never change)
//! and the active key per scope for a few seconds.

use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::SigningKeyId;
use crate::policy::SigningAlgorithm;
use crate::scope::Scope;
use crate::token::{CryptoError, SigningKey, SigningKeyRepository, TokenCodec};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How long a replica keeps signing with the active key it last read.
const ACTIVE_KEY_TTL: Duration = Duration::seconds(5);
/// How long a replica serves the JWKS it last read.
const PUBLISHED_TTL: Duration = Duration::seconds(1);

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

type ActiveCache = HashMap<Scope, (Arc<SigningKey>, DateTime<Utc>)>;
type PublishedCache = HashMap<Scope, (Arc<Vec<SigningKey>>, DateTime<Utc>)>;

/// Signing key management.
pub struct SigningKeys {
    repo: Arc<dyn SigningKeyRepository>,
    codec: Arc<dyn TokenCodec>,
    clock: SharedClock,
    active: RwLock<ActiveCache>,
    by_kid: RwLock<HashMap<String, Arc<SigningKey>>>,
    published: RwLock<PublishedCache>,
}

impl SigningKeys {
    /// Builds the service over its ports.
    pub fn new(repo: Arc<dyn SigningKeyRepository>, codec: Arc<dyn TokenCodec>, clock: SharedClock) -> Self {
        Self { repo, codec, clock, active: RwLock::default(), by_kid: RwLock::default(), published: RwLock::default() }
    }

    /// The codec, for signing and verifying with the keys this service hands out.
    pub fn codec(&self) -> &Arc<dyn TokenCodec> {
        &self.codec
    }

    /// The key that signs new tokens in `scope`, generated with `algorithm` when the scope
    /// has none yet.
    ///
    /// # Errors
    /// [`SigningError`].
    pub async fn active(&self, scope: Scope, algorithm: SigningAlgorithm) -> Result<Arc<SigningKey>, SigningError> {
        let now = self.clock.now();
        if let Some((key, read_at)) = self.active.read().expect("lock").get(&scope) {
            if now - *read_at < ACTIVE_KEY_TTL {
                return Ok(key.clone());
            }
        }
        let key = match self.repo.active(scope).await? {
            Some(key) => Arc::new(key),
            None => Arc::new(self.generate(scope, algorithm).await?),
        };
        self.remember(&key);
        self.active.write().expect("lock").insert(scope, (key.clone(), now));
        Ok(key)
    }

    /// Finds a key by `kid`, in any scope.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn by_kid(&self, kid: &str) -> Result<Option<Arc<SigningKey>>, StorageError> {
        if let Some(key) = self.by_kid.read().expect("lock").get(kid) {
            return Ok(Some(key.clone()));
        }
        let Some(key) = self.repo.find_by_kid(kid).await? else { return Ok(None) };
        let key = Arc::new(key);
        self.remember(&key);
        Ok(Some(key))
    }

    /// Generates a new active key with `algorithm` and retires the others, which stay
    /// published for `retain_for` (the longest lifetime of a token they signed).
    ///
    /// # Errors
    /// [`SigningError`].
    pub async fn rotate(
        &self,
        scope: Scope,
        algorithm: SigningAlgorithm,
        retain_for: Duration,
    ) -> Result<SigningKey, SigningError> {
        let key = self.generate(scope, algorithm).await?;
        let now = self.clock.now();
        self.repo.retire_others(scope, key.id, now, now + retain_for).await?;
        self.published.write().expect("lock").remove(&scope);
        let shared = Arc::new(key.clone());
        self.remember(&shared);
        self.active.write().expect("lock").insert(scope, (shared, now));
        Ok(key)
    }

    /// The keys to publish in `scope`'s JWKS (read at most once a second per replica;
    /// a rotation here is visible at once).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn published(&self, scope: Scope) -> Result<Arc<Vec<SigningKey>>, StorageError> {
        let now = self.clock.now();
        if let Some((keys, read_at)) = self.published.read().expect("lock").get(&scope) {
            if now - *read_at < PUBLISHED_TTL && *read_at <= now {
                return Ok(keys.clone());
            }
        }
        let keys = Arc::new(self.repo.published(scope, now).await?);
        self.published.write().expect("lock").insert(scope, (keys.clone(), now));
        Ok(keys)
    }

    async fn generate(&self, scope: Scope, algorithm: SigningAlgorithm) -> Result<SigningKey, SigningError> {
        let id = SigningKeyId::generate();
        let kid = id.to_string();
        let material = self.codec.generate(&kid, algorithm)?;
        let key = SigningKey {
            id,
            scope,
            kid,
            algorithm,
            public_jwk: material.public_jwk,
            sealed_private: material.sealed_private,
            created_at: self.clock.now(),
            retired_at: None,
            retain_until: None,
        };
        self.repo.insert(&key).await?;
        self.published.write().expect("lock").remove(&scope);
        Ok(key)
    }

    fn remember(&self, key: &Arc<SigningKey>) {
        self.by_kid.write().expect("lock").insert(key.kid.clone(), key.clone());
    }
}
