//! Keyplane's business logic, free of HTTP and SQL: the value types that parse untrusted
//! input, the ports (traits) that storage and crypto implement, and the services that
//! combine them.
#![forbid(unsafe_code)]

pub mod api_key;
pub mod audit;
pub mod clock;
pub mod clusters;
pub mod error;
pub mod ids;
pub mod lockout;
pub mod origin;
pub mod page;
pub mod password;
pub mod platform;
pub mod policy;
pub mod principal;
pub mod role;
pub mod scope;
pub mod services;
pub mod session;
pub mod tenant;
pub mod token;
pub mod user;

#[cfg(test)]
mod testing;
