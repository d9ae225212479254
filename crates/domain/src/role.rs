//! Roles: the four built-in ones and any custom role string a tenant defines.

use crate::error::Invalid;
use std::fmt;

/// Operator with full control of the platform.
pub const PLATFORM_ADMIN: &str = "platform_admin";
/// Operator with read-only access to the platform.
pub const PLATFORM_VIEWER: &str = "platform_viewer";
/// Full control of one tenant.
pub const TENANT_ADMIN: &str = "tenant_admin";
/// Read-only access to one tenant.
pub const TENANT_VIEWER: &str = "tenant_viewer";

/// A role name: 1 to 64 characters of lowercase ASCII letters, digits, `_`, `-`, `.`, `:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(String);

impl Role {
    /// Parses a role name.
    ///
    /// # Errors
    /// A reason when the name is empty, too long or uses other characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 64 {
            return Err("a role must be 1 to 64 characters long".into());
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.:".contains(c);
        if !raw.chars().all(allowed) {
            return Err("a role may contain only lowercase letters, digits, '_', '-', '.' and ':'".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The role name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of the platform-wide roles, which no tenant credential may hold.
    pub fn is_platform(&self) -> bool {
        self.0 == PLATFORM_ADMIN || self.0 == PLATFORM_VIEWER
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A de-duplicated list of roles, in the order first given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// Parses roles for a tenant credential (a user or an API key): at most 32 of them,
    /// none of them a platform role.
    ///
    /// # Errors
    /// [`Invalid`] for `field` when a role is malformed, a platform role, or too many.
    pub fn parse_tenant(field: &'static str, raw: &[String]) -> Result<Self, Invalid> {
        if raw.len() > 32 {
            return Err(Invalid::new(field, "at most 32 roles are allowed"));
        }
        let mut roles: Vec<Role> = Vec::with_capacity(raw.len());
        for r in raw {
            let role = Role::parse(r).map_err(|e| Invalid::new(field, e))?;
            if role.is_platform() {
                return Err(Invalid::new(field, format!("'{role}' is a platform role")));
            }
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(Self(roles))
    }

    /// Parses a platform operator's roles: one or both of `platform_admin` and
    /// `platform_viewer`, nothing else.
    ///
    /// # Errors
    /// [`Invalid`] for `field` when the list is empty or names another role.
    pub fn parse_platform(field: &'static str, raw: &[String]) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > 2 {
            return Err(Invalid::new(field, "an operator holds platform_admin and/or platform_viewer, each once"));
        }
        let mut roles: Vec<Role> = Vec::with_capacity(2);
        for r in raw {
            let role = Role::parse(r).ok().filter(Role::is_platform).ok_or_else(|| {
                Invalid::new(field, "an operator's roles are platform_admin and platform_viewer only")
            })?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        Ok(Self(roles))
    }

    /// Whether there are no roles.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Roles read back from storage, trusted as written.
    pub fn from_stored(raw: Vec<String>) -> Self {
        Self(raw.into_iter().map(Role).collect())
    }

    /// A single role.
    pub fn single(name: &str) -> Self {
        Self(vec![Role(name.to_owned())])
    }

    /// Whether `name` is among these roles.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|r| r.0 == name)
    }

    /// The role names, for storage and responses.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|r| r.0.clone()).collect()
    }

    /// Iterates over the roles.
    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_roles_reject_platform_roles_and_bad_names() {
        let ok = Roles::parse_tenant("roles", &["tenant_admin".into(), "billing:read".into(), "tenant_admin".into()])
            .unwrap();
        assert_eq!(ok.to_strings(), vec!["tenant_admin", "billing:read"]);
        assert!(Roles::parse_tenant("roles", &["platform_admin".into()]).is_err());
        assert!(Roles::parse_tenant("roles", &["Admin".into()]).is_err());
        assert!(Roles::parse_tenant("roles", &["".into()]).is_err());
    }

    #[test]
    fn platform_roles_are_the_two_platform_roles_only() {
        let both = Roles::parse_platform("roles", &[PLATFORM_VIEWER.into(), PLATFORM_ADMIN.into()]).unwrap();
        assert_eq!(both.to_strings(), vec![PLATFORM_VIEWER, PLATFORM_ADMIN]);
        assert!(Roles::parse_platform("roles", &[]).is_err());
        assert!(Roles::parse_platform(
            "roles",
            &[PLATFORM_VIEWER.into(), PLATFORM_VIEWER.into(), PLATFORM_VIEWER.into()]
        )
        .is_err());
        assert!(Roles::parse_platform("roles", &[TENANT_ADMIN.into()]).is_err());
        assert!(Roles::parse_platform("roles", &["Platform_Admin".into()]).is_err());
    }
}
