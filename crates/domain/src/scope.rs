//! Where a session or signing key belongs: the platform itself, or one tenant.

use crate::ids::TenantId;

/// The owner of sessions and signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Platform operators.
    Platform,
    /// One tenant.
    Tenant(TenantId),
}

impl Scope {
    /// The tenant, if any.
    pub fn tenant(&self) -> Option<TenantId> {
        match self {
            Self::Platform => None,
            Self::Tenant(t) => Some(*t),
        }
    }
}
