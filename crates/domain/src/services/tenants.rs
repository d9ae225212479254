//! Tenant administration, and the one place that decides whether a caller may address a
//! tenant at all.

use crate::audit::{action, AuditEvent, Initiator};
use crate::clock::SharedClock;
use crate::error::StorageError;
use crate::ids::TenantId;
use crate::page::{Page, PageRequest};
use crate::policy::{ClusterKind, TokenPolicy};
use crate::principal::Principal;
use crate::scope::Scope;
use crate::services::signing::SigningKeys;
use crate::tenant::{InsertTenantError, Tenant, TenantName, TenantRef, TenantRepository, TenantSlug, TenantStatus};
use crate::token::CryptoError;
use std::sync::Arc;

/// What a caller wants to do with a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read its data.
    Read,
    /// Change its data.
    Admin,
}

/// Failure to resolve a tenant for a caller.
#[derive(Debug, thiserror::Error)]
pub enum TenantAccessError {
    /// No such tenant, or one the caller may not know about.
    #[error("tenant not found")]
    NotFound,
    /// The caller may see the tenant but lacks the role for this access.
    #[error("the credential lacks the role required")]
    Forbidden,
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Failure of [`TenantService::create`].
#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    /// The slug is in use.
    #[error("a tenant with this slug already exists")]
    SlugTaken,
    /// The tenant's first signing key could not be generated.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Requested changes to a tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    /// New display name.
    pub name: Option<TenantName>,
}

/// Tenant administration.
#[derive(Clone)]
pub struct TenantService {
    repo: Arc<dyn TenantRepository>,
    signing: Arc<SigningKeys>,
    clock: SharedClock,
}

impl TenantService {
    /// Builds the service over its ports; `signing` makes each new tenant's first key.
    pub fn new(repo: Arc<dyn TenantRepository>, signing: Arc<SigningKeys>, clock: SharedClock) -> Self {
        Self { repo, signing, clock }
    }

    /// Resolves `tenant` for `principal`, checking `access`. A tenant credential naming
    /// another tenant gets [`TenantAccessError::NotFound`], exactly as for a tenant that
    /// does not exist.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden` or `Storage`.
    pub async fn resolve_for(
        &self,
        principal: &Principal,
        tenant: &TenantRef,
        access: Access,
    ) -> Result<Tenant, TenantAccessError> {
        if let (TenantRef::Id(id), Some(own)) = (tenant, principal.tenant) {
            if *id != own {
                return Err(TenantAccessError::NotFound);
            }
        }
        let found = self.repo.find(tenant).await?.ok_or(TenantAccessError::NotFound)?;
        if !principal.may_address(found.id) {
            return Err(TenantAccessError::NotFound);
        }
        let allowed = match access {
            Access::Read => principal.can_read_tenant(found.id),
            Access::Admin => principal.can_admin_tenant(found.id),
        };
        if allowed {
            Ok(found)
        } else {
            Err(TenantAccessError::Forbidden)
        }
    }

