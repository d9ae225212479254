//! The services every handler reaches through `web::Data<AppState>`.

use keyplane_domain::services::api_keys::ApiKeyService;
use keyplane_domain::services::audit::AuditService;
use keyplane_domain::services::operators::OperatorService;
use keyplane_domain::services::sessions::SessionAdmin;
use keyplane_domain::services::tenants::TenantService;
use keyplane_domain::services::tokens::TokenService;
use keyplane_domain::services::users::UserService;
use keyplane_persistence::Database;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// Tenant administration and access decisions.
    pub tenants: TenantService,
    /// User administration.
    pub users: UserService,
    /// API key administration.
    pub keys: ApiKeyService,
    /// Platform operators and their API keys.
    pub operators: OperatorService,
    /// Sign-in, credential checks, sessions, tokens.
    pub tokens: TokenService,
    /// The audit trail, and naming callers for it.
    pub audit: AuditService,
    /// Ending sessions on record.
    pub sessions: SessionAdmin,
    /// The pool, for readiness checks.
    pub db: Database,
}
