//! OAuth 2.0's error shape (RFC 6749 §5.2): `{error, error_description}`, with
//! `Cache-Control: no-store`, a `WWW-Authenticate` challenge on 401 and `Retry-After` on
//! 429.

use crate::failure::{from_domain_errors, Failure};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// An error in RFC 6749 form.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `server_error` or `temporarily_unavailable`.
    pub error: String,
    /// A human-readable explanation.
    pub error_description: String,
}

/// An OAuth error on its way to the client.
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    body: OAuthErrorBody,
    retry_after: Option<u64>,
}

impl OAuthError {
    pub(super) fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            body: OAuthErrorBody { error: error.to_owned(), error_description: description.into() },
            retry_after: None,
        }
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(super) fn invalid_client() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.")
    }

    pub(super) fn invalid_grant(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.body.error, self.body.error_description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"keyplane\""));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(&self.body)
    }
}

impl From<Failure> for OAuthError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadCredentials => Self::invalid_grant("The username or password is incorrect."),
            Failure::TenantSuspended => Self::invalid_grant("The tenant is suspended."),
            Failure::BadToken => Self::invalid_grant("The refresh token is invalid, expired or revoked."),
            Failure::TokenReused => Self::invalid_grant("The refresh token was already used; the session has been revoked."),
            Failure::NoCluster => Self::new(
                StatusCode::NOT_IMPLEMENTED,
                "server_error",
                "The tenant has no authentication cluster (authc.no_authentication_cluster).",
            ),
            Failure::ClusterFailed { correlation_id } => Self::new(
                StatusCode::BAD_GATEWAY,
                "temporarily_unavailable",
                format!(
                    "The authentication cluster failed to process the request (authc.authentication_cluster_error, correlation id {correlation_id})."
                ),
            ),
            Failure::Busy { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    "Too many sign-ins are in progress; retry shortly.",
                )
            },
            // RFC 6749 has no code for throttling; `temporarily_unavailable` is the one
            // OAuth clients already retry on, and RFC 6585's 429 says why.
            Failure::RateLimited { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    format!("Too many requests; retry in {retry_after_secs} s."),
                )
            },
            Failure::BodyTimedOut => Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "The request body was not received in time.",
            ),
            Failure::BodyTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large.")
            }
            Failure::BodyUnreadable => Self::invalid_request("The request body could not be read."),
            Failure::HttpsRequired => Self::new(StatusCode::FORBIDDEN, "invalid_request", "HTTPS is required."),
            Failure::TenantNotFound { name } => {
                Self::new(StatusCode::NOT_FOUND, "invalid_request", format!("Tenant {name:?} was not found."))
            }
            Failure::MethodNotAllowed { .. } => {
                Self::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "The method is not allowed here.")
            }
            Failure::Internal { correlation_id } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!("An internal error occurred (correlation id {correlation_id})."),
            ),
        }
    }
}

from_domain_errors!(OAuthError);