    /// Finds a tenant by id without any access check (for authentication, which learns
    /// the tenant from a verified credential).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn find_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StorageError> {
        self.repo.find(&TenantRef::Id(id)).await
    }

    /// Finds a tenant by id or slug without any access check (public per-tenant
    /// endpoints address tenants by slug).
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn find(&self, tenant: &TenantRef) -> Result<Option<Tenant>, StorageError> {
        self.repo.find(tenant).await
    }

    /// Creates an active tenant together with its first signing key (one transaction), so
    /// that its first token requests, however many at once, find one key to sign with.
    ///
    /// # Errors
    /// [`CreateTenantError::SlugTaken`] when the slug is in use; `Crypto` when the key
    /// cannot be generated; `Storage`. Records `tenant.created` by `by` with it.
    pub async fn create(
        &self,
        slug: TenantSlug,
        name: TenantName,
        by: &Initiator,
    ) -> Result<Tenant, CreateTenantError> {
        let now = self.clock.now();
        let tenant = Tenant {
            id: TenantId::generate(),
            slug,
            name,
            status: TenantStatus::Active,
            policy: TokenPolicy::default(),
            cluster: Some(ClusterKind::Native),
            created_at: now,
            updated_at: now,
        };
        let first_key = self.signing.new_key(Scope::Tenant(tenant.id), tenant.policy.signing_algorithm)?;
        let event = event(by, &tenant, action::TENANT_CREATED, now);
        match self.repo.insert(&tenant, &first_key, &event).await {
            Ok(()) => Ok(tenant),
            Err(InsertTenantError::SlugTaken) => Err(CreateTenantError::SlugTaken),
            Err(InsertTenantError::Storage(e)) => Err(e.into()),
        }
    }

    /// Lists tenants.
    ///
    /// # Errors
    /// Only [`StorageError`].
    pub async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StorageError> {
        self.repo.list(page).await
    }

    /// Applies `patch` to a resolved tenant (`tenant.updated` by `by`).
    ///
    /// # Errors
    /// [`TenantAccessError::NotFound`] when deleted meanwhile.
    pub async fn update(
        &self,
        mut tenant: Tenant,
        patch: TenantPatch,
        by: &Initiator,
    ) -> Result<Tenant, TenantAccessError> {
        let mut fields = Vec::new();
        if let Some(name) = patch.name {
            tenant.name = name;
            fields.push("name");
        }
        let event = event(by, &tenant, action::TENANT_UPDATED, self.clock.now()).with("fields", fields);
        self.save(tenant, &event).await
    }

    /// Sets a resolved tenant's status (suspend or resume); idempotent. Only the status
    /// column is written, so a concurrent change of the name, policy or cluster neither
    /// undoes it nor is undone by it. Returns the tenant as stored afterwards. Records
    /// `tenant.suspended` or `tenant.resumed` by `by` when the status changed.
    ///
    /// # Errors
    /// [`TenantAccessError::NotFound`] when deleted meanwhile.
    pub async fn set_status(
        &self,
        tenant: Tenant,
        status: TenantStatus,
        by: &Initiator,
    ) -> Result<Tenant, TenantAccessError> {
        let now = self.clock.now();
        let name = match status {
            TenantStatus::Suspended => action::TENANT_SUSPENDED,
            TenantStatus::Active => action::TENANT_RESUMED,
        };
        if !self.repo.set_status(tenant.id, status, now, &event(by, &tenant, name, now)).await? {
            return Err(TenantAccessError::NotFound);
        }
        self.repo.find(&TenantRef::Id(tenant.id)).await?.ok_or(TenantAccessError::NotFound)
    }

    /// Replaces a resolved tenant's token policy (`token_policy.updated` by `by`).
    ///
    /// # Errors
    /// [`TenantAccessError::NotFound`] when deleted meanwhile.
    pub async fn set_policy(
        &self,
        mut tenant: Tenant,
        policy: TokenPolicy,
        by: &Initiator,
    ) -> Result<Tenant, TenantAccessError> {
        tenant.policy = policy;
        let event = event(by, &tenant, action::TOKEN_POLICY_UPDATED, self.clock.now());
        self.save(tenant, &event).await
    }

    /// Configures (or, with `None`, removes) a resolved tenant's authentication cluster
    /// (`authentication_cluster.updated` by `by`).
    ///
    /// # Errors
    /// [`TenantAccessError::NotFound`] when deleted meanwhile.
    pub async fn set_cluster(
        &self,
        mut tenant: Tenant,
        cluster: Option<ClusterKind>,
        by: &Initiator,
    ) -> Result<Tenant, TenantAccessError> {
        tenant.cluster = cluster;
        let event = event(by, &tenant, action::AUTHENTICATION_CLUSTER_UPDATED, self.clock.now())
            .with("cluster", cluster.map(|c| c.as_str()));
        self.save(tenant, &event).await
    }

    /// Writes everything but the status (see [`TenantRepository::update`]) and returns
    /// the tenant as stored afterwards, with the status another request may have set.
    async fn save(&self, mut tenant: Tenant, event: &AuditEvent) -> Result<Tenant, TenantAccessError> {
        tenant.updated_at = self.clock.now();
        if !self.repo.update(&tenant, event).await? {
            return Err(TenantAccessError::NotFound);
        }
        self.repo.find(&TenantRef::Id(tenant.id)).await?.ok_or(TenantAccessError::NotFound)
    }

    /// Deletes a resolved tenant and everything it owns (`tenant.deleted` by `by`; the
    /// tenant's audit trail stays until its retention ends).
    ///
    /// # Errors
    /// [`TenantAccessError::NotFound`] when already gone.
    pub async fn delete(&self, tenant: &Tenant, by: &Initiator) -> Result<(), TenantAccessError> {
        let event = event(by, tenant, action::TENANT_DELETED, self.clock.now());
        if self.repo.delete(tenant.id, &event).await? {
            Ok(())
        } else {
            Err(TenantAccessError::NotFound)
        }
    }
}

