//! The native error envelope: `{"errors":[{"code","message","fields"?}]}` with the codes
//! repeated in the `x-cloud-error-codes` header. One table maps each code to its status.

use crate::failure::{from_domain_errors, Failure};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keyplane_domain::error::Invalid;
use keyplane_domain::password::HashError;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// Header carrying the error codes of a failed response.
pub const ERROR_CODES_HEADER: &str = "x-cloud-error-codes";

/// The challenge sent with every 401 of the native API.
pub const NATIVE_CHALLENGE: &str = "Bearer realm=\"keyplane\", ApiKey realm=\"keyplane\", Basic realm=\"keyplane\"";

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:ident)),* $(,)?) => {
        /// Every error code of the native API. Codes never change once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// Every code, for documentation and the uniqueness test.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The wire string.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status this code is always sent with.
            pub const fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }
        }
    };
}

error_codes! {
    InvalidData => ("root.invalid_data", BAD_REQUEST),
    Unauthenticated => ("root.unauthenticated", UNAUTHORIZED),
    Unauthorized => ("root.unauthorized", UNAUTHORIZED),
    Forbidden => ("root.unauthorized.rbac", FORBIDDEN),
    HttpsRequired => ("root.https_required", FORBIDDEN),
    NotFound => ("root.not_found", NOT_FOUND),
    MethodNotAllowed => ("root.method_not_allowed", METHOD_NOT_ALLOWED),
    PayloadTooLarge => ("root.payload_too_large", PAYLOAD_TOO_LARGE),
    UnsupportedMediaType => ("root.unsupported_media_type", UNSUPPORTED_MEDIA_TYPE),
    RateLimited => ("root.rate_limited", TOO_MANY_REQUESTS),
    RequestTimeout => ("root.request_timeout", REQUEST_TIMEOUT),
    Internal => ("root.internal_error", INTERNAL_SERVER_ERROR),
    Unavailable => ("root.unavailable", SERVICE_UNAVAILABLE),
    NoAuthenticationCluster => ("authc.no_authentication_cluster", NOT_IMPLEMENTED),
    ReauthenticationRequired => ("authc.reauthentication_required", UNAUTHORIZED),
    AuthenticationClusterError => ("authc.authentication_cluster_error", BAD_GATEWAY),
    KeyNotFound => ("api_keys.key_not_found", NOT_FOUND),
    UserNotFound => ("user.not_found", NOT_FOUND),
    UserNameConflict => ("user.user_name.conflict", CONFLICT),
    UserNameInvalid => ("user.user_name.invalid", BAD_REQUEST),
    UserRolesInvalid => ("user.roles.invalid", BAD_REQUEST),
    TenantNotFound => ("tenants.not_found", NOT_FOUND),
    TenantSlugConflict => ("tenants.slug.conflict", CONFLICT),
    ClusterNotFound => ("tenants.authentication_cluster_not_found", NOT_FOUND),
    SessionNotFound => ("sessions.session_not_found", NOT_FOUND),
    SigningKeyNotFound => ("signing_keys.key_not_found", NOT_FOUND),
    LastPlatformAdmin => ("platform.last_admin", CONFLICT),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the envelope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorItem {
    /// A structured code representing the error type that occurred.
    #[schema(example = "root.invalid_data")]
    pub code: String,
    /// A human readable message describing the error that occurred.
    pub message: String,
    /// The request fields the error is tied to, when it is tied to any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// The error envelope of the native API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A list of errors that occurred in the failing request.
    pub errors: Vec<ErrorItem>,
}

/// An error on its way to a native API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    fields: Option<Vec<String>>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `code` and a client-safe `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), fields: None, retry_after: None }
    }

    /// Ties the error to request fields.
    pub fn with_fields<I: IntoIterator<Item = S>, S: Into<String>>(mut self, fields: I) -> Self {
        self.fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// `root.invalid_data` (or `code`) for a validation failure, naming its field.
    pub fn invalid(code: ErrorCode, invalid: &Invalid) -> Self {
        Self::new(code, format!("Invalid value for '{}': {}.", invalid.field, invalid.reason))
            .with_fields([invalid.field])
    }

    /// 401 `root.unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 403 `root.unauthorized.rbac`.
    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "The credential does not grant the role this operation requires.")
    }

    /// A 500 whose cause is logged with a correlation id; the client sees only the id.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        Failure::internal(cause).into()
    }

    /// The envelope.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            errors: vec![ErrorItem {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                fields: self.fields.clone(),
            }],
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((ERROR_CODES_HEADER, self.code.as_str()));
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(NATIVE_CHALLENGE)));
        }
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadCredentials => Self::new(ErrorCode::Unauthenticated, "The username or password is incorrect."),
            Failure::TenantSuspended => Self::new(ErrorCode::Unauthenticated, "The tenant is suspended."),
            Failure::BadToken => Self::unauthorized("The authentication token is invalid or expired."),
            Failure::TokenReused => {
                Self::unauthorized("The refresh token was already used; the session has been revoked.")
            }
            Failure::NoCluster => Self::new(
                ErrorCode::NoAuthenticationCluster,
                "The administrator needs to configure the authentication cluster.",
            ),
            Failure::ClusterFailed { correlation_id } => Self::new(
                ErrorCode::AuthenticationClusterError,
                format!("The authentication cluster failed to process the request (correlation id {correlation_id})."),
            ),
            Failure::Busy { retry_after_secs } => {
                Self::new(ErrorCode::RateLimited, "Too many password checks are in progress; retry shortly.")
                    .with_retry_after(retry_after_secs)
            }
            Failure::RateLimited { retry_after_secs } => Self::new(
                ErrorCode::RateLimited,
                format!("Too many requests from this client or for this tenant; retry in {retry_after_secs} s."),
            )
            .with_retry_after(retry_after_secs),
            Failure::BodyTimedOut => Self::new(ErrorCode::RequestTimeout, "The request body was not received in time."),
            Failure::BodyTooLarge { limit } => {
                Self::new(ErrorCode::PayloadTooLarge, format!("The request body exceeds {limit} bytes."))
            }
            Failure::BodyUnreadable => Self::new(ErrorCode::InvalidData, "The request body could not be read."),
            Failure::HttpsRequired => Self::new(ErrorCode::HttpsRequired, "HTTPS is required."),
            Failure::TenantNotFound { .. } => Self::new(ErrorCode::TenantNotFound, "The tenant was not found."),
            Failure::MethodNotAllowed { .. } => {
                Self::new(ErrorCode::MethodNotAllowed, "The method is not allowed on this path; see the Allow header.")
            }
            Failure::Internal { correlation_id } => {
                Self::new(ErrorCode::Internal, format!("An internal error occurred (correlation id {correlation_id})."))
            }
        }
    }
}

from_domain_errors!(ApiError);

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        Failure::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            let parts: Vec<&str> = s.split('.').collect();
            assert!(parts.len() >= 2, "{s} is not <area>.<reason>");
            for p in parts {
                assert!(!p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{s} is malformed");
            }
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{s} has a success status");
        }
    }

    #[test]
    fn released_codes_keep_their_status() {
        assert_eq!(ErrorCode::Unauthorized.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(ErrorCode::Forbidden.as_str(), "root.unauthorized.rbac");
        assert_eq!(ErrorCode::NoAuthenticationCluster.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(ErrorCode::AuthenticationClusterError.status(), StatusCode::BAD_GATEWAY);
    }
}
