//! What declares an API surface ([`Surface`]): its error [`Shape`], how it finds the
//! tenant ([`TenantSource`]), the budget its routes draw on, its entry point in the audit
//! trail; and what the server enforces before a handler runs ([`RouteFacts`], [`screen`]).

use crate::error::{ApiError, ErrorCode};
use crate::failure::Failure;
use crate::ratelimit::{self, Class, RateLimits};
use crate::surfaces::route::{Api, Route};
use crate::transport::TransportPolicy;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use keyplane_domain::origin::EntryPoint;
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
    /// operator (the tenant-scoped operations, which take that header, refuse a platform
    /// credential naming none with `400 root.invalid_data`); or no tenant at all.
    Credential,
}

/// A surface's declaration.
pub struct Surface {
    /// Its name, for tests and logs.
    pub name: &'static str,
    /// The path prefix it owns (an actix pattern): an unmatched path under it gets the
    /// HTTPS rule and the rate limit in this surface's shape, then the native 404; `None`
    /// for surfaces whose routes sit at the root.
    pub prefix: Option<&'static str>,
    /// Its error shape.
    pub shape: Shape,
    /// How it finds the tenant.
    pub tenant: TenantSource,
    /// The budget its routes draw on, unless a route says otherwise; `None`: only
    /// requests carrying Basic credentials are limited (as `Credentials`).
    pub limit: Option<Class>,
    /// The entry point its requests are audited under, unless a route says otherwise.
    pub entry_point: EntryPoint,
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
            entry_point: route.entry_point().unwrap_or(self.entry_point),
        }
    }
}

/// What the server enforces on one route before its handler runs, and what it tells the
/// handler (through the request's extensions: the [`ShapeInUse`] and the [`EntryPoint`]).
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
    /// Audited under this entry point.
    pub entry_point: EntryPoint,
}

impl RouteFacts {
    /// A path no route matches (the Swagger UI, the document, unknown paths): the HTTPS
    /// rule and, with Basic credentials, the credential budget, in `shape`.
    pub const fn unmatched(shape: Shape) -> Self {
        Self { shape, tenant: TenantSource::Credential, class: None, plain_http: false, entry_point: EntryPoint::Admin }
    }
}

/// The transport rule and the rate limiters, as app data for [`screen`].
pub struct Guards {
    /// `ssl_required` and the trusted proxies.
    pub transport: TransportPolicy,
    /// The limiters; `None` when rate limiting is off.
    pub limits: Option<Arc<RateLimits>>,
}

/// Why `req` may not reach its handler, if it may not: plain HTTP where HTTPS is
/// required, then a spent rate-limit budget. Nothing of the request's credentials is
/// verified before this. Without [`Guards`] in the app data it refuses (fails closed).
pub fn screen(req: &HttpRequest, facts: &RouteFacts) -> Option<Failure> {
    let Some(guards) = req.app_data::<web::Data<Guards>>() else {
        return Some(Failure::internal(&std::io::Error::other("the route guards are not configured")));
    };
    if !facts.plain_http && !guards.transport.allows(req) {
        return Some(Failure::HttpsRequired);
    }
    let limits = guards.limits.as_ref()?;
    let class = facts.class.or_else(|| ratelimit::carries_basic(req).then_some(Class::Credentials))?;
    let tenant = match facts.tenant {
        TenantSource::Path => ratelimit::path_tenant(req.match_info().get("tenant").unwrap_or_default()),
        TenantSource::Credential => ratelimit::credential_tenant(req),
    };
    limits.check(req, class, &tenant).err().map(RateLimits::refusal)
}

/// The error shape in use for a request, in its extensions: the envelope fallback (which
/// rewrites actix's bare error responses into the native envelope) leaves a dialect's
/// answers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapeInUse {
    /// Whether it is the native envelope.
    pub native: bool,
}

impl Shape {
    /// The marker of this shape, for the request's extensions.
    pub fn in_use(self) -> ShapeInUse {
        ShapeInUse { native: self.envelope }
    }
}

/// `405` in `shape`, naming the methods the path allows in `Allow` (RFC 9110 §15.5.6).
pub fn method_not_allowed(shape: Shape, req: &HttpRequest, allow: HeaderValue) -> HttpResponse {
    let mut response = (shape.respond)(Failure::MethodNotAllowed { method: req.method().to_string() });
    response.headers_mut().insert(header::ALLOW, allow);
    response
}

/// Answers a path that matches no route, in the native envelope.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, format!("No route matches {} {}.", req.method(), req.path())).error_response()
}
