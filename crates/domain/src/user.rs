//! Tenant users: their value types and the storage port.

use crate::audit::AuditEvent;
use crate::error::{Invalid, StorageError};
use crate::ids::{TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::password::PasswordHash;
use crate::role::Roles;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::fmt;

/// A user name: 1 to 128 characters of letters, digits and `.`, `_`, `-`, `@`, `+`.
/// Unique within a tenant without regard to case; the case given at creation is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// Parses a user name.
    ///
    /// # Errors
    /// [`Invalid`] for `user_name`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.chars().count() > 128 {
            return Err(Invalid::new("user_name", "must be 1 to 128 characters long"));
        }
        let allowed = |c: char| c.is_alphanumeric() || "._-@+".contains(c);
        if !raw.chars().all(allowed) {
            return Err(Invalid::new("user_name", "may contain only letters, digits and '.', '_', '-', '@', '+'"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that uniqueness and look-ups use.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address, checked for shape only (one `@`, no spaces, at most 254 chars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address.
    ///
    /// # Errors
    /// [`Invalid`] for `email`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("email", "must be an e-mail address");
        if raw.chars().count() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = raw.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: at most 256 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Parses a display name.
    ///
    /// # Errors
    /// [`Invalid`] for `full_name`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > 256 || raw.chars().any(char::is_control) {
            return Err(Invalid::new("full_name", "must be at most 256 characters, without control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form data about a user: a JSON object of at most 16 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata(Map<String, Value>);

/// What makes a JSON value unstorable, if anything: a NUL anywhere (no database stores
/// one in JSON; PostgreSQL's jsonb refuses it), or a control character in a key (a key
/// names a field; no name holds one).
fn unstorable(value: &Value) -> Option<&'static str> {
    match value {
        Value::String(s) if s.contains('\0') => Some("must not contain NUL characters"),
        Value::Array(items) => items.iter().find_map(unstorable),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some("must not contain NUL characters")
            } else if k.chars().any(char::is_control) {
                Some("must not contain control characters in its keys")
            } else {
                unstorable(v)
            }
        }),
        _ => None,
    }
}

/// The keys a merge patch writes, without those it deletes (`null`): what it adds must
/// be storable, while deleting a key stored before the rule was is always allowed.
fn written(patch: &Value) -> Value {
    match patch {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), written(v))).collect())
        }
        other => other.clone(),
    }
}

/// Largest serialised metadata object.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

impl Metadata {
    /// Validates a metadata value.
    ///
    /// # Errors
    /// [`Invalid`] for `metadata` when it is not an object or too large.
    pub fn parse(value: Value) -> Result<Self, Invalid> {
        if let Some(why) = unstorable(&value) {
            return Err(Invalid::new("metadata", why));
        }
        Self::bounded(value)
    }

    /// This metadata with an RFC 7396 merge patch applied (`null` clears it). The patch
    /// must be storable where it writes; the result must be an object within the size.
    ///
    /// # Errors
    /// [`Invalid`] for `metadata`.
    pub fn merge(&self, patch: &Value) -> Result<Self, Invalid> {
        if let Some(why) = unstorable(&written(patch)) {
            return Err(Invalid::new("metadata", why));
        }
        let mut merged = self.to_value();
        json_patch::merge(&mut merged, patch);
        if merged.is_null() {
            merged = Value::Object(Map::new());
        }
        Self::bounded(merged)
    }

    /// An object of at most [`MAX_METADATA_BYTES`].
    fn bounded(value: Value) -> Result<Self, Invalid> {
        let Value::Object(map) = value else {
            return Err(Invalid::new("metadata", "must be a JSON object"));
        };
        let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_METADATA_BYTES {
            return Err(Invalid::new("metadata", format!("must be at most {MAX_METADATA_BYTES} bytes")));
        }
        Ok(Self(map))
    }

