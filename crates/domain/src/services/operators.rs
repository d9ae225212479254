//! Platform operator administration: accounts (create, list, get, change roles, disable,
//! delete) and their API keys. The last enabled `platform_admin` can be neither demoted,
//! disabled nor deleted; the storage port enforces it atomically, so two replicas cannot
//! each remove one of the last two.

use crate::api_key::{GeneratedKey, InsertKeyError, KeyDescription, KeyPublicId, KeyRealm};
use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::{Invalid, StorageError};
use crate::ids::{ApiKeyId, PlatformUserId};
use crate::page::{Page, PageRequest};
use crate::password::{HashError, Password, PasswordHasher};
use crate::platform::{
    OperatorChange, OperatorWrite, PlatformKey, PlatformKeyRepository, PlatformUser, PlatformUserRepository,
};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::users::{PASSWORD_CHANGED, USER_DELETED, USER_DISABLED};
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
    /// their sessions; their keys stop working with their right to sign in.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Actor;
    use crate::origin::{EntryPoint, RequestContext};
    use crate::role::{PLATFORM_ADMIN, PLATFORM_VIEWER};
    use crate::testing::{
        FixedClock, InMemoryAudit, InMemoryOperators, InMemoryPlatformKeys, InMemorySessions, PlainHasher,
    };

    struct Fixture {
        svc: OperatorService,
        audit: Arc<InMemoryAudit>,
        sessions: Arc<InMemorySessions>,
        clock: Arc<FixedClock>,
    }

    fn fixture() -> Fixture {
        let audit = Arc::new(InMemoryAudit::default());
        let sessions = Arc::new(InMemorySessions::default());
        let clock = Arc::new(FixedClock::default());
        let svc = OperatorService::new(
            Arc::new(InMemoryOperators::with_audit(audit.clone())),
            Arc::new(InMemoryPlatformKeys::with_audit(audit.clone())),
            sessions.clone(),
            Arc::new(PlainHasher),
            clock.clone(),
        );
        Fixture { svc, audit, sessions, clock }
    }

    fn by() -> Initiator {
        Initiator { actor: Actor::anonymous(), request: RequestContext::new(EntryPoint::Admin) }
    }

    fn roles(names: &[&str]) -> Roles {
        Roles::parse_platform("roles", &names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    impl Fixture {
        async fn operator(&self, name: &str, r: &[&str]) -> PlatformUser {
            let new = NewOperator {
                user_name: UserName::parse(name).unwrap(),
                password: Password::parse_new("correct horse".into()).unwrap(),
                roles: roles(r),
                enabled: true,
            };
            self.svc.create(new, &by()).await.unwrap()
        }

        async fn revoked(&self, id: crate::ids::SessionId) -> bool {
            self.sessions.find(Scope::Platform, id).await.unwrap().unwrap().revoked_at.is_some()
        }
    }

    #[tokio::test]
    async fn the_last_enabled_admin_can_be_neither_demoted_disabled_nor_deleted() {
        let f = fixture();
        f.operator("root", &[PLATFORM_ADMIN]).await;
        f.operator("watcher", &[PLATFORM_VIEWER]).await;
        let demote = OperatorPatch { roles: Some(roles(&[PLATFORM_VIEWER])), ..Default::default() };
        let disable = OperatorPatch { enabled: Some(false), ..Default::default() };
        assert!(matches!(f.svc.update("root", demote.clone(), &by()).await, Err(OperatorError::LastAdmin)));
        assert!(matches!(f.svc.update("ROOT", disable.clone(), &by()).await, Err(OperatorError::LastAdmin)));
        assert!(matches!(f.svc.delete("root", &by()).await, Err(OperatorError::LastAdmin)));
        assert!(f.svc.get("root").await.unwrap().is_active_admin(), "nothing was written");
        // With a second admin, the first may go.
        let promote = OperatorPatch { roles: Some(roles(&[PLATFORM_ADMIN, PLATFORM_VIEWER])), ..Default::default() };
        f.svc.update("watcher", promote, &by()).await.unwrap();
        let root = f.svc.update("root", demote, &by()).await.unwrap();
        assert_eq!(root.roles, roles(&[PLATFORM_VIEWER]));
        assert!(matches!(f.svc.delete("watcher", &by()).await, Err(OperatorError::LastAdmin)));
        f.svc.delete("root", &by()).await.unwrap();
        assert!(matches!(f.svc.get("root").await, Err(OperatorError::NotFound)));
        assert!(matches!(f.svc.update("watcher", disable, &by()).await, Err(OperatorError::LastAdmin)));
    }

    #[tokio::test]
    async fn names_are_unique_without_case_and_found_by_name_or_id() {
        let f = fixture();
        let root = f.operator("Root", &[PLATFORM_ADMIN]).await;
        let again = NewOperator {
            user_name: UserName::parse("rOOT").unwrap(),
            password: Password::parse_new("correct horse".into()).unwrap(),
            roles: roles(&[PLATFORM_VIEWER]),
            enabled: true,
        };
        assert!(matches!(f.svc.create(again, &by()).await, Err(OperatorError::NameTaken)));
        assert_eq!(f.svc.get(&root.id.to_string()).await.unwrap().id, root.id);
        assert_eq!(f.svc.get("root").await.unwrap().user_name, "Root");
        // A name shaped like another operator's id does not stand in for it.
        let impostor = f.operator(&root.id.to_string(), &[PLATFORM_VIEWER]).await;
        assert_eq!(f.svc.get(&root.id.to_string()).await.unwrap().id, root.id);
        assert_eq!(f.svc.get(&impostor.id.to_string()).await.unwrap().id, impostor.id);
    }

    #[tokio::test]
    async fn disabling_or_a_new_password_ends_sessions_and_everything_is_audited() {
        let f = fixture();
        f.operator("root", &[PLATFORM_ADMIN]).await;
        let ops = f.operator("ops", &[PLATFORM_ADMIN]).await;
        let subject = SessionSubject::PlatformUser(ops.id);
        let first = f.sessions.open(Scope::Platform, subject, f.clock.0);
        let password = OperatorPatch {
            password: Some(Password::parse_new("another horse".into()).unwrap()),
            ..Default::default()
        };
        f.svc.update("ops", password, &by()).await.unwrap();
        assert!(f.revoked(first).await, "a new password ends sessions");
        let second = f.sessions.open(Scope::Platform, subject, f.clock.0);
        f.svc.update("ops", OperatorPatch { enabled: Some(false), ..Default::default() }, &by()).await.unwrap();
        assert!(f.revoked(second).await, "disabling ends sessions");
        let actions: Vec<String> = f.audit.events().into_iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            ["user.created", "user.created", "user.password_changed", "user.disabled"].map(String::from).to_vec()
        );
    }

    #[tokio::test]
    async fn keys_hold_at_most_their_owners_roles() {
        let f = fixture();
        let root = f.operator("root", &[PLATFORM_ADMIN, PLATFORM_VIEWER]).await;
        let watcher = f.operator("watcher", &[PLATFORM_VIEWER]).await;
        let new =
            |r: Option<Roles>| NewPlatformKey { description: KeyDescription::default(), roles: r, expires_at: None };
        let all = f.svc.create_key(&root, new(None), &by()).await.unwrap();
        assert_eq!(all.key.roles, root.roles);
        assert!(all.full_text.starts_with("kpp_"));
        let read_only = f.svc.create_key(&root, new(Some(roles(&[PLATFORM_VIEWER]))), &by()).await.unwrap();
        assert_eq!(read_only.key.roles, roles(&[PLATFORM_VIEWER]));
        let admin_only = f.operator("boss", &[PLATFORM_ADMIN]).await;
        let viewing = f.svc.create_key(&admin_only, new(Some(roles(&[PLATFORM_VIEWER]))), &by()).await.unwrap();
        assert_eq!(viewing.key.granted(&admin_only.roles), roles(&[PLATFORM_VIEWER]), "admin includes viewer");
        let admin_key = f.svc.create_key(&admin_only, new(None), &by()).await.unwrap();
        assert_eq!(admin_key.key.granted(&admin_only.roles), roles(&[PLATFORM_ADMIN, PLATFORM_VIEWER]));
        let demoted = roles(&[PLATFORM_VIEWER]);
        assert_eq!(admin_key.key.granted(&demoted), demoted, "a demoted owner's admin key reads, and no more");
        assert!(admin_key.key.granted(&Roles::default()).is_empty());
        let escalate = f.svc.create_key(&watcher, new(Some(roles(&[PLATFORM_ADMIN]))), &by()).await;
        assert!(matches!(escalate, Err(OperatorError::Invalid(i)) if i.field == "roles"));
        let past = NewPlatformKey { expires_at: Some(f.clock.0), ..new(None) };
        assert!(matches!(f.svc.create_key(&root, past, &by()).await, Err(OperatorError::Invalid(_))));
        // Listing, finding and revoking stay with the owner.
        let listed = f.svc.list_keys(&root, PageRequest::default()).await.unwrap();
        assert_eq!(listed.total, 2);
        let id = all.key.public_id.to_string();
        assert!(matches!(f.svc.get_key(&watcher, &id).await, Err(OperatorError::KeyNotFound)));
        assert!(matches!(f.svc.revoke_key(&watcher, &id, &by()).await, Err(OperatorError::KeyNotFound)));
        f.svc.revoke_key(&root, &id, &by()).await.unwrap();
        assert!(matches!(f.svc.revoke_key(&root, &id, &by()).await, Err(OperatorError::KeyNotFound)));
        assert_eq!(f.svc.list_keys(&root, PageRequest::default()).await.unwrap().total, 1);
    }
}
