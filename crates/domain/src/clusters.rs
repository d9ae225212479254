//! Authentication clusters: what verifies a tenant's user names and passwords. `native`
//! checks Keyplane's own user store; external kinds (LDAP) implement the same port.

use crate::error::StorageError;
use crate::ids::TenantId;
use crate::password::{HashError, Password, PasswordHasher};
use crate::policy::ClusterKind;
use crate::scope::Scope;
use crate::user::{User, UserName, UserRepository};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a cluster could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The backend is unreachable or failed; the detail is logged, never shown.
    #[error("authentication cluster failure: {0}")]
    Backend(String),
    /// Too many checks are in progress; retry shortly.
    #[error("the authentication cluster is saturated")]
    Busy {
        /// Seconds after which a retry is likely to succeed.
        retry_after_secs: u64,
    },
}

/// Verifies credentials for one kind of cluster.
#[async_trait]
pub trait AuthenticationCluster: Send + Sync {
    /// Checks `password` for `user_name` in `tenant`. `Ok(None)` for an unknown user, a
    /// wrong password or a disabled user alike, after the same amount of work.
    ///
    /// # Errors
    /// [`ClusterError`] when the backend cannot answer.
    async fn verify(
        &self,
        tenant: TenantId,
        user_name: &str,
        password: &Password,
    ) -> Result<Option<User>, ClusterError>;
}

/// The clusters available in this deployment, by kind.
#[derive(Clone, Default)]
pub struct ClusterRegistry(HashMap<ClusterKind, Arc<dyn AuthenticationCluster>>);

impl ClusterRegistry {
    /// Registers the implementation of `kind`.
    pub fn with(mut self, kind: ClusterKind, cluster: Arc<dyn AuthenticationCluster>) -> Self {
        self.0.insert(kind, cluster);
        self
    }

    /// The implementation of `kind`.
    ///
    /// # Errors
    /// [`ClusterError::Backend`] when this deployment has none for that kind.
    pub fn get(&self, kind: ClusterKind) -> Result<&Arc<dyn AuthenticationCluster>, ClusterError> {
        self.0
            .get(&kind)
            .ok_or_else(|| ClusterError::Backend(format!("no implementation of the '{}' cluster", kind.as_str())))
    }
}

/// The `native` cluster: Keyplane's user store and Argon2id hashes.
pub struct NativeCluster {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
}

impl NativeCluster {
    /// Builds the cluster over the user store and the hasher.
    pub fn new(users: Arc<dyn UserRepository>, hasher: Arc<dyn PasswordHasher>) -> Self {
        Self { users, hasher }
    }
}

fn backend(e: StorageError) -> ClusterError {
    ClusterError::Backend(e.to_string())
}

#[async_trait]
impl AuthenticationCluster for NativeCluster {
    async fn verify(
        &self,
        tenant: TenantId,
        user_name: &str,
        password: &Password,
    ) -> Result<Option<User>, ClusterError> {
        let user = match UserName::parse(user_name) {
            Ok(name) => self.users.find_by_name(tenant, &name).await.map_err(backend)?,
            Err(_) => None,
        };
        let ok = self
            .hasher
            .verify(Scope::Tenant(tenant), password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(|e| match e {
                HashError::Busy { retry_after_secs } => ClusterError::Busy { retry_after_secs },
                HashError::Failed(why) => ClusterError::Backend(why),
            })?;
        Ok(user.filter(|u| ok && u.enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;
    use crate::ids::UserId;
    use crate::page::{Page, PageRequest};
    use crate::password::PasswordHash;
    use crate::testing::{InMemoryUsers, PlainHasher};
    use crate::user::WriteUserError;
    use chrono::{DateTime, Utc};

    /// A user store whose backend is down.
    struct Unreachable;

    #[async_trait]
    impl UserRepository for Unreachable {
        async fn insert(&self, _: &User, _: &AuditEvent) -> Result<(), WriteUserError> {
            Err(StorageError::new("connection refused").into())
        }
        async fn find_by_name(&self, _: TenantId, _: &UserName) -> Result<Option<User>, StorageError> {
            Err(StorageError::new("connection refused"))
        }
        async fn find_by_id(&self, _: TenantId, _: UserId) -> Result<Option<User>, StorageError> {
            Err(StorageError::new("connection refused"))
        }
        async fn list(&self, _: TenantId, _: PageRequest) -> Result<Page<User>, StorageError> {
            Err(StorageError::new("connection refused"))
        }
        async fn update(&self, _: &User, _: &AuditEvent) -> Result<bool, WriteUserError> {
            Err(StorageError::new("connection refused").into())
        }
        async fn set_enabled(
            &self,
            _: TenantId,
            _: UserId,
            _: bool,
            _: DateTime<Utc>,
            _: &AuditEvent,
        ) -> Result<bool, StorageError> {
            Err(StorageError::new("connection refused"))
        }
        async fn set_password(
            &self,
            _: TenantId,
            _: UserId,
            _: &PasswordHash,
            _: DateTime<Utc>,
            _: &AuditEvent,
        ) -> Result<bool, StorageError> {
            Err(StorageError::new("connection refused"))
        }
        async fn record_login(&self, _: TenantId, _: UserId, _: DateTime<Utc>) -> Result<(), StorageError> {
            Err(StorageError::new("connection refused"))
        }
        async fn delete(&self, _: TenantId, _: UserId, _: &AuditEvent) -> Result<bool, StorageError> {
            Err(StorageError::new("connection refused"))
        }
    }

    #[tokio::test]
    async fn a_failing_backend_is_a_cluster_error_not_a_wrong_password() {
        let cluster = NativeCluster::new(Arc::new(Unreachable), Arc::new(PlainHasher));
        let result = cluster.verify(TenantId::generate(), "alice", &Password::presented("pw".into())).await;
        assert!(matches!(result, Err(ClusterError::Backend(_))));
    }

    #[tokio::test]
    async fn unknown_users_and_wrong_passwords_are_both_none() {
        let cluster = NativeCluster::new(Arc::new(InMemoryUsers::default()), Arc::new(PlainHasher));
        let result = cluster.verify(TenantId::generate(), "ghost", &Password::presented("pw".into())).await;
        assert!(matches!(result, Ok(None)));
        let result = cluster.verify(TenantId::generate(), "not a valid name", &Password::presented("pw".into())).await;
        assert!(matches!(result, Ok(None)));
    }

    #[test]
    fn a_kind_without_an_implementation_is_a_backend_error() {
        assert!(matches!(ClusterRegistry::default().get(ClusterKind::Native), Err(ClusterError::Backend(_))));
    }
}
