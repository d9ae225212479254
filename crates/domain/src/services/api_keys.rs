//! API key administration: create (the secret is returned once), list, get, revoke
//! (which also ends the sessions the key opened).

use crate::api_key::{
    split_key_text, ApiKey, ApiKeyRepository, GeneratedKey, InsertKeyError, KeyDescription, KeyOwner, KeyPublicId,
};
use crate::audit::{action, Initiator};
use crate::clock::SharedClock;
use crate::error::{Invalid, StorageError};
use crate::ids::{ApiKeyId, TenantId};
use crate::page::{Page, PageRequest};
use crate::role::Roles;
use crate::scope::Scope;
use crate::services::sessions::reasons::KEY_REVOKED;
use crate::session::{SessionRepository, SessionSubject};
use chrono::{DateTime, Utc};
use std::fmt;
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

/// A created key and its full text, which is never available again. `Debug` hides the
/// secret.
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKey,
    /// `kp_<public id>_<secret>`.
    pub full_text: String,
}

impl CreatedKey {
    /// The key's two halves as InvestSuite's `/auth/login/` takes them:
    /// `(access_key_id, secret_access_key)`, i.e. the public id and the secret of
    /// `kp_<public id>_<secret>`.
    pub fn access_key_pair(&self) -> (&str, &str) {
        split_key_text(&self.full_text).unwrap_or((self.key.public_id.as_str(), ""))
    }
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey").field("key", &self.key).field("full_text", &"<redacted>").finish()
    }
}

/// API key administration.
#[derive(Clone)]
pub struct ApiKeyService {
    repo: Arc<dyn ApiKeyRepository>,
    sessions: Arc<dyn SessionRepository>,
    clock: SharedClock,
}

impl ApiKeyService {
    /// Builds the service over its ports.
    pub fn new(repo: Arc<dyn ApiKeyRepository>, sessions: Arc<dyn SessionRepository>, clock: SharedClock) -> Self {
        Self { repo, sessions, clock }
    }

