//! The platform administration API under `/api/v1/platform`: tenants, their keys and
//! settings, brute-force policies and the platform's operators. The native envelope; the
//! tenant is named in the path, the rate-limit budget is the credential's.

pub mod brute_force;
pub mod operator_keys;
pub mod operators;
pub mod tenant_keys;
pub mod tenant_settings;
pub mod tenants;

use super::declaration::{Shape, Surface, TenantSource};
use keyplane_domain::origin::EntryPoint;

/// The platform surface's declaration.
pub fn surface() -> Surface {
    Surface {
        name: "platform",
        prefix: Some("/api/v1/platform"),
        shape: Shape::NATIVE,
        tenant: TenantSource::Credential,
        limit: None,
        entry_point: EntryPoint::Admin,
        apis: vec![
            tenants::api(),
            tenant_keys::api(),
            tenant_settings::api(),
            brute_force::api(),
            operators::api(),
            operator_keys::api(),
        ],
    }
}
