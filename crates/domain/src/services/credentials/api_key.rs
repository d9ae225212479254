//! API key checks: a tenant's key or a platform key is known, matches in constant time,
//! is live, and its tenant and owner may still act; a wrong secret is audited and counted.

use super::checker::CredentialChecker;
use super::request::{SignInError, Verified};
use crate::api_key::{ApiKey, KeyOwner, PresentedKey};
use crate::audit::{action, Actor, ActorKind, AuditEvent, Outcome};
use crate::error::StorageError;
use crate::ids::UserId;
use crate::origin::RequestContext;
use crate::role::Roles;
use crate::scope::Scope;
use crate::session::SessionSubject;
use crate::tenant::{Tenant, TenantRef, TenantStatus};
use chrono::Duration;

/// How often at most a key's `last_used_at` is written.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

impl CredentialChecker {
    /// A platform key: known, matching (constant time), live, and its owner enabled. It
    /// grants the roles it was given that its owner still holds.
    pub(super) async fn check_platform_key(
        &self,
        presented: &PresentedKey,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let now = self.ports.clock.now();
        let key = self.ports.platform_keys.find_for_authentication(&presented.public_id).await?;
        let key = key.ok_or(SignInError::InvalidCredentials)?;
        if !presented.matches(&key.digest) {
            let actor =
                Actor { kind: ActorKind::ApiKey, id: Some(key.id.as_uuid()), name: Some(key.public_id.to_string()) };
            let event = AuditEvent::new(now, None, actor, action::USER_SIGN_IN_FAILED, Outcome::Failure, origin)
                .with("reason", "wrong_key_secret");
            self.ports.audit.record(&event).await?;
            return Err(SignInError::InvalidCredentials);
        }
        if !key.is_usable(now) {
            return Err(SignInError::InvalidCredentials);
        }
        let owner = self.ports.platform_users.find_by_id(key.owner).await?;
        let owner = owner.filter(|o| o.enabled).ok_or(SignInError::InvalidCredentials)?;
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL) {
            self.ports.platform_keys.touch(&key, now).await?;
        }
        Ok(Verified {
            subject: SessionSubject::ApiKey(key.id),
            name: key.public_id.to_string(),
            roles: key.granted(&owner.roles),
            tenant: None,
            key_owner: None,
        })
    }

    /// An API key: known, matching (constant time), live, of `expected` when given, its
    /// tenant active, and its owner enabled when it is a user's key.
    pub(super) async fn check_key(
        &self,
        presented: &PresentedKey,
        expected: Option<&Tenant>,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let now = self.ports.clock.now();
        let key = self.ports.keys.find_for_authentication(&presented.public_id).await?;
        let key =
            key.filter(|k| expected.is_none_or(|t| t.id == k.tenant_id)).ok_or(SignInError::InvalidCredentials)?;
        if !presented.matches(&key.digest) {
            self.count_wrong_key_secret(Scope::Tenant(key.tenant_id), key.public_id.as_str(), now).await?;
            let actor =
                Actor { kind: ActorKind::ApiKey, id: Some(key.id.as_uuid()), name: Some(key.public_id.to_string()) };
            let event =
                AuditEvent::new(now, Some(key.tenant_id), actor, action::USER_SIGN_IN_FAILED, Outcome::Failure, origin)
                    .with("reason", "wrong_key_secret");
            self.ports.audit.record(&event).await?;
            return Err(SignInError::InvalidCredentials);
        }
        if !key.is_usable(now) {
            return Err(SignInError::InvalidCredentials);
        }
        let tenant = match expected {
            Some(t) => t.clone(),
            None => {
                self.ports.tenants.find(&TenantRef::Id(key.tenant_id)).await?.ok_or(SignInError::InvalidCredentials)?
            }
        };
        if tenant.status != TenantStatus::Active {
            return Err(SignInError::TenantSuspended);
        }
        let (roles, key_owner) = match self.key_roles(&key).await? {
            Some(live) => live,
            None => return Err(SignInError::InvalidCredentials),
        };
        if key.last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL) {
            self.ports.keys.touch(&key, now).await?;
        }
        Ok(Verified {
            subject: SessionSubject::ApiKey(key.id),
            name: key.public_id.to_string(),
            roles,
            tenant: Some(tenant),
            key_owner,
        })
    }

    /// A key's effective roles: its own for an application key, its owner's current ones
    /// for a user's key; `None` when the owner is disabled or gone.
    pub(super) async fn key_roles(&self, key: &ApiKey) -> Result<Option<(Roles, Option<UserId>)>, StorageError> {
        match key.owner {
            KeyOwner::Application => Ok(Some((key.roles.clone(), None))),
            KeyOwner::User(owner) => Ok(match self.ports.users.find_by_id(key.tenant_id, owner).await? {
                Some(user) if user.enabled => Some((user.roles, Some(owner))),
                _ => None,
            }),
        }
    }
}
