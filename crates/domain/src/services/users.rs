//! User administration within one tenant.

use crate::clock::SharedClock;
use crate::error::{Invalid, StorageError};
use crate::ids::{TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::password::{HashError, Password, PasswordHasher};
use crate::role::Roles;
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

/// User administration.
#[derive(Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    clock: SharedClock,
}

impl UserService {
    /// Builds the service over its ports.
    pub fn new(repo: Arc<dyn UserRepository>, hasher: Arc<dyn PasswordHasher>, clock: SharedClock) -> Self {
        Self { repo, hasher, clock }
    }

    /// Creates a user in `tenant`.
    ///
    /// # Errors
    /// `NameTaken`, `Hash` (busy hashing pool) or `Storage`.
    pub async fn create(&self, tenant: TenantId, new: NewUser) -> Result<User, WriteError> {
        let password_hash = self.hasher.hash(&new.password).await?;
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
        self.repo.insert(&user).await?;
        Ok(user)
    }

    /// Finds a user by name (without regard to case) or, failing that, by id.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn get(&self, tenant: TenantId, name_or_id: &str) -> Result<User, FindUserError> {
        if let Ok(name) = UserName::parse(name_or_id) {
            if let Some(user) = self.repo.find_by_name(tenant, &name).await? {
                return Ok(user);
            }
        }
        if let Ok(id) = Uuid::parse_str(name_or_id) {
            if let Some(user) = self.repo.find_by_id(tenant, UserId::from_uuid(id)).await? {
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

    /// Applies a merge patch to the user named `name_or_id`.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (the merged metadata), `NameTaken`, `Hash` or `Storage`.
    pub async fn update(&self, tenant: TenantId, name_or_id: &str, patch: UserPatch) -> Result<User, WriteError> {
        let mut user = self.get(tenant, name_or_id).await.map_err(|e| match e {
            FindUserError::NotFound => WriteError::NotFound,
            FindUserError::Storage(s) => WriteError::Storage(s),
        })?;
        if let Some(meta_patch) = patch.metadata {
            let mut merged = user.metadata.to_value();
            json_patch::merge(&mut merged, &meta_patch);
            if merged.is_null() {
                merged = Value::Object(Default::default());
            }
            user.metadata = Metadata::parse(merged)?;
        }
        if let Some(password) = patch.password {
            user.password_hash = self.hasher.hash(&password).await?;
        }
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
        if let Some(enabled) = patch.enabled {
            user.enabled = enabled;
        }
        user.updated_at = self.clock.now();
        if self.repo.update(&user).await? {
            Ok(user)
        } else {
            Err(WriteError::NotFound)
        }
    }

    /// Deletes the user named `name_or_id`, and the keys it owns.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn delete(&self, tenant: TenantId, name_or_id: &str) -> Result<(), FindUserError> {
        let user = self.get(tenant, name_or_id).await?;
        if self.repo.delete(tenant, user.id).await? {
            Ok(())
        } else {
            Err(FindUserError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FixedClock, InMemoryUsers, PlainHasher};
    use serde_json::json;

    fn service() -> UserService {
        UserService::new(Arc::new(InMemoryUsers::default()), Arc::new(PlainHasher), Arc::new(FixedClock::default()))
    }

    fn new_user(name: &str) -> NewUser {
        NewUser {
            user_name: UserName::parse(name).unwrap(),
            password: Password::parse_new("correct horse".into()).unwrap(),
            email: None,
            full_name: None,
            roles: Roles::default(),
            enabled: true,
            metadata: Metadata::parse(json!({"team": "a", "level": 1})).unwrap(),
        }
    }

    #[tokio::test]
    async fn names_are_unique_without_case_within_a_tenant_only() {
        let svc = service();
        let t1 = TenantId::generate();
        let t2 = TenantId::generate();
        svc.create(t1, new_user("Alice")).await.unwrap();
        assert!(matches!(svc.create(t1, new_user("alice")).await, Err(WriteError::NameTaken)));
        svc.create(t2, new_user("alice")).await.unwrap();
        assert_eq!(svc.get(t1, "ALICE").await.unwrap().user_name.as_str(), "Alice");
        assert!(matches!(svc.get(t2, "bob").await, Err(FindUserError::NotFound)));
    }

    #[tokio::test]
    async fn patch_merges_metadata_and_clears_nullable_fields() {
        let svc = service();
        let t = TenantId::generate();
        let mut nu = new_user("carol");
        nu.email = Some(Email::parse("c@example.com").unwrap());
        svc.create(t, nu).await.unwrap();
        let patch =
            UserPatch { email: Some(None), metadata: Some(json!({"team": null, "x": true})), ..Default::default() };
        let u = svc.update(t, "carol", patch).await.unwrap();
        assert_eq!(u.email, None);
        assert_eq!(u.metadata.to_value(), json!({"level": 1, "x": true}));
    }
}
