//! `/healthz` (the process answers) and `/readyz` (the database answers too).

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).route("/readyz", web::get().to(readyz));
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
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Serving.", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
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
