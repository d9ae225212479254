//! In-memory port implementations for the domain's unit tests.

use crate::clock::Clock;
use crate::error::StorageError;
use crate::ids::{TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::password::{HashError, Password, PasswordHash, PasswordHasher};
use crate::user::{User, UserName, UserRepository, WriteUserError};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
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
