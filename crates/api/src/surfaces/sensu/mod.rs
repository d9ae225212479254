//! Sensu Go's `/auth` API under `/t/{tenant}/sensu`: Basic sign-in, refresh with the
//! (possibly expired) access token plus the refresh token, credential test, logout.
//! Errors as Sensu sends them: `{"message", "code"}` with Sensu's action codes
//! (0 internal, 1 invalid argument, 2 not found, 4 permission denied, 5 unauthenticated).

mod error;

pub use error::{SensuError, SensuErrorBody};

use crate::audit::Origin;
use crate::authentication::Presented;
use crate::extract::read_body;
use crate::ratelimit::Class;
use crate::state::AppState;
use crate::surfaces::declaration::{Shape, Surface, TenantSource};
use crate::surfaces::route::{Api, Route};
use crate::surfaces::tenant::{self, bearer};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::services::tokens::{Credentials, Issued, Realm, Renewal, SignInRequest, SignOut};
use keyplane_domain::tenant::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// The Sensu Go surface's declaration: its tenant is the path's, every route draws on
/// the `credentials` budget.
pub fn surface() -> Surface {
    Surface {
        name: "sensu",
        prefix: Some("/t/{tenant}/sensu"),
        shape: Shape::of::<SensuError>("SensuError"),
        tenant: TenantSource::Path,
        limit: Some(Class::Credentials),
        entry_point: EntryPoint::Sensu,
        apis: vec![api()],
    }
}

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: SensuApi::openapi(),
        routes: vec![
            Route::new("/t/{tenant}/sensu/auth", |r| r.get(login)),
            Route::new("/t/{tenant}/sensu/auth/test", |r| r.get(test)),
            Route::new("/t/{tenant}/sensu/auth/token", |r| r.post(token)),
            Route::new("/t/{tenant}/sensu/auth/logout", |r| r.post(logout)),
        ],
    }
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

fn tokens(issued: Issued) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SensuTokens {
        access_token: issued.access_token,
        expires_at: issued.access_expires_at.timestamp(),
        refresh_token: issued.refresh_token.unwrap_or_default(),
    })
}

/// The Basic credentials of a user of `tenant`.
fn basic(req: &HttpRequest) -> Result<Credentials, SensuError> {
    let presented = Presented::from_request(req).map_err(|_| SensuError::unauthorized())?;
    let (user_name, password) = presented.basic.ok_or_else(SensuError::unauthorized)?;
    Ok(Credentials::Password { user_name, password })
}

/// What `/auth/token` and `/auth/logout` both read: the tenant, the bearer access token
/// and the body's refresh token.
async fn session_request(
    state: &AppState,
    req: &HttpRequest,
    raw: &str,
    payload: web::Payload,
) -> Result<(Tenant, String, String), SensuError> {
    let tenant = tenant::in_path::<SensuError>(state, raw).await?;
    let access = bearer(req).ok_or_else(SensuError::unauthorized)?;
    let refresh = refresh_body(req, payload).await?;
    Ok((tenant, access, refresh))
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
#[utoipa::path(get, path = "/t/{tenant}/sensu/auth", operation_id = "sensu_login", tag = "sensu",
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
    let tenant = tenant::in_path::<SensuError>(&state, &path).await?;
    let credentials = basic(&req)?;
    let request =
        SignInRequest { realm: Realm::Tenant(&tenant), credentials, origin: &Origin::of(&req).0, with_refresh: true };
    Ok(tokens(state.tokens.sign_in(request).await?))
}

/// Test Basic credentials: 200 with an empty body when valid, 401 otherwise.
#[utoipa::path(get, path = "/t/{tenant}/sensu/auth/test", operation_id = "sensu_test_credentials", tag = "sensu",
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
    let tenant = tenant::in_path::<SensuError>(&state, &path).await?;
    state.tokens.check(Realm::Tenant(&tenant), &basic(&req)?, &Origin::of(&req).0).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Exchange the refresh token for new tokens.
///
/// The bearer access token may have expired but must be correctly signed and belong to
/// the refresh token's session; the refresh token is rotated, and presenting a rotated
/// one again ends the session.
#[utoipa::path(post, path = "/t/{tenant}/sensu/auth/token", operation_id = "sensu_refresh_token", tag = "sensu", request_body = SensuRefresh,
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
    let (tenant, access, refresh) = session_request(&state, &req, &path, payload).await?;
    let origin = Origin::of(&req).0;
    let renewal = Renewal {
        token: &refresh,
        tenant: Some(tenant.id),
        companion: Some(&access),
        accept_access: false,
        origin: Some(&origin),
    };
    Ok(tokens(state.tokens.renew(renewal).await?.issued))
}

/// Sign out: the session of the bearer token (and of the refresh token in the body) ends.
#[utoipa::path(post, path = "/t/{tenant}/sensu/auth/logout", operation_id = "sensu_logout", tag = "sensu", request_body = SensuRefresh,
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
    let (tenant, access, refresh) = session_request(&state, &req, &path, payload).await?;
    let origin = Origin::of(&req).0;
    let request = SignOut { token: &access, tenant: Some(tenant.id), companion: Some(&refresh), origin: &origin };
    state.tokens.sign_out(request).await?;
    Ok(HttpResponse::Ok().finish())
}
