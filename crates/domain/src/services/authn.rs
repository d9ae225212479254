//! Authentication of the credentials that reach the admin API: API keys and platform
//! operators' passwords. (Bearer tokens join in the token engine.)

use crate::api_key::{ApiKeyRepository, KeyOwner, PresentedKey};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::TenantId;
use crate::password::{HashError, Password, PasswordHasher};
use crate::platform::PlatformUserRepository;
use crate::principal::{Principal, Subject};
use crate::tenant::{TenantRef, TenantRepository, TenantStatus};
use crate::user::UserRepository;
use chrono::Duration;
use std::sync::Arc;

/// How often at most a key's `last_used_at` is written.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// Why a credential was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    /// Unknown, wrong, revoked or expired credential. Deliberately one variant: the
    /// client learns nothing about which.
    #[error("the credential is invalid, expired or revoked")]
    InvalidCredentials,
    /// The credential is valid but its tenant is suspended.
    #[error("the tenant is suspended")]
    TenantSuspended,
    /// Verifying a password could not run.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Verifies credentials and turns them into a [`Principal`].
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<dyn ApiKeyRepository>,
    tenants: Arc<dyn TenantRepository>,
    users: Arc<dyn UserRepository>,
    platform_users: Arc<dyn PlatformUserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: SharedClock,
}

impl Authenticator {
    /// Builds the authenticator over its ports.
    pub fn new(
        keys: Arc<dyn ApiKeyRepository>,
        tenants: Arc<dyn TenantRepository>,
        users: Arc<dyn UserRepository>,
        platform_users: Arc<dyn PlatformUserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: SharedClock,
    ) -> Self {
        Self { keys, tenants, users, platform_users, hasher, clock }
    }

    /// Verifies an API key: known public id, matching secret (constant time), not revoked,
    /// not expired, owner still enabled, tenant active.
    ///
    /// # Errors
    /// `InvalidCredentials`, `TenantSuspended` or `Storage`.
    pub async fn authenticate_key(&self, presented: &PresentedKey) -> Result<Principal, AuthnError> {
        let now = self.clock.now();
        let key = self.keys.find_for_authentication(&presented.public_id).await?;
        let Some(key) = key.filter(|k| presented.matches(&k.digest) && k.is_usable(now)) else {
            return Err(AuthnError::InvalidCredentials);
        };
        // A user's key acts as its owner: the owner's current roles, while enabled.
        let roles = match key.owner {
            KeyOwner::Application => key.roles.clone(),
            KeyOwner::User(owner) => match self.users.find_by_id(key.tenant_id, owner).await? {
                Some(user) if user.enabled => user.roles,
                _ => return Err(AuthnError::InvalidCredentials),
            },
        };
        self.ensure_active(key.tenant_id).await?;
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL) {
            self.keys.touch(&key, now).await?;
        }
        let owner = match key.owner {
            KeyOwner::Application => None,
            KeyOwner::User(u) => Some(u),
        };
        Ok(Principal {
            subject: Subject::ApiKey { key: key.id, owner },
            tenant: Some(key.tenant_id),
            roles,
            session: None,
        })
    }

    /// Verifies a platform operator's name and password. An unknown name costs the same
    /// hashing time as a wrong password and gives the same answer.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Hash` (busy pool) or `Storage`.
    pub async fn authenticate_platform(&self, name: &str, password: &Password) -> Result<Principal, AuthnError> {
        let user = self.platform_users.find_by_name(name).await?;
        let ok = self.hasher.verify(password, user.as_ref().map(|u| &u.password_hash)).await?;
        match user {
            Some(u) if ok && u.enabled => {
                Ok(Principal { subject: Subject::PlatformUser(u.id), tenant: None, roles: u.roles, session: None })
            }
            _ => Err(AuthnError::InvalidCredentials),
        }
    }

    async fn ensure_active(&self, tenant: TenantId) -> Result<(), AuthnError> {
        match self.tenants.find(&TenantRef::Id(tenant)).await? {
            Some(t) if t.status == TenantStatus::Active => Ok(()),
            Some(_) => Err(AuthnError::TenantSuspended),
            None => Err(AuthnError::InvalidCredentials),
        }
    }
}
