//! Sensu Go's `/auth` API under `/t/{tenant}/sensu`: Basic sign-in, refresh with the
//! (possibly expired) access token plus the refresh token, credential test, logout.
//! Errors as Sensu sends them: `{"message", "code"}` with Sensu's action codes
//! (0 internal, 1 invalid argument, 2 not found, 4 permission denied, 5 unauthenticated).

use super::{log_failure, tenant};
use crate::auth::Credential;
use crate::extract::{read_body, BodyError};
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use keyplane_domain::ids::SessionId;
use keyplane_domain::password::Password;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::tokens::{Issued, SignInError, TokenError};
use keyplane_domain::tenant::Tenant;
use keyplane_domain::token::Claims;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let nmna = || web::to(|| async { error(StatusCode::METHOD_NOT_ALLOWED, 1, "method not allowed") });
    cfg.service(web::resource("/t/{tenant}/sensu/auth").get(login).default_service(nmna()))
        .service(web::resource("/t/{tenant}/sensu/auth/test").get(test).default_service(nmna()))
        .service(web::resource("/t/{tenant}/sensu/auth/token").post(token).default_service(nmna()))
        .service(web::resource("/t/{tenant}/sensu/auth/logout").post(logout).default_service(nmna()));
}

/// The Sensu routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(login, test, token, logout), components(schemas(SensuTokens, SensuRefresh, SensuError)))]
pub struct SensuApi;

/// Sensu's token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct SensuTokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// When it expires, in unix seconds.
    pub expires_at: i64,
    /// The refresh token (a JWT), rotated on every use.
    pub refresh_token: String,
}

/// The body of `/auth/token` and `/auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SensuRefresh {
    /// The current refresh token.
    pub refresh_token: String,
}

/// A Sensu error.
#[derive(Debug, Serialize, ToSchema)]
pub struct SensuError {
    /// What went wrong.
    pub message: String,
    /// Sensu's action code: 0 internal, 1 invalid argument, 2 not found, 4 permission
    /// denied, 5 unauthenticated.
    pub code: u32,
}

fn error(status: StatusCode, code: u32, message: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"sensu\""));
    }
    response.json(json!({"message": message, "code": code}))
}

fn unauthorized() -> HttpResponse {
    error(StatusCode::UNAUTHORIZED, 5, "Request unauthorized")
}

fn internal(cause: &dyn std::fmt::Display) -> HttpResponse {
    let id = log_failure(cause);
    error(StatusCode::INTERNAL_SERVER_ERROR, 0, &format!("internal error occurred (correlation id {id})"))
}

fn sign_in_failure(e: SignInError) -> HttpResponse {
    match e {
        SignInError::InvalidCredentials | SignInError::TenantSuspended => unauthorized(),
        SignInError::NoCluster => error(StatusCode::NOT_IMPLEMENTED, 0, "no authentication cluster is configured"),
        SignInError::ClusterFailure(why) => {
            let id = log_failure(&why);
            error(StatusCode::BAD_GATEWAY, 0, &format!("the authentication cluster failed (correlation id {id})"))
        }
        SignInError::Busy { .. } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, 0, "too many sign-ins in progress; retry shortly");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            r
        }
        SignInError::Signing(e) => internal(&e),
        SignInError::Storage(e) => internal(&e),
    }
}

fn token_failure(e: TokenError) -> HttpResponse {
    match e {
        TokenError::Invalid(_) | TokenError::ReuseDetected => unauthorized(),
        TokenError::Signing(e) => internal(&e),
        TokenError::Storage(e) => internal(&e),
    }
}

fn tokens(issued: Issued) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SensuTokens {
        access_token: issued.access_token,
        expires_at: issued.access_expires_at.timestamp(),
        refresh_token: issued.refresh_token.unwrap_or_default(),
    })
}

async fn find(state: &AppState, raw: &str) -> Result<Tenant, HttpResponse> {
    match tenant(state, raw).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, 2, "tenant not found")),
        Err(e) => Err(internal(&e)),
    }
}

fn basic(req: &HttpRequest) -> Option<(String, Password)> {
    match Credential::from_request(req) {
        Ok(Credential::Basic(name, password)) => Some((name, password)),
        _ => None,
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    match Credential::from_request(req) {
        Ok(Credential::Bearer(token)) => Some(token),
        _ => None,
    }
}

/// Reads `{"refresh_token": "…"}`; Sensu answers a malformed body with 400.
async fn refresh_body(req: &HttpRequest, payload: web::Payload) -> Result<String, HttpResponse> {
    let body = read_body(req, payload).await.map_err(|e| match e {
        BodyError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, 1, "the request body is too large"),
        BodyError::Unreadable => error(StatusCode::BAD_REQUEST, 1, "the request body could not be read"),
    })?;
    let parsed: SensuRefresh = serde_json::from_slice(&body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, 1, "the body must be a JSON object with a refresh_token string"))?;
    Ok(parsed.refresh_token)
}

