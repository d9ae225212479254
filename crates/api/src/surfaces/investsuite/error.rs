//! InvestSuite's error shapes, as Django REST framework sends them: `{"detail"}` (401 for
//! tokens adds `"code":"token_not_valid"`, as SimpleJWT does) and `{field: [message]}`
//! for 400.

use crate::extract::read_body;
use crate::failure::{from_domain_errors, Failure};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// An error body: `{"detail"}` (with `code` for token errors), or `{field: [messages]}`
/// for 400.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = InvestSuiteError)]
pub struct InvestSuiteErrorBody {
    /// What went wrong.
    pub detail: String,
}

/// An error on its way to an InvestSuite client.
#[derive(Debug)]
pub struct InvestSuiteError {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl InvestSuiteError {
    pub(crate) fn detail(status: StatusCode, message: &str) -> Self {
        Self { status, body: json!({ "detail": message }), retry_after: None }
    }

    /// `404 {"detail":"Not found."}`.
    pub fn not_found() -> Self {
        Self::detail(StatusCode::NOT_FOUND, "Not found.")
    }
}

/// `400 {field: [message]}`.
pub fn field_error(field: &str, message: &str) -> InvestSuiteError {
    InvestSuiteError { status: StatusCode::BAD_REQUEST, body: json!({ field: [message] }), retry_after: None }
}

impl std::fmt::Display for InvestSuiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.body)
    }
}

impl ResponseError for InvestSuiteError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            // As Django REST framework with SimpleJWT sends it.
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"api\""));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(&self.body)
    }
}

impl From<Failure> for InvestSuiteError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadCredentials | Failure::TenantSuspended => {
                Self::detail(StatusCode::UNAUTHORIZED, "No active account found with the given credentials")
            }
            Failure::BadToken | Failure::TokenReused => Self {
                status: StatusCode::UNAUTHORIZED,
                body: json!({"detail": "Token is invalid or expired", "code": "token_not_valid"}),
                retry_after: None,
            },
            Failure::NoCluster => Self::detail(StatusCode::NOT_IMPLEMENTED, "No authentication cluster is configured."),
            Failure::ClusterFailed { correlation_id } => Self::detail(
                StatusCode::BAD_GATEWAY,
                &format!("The authentication cluster failed (correlation id {correlation_id})."),
            ),
            Failure::Busy { retry_after_secs } | Failure::RateLimited { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::detail(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("Request was throttled. Expected available in {retry_after_secs} seconds."),
                )
            },
            Failure::BodyTimedOut => {
                Self::detail(StatusCode::REQUEST_TIMEOUT, "The request body was not received in time.")
            }
            Failure::BodyTooLarge { .. } => {
                Self::detail(StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large.")
            }
            Failure::BodyUnreadable => Self::detail(StatusCode::BAD_REQUEST, "The request body could not be read."),
            Failure::HttpsRequired => Self::detail(StatusCode::FORBIDDEN, "HTTPS is required."),
            Failure::TenantNotFound { .. } => Self::not_found(),
            // Django REST framework's own words, which InvestSuite clients see.
            Failure::MethodNotAllowed { method } => {
                Self::detail(StatusCode::METHOD_NOT_ALLOWED, &format!("Method \"{method}\" not allowed."))
            }
            Failure::Internal { correlation_id } => Self::detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("A server error occurred (correlation id {correlation_id})."),
            ),
        }
    }
}

from_domain_errors!(InvestSuiteError);

/// Reads a JSON object into `T`, with DRF's messages: 415 for another media type, a
/// parse error, "Expected a dictionary", or `{field: ["Not a valid string."]}`.
pub async fn json_body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, InvestSuiteError> {
    let is_json = req.mime_type().ok().flatten().is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let message = format!("Unsupported media type \"{}\" in request.", ct.escape_debug());
        return Err(InvestSuiteError::detail(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message));
    }
    let body = read_body(req, payload).await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        let message = format!("JSON parse error - invalid JSON at line {} column {}", e.line(), e.column());
        InvestSuiteError::detail(StatusCode::BAD_REQUEST, &message)
    })?;
    if !value.is_object() {
        return Err(InvestSuiteError::detail(StatusCode::BAD_REQUEST, "Invalid data. Expected a dictionary."));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().iter().next_back().map(|s| s.to_string()).unwrap_or_default();
        field_error(&field, "Not a valid string.")
    })
}
