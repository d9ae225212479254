//! The native (ECE) sign-in API under `/api/v1/users/auth`, and `/api/v1/user`. The
//! tenant comes from the `X-API-Key` (or `Authorization: ApiKey`) of the tenant's
//! application; without one, the platform operators sign in.

use crate::auth::{authenticate, hash_error, token_error, Authenticated, Credential};
use crate::dto::Empty;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::JsonBody;
use crate::routes::method_not_allowed;
use crate::routes::users::UserResponse;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::password::{HashError, Password};
use keyplane_domain::principal::Subject;
use keyplane_domain::services::tokens::{Issued, SignInError};
use keyplane_domain::tenant::Tenant;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let nmna = || web::to(method_not_allowed);
    cfg.service(web::resource("/api/v1/users/auth/_login").post(login).default_service(nmna()))
        .service(web::resource("/api/v1/users/auth/_refresh").post(refresh).default_service(nmna()))
        .service(web::resource("/api/v1/users/auth/_logout").post(logout).default_service(nmna()))
        .service(web::resource("/api/v1/users/auth/methods").get(methods).default_service(nmna()))
        .service(web::resource("/api/v1/users/auth").get(current).default_service(nmna()))
        .service(web::resource("/api/v1/user").get(current_user).default_service(nmna()));
}

/// The sign-in routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(login, refresh, logout, methods, current, current_user),
    components(schemas(LoginRequest, LoginResponse, RefreshResponse, AuthMethods, AuthInfo))
)]
pub struct AuthApi;

/// Credentials to sign in with.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The user name (compared without case).
    #[schema(example = "alice")]
    pub username: String,
    /// The password.
    #[schema(format = Password)]
    pub password: String,
}

/// A new session's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer (access) token to use in subsequent requests: a JWT.
    pub token: String,
    /// The refresh token (a JWT, `token_use: "refresh"`), rotated on every use.
    pub refresh_token: String,
    /// When `token` expires.
    pub session_expiration_time: DateTime<Utc>,
}

/// A refreshed token.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshResponse {
    /// The new bearer token.
    pub token: String,
    /// When `token` expires.
    pub session_expiration_time: DateTime<Utc>,
    /// Present only when a refresh token was presented: its rotated successor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// How users of this tenant (or the platform) can sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthMethods {
    /// User name and password sign-in is available (an authentication cluster exists).
    pub password_enabled: bool,
    /// Single sign-on is available (not yet supported: always false).
    pub sso_enabled: bool,
}

/// The caller, as the credential identifies it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthInfo {
    /// How the request authenticated: `bearer`, `api_key` or `basic`.
    #[schema(example = "bearer")]
    pub authenticated_via: String,
    /// `user`, `platform_user` or `api_key`.
    pub subject_type: String,
    /// The user's, operator's or key's id.
    pub subject_id: Uuid,
    /// The user name (or key id) of the session.
    pub user_name: Option<String>,
    /// The tenant; absent for platform operators.
    pub tenant_id: Option<Uuid>,
    /// Current roles.
    pub roles: Vec<String>,
    /// The session, for bearer tokens.
    pub session_id: Option<Uuid>,
    /// When the session ends, for bearer tokens.
    pub session_expiration_time: Option<DateTime<Utc>>,
}

/// The tenant named by an API key in the request, if any.
async fn tenant_of_key(state: &AppState, req: &HttpRequest) -> Result<Option<Tenant>, ApiError> {
    let headers = req.headers();
    let has_key = headers.contains_key("x-api-key")
        || headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_start().to_ascii_lowercase())
            .is_some_and(|v| v.starts_with("apikey ") || v.starts_with("key "));
    if !has_key {
        return Ok(None);
    }
    let principal = authenticate(state, Credential::from_request(req)?).await?;
    let Some(tenant) = principal.tenant else { return Ok(None) };
    let tenant = state
        .tenants
        .find_by_id(tenant)
        .await?
        .ok_or_else(|| ApiError::unauthorized("The API key's tenant no longer exists."))?;
    Ok(Some(tenant))
}

