//! The three foreign token APIs Keyplane speaks unchanged, each a thin adapter over the
//! token engine: it translates request and response shapes and errors, nothing more.
// The adapters short-circuit with the finished response in the dialect's own shape
// (`Result<_, HttpResponse>`); its size does not matter on these paths.
#![allow(clippy::result_large_err)]

pub mod investsuite;
pub mod sensu;
pub mod tenovos;

use crate::state::AppState;
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

/// Logs a failure with a correlation id and returns the id, for 5xx messages.
pub fn log_failure(cause: &dyn std::fmt::Display) -> uuid::Uuid {
    let correlation_id = uuid::Uuid::new_v4();
    tracing::error!(%correlation_id, error = %cause, "internal error");
    correlation_id
}
