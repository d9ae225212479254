//! Password checks: a tenant user's, through the tenant's authentication cluster, and a
//! platform operator's, against the operators' store. A name no user can have is refused
//! after the same hash, neither looked up nor counted. Each check holds a reserved
//! attempt (see `attempts`) and settles it: failed, succeeded or abandoned.

use super::checker::CredentialChecker;
use super::request::{SignInError, Verified};
use crate::audit::{action, Actor, AuditEvent, Outcome};
use crate::clusters::ClusterError;
use crate::origin::RequestContext;
use crate::password::{HashError, Password};
use crate::scope::Scope;
use crate::session::SessionSubject;
use crate::tenant::{Tenant, TenantStatus};
use crate::user::UserName;

impl CredentialChecker {
    /// A platform operator's name and password.
    pub(super) async fn check_operator(
        &self,
        user_name: &str,
        password: &Password,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        if UserName::parse(user_name).is_err() {
            return Err(self.malformed_name(Scope::Platform, password, origin).await);
        }
        let attempt = self.begin_attempt(Scope::Platform, user_name, origin).await?;
        let checked = async {
            let user = self.ports.platform_users.find_by_name(user_name).await?;
            let hash_of = user.as_ref().map(|u| &u.password_hash);
            let ok = self.ports.hasher.verify(Scope::Platform, password, hash_of).await.map_err(hash)?;
            Ok::<_, SignInError>(user.filter(|u| ok && u.enabled))
        };
        let user = match checked.await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(self.failed(attempt, origin, "wrong_credentials").await),
            Err(e) => return Err(self.abandoned(attempt, e).await),
        };
        self.succeeded(attempt).await?;
        Ok(Verified {
            subject: SessionSubject::PlatformUser(user.id),
            name: user.user_name,
            roles: user.roles,
            tenant: None,
            key_owner: None,
        })
    }

    /// A tenant user's name and password, checked by the tenant's cluster.
    pub(super) async fn check_user(
        &self,
        tenant: &Tenant,
        user_name: &str,
        password: &Password,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let kind = tenant.cluster.ok_or(SignInError::NoCluster)?;
        let cluster = self.ports.clusters.get(kind).map_err(cluster_error)?;
        if UserName::parse(user_name).is_err() {
            return Err(self.malformed_name(Scope::Tenant(tenant.id), password, origin).await);
        }
        let attempt = self.begin_attempt(Scope::Tenant(tenant.id), user_name, origin).await?;
        let user = match cluster.verify(tenant.id, user_name, password).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(self.failed(attempt, origin, "wrong_credentials").await),
            Err(e) => return Err(self.abandoned(attempt, cluster_error(e)).await),
        };
        self.succeeded(attempt).await?;
        // Only a caller who knows a user's password learns that the tenant is suspended.
        if tenant.status != TenantStatus::Active {
            return Err(SignInError::TenantSuspended);
        }
        Ok(Verified {
            subject: SessionSubject::User(user.id),
            name: user.user_name.to_string(),
            roles: user.roles,
            tenant: Some(tenant.clone()),
            key_owner: None,
        })
    }

    /// A name no user can have (empty, too long, control characters, a NUL that no
    /// database stores): refused like a wrong password, after the same hash, but neither
    /// looked up nor counted, and audited without the attacker's text.
    async fn malformed_name(&self, scope: Scope, password: &Password, origin: &RequestContext) -> SignInError {
        if let Err(e) = self.ports.hasher.verify(scope, password, None).await {
            return hash(e);
        }
        let event = AuditEvent::new(
            self.ports.clock.now(),
            scope.tenant(),
            Actor::anonymous(),
            action::USER_SIGN_IN_FAILED,
            Outcome::Failure,
            origin,
        )
        .with("reason", "malformed_user_name");
        match self.ports.audit.record(&event).await {
            Ok(()) => SignInError::InvalidCredentials,
            Err(e) => SignInError::Storage(e),
        }
    }
}

fn hash(e: HashError) -> SignInError {
    match e {
        HashError::Busy { retry_after_secs } => SignInError::Busy { retry_after_secs },
        HashError::Failed(why) => SignInError::ClusterFailure(why),
    }
}

fn cluster_error(e: ClusterError) -> SignInError {
    match e {
        ClusterError::Backend(why) => SignInError::ClusterFailure(why),
        ClusterError::Busy { retry_after_secs } => SignInError::Busy { retry_after_secs },
    }
}
