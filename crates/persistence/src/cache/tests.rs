//! The caches against an in-memory store: what a write through them leaves cached.

use super::CachedApiKeys;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::{ApiKey, ApiKeyRepository, InsertKeyError, KeyOwner, KeyPublicId};
use keyplane_domain::api_key::{KeyDescription, SecretDigest};
use keyplane_domain::audit::AuditEvent;
use keyplane_domain::error::StorageError;
use keyplane_domain::ids::{ApiKeyId, TenantId};
use keyplane_domain::page::{Page, PageRequest};
use keyplane_domain::role::Roles;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// API keys in a vector.
#[derive(Default)]
struct Keys(Mutex<Vec<ApiKey>>);

#[async_trait]
impl ApiKeyRepository for Keys {
    async fn insert(&self, key: &ApiKey, _: &AuditEvent) -> Result<(), InsertKeyError> {
        self.0.lock().unwrap().push(key.clone());
        Ok(())
    }
    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.public_id == *public_id).cloned())
    }
    async fn find(&self, tenant: TenantId, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.find_for_authentication(public_id).await?.filter(|k| k.tenant_id == tenant))
    }
    async fn find_by_id(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.0.lock().unwrap().iter().find(|k| k.tenant_id == tenant && k.id == id).cloned())
    }
    async fn list(
        &self,
        _: TenantId,
        _: Option<KeyOwner>,
        _: bool,
        _: PageRequest,
    ) -> Result<Page<ApiKey>, StorageError> {
        unimplemented!()
    }
    async fn revoke(
        &self,
        tenant: TenantId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        _: &AuditEvent,
    ) -> Result<bool, StorageError> {
        let mut all = self.0.lock().unwrap();
        let key = all.iter_mut().find(|k| k.tenant_id == tenant && k.public_id == *public_id && k.revoked_at.is_none());
        Ok(key.map(|k| k.revoked_at = Some(at)).is_some())
    }
    async fn touch(&self, key: &ApiKey, at: DateTime<Utc>) -> Result<(), StorageError> {
        if let Some(k) = self.0.lock().unwrap().iter_mut().find(|k| k.id == key.id) {
            k.last_used_at = Some(at);
        }
        Ok(())
    }
}

/// An audit event nobody reads.
fn event() -> AuditEvent {
    use keyplane_domain::audit::{Actor, Outcome};
    use keyplane_domain::origin::EntryPoint;
    use keyplane_domain::origin::RequestContext;
    let request = RequestContext::new(EntryPoint::Admin);
    AuditEvent::new(Utc::now(), None, Actor::anonymous(), "test.event", Outcome::Success, &request)
}

fn key() -> ApiKey {
    ApiKey {
        id: ApiKeyId::generate(),
        tenant_id: TenantId::generate(),
        public_id: KeyPublicId::parse("0123456789abcdef01234567").unwrap(),
        digest: SecretDigest::of("secret"),
        description: KeyDescription::parse("test").unwrap(),
        owner: KeyOwner::Application,
        roles: Roles::default(),
        created_at: Utc::now(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    }
}

fn cached(store: &Arc<Keys>) -> CachedApiKeys {
    CachedApiKeys::new(store.clone(), Duration::from_secs(3600))
}

#[tokio::test]
async fn a_touch_keeps_the_cached_copy_with_the_new_time() {
    let store = Arc::new(Keys::default());
    let keys = cached(&store);
    let original = key();
    keys.insert(&original, &event()).await.unwrap();
    let read = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    let at = Utc::now();
    keys.touch(&read, at).await.unwrap();

    // Remove it from the store: only the cache can answer now.
    store.0.lock().unwrap().clear();
    let again = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    assert_eq!(again.last_used_at, Some(at));
}

#[tokio::test]
async fn a_touch_that_finishes_after_a_revocation_does_not_bring_the_key_back() {
    let store = Arc::new(Keys::default());
    let keys = cached(&store);
    let original = key();
    keys.insert(&original, &event()).await.unwrap();
    // A request reads the key (unrevoked) …
    let read = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    // … meanwhile an administrator revokes it …
    assert!(keys.revoke(original.tenant_id, &original.public_id, Utc::now(), &event()).await.unwrap());
    // … and then the request's touch completes with its stale copy.
    keys.touch(&read, Utc::now()).await.unwrap();

    let now = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    assert!(now.revoked_at.is_some(), "the revoked key must be refused at once");
}

#[tokio::test]
async fn a_touch_after_the_entry_was_replaced_leaves_the_newer_copy() {
    let store = Arc::new(Keys::default());
    let keys = cached(&store);
    let original = key();
    keys.insert(&original, &event()).await.unwrap();
    let stale = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    keys.revoke(original.tenant_id, &original.public_id, Utc::now(), &event()).await.unwrap();
    // Another request re-reads the (revoked) key into the cache.
    let fresh = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    keys.touch(&stale, Utc::now()).await.unwrap();

    store.0.lock().unwrap().clear();
    let cached_now = keys.find_for_authentication(&original.public_id).await.unwrap().unwrap();
    assert_eq!(cached_now, fresh);
}
