//! Services: one per aggregate, each owning the ports it needs.

pub mod api_keys;
pub mod audit;
pub mod bootstrap;
pub mod credentials;
pub mod lockout;
pub mod operators;
pub mod retention;
pub mod sessions;
pub mod signing;
pub mod tenants;
pub mod tokens;
pub mod users;
