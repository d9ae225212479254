//! Keyplane's schema: one file per migration, never edited once released. The same
//! migrations serve SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_platform_users;
mod m20261123_000002_tenants;
mod m20261123_000003_users;
mod m20261123_000004_api_keys;
mod m20261123_000005_signing_keys;
mod m20261123_000006_sessions;
mod m20261124_000007_one_active_signing_key;
mod m20261124_000008_session_purge_indexes;
mod m20261124_000009_audit_events;
mod m20261124_000009_brute_force;
mod m20261124_000010_platform_operators;
mod m20261207_000011_lockout_per_address;
mod m20261207_000012_token_grants;
mod m20261207_000013_personal_key_lifetime;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_platform_users::Migration),
            Box::new(m20261123_000002_tenants::Migration),
            Box::new(m20261123_000003_users::Migration),
            Box::new(m20261123_000004_api_keys::Migration),
            Box::new(m20261123_000005_signing_keys::Migration),
            Box::new(m20261123_000006_sessions::Migration),
            Box::new(m20261124_000007_one_active_signing_key::Migration),
            Box::new(m20261124_000008_session_purge_indexes::Migration),
            Box::new(m20261124_000009_brute_force::Migration),
            Box::new(m20261124_000009_audit_events::Migration),
            Box::new(m20261124_000010_platform_operators::Migration),
            Box::new(m20261207_000011_lockout_per_address::Migration),
            Box::new(m20261207_000012_token_grants::Migration),
            Box::new(m20261207_000013_personal_key_lifetime::Migration),
        ]
    }
}
