//! Who is calling, once a credential has been verified, and what they may do.

use crate::ids::{ApiKeyId, PlatformUserId, SessionId, TenantId, UserId};
use crate::role::{Roles, PLATFORM_ADMIN, PLATFORM_VIEWER, TENANT_ADMIN, TENANT_VIEWER};
use chrono::{DateTime, Duration, Utc};

/// The verified identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An operator of the platform.
    PlatformUser(PlatformUserId),
    /// A tenant's API key (the key's own roles apply).
    ApiKey {
        /// The key's row id.
        key: ApiKeyId,
        /// The user owning the key, when it is a user's key.
        owner: Option<UserId>,
    },
    /// A tenant user.
    User(UserId),
}

/// A verified caller: the subject and its name, its tenant (none for platform
/// operators) and roles. Everything an audit event says of its actor is here, so that no
/// handler looks the caller up again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who is calling.
    pub subject: Subject,
    /// Who is calling, by name: the user name, or the API key's public id (never a secret).
    pub name: String,
    /// The tenant the credential belongs to; `None` for platform operators.
    pub tenant: Option<TenantId>,
    /// What the credential grants.
    pub roles: Roles,
    /// The session, when the credential is a bearer token.
    pub session: Option<SessionId>,
    /// When the session's subject signed in (proved who they are), for a bearer token.
    pub signed_in_at: Option<DateTime<Utc>>,
}

/// How recently a person must have proved who they are to create credentials with a
/// session, without giving their password again (ASVS v5 6.2.3, 7.5.1).
pub const REAUTHENTICATION_WINDOW: Duration = Duration::minutes(5);

impl Principal {
    /// A platform operator with full control.
    pub fn is_platform_admin(&self) -> bool {
        self.tenant.is_none() && self.roles.contains(PLATFORM_ADMIN)
    }

    /// A platform operator, admin or viewer.
    pub fn is_platform_reader(&self) -> bool {
        self.tenant.is_none() && (self.roles.contains(PLATFORM_ADMIN) || self.roles.contains(PLATFORM_VIEWER))
    }

    /// May change everything in `tenant`.
    pub fn can_admin_tenant(&self, tenant: TenantId) -> bool {
        self.is_platform_admin() || (self.tenant == Some(tenant) && self.roles.contains(TENANT_ADMIN))
    }

    /// May read everything in `tenant`.
    pub fn can_read_tenant(&self, tenant: TenantId) -> bool {
        self.is_platform_reader()
            || (self.tenant == Some(tenant)
                && (self.roles.contains(TENANT_ADMIN) || self.roles.contains(TENANT_VIEWER)))
    }

    /// Whether the caller authenticated with an API key: a tenant's key (an application's
    /// or a user's own), a platform key, or a token obtained with one.
    pub fn by_key(&self) -> bool {
        matches!(self.subject, Subject::ApiKey { .. })
    }

    /// Whether the caller may create credentials: API keys and platform operators. A key
    /// never may, so that a leaked key cannot mint successors that outlive its
    /// revocation; a person signed in (password or session) may, within their roles.
    pub fn may_mint_credentials(&self) -> bool {
        !self.by_key()
    }

    /// Whether the caller may grant `roles` to a user, operator or key: each of
    /// Keyplane's own roles among them must be one the caller holds (`tenant_admin`
    /// includes `tenant_viewer`, `platform_admin` every role). A tenant's custom roles
    /// carry no privilege in Keyplane; whoever manages users grants them.
    pub fn may_grant(&self, roles: &Roles) -> bool {
        if self.is_platform_admin() {
            return true;
        }
        roles.iter().all(|role| match role.as_str() {
            TENANT_VIEWER => self.roles.contains(TENANT_VIEWER) || self.roles.contains(TENANT_ADMIN),
            PLATFORM_VIEWER => self.roles.contains(PLATFORM_VIEWER),
            TENANT_ADMIN | PLATFORM_ADMIN => self.roles.contains(role.as_str()),
            _ => true,
        })
    }

    /// Whether the caller proved who they are recently enough, at `now`, to create
    /// credentials without giving their password again: a password in this very request
    /// (HTTP Basic), or a session signed in within [`REAUTHENTICATION_WINDOW`]. A key
    /// never has: it cannot create credentials at all.
    pub fn recently_authenticated(&self, now: DateTime<Utc>) -> bool {
        match (self.by_key(), self.session, self.signed_in_at) {
            (true, _, _) => false,
            (false, None, _) => true,
            (false, Some(_), Some(at)) => now - at <= REAUTHENTICATION_WINDOW,
            (false, Some(_), None) => false,
        }
    }

    /// Whether the credential belongs to `tenant` (or is a platform credential, which
    /// may address any tenant). A tenant credential addressing another tenant must be
    /// told "not found", so that existence does not leak.
    pub fn may_address(&self, tenant: TenantId) -> bool {
        self.tenant.is_none() || self.tenant == Some(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_principal(tenant: TenantId, role: &str) -> Principal {
        Principal {
            subject: Subject::ApiKey { key: ApiKeyId::generate(), owner: None },
            name: "kp_test".into(),
            tenant: Some(tenant),
            roles: Roles::single(role),
            session: None,
            signed_in_at: None,
        }
    }

    #[test]
    fn tenant_credentials_stay_in_their_tenant() {
        let a = TenantId::generate();
        let b = TenantId::generate();
        let admin = key_principal(a, TENANT_ADMIN);
        assert!(admin.can_admin_tenant(a));
        assert!(!admin.can_admin_tenant(b));
        assert!(!admin.can_read_tenant(b));
        assert!(!admin.may_address(b));
        let viewer = key_principal(a, TENANT_VIEWER);
        assert!(viewer.can_read_tenant(a));
        assert!(!viewer.can_admin_tenant(a));
        assert!(!viewer.is_platform_reader());
    }

    #[test]
    fn keys_mint_nothing_and_grant_only_what_they_hold() {
        let t = TenantId::generate();
        let key = key_principal(t, TENANT_ADMIN);
        assert!(key.by_key() && !key.may_mint_credentials());
        assert!(key.may_grant(&Roles::parse_tenant("roles", &["tenant_admin".into(), "support".into()]).unwrap()));
        let viewer = key_principal(t, TENANT_VIEWER);
        assert!(!viewer.may_grant(&Roles::single(TENANT_ADMIN)));
        assert!(viewer.may_grant(&Roles::single(TENANT_VIEWER)));
        let person = Principal { subject: Subject::User(UserId::generate()), ..key_principal(t, TENANT_ADMIN) };
        assert!(!person.by_key() && person.may_mint_credentials());
        let now = Utc::now();
        assert!(person.recently_authenticated(now), "a password in this request");
        let signed_in =
            |at| Principal { session: Some(SessionId::generate()), signed_in_at: Some(at), ..person.clone() };
        assert!(signed_in(now - Duration::minutes(4)).recently_authenticated(now));
        assert!(!signed_in(now - Duration::minutes(6)).recently_authenticated(now));
        assert!(!key.recently_authenticated(now));
    }

    #[test]
    fn platform_viewer_reads_but_does_not_write() {
        let p = Principal {
            subject: Subject::PlatformUser(PlatformUserId::generate()),
            name: "viewer".into(),
            tenant: None,
            roles: Roles::single(PLATFORM_VIEWER),
            session: None,
            signed_in_at: None,
        };
        let t = TenantId::generate();
        assert!(p.can_read_tenant(t));
        assert!(!p.can_admin_tenant(t));
        assert!(p.may_address(t));
    }
}
