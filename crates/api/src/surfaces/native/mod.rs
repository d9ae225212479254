//! The native API (ECE's shapes): sign-in, sessions, users and their keys, and the audit
//! trail, under `/api/v1`. The native error envelope; the tenant is the credential's (an
//! operator names it in `X-Keyplane-Tenant`); only sign-in, refresh and the methods
//! probe draw on the credential budget by themselves.

pub mod audit;
pub mod sessions;
pub mod sign_in;
pub mod unlock;
pub mod user_keys;
pub mod users;

use super::declaration::{Shape, Surface, TenantSource};
use keyplane_domain::origin::EntryPoint;

/// The native surface's declaration.
pub fn surface() -> Surface {
    Surface {
        name: "native",
        prefix: Some("/api/v1"),
        shape: Shape::NATIVE,
        tenant: TenantSource::Credential,
        limit: None,
        entry_point: EntryPoint::Admin,
        apis: vec![sign_in::api(), sessions::api(), users::api(), unlock::api(), user_keys::api(), audit::api()],
    }
}
