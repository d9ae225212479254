//! Platform (operator) users, the accounts that administer tenants, and their API keys.
//! At least one enabled operator always holds `platform_admin`: the storage port refuses
//! the change that would leave none, atomically across replicas.

use crate::api_key::{InsertKeyError, KeyDescription, KeyPublicId, SecretDigest};
use crate::audit::AuditEvent;
use crate::error::StorageError;
use crate::ids::{ApiKeyId, PlatformUserId};
use crate::page::{Page, PageRequest};
use crate::password::PasswordHash;
use crate::role::{Roles, PLATFORM_ADMIN, PLATFORM_VIEWER};
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

impl PlatformUser {
    /// Whether the account is one of the enabled `platform_admin`s, of which there must
    /// always be one.
    pub fn is_active_admin(&self) -> bool {
        self.enabled && self.roles.contains(PLATFORM_ADMIN)
    }
}

/// A change to an operator account, written at once. `None` leaves a part alone.
#[derive(Debug, Clone, Default)]
pub struct OperatorChange {
    /// Replacement roles.
    pub roles: Option<Roles>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<PasswordHash>,
}

impl OperatorChange {
    /// The account as it would be after the change.
    pub fn apply(&self, user: &PlatformUser) -> PlatformUser {
        PlatformUser {
            roles: self.roles.clone().unwrap_or_else(|| user.roles.clone()),
            enabled: self.enabled.unwrap_or(user.enabled),
            password_hash: self.password_hash.clone().unwrap_or_else(|| user.password_hash.clone()),
            ..user.clone()
        }
    }
}

/// What a guarded write of an operator account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorWrite {
    /// Written; the account as stored afterwards (for a deletion, as it was).
    Done(PlatformUser),
    /// No such account.
    NotFound,
    /// Refused: afterwards no enabled operator would hold `platform_admin`.
    LastAdmin,
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

    /// Stores a new account and `event` (its audit record) in one transaction; `false`
    /// (and nothing stored) when the name is taken, compared without case.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn create(&self, user: &PlatformUser, event: &AuditEvent) -> Result<bool, StorageError>;

    /// One page of the accounts, by case-folded name.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list(&self, page: PageRequest) -> Result<Page<PlatformUser>, StorageError>;

    /// Applies `change` to account `id` and stores `events` with it, in one transaction,
    /// unless afterwards no enabled account would hold `platform_admin`: then nothing is
    /// written and the answer is [`OperatorWrite::LastAdmin`]. Writes that may remove an
    /// admin are serialized across replicas, so that of concurrent demotions of the last
    /// two admins exactly one succeeds.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn update(
        &self,
        id: PlatformUserId,
        change: &OperatorChange,
        events: &[AuditEvent],
    ) -> Result<OperatorWrite, StorageError>;

    /// Deletes account `id` (its API keys with it) and stores `event`, under the same
    /// guard as [`PlatformUserRepository::update`]: the last enabled admin stays.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn delete(&self, id: PlatformUserId, event: &AuditEvent) -> Result<OperatorWrite, StorageError>;
}

/// An operator's API key, stored as the digest of its secret. It grants the roles it was
/// given that its owner still holds, and dies with its owner's right to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformKey {
    /// Row id.
    pub id: ApiKeyId,
    /// The operator it belongs to.
    pub owner: PlatformUserId,
    /// Public id, unique among platform keys.
    pub public_id: KeyPublicId,
    /// Digest of the secret.
    pub digest: SecretDigest,
    /// What the key is for.
    pub description: KeyDescription,
    /// Granted roles (at most its owner's).
    pub roles: Roles,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PlatformKey {
    /// The roles the key grants while its owner holds `owner_roles`: those both hold,
    /// `platform_admin` including `platform_viewer` on either side (an admin's viewing
    /// key reads; an admin key of an owner demoted to viewer still reads).
    pub fn granted(&self, owner_roles: &Roles) -> Roles {
        let (key, owner) = (with_implied(&self.roles), with_implied(owner_roles));
        Roles::from_stored(
            [PLATFORM_ADMIN, PLATFORM_VIEWER]
                .into_iter()
                .filter(|r| key.contains(r) && owner.contains(r))
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether an owner holding `owner_roles` may give the key its roles.
    pub fn within(&self, owner_roles: &Roles) -> bool {
        let owner = with_implied(owner_roles);
        self.roles.iter().all(|r| owner.contains(&r.as_str()))
    }

    /// Whether the key may be used at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| exp > now)
    }
}

/// The platform roles `roles` amount to: `platform_admin` includes `platform_viewer`.
fn with_implied(roles: &Roles) -> Vec<&'static str> {
    let mut all = Vec::with_capacity(2);
    if roles.contains(PLATFORM_ADMIN) {
        all.push(PLATFORM_ADMIN);
    }
    if roles.contains(PLATFORM_VIEWER) || roles.contains(PLATFORM_ADMIN) {
        all.push(PLATFORM_VIEWER);
    }
    all
}

/// Storage of the operators' API keys. Every method but
/// [`PlatformKeyRepository::find_for_authentication`] is scoped by owner.
#[async_trait]
pub trait PlatformKeyRepository: Send + Sync {
    /// Stores a new key and `event` (its audit record) in one transaction.
    ///
    /// # Errors
    /// [`InsertKeyError::OwnerGone`] when the owner was deleted meanwhile.
    async fn insert(&self, key: &PlatformKey, event: &AuditEvent) -> Result<(), InsertKeyError>;

    /// Finds a key by its public id, whoever owns it.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<PlatformKey>, StorageError>;

    /// Finds a key by row id (to name the actor of an audited operation).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_id(&self, id: ApiKeyId) -> Result<Option<PlatformKey>, StorageError>;

    /// Finds a key of `owner`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find(&self, owner: PlatformUserId, public_id: &KeyPublicId) -> Result<Option<PlatformKey>, StorageError>;

    /// Lists the unrevoked keys of `owner`, oldest first.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list(&self, owner: PlatformUserId, page: PageRequest) -> Result<Page<PlatformKey>, StorageError>;

    /// Marks a key of `owner` revoked at `at` unless it already is, storing `event` in the
    /// same transaction when this call revoked it; returns whether the key exists.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn revoke(
        &self,
        owner: PlatformUserId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Records a use of `key`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn touch(&self, key: &PlatformKey, at: DateTime<Utc>) -> Result<(), StorageError>;
}
