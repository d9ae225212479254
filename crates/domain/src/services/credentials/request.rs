//! What a credential check takes and gives: the credential, the realm it is checked
//! against, the verified subject, and the one error type of every check.

use crate::api_key::PresentedKey;
use crate::error::StorageError;
use crate::ids::UserId;
use crate::password::Password;
use crate::principal::{Principal, Subject};
use crate::role::Roles;
use crate::services::signing::SigningError;
use crate::session::SessionSubject;
use crate::tenant::Tenant;

/// What a caller presents.
pub enum Credentials {
    /// A user name and password.
    Password {
        /// The name as typed (compared without case).
        user_name: String,
        /// The password.
        password: Password,
    },
    /// An API key.
    ApiKey(PresentedKey),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Password { user_name, .. } => {
                f.debug_struct("Password").field("user_name", user_name).field("password", &"<redacted>").finish()
            }
            Self::ApiKey(key) => f.debug_tuple("ApiKey").field(key).finish(),
        }
    }
}

/// Against whom a credential is checked.
#[derive(Debug, Clone, Copy)]
pub enum Realm<'a> {
    /// The platform's operators.
    Platform,
    /// One tenant: its users through its cluster, or its API keys.
    Tenant(&'a Tenant),
    /// An API key's own realm, whichever it is: a tenant's key names its tenant, a
    /// platform key the platform (a password names neither, and fails).
    KeyTenant,
}

/// A checked credential: who it is, in which tenant, with which roles now.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who.
    pub subject: SessionSubject,
    /// The user name (or key id).
    pub name: String,
    /// Current roles (a user's key has its owner's).
    pub roles: Roles,
    /// The tenant; `None` for platform operators.
    pub tenant: Option<Tenant>,
    /// For a user's own API key, the user.
    pub key_owner: Option<UserId>,
}

impl Verified {
    /// The caller, for authorisation.
    pub fn principal(&self) -> Principal {
        let subject = match self.subject {
            SessionSubject::User(u) => Subject::User(u),
            SessionSubject::PlatformUser(u) => Subject::PlatformUser(u),
            SessionSubject::ApiKey(k) => Subject::ApiKey { key: k, owner: self.key_owner },
        };
        Principal {
            subject,
            name: self.name.clone(),
            tenant: self.tenant.as_ref().map(|t| t.id),
            roles: self.roles.clone(),
            session: None,
            signed_in_at: None,
        }
    }
}

/// Why a sign-in (or a credential check) failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, disabled user, unknown or revoked key: one answer
    /// for all.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The tenant has no authentication cluster.
    #[error("the tenant has no authentication cluster")]
    NoCluster,
    /// The cluster could not answer (detail logged only).
    #[error("authentication cluster failure: {0}")]
    ClusterFailure(String),
    /// The tenant is suspended.
    #[error("the tenant is suspended")]
    TenantSuspended,
    /// Password checks are saturated.
    #[error("too many sign-ins in progress")]
    Busy {
        /// Seconds after which a retry is likely to succeed.
        retry_after_secs: u64,
    },
    /// Key management failed.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
