//! In-memory port implementations for the domain's unit tests.

use crate::clock::Clock;
use crate::error::StorageError;
use crate::ids::{TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::password::{HashError, Password, PasswordHash, PasswordHasher};
use crate::policy::SigningAlgorithm;
use crate::scope::Scope;
use crate::token::{Claims, CryptoError, KeyMaterial, SigningKey, SigningKeyRepository, TokenCodec};
use crate::user::{User, UserName, UserRepository, WriteUserError};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::Mutex;

/// A clock stopped at one instant.
pub struct FixedClock(pub DateTime<Utc>);

impl Default for FixedClock {
    fn default() -> Self {
        Self(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that stands still until the test moves it forward.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Mutex::new(FixedClock::default().0))
    }
}

impl ManualClock {
    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A codec whose keys are only their `kid`: enough for key management, not for tokens.
pub struct KidOnlyCodec;

impl TokenCodec for KidOnlyCodec {
    fn generate(&self, kid: &str, algorithm: SigningAlgorithm) -> Result<KeyMaterial, CryptoError> {
        let public_jwk = serde_json::json!({"kid": kid, "alg": algorithm.as_str()});
        Ok(KeyMaterial { public_jwk, sealed_private: Vec::new() })
    }
    fn sign(&self, _: &SigningKey, _: &Claims) -> Result<String, CryptoError> {
        Err(CryptoError::Key("the test codec does not sign".into()))
    }
    fn kid_of(&self, _: &str) -> Option<String> {
        None
    }
    fn token_use_of(&self, _: &str) -> Option<String> {
        None
    }
    fn verify(&self, _: &SigningKey, _: &str) -> Result<Claims, CryptoError> {
        Err(CryptoError::InvalidToken)
    }
}

/// Signing keys in a vector, holding the port's rule of one active key per scope. Reads
/// yield to the runtime first, so that concurrent callers interleave as they would
/// against a real database.
#[derive(Default)]
pub struct InMemorySigningKeys(Mutex<Vec<SigningKey>>);

impl InMemorySigningKeys {
    /// Every stored key of `scope`, oldest first.
    pub fn all(&self, scope: Scope) -> Vec<SigningKey> {
        self.0.lock().unwrap().iter().filter(|k| k.scope == scope).cloned().collect()
    }

    fn active_now(&self, scope: Scope) -> Option<SigningKey> {
        self.0.lock().unwrap().iter().rev().find(|k| k.scope == scope && k.retired_at.is_none()).cloned()
    }
}

#[async_trait]
impl SigningKeyRepository for InMemorySigningKeys {
    async fn insert_if_absent(&self, key: &SigningKey) -> Result<SigningKey, StorageError> {
        {
            let mut all = self.0.lock().unwrap();
            if !all.iter().any(|k| k.scope == key.scope && k.retired_at.is_none()) {
                all.push(key.clone());
            }
        }
        Ok(self.active_now(key.scope).expect("a key was stored"))
    }
    async fn active(&self, scope: Scope) -> Result<Option<SigningKey>, StorageError> {
        tokio::task::yield_now().await;
        Ok(self.active_now(scope))
    }
    async fn find_by_kid(&self, kid: &str) -> Result<Option<SigningKey>, StorageError> {
        tokio::task::yield_now().await;
        Ok(self.0.lock().unwrap().iter().find(|k| k.kid == kid).cloned())
    }
    async fn published(&self, scope: Scope, now: DateTime<Utc>) -> Result<Vec<SigningKey>, StorageError> {
        Ok(self.all(scope).into_iter().rev().filter(|k| k.verifies_at(now)).collect())
    }
    async fn rotate(&self, key: &SigningKey, retain_until: DateTime<Utc>) -> Result<(), StorageError> {
        let mut all = self.0.lock().unwrap();
        for old in all.iter_mut().filter(|k| k.scope == key.scope && k.retired_at.is_none()) {
            old.retired_at = Some(key.created_at);
            old.retain_until = Some(retain_until);
        }
        all.push(key.clone());
        Ok(())
    }
}

/// A "hasher" that prefixes the plaintext: fast and obviously reversible, for tests only.
pub struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        Ok(PasswordHash::from_phc(format!("plain:{}", password.expose())))
    }
    async fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> Result<bool, HashError> {
        Ok(hash.is_some_and(|h| h.as_phc() == format!("plain:{}", password.expose())))
    }
}

/// Users in a vector.
#[derive(Default)]
pub struct InMemoryUsers(Mutex<Vec<User>>);

#[async_trait]
impl UserRepository for InMemoryUsers {
    async fn insert(&self, user: &User) -> Result<(), WriteUserError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|u| u.tenant_id == user.tenant_id && u.user_name.folded() == user.user_name.folded()) {
            return Err(WriteUserError::NameTaken);
        }
        all.push(user.clone());
        Ok(())
    }
    async fn find_by_name(&self, tenant: TenantId, name: &UserName) -> Result<Option<User>, StorageError> {
        let all = self.0.lock().unwrap();
        Ok(all.iter().find(|u| u.tenant_id == tenant && u.user_name.folded() == name.folded()).cloned())
    }
    async fn find_by_id(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|u| u.tenant_id == tenant && u.id == id).cloned())
    }
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<User>, StorageError> {
        let all: Vec<User> = self.0.lock().unwrap().iter().filter(|u| u.tenant_id == tenant).cloned().collect();
        let total = all.len() as u64;
        let items = all.into_iter().skip(page.from() as usize).take(page.size() as usize).collect();
        Ok(Page { items, total, request: page })
    }
    async fn update(&self, user: &User) -> Result<bool, WriteUserError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|u| {
            u.tenant_id == user.tenant_id && u.id != user.id && u.user_name.folded() == user.user_name.folded()
        }) {
            return Err(WriteUserError::NameTaken);
        }
        match all.iter_mut().find(|u| u.tenant_id == user.tenant_id && u.id == user.id) {
            Some(slot) => {
                *slot = user.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn record_login(&self, tenant: TenantId, id: UserId, at: DateTime<Utc>) -> Result<(), StorageError> {
        if let Some(u) = self.0.lock().unwrap().iter_mut().find(|u| u.tenant_id == tenant && u.id == id) {
            u.last_login_at = Some(at);
        }
        Ok(())
    }
    async fn delete(&self, tenant: TenantId, id: UserId) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let before = all.len();
        all.retain(|u| !(u.tenant_id == tenant && u.id == id));
        Ok(all.len() != before)
    }
}
