//! API keys: `kp_<public id>_<secret>` for a tenant, `kpp_<public id>_<secret>` for the
//! platform's operators. The public id is an indexed lookup key; the 256-bit secret is
//! stored only as its SHA-256 digest and compared in constant time.

use crate::audit::AuditEvent;
use crate::error::{Invalid, StorageError};
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::page::{Page, PageRequest};
use crate::role::Roles;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

const PREFIX: &str = "kp_";
const PLATFORM_PREFIX: &str = "kpp_";

/// Whose key a key text is, told by its prefix: a tenant's (`kp_`) or the platform's
/// (`kpp_`), so that each is only ever looked up where it can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRealm {
    /// A tenant's application or user key.
    Tenant,
    /// A platform operator's key.
    Platform,
}

impl KeyRealm {
    fn prefix(self) -> &'static str {
        match self {
            Self::Tenant => PREFIX,
            Self::Platform => PLATFORM_PREFIX,
        }
    }
}
const PUBLIC_ID_BYTES: usize = 12;
const SECRET_BYTES: usize = 32;

/// The public half of a key: 24 lowercase hex characters, safe to log and show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPublicId(String);

impl KeyPublicId {
    /// Parses a public id.
    ///
    /// # Errors
    /// `None` when it is not 24 lowercase hex characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok =
            raw.len() == PUBLIC_ID_BYTES * 2 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(raw.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPublicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 digest of a key's secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// Digests a presented secret.
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// A digest read from storage.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw digest, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(<redacted>)")
    }
}

/// Splits the text of a key, `kp_<public id>_<secret>`, into its public id and secret
/// (unchecked: [`PresentedKey::from_parts`] validates them). These are the
/// `access_key_id` and `secret_access_key` InvestSuite's `/auth/login/` takes.
///
/// # Errors
/// `None` when the text lacks the `kp_` prefix or the separating `_`.
pub fn split_key_text(raw: &str) -> Option<(&str, &str)> {
    raw.strip_prefix(PREFIX)?.split_once('_')
}

/// A key as the client presents it, split into its halves. `Debug` hides the secret.
#[derive(Clone)]
pub struct PresentedKey {
    /// Looked up by index.
    pub public_id: KeyPublicId,
    /// A tenant's key or the platform's.
    pub realm: KeyRealm,
    secret: String,
}

impl PresentedKey {
    /// Splits `kp_<public id>_<secret>` (a tenant's key) or `kpp_<public id>_<secret>`
    /// (a platform key).
    ///
    /// # Errors
    /// `None` when the text does not have that shape.
    pub fn parse(raw: &str) -> Option<Self> {
        if let Some((id, secret)) = raw.strip_prefix(PLATFORM_PREFIX).and_then(|rest| rest.split_once('_')) {
            return Self::from_parts(id, secret).map(|key| Self { realm: KeyRealm::Platform, ..key });
        }
        let (id, secret) = split_key_text(raw)?;
        Self::from_parts(id, secret)
    }

    /// A tenant's key given as its two halves (InvestSuite's `access_key_id` and
    /// `secret_access_key`).
    pub fn from_parts(public_id: &str, secret: &str) -> Option<Self> {
        let public_id = KeyPublicId::parse(public_id)?;
        if secret.is_empty() || secret.len() > 128 {
            return None;
        }
        Some(Self { public_id, realm: KeyRealm::Tenant, secret: secret.to_owned() })
    }

    /// Whether the secret matches the stored digest (constant time).
    pub fn matches(&self, digest: &SecretDigest) -> bool {
        SecretDigest::of(&self.secret).matches(digest)
    }
}

impl fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresentedKey({:?} {}, <redacted>)", self.realm, self.public_id)
    }
}

/// A freshly generated key: the full text is shown to the client once, then dropped.
/// `Debug` hides the full text.
pub struct GeneratedKey {
    /// The public id.
    pub public_id: KeyPublicId,
    /// Digest of the secret, for storage.
    pub digest: SecretDigest,
    /// `kp_<public id>_<secret>`, to return once.
    pub full_text: String,
}

