//! HTTP routes, one file per resource. Each exposes `configure` and its own OpenAPI
//! fragment, nested into the root document in `openapi.rs`.

pub mod health;
pub mod tenant_keys;
pub mod tenants;
pub mod users;

use crate::error::{ApiError, ErrorCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

/// Answers a known path called with a method it does not support.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("Method {} is not allowed on {}.", req.method(), req.path()))
        .error_response()
}

/// Answers a path that matches no route.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, format!("No route matches {} {}.", req.method(), req.path())).error_response()
}