/// An event of `name` about `tenant`, naming it by id and slug.
fn event(by: &Initiator, tenant: &Tenant, name: &'static str, at: chrono::DateTime<chrono::Utc>) -> AuditEvent {
    by.event(Some(tenant.id), name, at).with("tenant_id", tenant.id.to_string()).with("slug", tenant.slug.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FixedClock, InMemoryAudit, InMemorySigningKeys, InMemoryTenants, KidOnlyCodec};
    use chrono::Duration;

    fn by() -> Initiator {
        let request = crate::origin::RequestContext::new(crate::origin::EntryPoint::Admin);
        Initiator { actor: crate::audit::Actor::anonymous(), request }
    }

    fn service() -> TenantService {
        service_with(Arc::default())
    }

    fn service_with(audit: Arc<InMemoryAudit>) -> TenantService {
        let clock: crate::clock::SharedClock = Arc::new(FixedClock::default());
        let signing = SigningKeys::new(Arc::new(InMemorySigningKeys::default()), Arc::new(KidOnlyCodec), clock.clone());
        TenantService::new(Arc::new(InMemoryTenants::with_audit(audit)), Arc::new(signing), clock)
    }

    #[tokio::test]
    async fn each_change_is_recorded_once_and_a_repeated_status_not_again() {
        let audit = Arc::new(InMemoryAudit::default());
        let svc = service_with(audit.clone());
        let t =
            svc.create(TenantSlug::parse("acme").unwrap(), TenantName::parse("Acme").unwrap(), &by()).await.unwrap();
        let t = svc.set_status(t, TenantStatus::Suspended, &by()).await.unwrap();
        let t = svc.set_status(t, TenantStatus::Suspended, &by()).await.unwrap();
        let t = svc.set_status(t, TenantStatus::Active, &by()).await.unwrap();
        let t = svc.set_policy(t.clone(), t.policy, &by()).await.unwrap();
        let t = svc.set_cluster(t, None, &by()).await.unwrap();
        svc.delete(&t, &by()).await.unwrap();
        assert_eq!(
            audit.actions(),
            [
                action::TENANT_CREATED,
                action::TENANT_SUSPENDED,
                action::TENANT_RESUMED,
                action::TOKEN_POLICY_UPDATED,
                action::AUTHENTICATION_CLUSTER_UPDATED,
                action::TENANT_DELETED
            ]
        );
        let events = audit.events();
        assert!(events.iter().all(|e| e.tenant == Some(t.id) && e.details.get("slug") == Some(&"acme".into())));
        assert_eq!(events[4].details.get("cluster"), Some(&serde_json::Value::Null));
    }

    #[tokio::test]
    async fn a_change_made_from_a_stale_copy_never_writes_the_old_status_back() {
        let svc = service();
        let stale =
            svc.create(TenantSlug::parse("acme").unwrap(), TenantName::parse("Acme").unwrap(), &by()).await.unwrap();
        let suspended = svc.set_status(stale.clone(), TenantStatus::Suspended, &by()).await.unwrap();
        assert_eq!(suspended.status, TenantStatus::Suspended);

        let mut policy = stale.policy;
        policy.access_token_ttl = Duration::minutes(5);
        let updated = svc.set_policy(stale.clone(), policy, &by()).await.unwrap();
        assert_eq!(updated.status, TenantStatus::Suspended, "the answer shows the stored status");
        assert_eq!(updated.policy.access_token_ttl, Duration::minutes(5));
        let renamed = svc
            .update(stale.clone(), TenantPatch { name: Some(TenantName::parse("Acme 2").unwrap()) }, &by())
            .await
            .unwrap();
        assert_eq!(renamed.status, TenantStatus::Suspended);

        let stored = svc.find_by_id(stale.id).await.unwrap().unwrap();
        assert_eq!(stored.status, TenantStatus::Suspended);
        // Resuming from the stale (active) copy still resumes: the status is not compared.
        let resumed = svc.set_status(suspended, TenantStatus::Active, &by()).await.unwrap();
        assert_eq!(resumed.status, TenantStatus::Active);
    }

    #[tokio::test]
    async fn setting_the_status_of_a_deleted_tenant_is_not_found() {
        let svc = service();
        let t =
            svc.create(TenantSlug::parse("acme").unwrap(), TenantName::parse("Acme").unwrap(), &by()).await.unwrap();
        svc.delete(&t, &by()).await.unwrap();
        assert!(matches!(svc.set_status(t, TenantStatus::Suspended, &by()).await, Err(TenantAccessError::NotFound)));
    }
}
