//! Services: one per aggregate, each owning the ports it needs.

pub mod api_keys;
pub mod authn;
pub mod bootstrap;
pub mod tenants;
pub mod users;
