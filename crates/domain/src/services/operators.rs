//! Platform operator administration: accounts (create, list, get, change roles, disable,
//! delete) and their API keys. The last enabled `platform_admin` can be neither demoted,
//! disabled nor deleted; the storage port enforces it atomically, so two replicas cannot
//! each remove one of the last two.

use crate::api_key::{GeneratedKey, InsertKeyError, KeyDescription, KeyPublicId, KeyRealm};
use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::{Invalid, StorageError};
use crate::ids::{ApiKeyId, PlatformUserId};
use crate::page::{Page, PageRequest, MAX_PAGE_SIZE};
use crate::password::{HashError, Password, PasswordHasher};
use crate::platform::{
    OperatorChange, OperatorWrite, PlatformKey, PlatformKeyRepository, PlatformUser, PlatformUserRepository,
};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::sessions::reasons::{PASSWORD_CHANGED, PASSWORD_RESET, USER_DELETED, USER_DISABLED};
use crate::session::{SessionRepository, SessionSubject};
use crate::user::UserName;
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;
use uuid::Uuid;

/// An operator to create, already parsed.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// Sign-in name.
    pub user_name: UserName,
    /// Initial password.
    pub password: Password,
    /// `platform_admin` and/or `platform_viewer`.
    pub roles: Roles,
    /// Whether the operator may sign in.
    pub enabled: bool,
}

/// A change to an operator, already parsed: `None` leaves a part alone.
#[derive(Debug, Clone, Default)]
pub struct OperatorPatch {
    /// Replacement roles.
    pub roles: Option<Roles>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New password.
    pub password: Option<Password>,
}

/// A platform key to create, already parsed.
#[derive(Debug, Clone)]
pub struct NewPlatformKey {
    /// What it is for.
    pub description: KeyDescription,
    /// Roles to grant, at most the owner's; `None` grants all of the owner's.
    pub roles: Option<Roles>,
    /// When it stops working, if ever; must lie in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created platform key and its full text, which is never available again. `Debug`
/// hides the secret.
pub struct CreatedPlatformKey {
    /// The stored key.
    pub key: PlatformKey,
    /// `kpp_<public id>_<secret>`.
    pub full_text: String,
}

impl fmt::Debug for CreatedPlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedPlatformKey").field("key", &self.key).field("full_text", &"<redacted>").finish()
    }
}

/// Failure of operator administration.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No such operator.
    #[error("operator not found")]
    NotFound,
    /// No such key of the operator.
    #[error("API key not found")]
    KeyNotFound,
    /// Another operator has this name (without regard to case).
    #[error("an operator with this name already exists")]
    NameTaken,
    /// The change would leave no enabled `platform_admin`.
    #[error("the last enabled platform_admin cannot be removed")]
    LastAdmin,
    /// A field failed validation.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Hashing the password could not run.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Operator administration.
#[derive(Clone)]
pub struct OperatorService {
    repo: Arc<dyn PlatformUserRepository>,
    keys: Arc<dyn PlatformKeyRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: SharedClock,
}

impl OperatorService {
    /// Builds the service over its ports.
    pub fn new(
        repo: Arc<dyn PlatformUserRepository>,
        keys: Arc<dyn PlatformKeyRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: SharedClock,
    ) -> Self {
        Self { repo, keys, sessions, hasher, clock }
    }

    /// Creates an operator, recording `user.created` by `by` with it.
    ///
    /// # Errors
    /// `NameTaken`, `Hash` (busy hashing pool) or `Storage`.
    pub async fn create(&self, new: NewOperator, by: &Initiator) -> Result<PlatformUser, OperatorError> {
        let password_hash = self.hasher.hash(Scope::Platform, &new.password).await?;
        let now = self.clock.now();
        let user = PlatformUser {
            id: PlatformUserId::generate(),
            user_name: new.user_name.to_string(),
            password_hash,
            roles: new.roles,
            enabled: new.enabled,
            created_at: now,
        };
        let event = by
            .event(None, action::USER_CREATED, now)
            .with("user_id", user.id.to_string())
            .with("user_name", user.user_name.as_str())
            .with("roles", user.roles.to_strings());
        if !self.repo.create(&user, &event).await? {
            return Err(OperatorError::NameTaken);
        }
        Ok(user)
    }