/// Generate an access token and a refresh token with Basic credentials.
#[utoipa::path(get, path = "/t/{tenant}/sensu/auth", tag = "sensu",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Valid credentials.", body = SensuTokens),
        (status = 401, description = "Invalid credentials.", body = SensuError),
        (status = 404, description = "Unknown tenant.", body = SensuError),
        (status = 501, description = "The tenant has no authentication cluster.", body = SensuError),
        (status = 502, description = "The authentication cluster failed.", body = SensuError),
    ),
    security(("basic" = [])))]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let tenant = match find(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some((name, password)) = basic(&req) else { return unauthorized() };
    match state.tokens.sign_in_user(&tenant, &name, &password).await {
        Ok(issued) => tokens(issued),
        Err(e) => sign_in_failure(e),
    }
}

/// Test Basic credentials: 200 with an empty body when valid, 401 otherwise.
#[utoipa::path(get, path = "/t/{tenant}/sensu/auth/test", tag = "sensu",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Valid credentials (empty body)."),
        (status = 401, description = "Invalid credentials.", body = SensuError),
        (status = 404, description = "Unknown tenant.", body = SensuError),
    ),
    security(("basic" = [])))]
pub async fn test(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let tenant = match find(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some((name, password)) = basic(&req) else { return unauthorized() };
    match state.tokens.check_user(&tenant, &name, &password).await {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(e) => sign_in_failure(e),
    }
}

/// Exchange the refresh token for new tokens. The bearer access token may have expired
/// but must be correctly signed and belong to the refresh token's session; the refresh
/// token is rotated, and presenting a rotated one again ends the session.
#[utoipa::path(post, path = "/t/{tenant}/sensu/auth/token", tag = "sensu", request_body = SensuRefresh,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "New tokens.", body = SensuTokens),
        (status = 400, description = "Malformed body.", body = SensuError),
        (status = 401, description = "Invalid tokens.", body = SensuError),
        (status = 404, description = "Unknown tenant.", body = SensuError),
    ),
    security(("bearer" = [])))]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (tenant, claims, refresh) = match session_request(&state, &req, &path, payload).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match state.tokens.refresh_in_session(&refresh, Scope::Tenant(tenant.id), claims.sid).await {
        Ok(issued) => tokens(issued),
        Err(e) => token_failure(e),
    }
}

/// What `/auth/token` and `/auth/logout` share: the tenant, the bearer access token's
/// claims (expired accepted, signature and tenant checked) and the body's refresh token.
async fn session_request(
    state: &AppState,
    req: &HttpRequest,
    raw: &str,
    payload: web::Payload,
) -> Result<(Tenant, Claims, String), HttpResponse> {
    let tenant = find(state, raw).await?;
    let access = bearer(req).ok_or_else(unauthorized)?;
    let refresh = refresh_body(req, payload).await?;
    match state.tokens.access_claims(&access).await {
        Ok((claims, scope)) if scope == Scope::Tenant(tenant.id) => Ok((tenant, claims, refresh)),
        Ok(_) => Err(unauthorized()),
        Err(e) => Err(token_failure(e)),
    }
}

/// Sign out: the session of the bearer token (and of the refresh token in the body) ends.
#[utoipa::path(post, path = "/t/{tenant}/sensu/auth/logout", tag = "sensu", request_body = SensuRefresh,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Signed out."),
        (status = 400, description = "Malformed body.", body = SensuError),
        (status = 401, description = "Invalid tokens.", body = SensuError),
        (status = 404, description = "Unknown tenant.", body = SensuError),
    ),
    security(("bearer" = [])))]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (tenant, claims, refresh) = match session_request(&state, &req, &path, payload).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // The refresh token must be of the same session.
    match state.tokens.introspect(&tenant, &refresh).await {
        Ok(Some((refresh_claims, _))) if refresh_claims.sid == claims.sid && refresh_claims.token_use == "refresh" => {}
        Ok(_) => return unauthorized(),
        Err(e) => return token_failure(e),
    }
    match state.tokens.end_session(Scope::Tenant(tenant.id), SessionId::from_uuid(claims.sid), "logout").await {
        Ok(_) => HttpResponse::Ok().finish(),
        Err(e) => internal(&e),
    }
}
