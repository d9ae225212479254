//! Tenants: their value types and the storage port.

use crate::audit::AuditEvent;
use crate::error::{Invalid, StorageError};
use crate::ids::TenantId;
use crate::page::{Page, PageRequest};
use crate::policy::{ClusterKind, TokenPolicy};
use crate::token::SigningKey;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// A tenant's slug: a DNS label (RFC 1123), lowercase, 1 to 63 characters. It names the
/// tenant in URLs (`/t/{slug}/…`) and in its token issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Parses a slug.
    ///
    /// # Errors
    /// [`Invalid`] for `slug` when it is not a lowercase DNS label.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = |why: &str| Err(Invalid::new("slug", why));
        if raw.is_empty() || raw.len() > 63 {
            return bad("must be 1 to 63 characters long");
        }
        if !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return bad("may contain only lowercase letters, digits and '-'");
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return bad("must start and end with a letter or digit");
        }
        if Uuid::parse_str(raw).is_ok() {
            return bad("must not be a UUID");
        }
        Ok(Self(raw.to_owned()))
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant's display name: 1 to 200 characters, not blank, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    /// Parses a display name. The limits apply to the name as sent (as the OpenAPI
    /// schema states them); the surrounding spaces are then trimmed.
    ///
    /// # Errors
    /// [`Invalid`] for `name` when blank, too long or holding control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || raw.chars().count() > 200 {
            return Err(Invalid::new("name", "must be 1 to 200 characters long"));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid::new("name", "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a tenant may authenticate anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    /// Serving normally.
    Active,
    /// Authenticates no one; its credentials stop working.
    Suspended,
}

impl TenantStatus {
    /// The stored and serialised form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }

    /// Parses the stored form; anything unknown reads as suspended (fail closed).
    pub fn from_stored(raw: &str) -> Self {
        if raw == "active" {
            Self::Active
        } else {
            Self::Suspended
        }
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Identifier.
    pub id: TenantId,
    /// URL name.
    pub slug: TenantSlug,
    /// Display name.
    pub name: TenantName,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Token lifetimes and rotation rules.
    pub policy: TokenPolicy,
    /// What verifies the tenant's credentials; `None` answers every check with
    /// "no authentication cluster".
    pub cluster: Option<ClusterKind>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// How a request names a tenant: by slug or by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TenantRef {
    /// By identifier.
    Id(TenantId),
    /// By slug.
    Slug(TenantSlug),
}

impl TenantRef {
    /// Reads a path segment: a UUID is an id, anything else must be a slug.
    ///
    /// # Errors
    /// `None` when the segment is neither (the caller answers "not found").
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(id) = Uuid::parse_str(raw) {
            return Some(Self::Id(TenantId::from_uuid(id)));
        }
        TenantSlug::parse(raw).ok().map(Self::Slug)
    }
}

/// Failure of [`TenantRepository::insert`].
#[derive(Debug, thiserror::Error)]
pub enum InsertTenantError {
    /// Another tenant has this slug.
    #[error("a tenant with this slug already exists")]
    SlugTaken,
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Storage of tenants. Tenants are the root of scoping, so these methods take the tenant
/// itself rather than a tenant id to scope by.
#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// Stores a new tenant and its first signing key (of the tenant's scope, active) in
    /// one transaction with `event` (its audit record): all are stored or none.
    ///
    /// # Errors
    /// [`InsertTenantError::SlugTaken`] when the slug is in use; `Storage` otherwise.
    async fn insert(
        &self,
        tenant: &Tenant,
        first_key: &SigningKey,
        event: &AuditEvent,
    ) -> Result<(), InsertTenantError>;

    /// Finds a tenant by id or slug.
    ///
    /// # Errors
    /// Only [`StorageError`]; absence is `Ok(None)`.
    async fn find(&self, tenant: &TenantRef) -> Result<Option<Tenant>, StorageError>;

    /// Lists tenants, oldest first.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StorageError>;

    /// Writes the name, policy, cluster and `updated_at` of an existing tenant, never its
    /// status (only [`TenantRepository::set_status`] writes that, so that a policy or name
    /// change racing a suspension cannot write the old status back); returns whether it
    /// still existed. `event` is stored in the same transaction when it existed.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn update(&self, tenant: &Tenant, event: &AuditEvent) -> Result<bool, StorageError>;

    /// Sets a tenant's status with one conditional `UPDATE` of that column (and
    /// `updated_at`, when the status changes); returns whether the tenant exists. `event`
    /// is stored in the same transaction when the status changed, and not at all when the
    /// tenant already had it.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Deletes a tenant and everything it owns (users, keys); returns whether it existed.
    /// `event` is stored in the same transaction when it existed; the tenant's earlier
    /// audit events are kept (until their retention ends).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn delete(&self, id: TenantId, event: &AuditEvent) -> Result<bool, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        assert!(TenantSlug::parse("acme").is_ok());
        assert!(TenantSlug::parse("a-1").is_ok());
        assert!(TenantSlug::parse(&"a".repeat(63)).is_ok());
        for bad in ["", "-a", "a-", "Acme", "a_b", "a.b", "ä", &"a".repeat(64)] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(TenantSlug::parse("6a2f41a3-c54c-fce8-32d2-0324e1c32e22").is_err());
    }

    #[test]
    fn tenant_refs_read_ids_and_slugs() {
        let id = Uuid::now_v7();
        assert_eq!(TenantRef::parse(&id.to_string()), Some(TenantRef::Id(TenantId::from_uuid(id))));
        assert!(matches!(TenantRef::parse("acme"), Some(TenantRef::Slug(_))));
        assert_eq!(TenantRef::parse("NOT A SLUG"), None);
    }
}