    /// Finds an operator by id or, failing that, by name (without regard to case). The
    /// id comes first, so that an operator named like another's id cannot stand in for it.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn get(&self, name_or_id: &str) -> Result<PlatformUser, OperatorError> {
        if let Ok(id) = Uuid::parse_str(name_or_id) {
            if let Some(user) = self.repo.find_by_id(PlatformUserId::from_uuid(id)).await? {
                return Ok(user);
            }
        }
        if UserName::parse(name_or_id).is_ok() {
            if let Some(user) = self.repo.find_by_name(name_or_id).await? {
                return Ok(user);
            }
        }
        Err(OperatorError::NotFound)
    }

    /// One page of the operators, by name.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list(&self, page: PageRequest) -> Result<Page<PlatformUser>, StorageError> {
        self.repo.list(page).await
    }

    /// Changes an operator's roles, `enabled` and password in one guarded write, with
    /// their audit events by `by` (`user.updated`, `user.disabled`/`user.enabled`,
    /// `user.password_changed`). Disabling the operator or changing their password ends
    /// their sessions; disabling them, or a new password set by anyone but the operator
    /// in person, revokes their platform keys (`api_key.revoked`, with the reason).
    ///
    /// # Errors
    /// `NotFound`, `LastAdmin`, `Hash` or `Storage`.
    pub async fn update(
        &self,
        name_or_id: &str,
        patch: OperatorPatch,
        by: &Initiator,
    ) -> Result<PlatformUser, OperatorError> {
        let user = self.get(name_or_id).await?;
        // Hash before writing anything, so that a busy pool leaves the account untouched.
        let password_hash = match &patch.password {
            Some(password) => Some(self.hasher.hash(Scope::Platform, password).await?),
            None => None,
        };
        let now = self.clock.now();
        let event = |name: &'static str| {
            by.event(None, name, now).with("user_id", user.id.to_string()).with("user_name", user.user_name.as_str())
        };
        let mut events = Vec::new();
        if let Some(roles) = &patch.roles {
            events.push(event(action::USER_UPDATED).with("fields", vec!["roles"]).with("roles", roles.to_strings()));
        }
        if let Some(enabled) = patch.enabled {
            events.push(event(if enabled { action::USER_ENABLED } else { action::USER_DISABLED }));
        }
        if password_hash.is_some() {
            events.push(event(action::USER_PASSWORD_CHANGED));
        }
        if events.is_empty() {
            return Ok(user);
        }
        // Credentials derived from the password die with it: a disable, or a reset by
        // anyone but the operator in person, revokes the operator's platform keys first.
        let reset_by_other = password_hash.is_some() && !by.is_person(user.id.as_uuid());
        if patch.enabled == Some(false) || reset_by_other {
            let reason = if patch.enabled == Some(false) { USER_DISABLED } else { PASSWORD_RESET };
            revoke_operator_keys(self.keys.as_ref(), &user, reason, by, now).await?;
        }
        let change = OperatorChange { roles: patch.roles, enabled: patch.enabled, password_hash };
        let updated = match self.repo.update(user.id, &change, &events).await? {
            OperatorWrite::Done(updated) => updated,
            OperatorWrite::NotFound => return Err(OperatorError::NotFound),
            OperatorWrite::LastAdmin => return Err(OperatorError::LastAdmin),
        };
        let reason = if change.enabled == Some(false) {
            Some(USER_DISABLED)
        } else {
            change.password_hash.is_some().then_some(PASSWORD_CHANGED)
        };
        if let Some(reason) = reason {
            self.sessions.revoke_subject(Scope::Platform, SessionSubject::PlatformUser(user.id), reason, now).await?;
        }
        Ok(updated)
    }

    /// Deletes an operator and their keys, ending their sessions; records `user.deleted`
    /// by `by` with the deletion.
    ///
    /// # Errors
    /// `NotFound`, `LastAdmin` or `Storage`.
    pub async fn delete(&self, name_or_id: &str, by: &Initiator) -> Result<(), OperatorError> {
        let user = self.get(name_or_id).await?;
        let now = self.clock.now();
        let event = by
            .event(None, action::USER_DELETED, now)
            .with("user_id", user.id.to_string())
            .with("user_name", user.user_name.as_str());
        match self.repo.delete(user.id, &event).await? {
            OperatorWrite::Done(_) => {}
            OperatorWrite::NotFound => return Err(OperatorError::NotFound),
            OperatorWrite::LastAdmin => return Err(OperatorError::LastAdmin),
        }
        self.sessions.revoke_subject(Scope::Platform, SessionSubject::PlatformUser(user.id), USER_DELETED, now).await?;
        Ok(())
    }

    /// Creates an API key for operator `owner`, recording `api_key.created` by `by` (its
    /// public id, owner and roles; never its secret).
    ///
    /// # Errors
    /// `NotFound` (the owner, also when deleted meanwhile), `Invalid` (roles the owner
    /// lacks, an expiry in the past) or `Storage`.
    pub async fn create_key(
        &self,
        owner: &PlatformUser,
        new: NewPlatformKey,
        by: &Initiator,
    ) -> Result<CreatedPlatformKey, OperatorError> {
        let now = self.clock.now();
        if new.expires_at.is_some_and(|exp| exp <= now) {
            return Err(Invalid::new("expiration", "must lie in the future").into());
        }
        let generated = GeneratedKey::generate_in(KeyRealm::Platform);
        let key = PlatformKey {
            id: ApiKeyId::generate(),
            owner: owner.id,
            public_id: generated.public_id,
            digest: generated.digest,
            description: new.description,
            roles: new.roles.unwrap_or_else(|| owner.roles.clone()),
            created_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        if !key.within(&owner.roles) {
            return Err(Invalid::new("roles", "a key can hold only roles its owner holds").into());
        }
        let event = by
            .event(None, action::API_KEY_CREATED, now)
            .with("key_id", key.public_id.as_str())
            .with("owner_user_id", owner.id.to_string())
            .with("roles", key.roles.to_strings());
        match self.keys.insert(&key, &event).await {
            Ok(()) => Ok(CreatedPlatformKey { key, full_text: generated.full_text }),
            Err(InsertKeyError::OwnerGone) => Err(OperatorError::NotFound),
            Err(InsertKeyError::Storage(e)) => Err(e.into()),
        }
    }

    /// One page of an operator's unrevoked keys, oldest first.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list_keys(&self, owner: &PlatformUser, page: PageRequest) -> Result<Page<PlatformKey>, StorageError> {
        self.keys.list(owner.id, page).await
    }

    /// An unrevoked key of the operator, by public id.
    ///
    /// # Errors
    /// `KeyNotFound` or `Storage`.
    pub async fn get_key(&self, owner: &PlatformUser, public_id: &str) -> Result<PlatformKey, OperatorError> {
        let id = KeyPublicId::parse(public_id).ok_or(OperatorError::KeyNotFound)?;
        let key = self.keys.find(owner.id, &id).await?.filter(|k| k.revoked_at.is_none());
        key.ok_or(OperatorError::KeyNotFound)
    }

    /// Revokes a key of the operator, recording `api_key.revoked` by `by`. Revoking a
    /// revoked key again is `KeyNotFound`, as it no longer exists for the API.
    ///
    /// # Errors
    /// `KeyNotFound` or `Storage`.
    pub async fn revoke_key(&self, owner: &PlatformUser, public_id: &str, by: &Initiator) -> Result<(), OperatorError> {
        let key = self.get_key(owner, public_id).await?;
        let now = self.clock.now();
        let event = by
            .event(None, action::API_KEY_REVOKED, now)
            .with("key_id", key.public_id.as_str())
            .with("owner_user_id", owner.id.to_string());
        if !self.keys.revoke(owner.id, &key.public_id, now, &event).await? {
            return Err(OperatorError::KeyNotFound);
        }
        Ok(())
    }
}