impl GeneratedKey {
    /// Generates a tenant's key (see [`GeneratedKey::generate_in`]).
    pub fn generate() -> Self {
        Self::generate_in(KeyRealm::Tenant)
    }

    /// Generates a key of `realm` from the operating system's random source: a 96-bit
    /// public id and a 256-bit secret.
    pub fn generate_in(realm: KeyRealm) -> Self {
        let mut id = [0u8; PUBLIC_ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut secret);
        let public_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let secret = URL_SAFE_NO_PAD.encode(secret);
        Self {
            full_text: format!("{}{public_id}_{secret}", realm.prefix()),
            digest: SecretDigest::of(&secret),
            public_id: KeyPublicId(public_id),
        }
    }
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GeneratedKey({}, <redacted>)", self.public_id)
    }
}

/// Who a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// The tenant's application.
    Application,
    /// A user of the tenant; the key dies with the user.
    User(UserId),
}

/// A key's description: at most 512 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyDescription(String);

impl KeyDescription {
    /// Parses a description.
    ///
    /// # Errors
    /// [`Invalid`] for `description`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.chars().count() > 512 || raw.chars().any(char::is_control) {
            return Err(Invalid::new("description", "must be at most 512 characters, without control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Row id.
    pub id: ApiKeyId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Public id, unique across the platform.
    pub public_id: KeyPublicId,
    /// Digest of the secret.
    pub digest: SecretDigest,
    /// What the key is for.
    pub description: KeyDescription,
    /// The application or a user.
    pub owner: KeyOwner,
    /// Granted roles.
    pub roles: Roles,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key may be used at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| exp > now)
    }
}

/// Failure of [`ApiKeyRepository::insert`].
#[derive(Debug, thiserror::Error)]
pub enum InsertKeyError {
    /// The owning tenant or user no longer exists.
    #[error("the key's owner no longer exists")]
    OwnerGone,
    /// Backend failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Storage of API keys. Every method but [`ApiKeyRepository::find_for_authentication`]
/// is scoped by tenant.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// Stores a new key and `event` (its audit record) in one transaction.
    ///
    /// # Errors
    /// [`InsertKeyError::OwnerGone`] when the tenant or owning user was deleted meanwhile.
    async fn insert(&self, key: &ApiKey, event: &AuditEvent) -> Result<(), InsertKeyError>;

    /// Finds a key by its public id across all tenants: the one unscoped look-up, since
    /// the key is how a request's tenant is learned.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_for_authentication(&self, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError>;

    /// Finds a key of `tenant`.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find(&self, tenant: TenantId, public_id: &KeyPublicId) -> Result<Option<ApiKey>, StorageError>;

    /// Finds a key of `tenant` by row id.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn find_by_id(&self, tenant: TenantId, id: ApiKeyId) -> Result<Option<ApiKey>, StorageError>;

    /// Lists the keys of `tenant` (only those of `owner`, when given; only unrevoked ones
    /// with `unrevoked_only`), oldest first.
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn list(
        &self,
        tenant: TenantId,
        owner: Option<KeyOwner>,
        unrevoked_only: bool,
        page: PageRequest,
    ) -> Result<Page<ApiKey>, StorageError>;

    /// Marks a key revoked at `at` unless it already is; returns whether the key exists.
    /// `event` is stored in the same transaction when this call revoked the key, and not
    /// at all when it was revoked already (revoking twice is one event).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn revoke(
        &self,
        tenant: TenantId,
        public_id: &KeyPublicId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StorageError>;

