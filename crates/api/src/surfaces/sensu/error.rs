//! Sensu's error shape: `{"message", "code"}` with Sensu's action codes (0 internal,
//! 1 invalid argument, 2 not found, 4 permission denied, 5 unauthenticated).

use crate::failure::{from_domain_errors, Failure};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// A Sensu error body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SensuError)]
pub struct SensuErrorBody {
    /// What went wrong.
    pub message: String,
    /// Sensu's action code: 0 internal, 1 invalid argument, 2 not found, 4 permission
    /// denied, 5 unauthenticated.
    pub code: u32,
}

/// An error on its way to a Sensu client.
#[derive(Debug)]
pub struct SensuError {
    status: StatusCode,
    body: SensuErrorBody,
    retry_after: Option<u64>,
}

impl SensuError {
    pub(super) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, body: SensuErrorBody { message: message.into(), code }, retry_after: None }
    }

    pub(super) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 5, "Request unauthorized")
    }
}

impl std::fmt::Display for SensuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.body.message)
    }
}

impl ResponseError for SensuError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"sensu\""));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(&self.body)
    }
}

impl From<Failure> for SensuError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadCredentials | Failure::TenantSuspended | Failure::BadToken | Failure::TokenReused => {
                Self::unauthorized()
            }
            Failure::NoCluster => Self::new(StatusCode::NOT_IMPLEMENTED, 0, "no authentication cluster is configured"),
            Failure::ClusterFailed { correlation_id } => Self::new(
                StatusCode::BAD_GATEWAY,
                0,
                format!("the authentication cluster failed (correlation id {correlation_id})"),
            ),
            Failure::Busy { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, 0, "too many sign-ins in progress; retry shortly")
            },
            Failure::RateLimited { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, 0, "too many requests; retry shortly")
            },
            Failure::BodyTimedOut => {
                Self::new(StatusCode::REQUEST_TIMEOUT, 1, "the request body was not received in time")
            }
            Failure::BodyTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, 1, "the request body is too large")
            }
            Failure::BodyUnreadable => Self::new(StatusCode::BAD_REQUEST, 1, "the request body could not be read"),
            Failure::HttpsRequired => Self::new(StatusCode::FORBIDDEN, 4, "HTTPS is required."),
            Failure::TenantNotFound { .. } => Self::new(StatusCode::NOT_FOUND, 2, "tenant not found"),
            Failure::MethodNotAllowed { .. } => Self::new(StatusCode::METHOD_NOT_ALLOWED, 1, "method not allowed"),
            Failure::Internal { correlation_id } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                0,
                format!("internal error occurred (correlation id {correlation_id})"),
            ),
        }
    }
}

from_domain_errors!(SensuError);
