//! End-to-end tests: each scenario starts the real server on port 0 with a fresh database
//! and runs against SQLite and PostgreSQL.

#[macro_use]
mod support;

mod bootstrap;
mod errors;
mod isolation;
mod keys;
mod openapi;
mod tenants;
mod users;

pub use support::{assert_error, Backend, TestApp};