/// Maps a sign-in failure to the native envelope.
pub fn sign_in_error(e: SignInError) -> ApiError {
    match e {
        SignInError::InvalidCredentials => {
            ApiError::new(ErrorCode::Unauthenticated, "The username or password is incorrect.")
        }
        SignInError::TenantSuspended => ApiError::new(ErrorCode::Unauthenticated, "The tenant is suspended."),
        SignInError::NoCluster => ApiError::new(
            ErrorCode::NoAuthenticationCluster,
            "The administrator needs to configure the authentication cluster.",
        ),
        SignInError::ClusterFailure(why) => {
            let correlation_id = Uuid::new_v4();
            tracing::error!(%correlation_id, error = %why, "authentication cluster failure");
            ApiError::new(
                ErrorCode::AuthenticationClusterError,
                format!("The authentication cluster failed to process the request (correlation id {correlation_id})."),
            )
        }
        SignInError::Busy { retry_after_secs } => hash_error(HashError::Busy { retry_after_secs }),
        SignInError::Signing(s) => ApiError::internal(&s),
        SignInError::Storage(s) => s.into(),
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    match Credential::from_request(req) {
        Ok(Credential::Bearer(token)) => Ok(token),
        Ok(_) => Err(ApiError::unauthorized("A bearer token is required (Authorization: Bearer <token>).")),
        Err(e) => Err(e),
    }
}

fn login_response(issued: Issued) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(LoginResponse {
        token: issued.access_token,
        refresh_token: issued.refresh_token.unwrap_or_default(),
        session_expiration_time: issued.access_expires_at,
    })
}

/// Sign in with a user name and password.
///
/// With the tenant application's API key (`X-API-Key` or `Authorization: ApiKey`) a user
/// of that tenant signs in through its authentication cluster; without one, a platform
/// operator signs in.
#[utoipa::path(post, path = "/api/v1/users/auth/_login", tag = "authentication", request_body = LoginRequest,
    params(("X-API-Key" = Option<String>, Header, description = "The tenant application's API key; omit to sign in as a platform operator")),
    responses(
        (status = 200, description = "Signed in: a new session.", body = LoginResponse),
        (status = 400, description = "Malformed body (`root.invalid_data`).", body = ErrorBody),
        (status = 401, description = "Wrong user name or password (`root.unauthenticated`), or a bad API key (`root.unauthorized`).", body = ErrorBody),
        (status = 429, description = "Password checks are saturated (`root.rate_limited`, `Retry-After`).", body = ErrorBody),
        (status = 501, description = "The tenant has no authentication cluster (`authc.no_authentication_cluster`).", body = ErrorBody),
        (status = 502, description = "The authentication cluster failed (`authc.authentication_cluster_error`).", body = ErrorBody),
    ),
    security((), ("api_key" = []), ("api_key_authorization" = [])))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::presented(body.password);
    let issued = match tenant_of_key(&state, &req).await? {
        Some(tenant) => state.tokens.sign_in_user(&tenant, &body.username, &password).await,
        None => state.tokens.sign_in_platform(&body.username, &password).await,
    }
    .map_err(sign_in_error)?;
    Ok(login_response(issued))
}

