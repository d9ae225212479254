//! Typed identifiers, so that a user id can never be passed where a tenant id is expected.

use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an identifier read from storage or parsed from a request.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a tenant.
    TenantId
);
uuid_id!(
    /// Identifies a user within a tenant.
    UserId
);
uuid_id!(
    /// Identifies a platform (operator) user.
    PlatformUserId
);
uuid_id!(
    /// The internal row id of an API key (clients see the public key id instead).
    ApiKeyId
);
uuid_id!(
    /// Identifies a session (the `sid` claim).
    SessionId
);
uuid_id!(
    /// The row id of a signing key (its `kid` is separate).
    SigningKeyId
);