    /// Metadata read back from storage.
    pub fn from_stored(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// The JSON object.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// A tenant user as stored. `password_hash` never leaves the domain and persistence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Sign-in name.
    pub user_name: UserName,
    /// Contact address.
    pub email: Option<Email>,
    /// Display name.
    pub full_name: Option<FullName>,
    /// Granted roles.
    pub roles: Roles,
    /// Whether the user may sign in.
    pub enabled: bool,
    /// Free-form data.
    pub metadata: Metadata,
    /// Argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// Failure of [`UserRepository::insert`] and [`UserRepository::update`].
#[derive(Debug, thiserror::Error)]
pub enum WriteUserError {
    /// Another user of the tenant has this name (compared without case).
    #[error("a user with this name already exists")]
    NameTaken,
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Storage of tenant users. Every method is scoped by the tenant id it takes.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new user and `event` (its audit record) in one transaction.
    ///
    /// # Errors
    /// [`WriteUserError::NameTaken`] when the folded name is in use in the tenant.
    async fn insert(&self, user: &User, event: &AuditEvent) -> Result<(), WriteUserError>;

    /// Finds a user by name (without regard to case).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_name(&self, tenant: TenantId, name: &UserName) -> Result<Option<User>, StorageError>;

    /// Finds a user by id.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_id(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StorageError>;

    /// Lists a tenant's users ordered by folded name.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<User>, StorageError>;

    /// Writes the profile of an existing user (name, email, full name, roles, metadata and
    /// `updated_at`) and nothing else; returns whether it still existed. `enabled` and the
    /// password hash are never written here, only by [`UserRepository::set_enabled`] and
    /// [`UserRepository::set_password`], so that a profile change racing a disable or a
    /// password change cannot write the old value back. `event` is stored in the same
    /// transaction when the user existed, and not at all otherwise.
    ///
    /// # Errors
    /// [`WriteUserError::NameTaken`] when renamed onto a name in use.
    async fn update(&self, user: &User, event: &AuditEvent) -> Result<bool, WriteUserError>;

    /// Enables or disables a user with one conditional `UPDATE` of that column (and
    /// `updated_at`); returns whether the user exists. `event` is stored in the same
    /// transaction when the user existed.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn set_enabled(
        &self,
        tenant: TenantId,
        id: UserId,
        enabled: bool,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Replaces a user's password hash with one `UPDATE` of that column (and
    /// `updated_at`); returns whether the user exists. `event` is stored in the same
    /// transaction when the user existed.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn set_password(
        &self,
        tenant: TenantId,
        id: UserId,
        hash: &PasswordHash,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Records a successful sign-in.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn record_login(&self, tenant: TenantId, id: UserId, at: DateTime<Utc>) -> Result<(), StorageError>;

    /// Deletes a user and the keys it owns; returns whether it existed. `event` is stored
    /// in the same transaction when it existed.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn delete(&self, tenant: TenantId, id: UserId, event: &AuditEvent) -> Result<bool, StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_names_fold_case_and_reject_spaces() {
        let n = UserName::parse("Alice.Smith@example").unwrap();
        assert_eq!(n.folded(), "alice.smith@example");
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse("a b").is_err());
        assert!(UserName::parse("a/b").is_err());
        assert!(UserName::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn emails_and_metadata_are_checked() {
        assert!(Email::parse("a@b.c").is_ok());
        for bad in ["a", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Metadata::parse(json!({"a": 1})).is_ok());
        assert!(Metadata::parse(json!([1])).is_err());
        assert!(Metadata::parse(json!({"a": [{"b": "x\u{0}"}]})).is_err(), "a NUL anywhere");
        assert!(Metadata::parse(json!({"\u{0}": 1})).is_err(), "a NUL in a key");
        assert!(Metadata::parse(json!({"a": {"b\u{1b}c": 1}})).is_err(), "a control character in a nested key");
        assert!(Metadata::parse(json!({"a": "line\nbreak"})).is_ok(), "control characters in values are data");
        assert!(Metadata::parse(json!({"a": "x".repeat(MAX_METADATA_BYTES)})).is_err());
    }

    #[test]
    fn a_merge_patch_writes_only_storable_keys_and_may_delete_any() {
        // Stored before the rule was: such a key must stay deletable.
        let stored = Metadata::from_stored(json!({"old\u{7}": 1, "a": {"b": 2}}));
        let merged = stored.merge(&json!({"old\u{7}": null, "a": {"c": 3}})).unwrap();
        assert_eq!(merged.to_value(), json!({"a": {"b": 2, "c": 3}}));
        assert!(stored.merge(&json!({"new\u{7}": 1})).is_err());
        assert!(stored.merge(&json!({"a": {"x": "\u{0}"}})).is_err());
        assert_eq!(stored.merge(&json!(null)).unwrap(), Metadata::default());
        assert!(stored.merge(&json!([1])).is_err(), "a patch that is no object replaces the object");
        assert!(stored.merge(&json!({"big": "x".repeat(MAX_METADATA_BYTES)})).is_err());
    }
}
