//! sea-orm entities, one file per table.

pub mod api_keys;
pub mod audit_events;
pub mod brute_force_policies;
pub mod platform_api_keys;
pub mod platform_guards;
pub mod platform_users;
pub mod sessions;
pub mod sign_in_failures;
pub mod signing_keys;
pub mod tenants;
pub mod users;
