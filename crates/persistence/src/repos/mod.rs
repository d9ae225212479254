//! Repositories: the domain's storage ports over sea-orm.

mod api_keys;
mod audit;
mod lockout;
mod page;
mod platform_keys;
mod platform_users;
mod sessions;
mod signing_keys;
mod tenants;
mod users;

pub use api_keys::SqlApiKeys;
pub use audit::SqlAuditLog;
pub use lockout::SqlLockout;
pub use platform_keys::SqlPlatformKeys;
pub use platform_users::SqlPlatformUsers;
pub use sessions::SqlSessions;
pub use signing_keys::SqlSigningKeys;
pub use tenants::SqlTenants;
pub use users::SqlUsers;
