//! A subject's standing after sign-in: a session lives no longer than its subject's right
//! to sign in, so whoever keeps a session alive asks here for the subject's current roles.

use super::checker::CredentialChecker;
use crate::error::StorageError;
use crate::ids::UserId;
use crate::role::Roles;
use crate::scope::Scope;
use crate::session::SessionSubject;

/// A signed-in subject as it stands now.
#[derive(Debug, Clone)]
pub struct Standing {
    /// Its current roles (a user's key has its owner's).
    pub roles: Roles,
    /// For a user's own API key, the user.
    pub key_owner: Option<UserId>,
    /// Its current name: the user name (a user may have been renamed since the session
    /// began), or the key's public id.
    pub name: String,
}

impl CredentialChecker {
    /// How `subject`, signed in to `scope`, stands now; `None` when it is gone, disabled
    /// or revoked, or does not belong to `scope`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn standing(&self, subject: SessionSubject, scope: Scope) -> Result<Option<Standing>, StorageError> {
        let now = self.ports.clock.now();
        match (subject, scope) {
            (SessionSubject::User(id), Scope::Tenant(t)) => match self.ports.users.find_by_id(t, id).await? {
                Some(u) if u.enabled => {
                    Ok(Some(Standing { roles: u.roles, key_owner: None, name: u.user_name.to_string() }))
                }
                _ => Ok(None),
            },
            (SessionSubject::PlatformUser(id), Scope::Platform) => {
                match self.ports.platform_users.find_by_id(id).await? {
                    Some(u) if u.enabled => Ok(Some(Standing { roles: u.roles, key_owner: None, name: u.user_name })),
                    _ => Ok(None),
                }
            }
            (SessionSubject::ApiKey(id), Scope::Tenant(t)) => match self.ports.keys.find_by_id(t, id).await? {
                Some(k) if k.is_usable(now) => Ok(self.key_roles(&k).await?.map(|(roles, key_owner)| Standing {
                    roles,
                    key_owner,
                    name: k.public_id.to_string(),
                })),
                _ => Ok(None),
            },
            _ => Ok(None),
        }
    }
}
