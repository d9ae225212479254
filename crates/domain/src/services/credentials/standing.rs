//! A subject's standing after sign-in: a session lives no longer than its subject's right
//! to sign in, so whoever keeps a session alive asks here for the subject's current roles.

use super::checker::CredentialChecker;
use crate::error::StorageError;
use crate::ids::UserId;
use crate::role::Roles;
use crate::scope::Scope;
use crate::session::SessionSubject;

impl CredentialChecker {
    /// The current roles (and, for a user's key, its owner) of `subject` signed in to
    /// `scope`; `None` when it is gone, disabled or revoked, or does not belong to `scope`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn standing(
        &self,
        subject: SessionSubject,
        scope: Scope,
    ) -> Result<Option<(Roles, Option<UserId>)>, StorageError> {
        let now = self.ports.clock.now();
        match (subject, scope) {
            (SessionSubject::User(id), Scope::Tenant(t)) => match self.ports.users.find_by_id(t, id).await? {
                Some(u) if u.enabled => Ok(Some((u.roles, None))),
                _ => Ok(None),
            },
            (SessionSubject::PlatformUser(id), Scope::Platform) => {
                match self.ports.platform_users.find_by_id(id).await? {
                    Some(u) if u.enabled => Ok(Some((u.roles, None))),
                    _ => Ok(None),
                }
            }
            (SessionSubject::ApiKey(id), Scope::Tenant(t)) => match self.ports.keys.find_by_id(t, id).await? {
                Some(k) if k.is_usable(now) => self.key_roles(&k).await,
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }
}