    /// Records a use of `key` (scoped by its own tenant).
    ///
    /// # Errors
    /// Only [`StorageError`].
    async fn touch(&self, key: &ApiKey, at: DateTime<Utc>) -> Result<(), StorageError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text parses or is refused, never panics; what parses is exactly
        /// `kp_` or `kpp_`, 24 lowercase hex, `_` and 1 to 128 bytes, and its halves and
        /// realm come back unchanged.
        #[test]
        fn key_texts_parse_exactly_when_well_formed(raw in "kpp?_[0-9a-f]{23,25}_[ -~]{0,130}|(kpp?_)?[0-9a-fA-F_]{0,30}[ -~\u{80}-\u{10FFFF}]{0,140}") {
            let parsed = PresentedKey::parse(&raw);
            let (realm, rest) = match raw.strip_prefix("kpp_") {
                Some(rest) => (KeyRealm::Platform, Some(rest)),
                None => (KeyRealm::Tenant, raw.strip_prefix("kp_")),
            };
            let well_formed = rest.and_then(|rest| rest.split_once('_')).is_some_and(|(id, secret)| {
                id.len() == 24
                    && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    && !secret.is_empty()
                    && secret.len() <= 128
            });
            prop_assert_eq!(parsed.is_some(), well_formed);
            if let Some(key) = parsed {
                prop_assert_eq!(key.realm, realm);
                prop_assert_eq!(format!("{}{}_{}", realm.prefix(), key.public_id, key.secret), raw);
            }
        }

        /// A generated key with any one character changed no longer matches.
        #[test]
        fn a_changed_secret_never_matches(at in 0usize..43, with in "[A-Za-z0-9_-]") {
            let key = GeneratedKey::generate();
            let (id, secret) = split_key_text(&key.full_text).unwrap();
            let mut changed: Vec<char> = secret.chars().collect();
            prop_assume!(changed[at].to_string() != with);
            changed[at] = with.chars().next().unwrap();
            let changed: String = changed.into_iter().collect();
            prop_assert!(!PresentedKey::from_parts(id, &changed).unwrap().matches(&key.digest));
        }
    }

    #[test]
    fn generated_keys_round_trip_and_secrets_are_checked() {
        let key = GeneratedKey::generate();
        let presented = PresentedKey::parse(&key.full_text).expect("parses");
        assert_eq!(presented.public_id, key.public_id);
        assert!(presented.matches(&key.digest));
        let other = GeneratedKey::generate();
        assert!(!presented.matches(&other.digest));
        assert_ne!(key.public_id, other.public_id);
        // 256-bit secret: 43 base64url characters.
        let secret = key.full_text.rsplit_once(&format!("{}_", key.public_id)).unwrap().1;
        assert_eq!(secret.len(), 43);
    }

    #[test]
    fn platform_keys_are_told_apart_by_their_prefix() {
        let key = GeneratedKey::generate_in(KeyRealm::Platform);
        assert!(key.full_text.starts_with("kpp_"), "{}", key.full_text);
        let presented = PresentedKey::parse(&key.full_text).expect("parses");
        assert_eq!(presented.realm, KeyRealm::Platform);
        assert!(presented.matches(&key.digest));
        // InvestSuite's halves name tenant keys only.
        assert_eq!(split_key_text(&key.full_text), None);
        assert_eq!(PresentedKey::parse(&GeneratedKey::generate().full_text).unwrap().realm, KeyRealm::Tenant);
    }

    #[test]
    fn split_halves_are_what_from_parts_accepts() {
        let key = GeneratedKey::generate();
        let (id, secret) = split_key_text(&key.full_text).expect("splits");
        assert_eq!(id, key.public_id.as_str());
        let presented = PresentedKey::from_parts(id, secret).expect("accepted as InvestSuite's pair");
        assert!(presented.matches(&key.digest));
        assert_eq!(split_key_text("kp_abc"), None);
        assert_eq!(split_key_text("xx_abc_def"), None);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let key = GeneratedKey::generate();
        let (_, secret) = split_key_text(&key.full_text).unwrap();
        let presented = PresentedKey::parse(&key.full_text).unwrap();
        for shown in [format!("{key:?}"), format!("{presented:?}"), format!("{:?}", key.digest)] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in [
            "",
            "kp_",
            "kp_abc_def",
            "xx_0123456789abcdef01234567_s",
            "kp_0123456789ABCDEF01234567_s",
            "kp_0123456789abcdef01234567_",
        ] {
            assert!(PresentedKey::parse(bad).is_none(), "{bad}");
        }
        assert!(PresentedKey::parse("kp_0123456789abcdef01234567_s_with-underscores").is_some());
    }
}
