//! The three foreign token APIs Keyplane speaks unchanged, each a thin adapter over the
//! token engine: it parses its shapes, calls one use case, and maps the result and the
//! errors into its own shape (each dialect has one error type implementing
//! `ResponseError`, converted from [`crate::failure::Failure`]).

pub mod investsuite;
pub mod sensu;
pub mod tenovos;

use crate::auth::Presented;
use crate::state::AppState;
use actix_web::HttpRequest;
use keyplane_domain::tenant::{Tenant, TenantRef};

/// Finds the tenant named in a `/t/{tenant}/…` path; `Ok(None)` when it does not exist.
///
/// # Errors
/// Backend failures.
pub async fn tenant(state: &AppState, raw: &str) -> Result<Option<Tenant>, keyplane_domain::error::StorageError> {
    match TenantRef::parse(raw) {
        Some(r) => state.tenants.find(&r).await,
        None => Ok(None),
    }
}

/// The bearer token of `Authorization: Bearer <token>`, if the request carries one.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    Presented::from_request(req).ok()?.bearer
}
