//! What declares an API surface ([`Surface`]): its error [`Shape`], how it finds the
//! tenant ([`TenantSource`]), the budget its routes draw on; and what the server
//! enforces on each route before its handler runs ([`RouteFacts`], [`Guards`]).

use crate::error::{ApiError, ErrorCode};
use crate::failure::Failure;
use crate::ratelimit::{Class, RateLimits};
use crate::surfaces::route::{Api, Route};
use crate::transport::TransportPolicy;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use std::sync::Arc;

/// How a surface answers a failure: its error type, reached through [`Failure`].
#[derive(Clone, Copy)]
pub struct Shape {
    /// The failure as this surface's response (status, body, `WWW-Authenticate`,
    /// `Retry-After`).
    pub respond: fn(Failure) -> HttpResponse,
    /// The OpenAPI schema of its error bodies.
    pub schema: &'static str,
    /// Whether it is the native envelope (`x-cloud-error-codes`, codes in examples).
    pub envelope: bool,
}

impl Shape {
    /// The native envelope (native and platform surfaces, and paths no surface claims).
    pub const NATIVE: Self = Self { respond: respond_with::<ApiError>, schema: "ErrorBody", envelope: true };

    /// A dialect's shape: its error type `E` and the OpenAPI schema of its bodies.
    pub const fn of<E: From<Failure> + ResponseError>(schema: &'static str) -> Self {
        Self { respond: respond_with::<E>, schema, envelope: false }
    }
}

/// `failure` rendered by the error type `E`.
pub fn respond_with<E: From<Failure> + ResponseError>(failure: Failure) -> HttpResponse {
    E::from(failure).error_response()
}

/// How a surface finds the tenant a request is counted against (and acts on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSource {
    /// The `{tenant}` path segment (slug or id): `/t/{tenant}/…`.
    Path,
    /// The credential: an API key's tenant, else `X-Keyplane-Tenant` for a platform
    /// operator; a platform credential that names none is refused on tenant-scoped
    /// operations (`400 root.invalid_data`).
    Credential,
}

/// A surface's declaration.
pub struct Surface {
    /// Its name, for tests and logs.
    pub name: &'static str,
    /// The path prefix it owns (an actix pattern), whose unmatched paths it answers (404
    /// in its shape); `None` for surfaces whose routes sit at the root.
    pub prefix: Option<&'static str>,
    /// Its error shape.
    pub shape: Shape,
    /// How it finds the tenant.
    pub tenant: TenantSource,
    /// The budget its routes draw on, unless a route says otherwise; `None`: only
    /// requests carrying Basic credentials are limited (as `Credentials`).
    pub limit: Option<Class>,
    /// Its route modules.
    pub apis: Vec<Api>,
}

impl Surface {
    /// The facts a route of this surface is served with.
    pub fn facts(&self, route: &Route) -> RouteFacts {
        RouteFacts {
            shape: self.shape,
            tenant: self.tenant,
            class: route.class().or(self.limit),
            plain_http: route.plain_http(),
        }
    }
}

/// What the server enforces on one route before its handler runs.
#[derive(Clone, Copy)]
pub struct RouteFacts {
    /// The surface's error shape.
    pub shape: Shape,
    /// How the tenant is found (the rate limiter's tenant budget).
    pub tenant: TenantSource,
    /// The budget it draws on; `None`: only with Basic credentials.
    pub class: Option<Class>,
    /// Exempt from the HTTPS rule.
    pub plain_http: bool,
}

/// The transport rule and the rate limiters, as app data for the route guards.
pub struct Guards {
    /// `ssl_required` and the trusted proxies.
    pub transport: TransportPolicy,
    /// The limiters; `None` when rate limiting is off.
    pub limits: Option<Arc<RateLimits>>,
}

/// Marks a request as answered by a surface's own error type, in its extensions: the
/// envelope fallback (which rewrites actix's bare error responses) leaves it alone
/// unless it is the native envelope's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnShape {
    /// Whether the shape is the native envelope.
    pub envelope: bool,
}

impl Shape {
    /// The marker of this shape, for the request's extensions.
    pub fn envelope_marker(self) -> OwnShape {
        OwnShape { envelope: self.envelope }
    }
}

/// Answers a path that matches no route, in the native envelope.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, format!("No route matches {} {}.", req.method(), req.path())).error_response()
}
