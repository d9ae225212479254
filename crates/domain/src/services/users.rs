//! User administration within one tenant.

use crate::api_key::{ApiKeyRepository, KeyOwner};
use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::{Invalid, StorageError};
use crate::ids::{ApiKeyId, SessionId, TenantId, UserId};
use crate::page::{Page, PageRequest, MAX_PAGE_SIZE};
use crate::password::{HashError, Password, PasswordHasher};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::sessions::reasons::{PASSWORD_CHANGED, PASSWORD_RESET, USER_DELETED, USER_DISABLED};
use crate::session::{SessionRepository, SessionSubject};
use crate::user::{Email, FullName, Metadata, User, UserName, UserRepository, WriteUserError};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

/// A user to create, already parsed.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Sign-in name.
    pub user_name: UserName,
    /// Initial password.
    pub password: Password,
    /// Contact address.
    pub email: Option<Email>,
    /// Display name.
    pub full_name: Option<FullName>,
    /// Granted roles.
    pub roles: Roles,
    /// Whether the user may sign in (default true).
    pub enabled: bool,
    /// Free-form data.
    pub metadata: Metadata,
}

/// A JSON merge patch (RFC 7386) of a user, already parsed: `None` leaves a field alone,
/// `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// Rename.
    pub user_name: Option<UserName>,
    /// New password.
    pub password: Option<Password>,
    /// New or cleared address.
    pub email: Option<Option<Email>>,
    /// New or cleared display name.
    pub full_name: Option<Option<FullName>>,
    /// Replacement roles.
    pub roles: Option<Roles>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Merge patch applied to the metadata object (`null` clears it).
    pub metadata: Option<Value>,
}

/// Failure of creating or updating a user.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// A field failed validation.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Another user has this name (without regard to case).
    #[error("a user with this name already exists")]
    NameTaken,
    /// Hashing the new password could not run.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<WriteUserError> for WriteError {
    fn from(e: WriteUserError) -> Self {
        match e {
            WriteUserError::NameTaken => Self::NameTaken,
            WriteUserError::Storage(s) => Self::Storage(s),
        }
    }
}

/// Failure of reading or deleting a user.
#[derive(Debug, thiserror::Error)]
pub enum FindUserError {
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// User administration. Disabling or deleting a user, or changing their password, ends
/// their sessions at once (see [`UserService::update`] and [`UserService::delete`]).
#[derive(Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    keys: Arc<dyn ApiKeyRepository>,
    sessions: Arc<dyn SessionRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: SharedClock,
}

impl UserService {
    /// Builds the service over its ports: the users, their API keys and the sessions
    /// both open.
    pub fn new(
        repo: Arc<dyn UserRepository>,
        keys: Arc<dyn ApiKeyRepository>,
        sessions: Arc<dyn SessionRepository>,
        hasher: Arc<dyn PasswordHasher>,
        clock: SharedClock,
    ) -> Self {
        Self { repo, keys, sessions, hasher, clock }
    }

    /// Creates a user in `tenant`, recording `user.created` by `by` with it.
    ///
    /// # Errors
    /// `NameTaken`, `Hash` (busy hashing pool) or `Storage`.
    pub async fn create(&self, tenant: TenantId, new: NewUser, by: &Initiator) -> Result<User, WriteError> {
        let password_hash = self.hasher.hash(Scope::Tenant(tenant), &new.password).await?;
        let now = self.clock.now();
        let user = User {
            id: UserId::generate(),
            tenant_id: tenant,
            user_name: new.user_name,
            email: new.email,
            full_name: new.full_name,
            roles: new.roles,
            enabled: new.enabled,
            metadata: new.metadata,
            password_hash,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        let event = by
            .event(Some(tenant), action::USER_CREATED, now)
            .with("user_id", user.id.to_string())
            .with("user_name", user.user_name.as_str());
        self.repo.insert(&user, &event).await?;
        Ok(user)
    }

    /// Finds a user by id or, failing that, by name (without regard to case). The id
    /// comes first, so that a user named like another user's id cannot stand in for it.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn get(&self, tenant: TenantId, name_or_id: &str) -> Result<User, FindUserError> {
        if let Ok(id) = Uuid::parse_str(name_or_id) {
            if let Some(user) = self.repo.find_by_id(tenant, UserId::from_uuid(id)).await? {
                return Ok(user);
            }
        }
        if let Ok(name) = UserName::parse(name_or_id) {
            if let Some(user) = self.repo.find_by_name(tenant, &name).await? {
                return Ok(user);
            }
        }
        Err(FindUserError::NotFound)
    }