    /// The current time, as this service sees it.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Creates a key in `tenant`, recording `api_key.created` by `by` with it (the key's
    /// public id, owner and roles; never its secret).
    ///
    /// # Errors
    /// `Invalid` for an expiry in the past; `NotFound` when the owner vanished.
    pub async fn create(&self, tenant: TenantId, new: NewKey, by: &Initiator) -> Result<CreatedKey, KeyError> {
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
        let owner = match key.owner {
            KeyOwner::Application => serde_json::Value::Null,
            KeyOwner::User(u) => u.to_string().into(),
        };
        let event = by
            .event(Some(tenant), action::API_KEY_CREATED, now)
            .with("key_id", key.public_id.as_str())
            .with("owner_user_id", owner)
            .with("roles", key.roles.to_strings());
        match self.repo.insert(&key, &event).await {
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

    /// Revokes a key and ends every session it opened (client credentials, InvestSuite
    /// sign-ins): their refresh tokens are refused and their access tokens introspect as
    /// inactive at once. Revoking a revoked key is a no-op (and no second event). Returns
    /// the key as it now is; records `api_key.revoked` by `by` with the revocation.
    ///
    /// # Errors
    /// `NotFound` or `Storage`.
    pub async fn revoke(
        &self,
        tenant: TenantId,
        public_id: &str,
        owner: Option<KeyOwner>,
        by: &Initiator,
    ) -> Result<ApiKey, KeyError> {
        let key = self.get(tenant, public_id, owner).await?;
        let now = self.clock.now();
        let event = by.event(Some(tenant), action::API_KEY_REVOKED, now).with("key_id", key.public_id.as_str());
        if !self.repo.revoke(tenant, &key.public_id, now, &event).await? {
            return Err(KeyError::NotFound);
        }
        self.sessions.revoke_subject(Scope::Tenant(tenant), SessionSubject::ApiKey(key.id), KEY_REVOKED, now).await?;
        self.get(tenant, public_id, owner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::PresentedKey;
    use crate::ids::UserId;
    use crate::testing::{FixedClock, InMemoryApiKeys, InMemorySessions};

    fn by() -> Initiator {
        Initiator {
            actor: crate::audit::Actor::anonymous(),
            request: crate::origin::RequestContext::new(crate::origin::EntryPoint::Admin),
        }
    }

    fn new_key(owner: KeyOwner) -> NewKey {
        NewKey { description: KeyDescription::default(), owner, roles: Roles::default(), expires_at: None }
    }

    #[tokio::test]
    async fn revoking_a_key_ends_its_sessions_only() {
        let sessions = Arc::new(InMemorySessions::default());
        let clock = Arc::new(FixedClock::default());
        let svc = ApiKeyService::new(Arc::new(InMemoryApiKeys::default()), sessions.clone(), clock.clone());
        let t = TenantId::generate();
        let revoked = svc.create(t, new_key(KeyOwner::Application), &by()).await.unwrap();
        let kept = svc.create(t, new_key(KeyOwner::User(UserId::generate())), &by()).await.unwrap();
        let scope = Scope::Tenant(t);
        let ended = [
            sessions.open(scope, SessionSubject::ApiKey(revoked.key.id), clock.0),
            sessions.open(scope, SessionSubject::ApiKey(revoked.key.id), clock.0),
        ];
        let other = sessions.open(scope, SessionSubject::ApiKey(kept.key.id), clock.0);

        let key = svc.revoke(t, revoked.key.public_id.as_str(), None, &by()).await.unwrap();
        assert_eq!(key.revoked_at, Some(clock.0));
        for id in ended {
            assert_eq!(sessions.ended(id).as_deref(), Some(KEY_REVOKED));
        }
        assert_eq!(sessions.ended(other), None);
        // Idempotent; another owner's view does not find it.
        svc.revoke(t, revoked.key.public_id.as_str(), None, &by()).await.unwrap();
        let wrong_owner = Some(KeyOwner::User(UserId::generate()));
        assert!(matches!(
            svc.revoke(t, kept.key.public_id.as_str(), wrong_owner, &by()).await,
            Err(KeyError::NotFound)
        ));
        assert_eq!(sessions.ended(other), None);
    }

    #[tokio::test]
    async fn creation_and_revocation_are_recorded_once_without_the_secret() {
        let audit = Arc::new(crate::testing::InMemoryAudit::default());
        let clock = Arc::new(FixedClock::default());
        let keys = Arc::new(InMemoryApiKeys::with_audit(audit.clone()));
        let svc = ApiKeyService::new(keys, Arc::new(InMemorySessions::default()), clock);
        let t = TenantId::generate();
        let created = svc.create(t, new_key(KeyOwner::Application), &by()).await.unwrap();
        let id = created.key.public_id.as_str();
        svc.revoke(t, id, None, &by()).await.unwrap();
        svc.revoke(t, id, None, &by()).await.unwrap();
        assert_eq!(audit.actions(), [crate::audit::action::API_KEY_CREATED, crate::audit::action::API_KEY_REVOKED]);
        let events = audit.events();
        assert!(events.iter().all(|e| e.details.get("key_id") == Some(&id.into())));
        let (_, secret) = created.access_key_pair();
        assert!(!format!("{events:?}").contains(secret));
    }

    #[tokio::test]
    async fn the_access_key_pair_is_what_investsuite_sign_in_accepts() {
        let svc = ApiKeyService::new(
            Arc::new(InMemoryApiKeys::default()),
            Arc::new(InMemorySessions::default()),
            Arc::new(FixedClock::default()),
        );
        let created = svc.create(TenantId::generate(), new_key(KeyOwner::Application), &by()).await.unwrap();
        let (id, secret) = created.access_key_pair();
        assert_eq!(id, created.key.public_id.as_str());
        assert_eq!(created.full_text, format!("kp_{id}_{secret}"));
        let presented = PresentedKey::from_parts(id, secret).expect("accepted");
        assert!(presented.matches(&created.key.digest));
        let shown = format!("{created:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}
