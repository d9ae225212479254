//! API key administration: create (the secret is returned once), list, get, revoke.

use crate::api_key::{ApiKey, ApiKeyRepository, GeneratedKey, InsertKeyError, KeyDescription, KeyOwner, KeyPublicId};
use crate::clock::SharedClock;
use crate::error::{Invalid, StorageError};
use crate::ids::{ApiKeyId, TenantId};
use crate::page::{Page, PageRequest};
use crate::role::Roles;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A key to create, already parsed.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// What it is for.
    pub description: KeyDescription,
    /// The application or a user.
    pub owner: KeyOwner,
    /// Granted roles.
    pub roles: Roles,
    /// When it stops working, if ever; must lie in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Failure of key administration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No such key in the tenant (or the owner vanished while creating one).
    #[error("API key not found")]
    NotFound,
    /// A field failed validation.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A created key and its full text, which is never available again.
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKey,
    /// `kp_<public id>_<secret>`.
    pub full_text: String,
}

/// API key administration.
#[derive(Clone)]
pub struct ApiKeyService {
    repo: Arc<dyn ApiKeyRepository>,
    clock: SharedClock,
}

impl ApiKeyService {
    /// Builds the service over its ports.
    pub fn new(repo: Arc<dyn ApiKeyRepository>, clock: SharedClock) -> Self {
        Self { repo, clock }
    }

    /// The current time, as this service sees it.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Creates a key in `tenant`.
    ///
    /// # Errors
    /// `Invalid` for an expiry in the past; `NotFound` when the owner vanished.
    pub async fn create(&self, tenant: TenantId, new: NewKey) -> Result<CreatedKey, KeyError> {
        let now = self.clock.now();
        if new.expires_at.is_some_and(|exp| exp <= now) {
            return Err(Invalid::new("expires_at", "must lie in the future").into());
        }
        let generated = GeneratedKey::generate();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            tenant_id: tenant,
            public_id: generated.public_id,
            digest: generated.digest,
            description: new.description,
            owner: new.owner,
            roles: new.roles,
            created_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        match self.repo.insert(&key).await {
            Ok(()) => Ok(CreatedKey { key, full_text: generated.full_text }),
            Err(InsertKeyError::OwnerGone) => Err(KeyError::NotFound),
            Err(InsertKeyError::Storage(e)) => Err(e.into()),
        }
    }

    /// Finds a key of `tenant` by public id (restricted to `owner` when given).
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn get(&self, tenant: TenantId, public_id: &str, owner: Option<KeyOwner>) -> Result<ApiKey, KeyError> {
        let id = KeyPublicId::parse(public_id).ok_or(KeyError::NotFound)?;
        let key = self.repo.find(tenant, &id).await?.ok_or(KeyError::NotFound)?;
        if owner.is_some_and(|o| o != key.owner) {
            return Err(KeyError::NotFound);
        }
        Ok(key)
    }

    /// Lists keys of `tenant` (only `owner`'s, when given; only unrevoked ones with
    /// `unrevoked_only`).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list(
        &self,
        tenant: TenantId,
        owner: Option<KeyOwner>,
        unrevoked_only: bool,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StorageError> {
        self.repo.list(tenant, owner, unrevoked_only, page).await
    }

    /// Revokes a key; revoking a revoked key is a no-op. Returns the key as it now is.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn revoke(&self, tenant: TenantId, public_id: &str, owner: Option<KeyOwner>) -> Result<ApiKey, KeyError> {
        let key = self.get(tenant, public_id, owner).await?;
        if !self.repo.revoke(tenant, &key.public_id, self.clock.now()).await? {
            return Err(KeyError::NotFound);
        }
        self.get(tenant, public_id, owner).await
    }
}