/// Issue a new authentication token.
///
/// With a valid access token as the bearer, a new access token for the same session.
/// With a refresh token as the bearer, the refresh token is rotated and its successor is
/// returned too (presenting a rotated refresh token again revokes the session).
#[utoipa::path(post, path = "/api/v1/users/auth/_refresh", tag = "authentication",
    responses(
        (status = 200, description = "The token refreshed successfully and was returned in the body of the response.", body = RefreshResponse),
        (status = 401, description = "The authentication token is invalid or expired (`root.unauthorized`).", body = ErrorBody),
        (status = 501, description = "`authc.no_authentication_cluster`.", body = ErrorBody),
        (status = 502, description = "`authc.authentication_cluster_error`.", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn refresh(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)?;
    let (issued, rotated) = if state.tokens.looks_like_refresh(&token) {
        (state.tokens.refresh(&token, None).await.map_err(token_error)?, true)
    } else {
        let context = state.tokens.authenticate(&token, false).await.map_err(token_error)?;
        (state.tokens.extend(&context).await.map_err(token_error)?, false)
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(RefreshResponse {
        token: issued.access_token,
        session_expiration_time: issued.access_expires_at,
        refresh_token: if rotated { issued.refresh_token } else { None },
    }))
}

/// Sign out: the session ends, its refresh token stops working and its access tokens
/// introspect as inactive.
#[utoipa::path(post, path = "/api/v1/users/auth/_logout", tag = "authentication",
    responses(
        (status = 200, description = "Signed out.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = bearer(&req)?;
    let context = state.tokens.authenticate(&token, false).await.map_err(token_error)?;
    state.tokens.end_session(context.session.scope, context.session.id, "logout").await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// The sign-in methods available to the tenant named by the API key (or to platform
/// operators without one).
#[utoipa::path(get, path = "/api/v1/users/auth/methods", tag = "authentication",
    params(("X-API-Key" = Option<String>, Header, description = "The tenant application's API key")),
    responses(
        (status = 200, description = "The available methods.", body = AuthMethods),
        (status = 401, description = "A bad API key (`root.unauthorized`).", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub async fn methods(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let password_enabled = match tenant_of_key(&state, &req).await? {
        Some(tenant) => tenant.cluster.is_some(),
        None => true,
    };
    Ok(HttpResponse::Ok().json(AuthMethods { password_enabled, sso_enabled: false }))
}

/// Who the credential identifies, and its session.
#[utoipa::path(get, path = "/api/v1/users/auth", tag = "authentication",
    responses(
        (status = 200, description = "The current caller.", body = AuthInfo),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn current(
    auth: Authenticated,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let p = auth.principal;
    let via = match Credential::from_request(&req)? {
        Credential::Bearer(_) => "bearer",
        Credential::Key(_) => "api_key",
        Credential::Basic(..) => "basic",
    };
    let (subject_type, subject_id) = match &p.subject {
        Subject::User(u) => ("user", u.as_uuid()),
        Subject::PlatformUser(u) => ("platform_user", u.as_uuid()),
        Subject::ApiKey { key, .. } => ("api_key", key.as_uuid()),
    };
    let scope = p.tenant.map_or(keyplane_domain::scope::Scope::Platform, keyplane_domain::scope::Scope::Tenant);
    let session = match p.session {
        Some(sid) => state.tokens.session(scope, sid).await?,
        None => None,
    };
    Ok(HttpResponse::Ok().json(AuthInfo {
        authenticated_via: via.to_owned(),
        subject_type: subject_type.to_owned(),
        subject_id,
        user_name: session.as_ref().map(|s| s.subject_name.clone()),
        tenant_id: p.tenant.map(|t| t.as_uuid()),
        roles: p.roles.to_strings(),
        session_id: p.session.map(|s| s.as_uuid()),
        session_expiration_time: session.map(|s| s.expires_at),
    }))
}

/// The signed-in user's own record.
#[utoipa::path(get, path = "/api/v1/user", tag = "authentication",
    responses(
        (status = 200, description = "The current user.", body = UserResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 404, description = "The credential is not a tenant user's (`user.not_found`).", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn current_user(auth: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let not_user = || ApiError::new(ErrorCode::UserNotFound, "The credential does not belong to a tenant user.");
    let id = match &auth.principal.subject {
        Subject::User(id) | Subject::ApiKey { owner: Some(id), .. } => *id,
        _ => return Err(not_user()),
    };
    let tenant = auth.principal.tenant.ok_or_else(not_user)?;
    let user = state.users.get_by_id(tenant, id).await.map_err(|_| not_user())?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
