//! End-to-end tests: each scenario starts the real server on port 0 with a fresh database
//! and runs against SQLite and PostgreSQL.

#[macro_use]
mod support;

mod audit;
mod bootstrap;
mod browser;
mod cli;
mod crash;
mod dialects;
mod errors;
mod hostile;
mod isolation;
mod keys;
mod lifecycle;
mod lockout;
mod metrics;
mod oauth;
mod openapi;
mod pipeline;
mod platform_users;
mod privilege;
mod ratelimit;
mod replicas;
mod request_ids;
mod retention;
mod schemathesis;
mod sessions;
mod shutdown;
mod signing;
mod slow_clients;
mod tenants;
mod tls;
mod tokens;
mod user_keys;
mod users;

pub use support::{assert_error, claims, header, split_key, Backend, TestApp, PASSWORD};
