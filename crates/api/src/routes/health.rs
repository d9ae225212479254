//! `/healthz` (the process answers) and `/readyz` (the database answers too).

use crate::routes::{Api, Route};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: HealthApi::openapi(),
        routes: vec![Route::new("/healthz", |r| r.get(healthz)), Route::new("/readyz", |r| r.get(readyz))],
    }
}

/// The health routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz), components(schemas(Health)))]
pub struct HealthApi;

/// A health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness: the process is serving.
#[utoipa::path(get, path = "/healthz", operation_id = "check_liveness", tag = "operations", responses((status = 200, description = "Serving.", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "check_readiness", tag = "operations", responses(
    (status = 200, description = "Ready.", body = Health),
    (status = 503, description = "The database does not answer.", body = Health),
))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(Health { status: "ok" }),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(Health { status: "unavailable" })
        }
    }
}
