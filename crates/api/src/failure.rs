//! What every API surface needs to know about a failed use case, decided once: the
//! domain's errors are classified here, and an internal cause (backend, keys, a failing
//! authentication cluster) is logged here, once, with its whole cause chain under a
//! correlation id that the client is told. Each surface's error type (native envelope,
//! OAuth, Sensu, Tenovos, InvestSuite) converts from [`Failure`] into its own shape.

use keyplane_domain::error::StorageError;
use keyplane_domain::password::HashError;
use keyplane_domain::services::tokens::{SignInError, TokenError};
use uuid::Uuid;

/// A classified failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The credential was wrong (unknown user, wrong password, bad key): one answer.
    BadCredentials,
    /// The tenant is suspended.
    TenantSuspended,
    /// A token was invalid, expired, of the wrong kind or tenant, or its session ended.
    BadToken,
    /// A rotated refresh token was presented again; its session was ended.
    TokenReused,
    /// The tenant has no authentication cluster.
    NoCluster,
    /// The authentication cluster failed; logged under `correlation_id`.
    ClusterFailed {
        /// Told to the client, to find the log line.
        correlation_id: String,
    },
    /// Password checks are saturated.
    Busy {
        /// Seconds after which a retry is likely to succeed.
        retry_after_secs: u64,
    },
    /// The client or the tenant exceeded its request rate (see `ratelimit`).
    RateLimited {
        /// Seconds until the limiter admits the next request (from the limiter itself).
        retry_after_secs: u64,
    },
    /// The request body did not arrive within the configured time.
    BodyTimedOut,
    /// The request body is longer than the configured limit (declared or actual).
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed while the body was read.
    BodyUnreadable,
    /// Plain HTTP where `ssl_required` asks for HTTPS (see `transport`).
    HttpsRequired,
    /// The tenant named in the path does not exist (or cannot be named so).
    TenantNotFound {
        /// The name as sent, for the surfaces whose message repeats it.
        name: String,
    },
    /// The path exists but not with this method (the `Allow` header is added by the
    /// route, which knows its methods).
    MethodNotAllowed {
        /// The method sent, for the surfaces whose message names it.
        method: String,
    },
    /// Anything else; logged under `correlation_id`.
    Internal {
        /// Told to the client, to find the log line.
        correlation_id: String,
    },
}

/// Logs `cause` with its whole source chain under the request's id (a fresh one outside a
/// request): the one place where an internal error reaches the log. The id is the
/// response's `X-Request-Id` and the log span's `request_id`.
pub fn log_internal(what: &str, cause: &dyn std::error::Error) -> String {
    let correlation_id = crate::request_id::current().unwrap_or_else(|| Uuid::now_v7().to_string());
    let mut chain = cause.to_string();
    let mut source = cause.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(%correlation_id, error = ?chain, "{what}");
    correlation_id
}

impl Failure {
    /// An internal failure, logged.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        Self::Internal { correlation_id: log_internal("internal error", cause) }
    }
}

impl From<SignInError> for Failure {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::InvalidCredentials => Self::BadCredentials,
            SignInError::TenantSuspended => Self::TenantSuspended,
            SignInError::NoCluster => Self::NoCluster,
            SignInError::ClusterFailure(why) => {
                let cause = std::io::Error::other(why);
                Self::ClusterFailed { correlation_id: log_internal("authentication cluster failure", &cause) }
            }
            SignInError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            SignInError::Signing(e) => Self::internal(&e),
            SignInError::Storage(e) => Self::internal(&e),
        }
    }
}

impl From<TokenError> for Failure {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid(why) => {
                tracing::debug!(reason = why, "token refused");
                Self::BadToken
            }
            TokenError::ReuseDetected => Self::TokenReused,
            TokenError::Signing(e) => Self::internal(&e),
            TokenError::Storage(e) => Self::internal(&e),
        }
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Self::internal(&e)
    }
}

impl From<HashError> for Failure {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            HashError::Failed(_) => Self::internal(&e),
        }
    }
}

/// Implements `From` of every domain error for a surface's error type that converts
/// from [`Failure`].
macro_rules! from_domain_errors {
    ($surface:ty) => {
        impl From<keyplane_domain::services::tokens::SignInError> for $surface {
            fn from(e: keyplane_domain::services::tokens::SignInError) -> Self {
                $crate::failure::Failure::from(e).into()
            }
        }
        impl From<keyplane_domain::services::tokens::TokenError> for $surface {
            fn from(e: keyplane_domain::services::tokens::TokenError) -> Self {
                $crate::failure::Failure::from(e).into()
            }
        }
        impl From<keyplane_domain::error::StorageError> for $surface {
            fn from(e: keyplane_domain::error::StorageError) -> Self {
                $crate::failure::Failure::from(e).into()
            }
        }
    };
}
pub(crate) use from_domain_errors;
