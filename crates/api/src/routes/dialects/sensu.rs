//! Sensu Go's `/auth` API under `/t/{tenant}/sensu`: Basic sign-in, refresh with the
//! (possibly expired) access token plus the refresh token, credential test, logout.
//! Errors as Sensu sends them: `{"message", "code"}` with Sensu's action codes
//! (0 internal, 1 invalid argument, 2 not found, 4 permission denied, 5 unauthenticated).

use super::{bearer, tenant};
use crate::auth::Presented;
use crate::extract::{read_body, BodyError};
use crate::failure::{from_domain_errors, Failure};
use crate::routes::{Api, Route};
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use keyplane_domain::services::tokens::{Credentials, EntryPoint, Issued, Realm, Renewal, SignInRequest, SignOut};
use keyplane_domain::tenant::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: SensuApi::openapi(),
        routes: vec![
            Route::own("/t/{tenant}/sensu/auth", |r| r.get(login).default_service(web::to(method_not_allowed))),
            Route::own("/t/{tenant}/sensu/auth/test", |r| r.get(test).default_service(web::to(method_not_allowed))),
            Route::own("/t/{tenant}/sensu/auth/token", |r| r.post(token).default_service(web::to(method_not_allowed))),
            Route::own("/t/{tenant}/sensu/auth/logout", |r| {
                r.post(logout).default_service(web::to(method_not_allowed))
            }),
        ],
    }
}

async fn method_not_allowed() -> HttpResponse {
    SensuError::new(StatusCode::METHOD_NOT_ALLOWED, 1, "method not allowed").error_response()
}

/// The Sensu routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(login, test, token, logout), components(schemas(SensuTokens, SensuRefresh, SensuErrorBody)))]
pub struct SensuApi;

/// Sensu's token response.
#[derive(Serialize, ToSchema)]
pub struct SensuTokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// When it expires, in unix seconds.
    pub expires_at: i64,
    /// The refresh token (a JWT), rotated on every use.
    pub refresh_token: String,
}

/// The body of `/auth/token` and `/auth/logout`.
#[derive(Deserialize, ToSchema)]
pub struct SensuRefresh {
    /// The current refresh token.
    pub refresh_token: String,
}

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
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, body: SensuErrorBody { message: message.into(), code }, retry_after: None }
    }

    fn unauthorized() -> Self {
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
            Failure::Internal { correlation_id } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                0,
                format!("internal error occurred (correlation id {correlation_id})"),
            ),
        }
    }
}

from_domain_errors!(SensuError);

impl From<BodyError> for SensuError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge => Self::new(StatusCode::PAYLOAD_TOO_LARGE, 1, "the request body is too large"),
            BodyError::Unreadable => Self::new(StatusCode::BAD_REQUEST, 1, "the request body could not be read"),
            BodyError::TimedOut => Failure::BodyTimedOut.into(),
        }
    }
}

fn tokens(issued: Issued) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SensuTokens {
        access_token: issued.access_token,
        expires_at: issued.access_expires_at.timestamp(),
        refresh_token: issued.refresh_token.unwrap_or_default(),
    })
}

async fn find(state: &AppState, raw: &str) -> Result<Tenant, SensuError> {
    tenant(state, raw).await?.ok_or_else(|| SensuError::new(StatusCode::NOT_FOUND, 2, "tenant not found"))
}

/// The Basic credentials of a user of `tenant`.
fn basic(req: &HttpRequest) -> Result<Credentials, SensuError> {
    let presented = Presented::from_request(req).map_err(|_| SensuError::unauthorized())?;
    let (user_name, password) = presented.basic.ok_or_else(SensuError::unauthorized)?;
    Ok(Credentials::Password { user_name, password })
}

/// Reads `{"refresh_token": "…"}`; Sensu answers a malformed body with 400.
async fn refresh_body(req: &HttpRequest, payload: web::Payload) -> Result<String, SensuError> {
    let body = read_body(req, payload).await?;
    let parsed: SensuRefresh = serde_json::from_slice(&body).map_err(|_| {
        SensuError::new(StatusCode::BAD_REQUEST, 1, "the body must be a JSON object with a refresh_token string")
    })?;
    Ok(parsed.refresh_token)
}

/// Generate an access token and a refresh token with Basic credentials.
#[utoipa::path(get, path = "/t/{tenant}/sensu/auth", tag = "sensu",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Valid credentials.", body = SensuTokens),
        (status = 401, description = "Invalid credentials.", body = SensuErrorBody),
        (status = 404, description = "Unknown tenant.", body = SensuErrorBody),
        (status = 501, description = "The tenant has no authentication cluster.", body = SensuErrorBody),
        (status = 502, description = "The authentication cluster failed.", body = SensuErrorBody),
    ),
    security(("basic" = [])))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, SensuError> {
    let tenant = find(&state, &path).await?;
    let credentials = basic(&req)?;
    let request =
        SignInRequest { realm: Realm::Tenant(&tenant), credentials, entry: EntryPoint::Sensu, with_refresh: true };
    Ok(tokens(state.tokens.sign_in(request).await?))
}

/// Test Basic credentials: 200 with an empty body when valid, 401 otherwise.
#[utoipa::path(get, path = "/t/{tenant}/sensu/auth/test", tag = "sensu",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Valid credentials (empty body)."),
        (status = 401, description = "Invalid credentials.", body = SensuErrorBody),
        (status = 404, description = "Unknown tenant.", body = SensuErrorBody),
    ),
    security(("basic" = [])))]
pub async fn test(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, SensuError> {
    let tenant = find(&state, &path).await?;
    state.tokens.check(Realm::Tenant(&tenant), &basic(&req)?, EntryPoint::Sensu).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Exchange the refresh token for new tokens. The bearer access token may have expired
/// but must be correctly signed and belong to the refresh token's session; the refresh
/// token is rotated, and presenting a rotated one again ends the session.
#[utoipa::path(post, path = "/t/{tenant}/sensu/auth/token", tag = "sensu", request_body = SensuRefresh,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "New tokens.", body = SensuTokens),
        (status = 400, description = "Malformed body.", body = SensuErrorBody),
        (status = 401, description = "Invalid tokens.", body = SensuErrorBody),
        (status = 404, description = "Unknown tenant.", body = SensuErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, SensuError> {
    let tenant = find(&state, &path).await?;
    let access = bearer(&req).ok_or_else(SensuError::unauthorized)?;
    let refresh = refresh_body(&req, payload).await?;
    let renewal = Renewal { token: &refresh, tenant: Some(tenant.id), companion: Some(&access), accept_access: false };
    Ok(tokens(state.tokens.renew(renewal).await?.issued))
}

/// Sign out: the session of the bearer token (and of the refresh token in the body) ends.
#[utoipa::path(post, path = "/t/{tenant}/sensu/auth/logout", tag = "sensu", request_body = SensuRefresh,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Signed out."),
        (status = 400, description = "Malformed body.", body = SensuErrorBody),
        (status = 401, description = "Invalid tokens.", body = SensuErrorBody),
        (status = 404, description = "Unknown tenant.", body = SensuErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, SensuError> {
    let tenant = find(&state, &path).await?;
    let access = bearer(&req).ok_or_else(SensuError::unauthorized)?;
    let refresh = refresh_body(&req, payload).await?;
    state.tokens.sign_out(SignOut { token: &access, tenant: Some(tenant.id), companion: Some(&refresh) }).await?;
    Ok(HttpResponse::Ok().finish())
}
