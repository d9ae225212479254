//! Storage for Keyplane: sea-orm entities and the repositories that implement the domain's
//! ports, on SQLite (the embedded default) and PostgreSQL.
#![forbid(unsafe_code)]

pub mod cache;
mod convert;
pub mod db;
pub mod entities;
mod repos;

pub use db::{connect, migrate, pending_migrations, pool_connections, Database};
pub use repos::{
    SqlApiKeys, SqlAuditLog, SqlLockout, SqlPlatformKeys, SqlPlatformUsers, SqlSessions, SqlSigningKeys, SqlTenants,
    SqlUsers,
};
