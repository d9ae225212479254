//! How the `/t/{tenant}/…` surfaces find their tenant: the `{tenant}` path segment (slug
//! or id), looked up once here. An unknown tenant is [`Failure::TenantNotFound`], which
//! each surface renders in its own shape (Sensu's 404 code 2, Tenovos' gateway 403, …).

use crate::authentication::Presented;
use crate::failure::Failure;
use crate::state::AppState;
use actix_web::HttpRequest;
use keyplane_domain::tenant::{Tenant, TenantRef};

/// The tenant named by `raw`, the `{tenant}` segment of a `/t/{tenant}/…` path.
///
/// # Errors
/// [`Failure::TenantNotFound`] when no tenant has that slug or id; internal errors.
pub async fn in_path<E: From<Failure>>(state: &AppState, raw: &str) -> Result<Tenant, E> {
    let not_found = || E::from(Failure::TenantNotFound { name: raw.to_owned() });
    let tenant_ref = TenantRef::parse(raw).ok_or_else(not_found)?;
    match state.tenants.find(&tenant_ref).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(not_found()),
        Err(e) => Err(Failure::from(e).into()),
    }
}

/// The bearer token of `Authorization: Bearer <token>`, if the request carries one.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    Presented::from_request(req).ok()?.bearer
}
