//! Which API surface a path belongs to, so that a response made before any handler runs
//! (a transport refusal, a rate limit) still comes in that surface's own error shape: the
//! surface's error type is built from a [`Failure`], as its handlers would.

use crate::error::ApiError;
use crate::failure::Failure;
use crate::routes::dialects::investsuite::InvestSuiteError;
use crate::routes::dialects::sensu::SensuError;
use crate::routes::dialects::tenovos::TenovosError;
use crate::routes::oauth::OAuthError;
use actix_web::{HttpResponse, ResponseError};

/// An API surface, each with its own error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/api/v1/...` and everything else: the native envelope.
    Native,
    /// `/t/{tenant}/oauth2/...` and `/t/{tenant}/.well-known/...`: RFC 6749 errors.
    OAuth,
    /// `/t/{tenant}/sensu/...`.
    Sensu,
    /// `/t/{tenant}/tenovos/...`.
    Tenovos,
    /// `/t/{tenant}/investsuite/...`.
    InvestSuite,
}

impl Surface {
    /// The surface `path` belongs to.
    pub fn of(path: &str) -> Self {
        match path.strip_prefix("/t/").and_then(|rest| rest.split('/').nth(1)).unwrap_or("") {
            "sensu" => Self::Sensu,
            "tenovos" => Self::Tenovos,
            "investsuite" => Self::InvestSuite,
            "oauth2" | ".well-known" => Self::OAuth,
            _ => Self::Native,
        }
    }

    /// `failure` answered in this surface's shape.
    pub fn respond(self, failure: Failure) -> HttpResponse {
        match self {
            Self::Native => ApiError::from(failure).error_response(),
            Self::OAuth => OAuthError::from(failure).error_response(),
            Self::Sensu => SensuError::from(failure).error_response(),
            Self::Tenovos => TenovosError::from(failure).error_response(),
            Self::InvestSuite => InvestSuiteError::from(failure).error_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_pick_their_surface() {
        assert_eq!(Surface::of("/t/acme/sensu/auth"), Surface::Sensu);
        assert_eq!(Surface::of("/t/acme/tenovos/auth/token"), Surface::Tenovos);
        assert_eq!(Surface::of("/t/acme/investsuite/auth/login/"), Surface::InvestSuite);
        assert_eq!(Surface::of("/t/acme/oauth2/token"), Surface::OAuth);
        assert_eq!(Surface::of("/t/acme/.well-known/jwks.json"), Surface::OAuth);
        assert_eq!(Surface::of("/api/v1/users/auth/_login"), Surface::Native);
        assert_eq!(Surface::of("/t/acme"), Surface::Native);
    }

    #[test]
    fn rate_limits_keep_each_shape_and_retry_after() {
        for path in [
            "/t/a/sensu/auth",
            "/t/a/tenovos/auth/token",
            "/t/a/investsuite/auth/login/",
            "/t/a/oauth2/token",
            "/api/v1/users/auth/_login",
        ] {
            let response = Surface::of(path).respond(Failure::RateLimited { retry_after_secs: 7 });
            assert_eq!(response.status(), 429, "{path}");
            assert_eq!(response.headers().get("retry-after").unwrap(), "7", "{path}");
        }
    }
}
