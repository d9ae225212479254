//! Credentials derived from a user's password die with it: an administrator's reset and a
//! disable revoke the user's personal API keys, each recorded as `api_key.revoked` with
//! the reason, and end the sessions those keys opened.

use super::UserService;
use crate::api_key::KeyOwner;
use crate::audit::{action, Initiator};
use crate::error::StorageError;
use crate::page::{PageRequest, MAX_PAGE_SIZE};
use crate::scope::Scope;
use crate::services::sessions::reasons::KEY_REVOKED;
use crate::session::SessionSubject;
use crate::user::User;

impl UserService {
    /// Revokes every unrevoked key `user` owns, for `reason`, by `by`; returns how many.
    pub(super) async fn revoke_personal_keys(
        &self,
        user: &User,
        reason: &'static str,
        by: &Initiator,
    ) -> Result<u64, StorageError> {
        let tenant = user.tenant_id;
        // Collect first: revoking shrinks the list of unrevoked keys being paged.
        let mut keys = Vec::new();
        let mut from = 0;
        loop {
            let page = PageRequest::parse(Some(from), Some(MAX_PAGE_SIZE as i64)).expect("a valid page");
            let page = self.keys.list(tenant, Some(KeyOwner::User(user.id)), true, page).await?;
            let last = (page.items.len() as u64) < MAX_PAGE_SIZE;
            keys.extend(page.items);
            if last {
                break;
            }
            from += MAX_PAGE_SIZE as i64;
        }
        let now = self.clock.now();
        let mut revoked = 0;
        for key in keys {
            let event = by
                .event(Some(tenant), action::API_KEY_REVOKED, now)
                .with("key_id", key.public_id.as_str())
                .with("owner_user_id", user.id.to_string())
                .with("reason", reason);
            if self.keys.revoke(tenant, &key.public_id, now, &event).await? {
                revoked += 1;
            }
            self.sessions
                .revoke_subject(Scope::Tenant(tenant), SessionSubject::ApiKey(key.id), KEY_REVOKED, now)
                .await?;
        }
        Ok(revoked)
    }
}
