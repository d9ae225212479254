//! Read-through caches in front of the repositories, so that the hot paths (API-key and
//! token checks, refresh) need no database round trip but the one that must be atomic.
//!
//! Every write through a cached repository invalidates what it touched, so a change is in
//! force at once on the replica that made it; other replicas see it when their entry
//! expires (`ttl`, one second by default). Entries are bounded in number, and concurrent
//! misses of one entry share a single load (no stampede on the database when an entry
//! expires under load).
//!
//! `read_through` holds the machinery every cache shares (bounded entries with a TTL, one
//! load per miss, hit/miss metrics); each other module wraps the repositories of one area.

mod accounts;
mod credentials;
mod lockout;
mod read_through;
mod tenants;

pub use accounts::{CachedPlatformUsers, CachedUsers};
pub use credentials::{CachedApiKeys, CachedSessions};
pub use lockout::CachedLockout;
pub use tenants::CachedTenants;

#[cfg(test)]
mod tests;
