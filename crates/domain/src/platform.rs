//! Platform (operator) users: the accounts that administer tenants.

use crate::error::StorageError;
use crate::ids::PlatformUserId;
use crate::password::PasswordHash;
use crate::role::Roles;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Name of the operator account created on first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// An operator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUser {
    /// Identifier.
    pub id: PlatformUserId,
    /// Sign-in name (unique, compared without case).
    pub user_name: String,
    /// Argon2id PHC string.
    pub password_hash: PasswordHash,
    /// `platform_admin` and/or `platform_viewer`.
    pub roles: Roles,
    /// Whether the account may sign in.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Storage of operator accounts (not tenant-scoped: they sit above tenants).
#[async_trait]
pub trait PlatformUserRepository: Send + Sync {
    /// Stores an account; returns `false` when the name is taken (another replica
    /// bootstrapped first).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn insert_if_absent(&self, user: &PlatformUser) -> Result<bool, StorageError>;

    /// Finds an account by name, without regard to case.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_name(&self, name: &str) -> Result<Option<PlatformUser>, StorageError>;

    /// Finds an account by id.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_id(&self, id: PlatformUserId) -> Result<Option<PlatformUser>, StorageError>;

    /// Replaces an account's password hash; `false` when there is no such account.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn set_password(&self, id: PlatformUserId, hash: &PasswordHash) -> Result<bool, StorageError>;

    /// How many accounts exist.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn count(&self) -> Result<u64, StorageError>;
}
