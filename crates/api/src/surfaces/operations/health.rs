//! `/healthz` (the process answers), `/readyz` (the database answers too, and the replica
//! is not shutting down) and `/metrics` (see [`crate::metrics`]).

use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use utoipa::{OpenApi, ToSchema};

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: HealthApi::openapi(),
        routes: vec![
            Route::new("/healthz", |r| r.get(healthz)).over_plain_http(),
            Route::new("/readyz", |r| r.get(readyz)).over_plain_http(),
            Route::new("/metrics", |r| r.get(crate::metrics::metrics)),
        ],
    }
}

/// The health routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, crate::metrics::metrics), components(schemas(Health)))]
pub struct HealthApi;

/// Whether this replica takes new work: false from the moment it is told to stop.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Readiness {
    /// From now on `/readyz` answers 503.
    pub fn stopping(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Whether the replica is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `unavailable` (the database does not answer) or `stopping` (shutting down).
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is serving.
#[utoipa::path(get, path = "/healthz", operation_id = "check_liveness", tag = "operations", responses((status = 200, description = "Serving.", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: not shutting down, and the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "check_readiness", tag = "operations", responses(
    (status = 200, description = "Ready.", body = Health),
    (status = 503, description = "Shutting down (`stopping`), or the database does not answer (`unavailable`).", body = Health),
))]
pub async fn readyz(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    if !readiness.is_ready() {
        return HttpResponse::ServiceUnavailable().json(Health { status: "stopping" });
    }
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ok" }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(Health { status: "unavailable" })
        }
    }
}