    /// Finds a user by id only.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn get_by_id(&self, tenant: TenantId, id: UserId) -> Result<User, FindUserError> {
        self.repo.find_by_id(tenant, id).await?.ok_or(FindUserError::NotFound)
    }

    /// Lists a tenant's users.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<User>, StorageError> {
        self.repo.list(tenant, page).await
    }

    /// Applies a merge patch to the user named `name_or_id`, and returns the user as
    /// stored afterwards.
    ///
    /// Each part is written on its own, so that concurrent patches cannot undo one
    /// another: the profile (name, email, full name, roles, metadata) in one write, the
    /// password and `enabled` each with a single `UPDATE` of their column. Disabling the
    /// user ends all their sessions and those opened with their API keys; a new password
    /// ends all their sessions but `keep_session` (the caller's own session, when the
    /// user changes their own password with a bearer token). Disabling the user, or a
    /// new password set by anyone but the user in person, revokes their personal API
    /// keys (see `derived`).
    ///
    /// Each write carries its audit event by `by`: `user.updated` (naming the profile
    /// fields changed, never their values), `user.password_changed`, and `user.disabled`
    /// or `user.enabled`.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (the merged metadata), `NameTaken`, `Hash` or `Storage`.
    pub async fn update(
        &self,
        tenant: TenantId,
        name_or_id: &str,
        patch: UserPatch,
        keep_session: Option<SessionId>,
        by: &Initiator,
    ) -> Result<User, WriteError> {
        let mut user = self.get(tenant, name_or_id).await.map_err(not_found)?;
        let now = self.clock.now();
        let changed: Vec<&str> = [
            ("user_name", patch.user_name.is_some()),
            ("email", patch.email.is_some()),
            ("full_name", patch.full_name.is_some()),
            ("roles", patch.roles.is_some()),
            ("metadata", patch.metadata.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, present)| present.then_some(field))
        .collect();
        let profile_changed = !changed.is_empty();
        if let Some(meta_patch) = patch.metadata {
            user.metadata = user.metadata.merge(&meta_patch)?;
        }
        // Hash before writing anything, so that a busy pool leaves the user untouched.
        let password_hash = match patch.password {
            Some(password) => Some(self.hasher.hash(Scope::Tenant(tenant), &password).await?),
            None => None,
        };
        if let Some(name) = patch.user_name {
            user.user_name = name;
        }
        if let Some(email) = patch.email {
            user.email = email;
        }
        if let Some(full_name) = patch.full_name {
            user.full_name = full_name;
        }
        if let Some(roles) = patch.roles {
            user.roles = roles;
        }
        user.updated_at = now;
        let event = |name: &'static str| {
            by.event(Some(tenant), name, now)
                .with("user_id", user.id.to_string())
                .with("user_name", user.user_name.as_str())
        };
        if profile_changed && !self.repo.update(&user, &event(action::USER_UPDATED).with("fields", changed)).await? {
            return Err(WriteError::NotFound);
        }
        // Credentials derived from the password die with it: a disable, or a reset by
        // anyone but the user in person, revokes the user's own API keys first, so that
        // a crash between the two leaves the keys revoked rather than alive.
        let reset_by_other = password_hash.is_some() && !by.is_person(user.id.as_uuid());
        if patch.enabled == Some(false) || reset_by_other {
            let reason = if patch.enabled == Some(false) { USER_DISABLED } else { PASSWORD_RESET };
            self.revoke_personal_keys(&user, reason, by).await?;
        }
        if let Some(hash) = &password_hash {
            let event = event(action::USER_PASSWORD_CHANGED);
            if !self.repo.set_password(tenant, user.id, hash, now, &event).await? {
                return Err(WriteError::NotFound);
            }
        }
        if let Some(enabled) = patch.enabled {
            let event = event(if enabled { action::USER_ENABLED } else { action::USER_DISABLED });
            if !self.repo.set_enabled(tenant, user.id, enabled, now, &event).await? {
                return Err(WriteError::NotFound);
            }
        }
        if patch.enabled == Some(false) {
            self.end_sessions(tenant, user.id, USER_DISABLED).await?;
        } else if password_hash.is_some() {
            self.end_password_sessions(tenant, user.id, keep_session).await?;
        }
        self.repo.find_by_id(tenant, user.id).await?.ok_or(WriteError::NotFound)
    }

    /// Deletes the user named `name_or_id` and the keys it owns, and ends the sessions
    /// of both; records `user.deleted` by `by` with the deletion.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn delete(&self, tenant: TenantId, name_or_id: &str, by: &Initiator) -> Result<(), FindUserError> {
        let user = self.get(tenant, name_or_id).await?;
        // The keys go with the user, so learn them first.
        let keys = self.key_ids(tenant, user.id).await?;
        let event = by
            .event(Some(tenant), action::USER_DELETED, self.clock.now())
            .with("user_id", user.id.to_string())
            .with("user_name", user.user_name.as_str());
        let existed = self.repo.delete(tenant, user.id, &event).await?;
        self.end_sessions_of(tenant, user.id, &keys, USER_DELETED).await?;
        if existed {
            Ok(())
        } else {
            Err(FindUserError::NotFound)
        }
    }

    /// Ends every session of the user and of the user's API keys.
    async fn end_sessions(&self, tenant: TenantId, user: UserId, reason: &str) -> Result<(), StorageError> {
        let keys = self.key_ids(tenant, user).await?;
        self.end_sessions_of(tenant, user, &keys, reason).await
    }

    async fn end_sessions_of(
        &self,
        tenant: TenantId,
        user: UserId,
        keys: &[ApiKeyId],
        reason: &str,
    ) -> Result<(), StorageError> {
        let now = self.clock.now();
        let scope = Scope::Tenant(tenant);
        self.sessions.revoke_subject(scope, SessionSubject::User(user), reason, now).await?;
        for key in keys {
            self.sessions.revoke_subject(scope, SessionSubject::ApiKey(*key), reason, now).await?;
        }
        Ok(())
    }

    /// Ends the user's own sessions (not those of their keys, which the password does
    /// not open) except `keep`.
    async fn end_password_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<(), StorageError> {
        let now = self.clock.now();
        let scope = Scope::Tenant(tenant);
        let subject = SessionSubject::User(user);
        let Some(keep) = keep else {
            self.sessions.revoke_subject(scope, subject, PASSWORD_CHANGED, now).await?;
            return Ok(());
        };
        // Collect first: revoking shrinks the list of active sessions being paged.
        let mut ended = Vec::new();
        let mut from = 0;
        loop {
            let page = PageRequest::parse(Some(from), Some(MAX_PAGE_SIZE as i64)).expect("a valid page");
            let page = self.sessions.list_active(scope, Some(subject), now, page).await?;
            let last = (page.items.len() as u64) < MAX_PAGE_SIZE;
            ended.extend(page.items.into_iter().map(|s| s.id).filter(|id| *id != keep));
            if last {
                break;
            }
            from += MAX_PAGE_SIZE as i64;
        }
        for id in ended {
            self.sessions.revoke(scope, id, PASSWORD_CHANGED, now).await?;
        }
        Ok(())
    }

    /// The ids of every key `user` owns, revoked ones included.
    async fn key_ids(&self, tenant: TenantId, user: UserId) -> Result<Vec<ApiKeyId>, StorageError> {
        let mut ids = Vec::new();
        let mut from = 0;
        loop {
            let page = PageRequest::parse(Some(from), Some(MAX_PAGE_SIZE as i64)).expect("a valid page");
            let page = self.keys.list(tenant, Some(KeyOwner::User(user)), false, page).await?;
            let last = (page.items.len() as u64) < MAX_PAGE_SIZE;
            ids.extend(page.items.into_iter().map(|k| k.id));
            if last {
                return Ok(ids);
            }
            from += MAX_PAGE_SIZE as i64;
        }
    }
}

fn not_found(e: FindUserError) -> WriteError {
    match e {
        FindUserError::NotFound => WriteError::NotFound,
        FindUserError::Storage(s) => WriteError::Storage(s),
    }
}

mod derived;

#[cfg(test)]
mod tests;
