//! The credential checker: its ports, and the one entry point that sends a credential to
//! the check for its kind and realm, and counts the outcome.

use super::request::{Credentials, Realm, SignInError, Verified};
use crate::api_key::{ApiKeyRepository, KeyRealm};
use crate::audit::AuditLog;
use crate::clock::SharedClock;
use crate::clusters::ClusterRegistry;
use crate::lockout::LockoutRepository;
use crate::origin::RequestContext;
use crate::password::PasswordHasher;
use crate::platform::{PlatformKeyRepository, PlatformUserRepository};
use crate::tenant::TenantRepository;
use crate::user::UserRepository;
use std::sync::Arc;

/// The ports credential checking needs.
pub struct CredentialPorts {
    /// Tenants (an API key's own tenant, and its status).
    pub tenants: Arc<dyn TenantRepository>,
    /// Tenant users (a user's key's owner, and whether a user may still act).
    pub users: Arc<dyn UserRepository>,
    /// Platform operators.
    pub platform_users: Arc<dyn PlatformUserRepository>,
    /// Platform operators' API keys.
    pub platform_keys: Arc<dyn PlatformKeyRepository>,
    /// Tenants' API keys.
    pub keys: Arc<dyn ApiKeyRepository>,
    /// Authentication clusters by kind (tenant users' passwords).
    pub clusters: ClusterRegistry,
    /// Password hashing (platform operators).
    pub hasher: Arc<dyn PasswordHasher>,
    /// Brute-force policies and failure counters.
    pub lockout: Arc<dyn LockoutRepository>,
    /// The audit trail (failed sign-ins and locks; may buffer off the request path).
    pub audit: Arc<dyn AuditLog>,
    /// Time.
    pub clock: SharedClock,
}

/// Checks credentials; see the module documentation.
#[derive(Clone)]
pub struct CredentialChecker {
    pub(super) ports: Arc<CredentialPorts>,
}

impl CredentialChecker {
    /// Builds the checker over its ports.
    pub fn new(ports: CredentialPorts) -> Self {
        Self { ports: Arc::new(ports) }
    }

    /// Checks a credential against `realm`, counting failures for the lockout and
    /// recording them in the audit trail.
    ///
    /// # Errors
    /// See [`SignInError`]; every credential failure is `InvalidCredentials`.
    pub async fn check(
        &self,
        realm: Realm<'_>,
        credentials: &Credentials,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        let result = self.check_credentials(realm, credentials, origin).await;
        let credential = match credentials {
            Credentials::Password { .. } => "password",
            Credentials::ApiKey(_) => "api_key",
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(SignInError::InvalidCredentials) => "invalid_credentials",
            Err(SignInError::TenantSuspended) => "tenant_suspended",
            Err(SignInError::Busy { .. }) => "busy",
            Err(_) => "error",
        };
        metrics::counter!(
            "keyplane_sign_ins_total",
            "entry_point" => origin.entry_point.as_str(),
            "credential" => credential,
            "outcome" => outcome
        )
        .increment(1);
        result
    }

    /// Sends the credential to the check for its kind and realm.
    async fn check_credentials(
        &self,
        realm: Realm<'_>,
        credentials: &Credentials,
        origin: &RequestContext,
    ) -> Result<Verified, SignInError> {
        match (credentials, realm) {
            (Credentials::Password { user_name, password }, Realm::Platform) => {
                self.check_operator(user_name, password, origin).await
            }
            (Credentials::Password { user_name, password }, Realm::Tenant(tenant)) => {
                self.check_user(tenant, user_name, password, origin).await
            }
            (Credentials::Password { .. }, Realm::KeyTenant) => Err(SignInError::InvalidCredentials),
            (Credentials::ApiKey(key), realm) => match (key.realm, realm) {
                (KeyRealm::Tenant, Realm::Tenant(tenant)) => self.check_key(key, Some(tenant), origin).await,
                (KeyRealm::Tenant, Realm::KeyTenant) => self.check_key(key, None, origin).await,
                (KeyRealm::Platform, Realm::Platform | Realm::KeyTenant) => self.check_platform_key(key, origin).await,
                // A tenant's key names no operator, and a platform key no tenant.
                (KeyRealm::Tenant, Realm::Platform) | (KeyRealm::Platform, Realm::Tenant(_)) => {
                    Err(SignInError::InvalidCredentials)
                }
            },
        }
    }
}
