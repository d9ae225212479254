//! Response and parameter shapes shared by several routes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An empty JSON object, returned by deletions and sign-outs (as ECE does).
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}

/// Offset pagination parameters, as the `PageQuery` extractor deserialises them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Index of the first item (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// Items per page (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// Where a page sits in the whole list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageInfo {
    /// Index of the first item returned.
    pub from: u64,
    /// The page size asked for.
    pub size: u64,
    /// How many items match in all.
    pub total: u64,
}

impl<T> From<&keyplane_domain::page::Page<T>> for PageInfo {
    fn from(page: &keyplane_domain::page::Page<T>) -> Self {
        Self { from: page.request.from(), size: page.request.size(), total: page.total }
    }
}

/// A user's or operator's brute-force lockout, as it stands now.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Lockout {
    /// Failed sign-ins on this name, from every address, that still count towards
    /// locking the name as a whole (after the policy's `max_failures_total`).
    pub failed_attempts: u32,
    /// Until when the name as a whole is locked out; `null` when it is not. The unlock
    /// route lifts it, and every address's lock.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The client addresses with failed sign-ins on this name that still count, most
    /// recent first (at most 20). An address is locked out of the name after the
    /// policy's `max_failures`, while the right password from another address still
    /// signs in.
    pub failed_addresses: Vec<AddressLockout>,
}

/// One client address's failed sign-ins on a name.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressLockout {
    /// The address; for IPv6 its /64 (`2001:db8:1:2::/64`); `unknown` when none was known.
    pub address: String,
    /// Its failed sign-ins that still count.
    pub failed_attempts: u32,
    /// Until when it is locked out of the name; `null` when it is not.
    pub locked_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<keyplane_domain::lockout::LockoutStatus> for Lockout {
    fn from(s: keyplane_domain::lockout::LockoutStatus) -> Self {
        Self {
            failed_attempts: s.failures,
            locked_until: s.locked_until,
            failed_addresses: s
                .addresses
                .into_iter()
                .map(|a| AddressLockout {
                    address: a.address,
                    failed_attempts: a.failures,
                    locked_until: a.locked_until,
                })
                .collect(),
        }
    }
}
