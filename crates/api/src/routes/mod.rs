//! HTTP routes, one file per resource. Each exposes `configure` and its own OpenAPI
//! fragment, nested into the root document in `openapi.rs`.

pub mod auth;
pub mod dialects;
pub mod health;
pub mod oauth;
pub mod sessions;
pub mod tenant_keys;
pub mod tenant_settings;
pub mod tenants;
pub mod user_keys;
pub mod users;
pub mod well_known;

use crate::error::{ApiError, ErrorCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

/// Mounts every route. Order matters: the fixed `/api/v1/users/auth…` paths come before
/// `/api/v1/users/{user_name}`, which would otherwise take them.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    health::configure(cfg);
    auth::configure(cfg);
    sessions::configure(cfg);
    user_keys::configure(cfg);
    users::configure(cfg);
    tenants::configure(cfg);
    tenant_keys::configure(cfg);
    tenant_settings::configure(cfg);
    oauth::configure(cfg);
    well_known::configure(cfg);
    dialects::sensu::configure(cfg);
    dialects::tenovos::configure(cfg);
    dialects::investsuite::configure(cfg);
}

/// Answers a known path called with a method it does not support.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("Method {} is not allowed on {}.", req.method(), req.path()))
        .error_response()
}

/// Answers a path that matches no route.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, format!("No route matches {} {}.", req.method(), req.path())).error_response()
}