/// Revokes every unrevoked platform key of `owner`, for `reason`, by `by`, each with its
/// `api_key.revoked` event; returns how many. Also the command line's reset uses it.
///
/// # Errors
/// Only [`StorageError`].
pub(crate) async fn revoke_operator_keys(
    keys: &dyn PlatformKeyRepository,
    owner: &PlatformUser,
    reason: &'static str,
    by: &Initiator,
    now: DateTime<Utc>,
) -> Result<u64, StorageError> {
    // Collect first: revoking shrinks the list of unrevoked keys being paged.
    let mut found = Vec::new();
    let mut from = 0;
    loop {
        let page = PageRequest::parse(Some(from), Some(MAX_PAGE_SIZE as i64)).expect("a valid page");
        let page = keys.list(owner.id, page).await?;
        let last = (page.items.len() as u64) < MAX_PAGE_SIZE;
        found.extend(page.items);
        if last {
            break;
        }
        from += MAX_PAGE_SIZE as i64;
    }
    let mut revoked = 0;
    for key in found {
        let event = by
            .event(None, action::API_KEY_REVOKED, now)
            .with("key_id", key.public_id.as_str())
            .with("owner_user_id", owner.id.to_string())
            .with("reason", reason);
        revoked += u64::from(keys.revoke(owner.id, &key.public_id, now, &event).await?);
    }
    Ok(revoked)
}

#[cfg(test)]
mod tests;
