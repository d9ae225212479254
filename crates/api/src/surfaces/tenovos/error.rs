//! Tenovos' error shapes: `{"status":"error","message"}` for 400 and 401 (and, by
//! extension, every other status), and the API gateway's `403 {"message":"Forbidden"}`.

use crate::failure::{from_domain_errors, Failure};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// A Tenovos error body (400 and 401).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TenovosError)]
pub struct TenovosErrorBody {
    /// Always `error`.
    pub status: String,
    /// What went wrong.
    pub message: String,
}

/// An error on its way to a Tenovos client; `Forbidden` is the gateway's own 403.
#[derive(Debug)]
pub enum TenovosError {
    /// `{"status":"error","message"}` with a status.
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The message.
        message: String,
        /// Seconds to wait, for 429.
        retry_after: Option<u64>,
    },
    /// A missing, invalid or foreign `X-API-Key`: `403 {"message":"Forbidden"}`.
    Forbidden,
}

impl TenovosError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Status { status, message: message.into(), retry_after: None }
    }

    pub(super) fn missing(label: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("Missing required parameter {label}"))
    }
}

impl std::fmt::Display for TenovosError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status { status, message, .. } => write!(f, "{status}: {message}"),
            Self::Forbidden => f.write_str("403: Forbidden"),
        }
    }
}

impl ResponseError for TenovosError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Status { status, .. } => *status,
            Self::Forbidden => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Status { status, message, retry_after } => {
                let mut response = HttpResponse::build(*status);
                if *status == StatusCode::UNAUTHORIZED {
                    response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tenovos\""));
                }
                if let Some(secs) = retry_after {
                    response.insert_header((header::RETRY_AFTER, secs.to_string()));
                }
                response.json(TenovosErrorBody { status: "error".into(), message: message.clone() })
            }
            Self::Forbidden => HttpResponse::Forbidden().json(json!({"message": "Forbidden"})),
        }
    }
}

impl From<Failure> for TenovosError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadCredentials => Self::new(StatusCode::UNAUTHORIZED, "Incorrect username or password."),
            Failure::TenantSuspended => Self::new(StatusCode::UNAUTHORIZED, "The tenant is suspended."),
            Failure::BadToken | Failure::TokenReused => Self::new(StatusCode::UNAUTHORIZED, "Invalid Refresh Token"),
            Failure::NoCluster => {
                Self::new(StatusCode::NOT_IMPLEMENTED, "No authentication cluster is configured for this tenant.")
            }
            Failure::ClusterFailed { correlation_id } => Self::new(
                StatusCode::BAD_GATEWAY,
                format!("The authentication cluster failed (correlation id {correlation_id})."),
            ),
            Failure::Busy { retry_after_secs } => Self::Status {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "Too many requests; retry shortly.".into(),
                retry_after: Some(retry_after_secs),
            },
            Failure::RateLimited { retry_after_secs } => Self::Status {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "Too many requests; retry shortly.".into(),
                retry_after: Some(retry_after_secs),
            },
            Failure::BodyTimedOut => {
                Self::new(StatusCode::REQUEST_TIMEOUT, "The request body was not received in time")
            }
            Failure::BodyTooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large"),
            Failure::BodyUnreadable => Self::new(StatusCode::BAD_REQUEST, "The request body could not be read"),
            Failure::HttpsRequired => Self::new(StatusCode::FORBIDDEN, "HTTPS is required."),
            // The API gateway answers a request for an unknown tenant as for a foreign key.
            Failure::TenantNotFound { .. } => Self::Forbidden,
            Failure::MethodNotAllowed { .. } => Self::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
            Failure::Internal { correlation_id } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Internal error (correlation id {correlation_id})"),
            ),
        }
    }
}

from_domain_errors!(TenovosError);
