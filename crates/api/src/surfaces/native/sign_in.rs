//! The native (ECE) sign-in API under `/api/v1/users/auth`, and `/api/v1/user`. The
//! tenant comes from the `X-API-Key` (or `Authorization: ApiKey`) of the tenant's
//! application; without one, the platform operators sign in.

use crate::audit::Origin;
use crate::authentication::{Authenticated, Presented};
use crate::dto::Empty;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::JsonBody;
use crate::ratelimit::Class;
use crate::state::AppState;
use crate::surfaces::native::users::UserResponse;
use crate::surfaces::route::{Api, Route};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::password::Password;
use keyplane_domain::principal::Subject;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::tokens::{Credentials, Issued, Realm, Renewal, SignInRequest};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: AuthApi::openapi(),
        routes: vec![
            Route::new("/api/v1/users/auth/_login", |r| r.post(login))
                .limited(Class::Credentials)
                .entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/auth/_refresh", |r| r.post(refresh))
                .limited(Class::Credentials)
                .entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/auth/_logout", |r| r.post(logout)).entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/auth/methods", |r| r.get(methods))
                .limited(Class::Credentials)
                .entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/auth", |r| r.get(current)).entered_as(EntryPoint::Native),
            Route::new("/api/v1/user", |r| r.get(current_user)).entered_as(EntryPoint::Native),
        ],
    }
}

/// The sign-in routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(login, refresh, logout, methods, current, current_user),
    components(schemas(LoginRequest, LoginResponse, RefreshResponse, AuthMethods, AuthInfo))
)]
pub struct AuthApi;

/// Credentials to sign in with. `Debug` hides the password.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The user name (compared without case).
    #[schema(example = "alice")]
    pub username: String,
    /// The password.
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// A new session's tokens.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer (access) token to use in subsequent requests: a JWT.
    pub token: String,
    /// The refresh token (a JWT, `token_use: "refresh"`), rotated on every use.
    pub refresh_token: String,
    /// When `token` expires.
    pub session_expiration_time: DateTime<Utc>,
}

/// A refreshed token.
#[derive(Serialize, ToSchema)]
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

fn no_store() -> (header::HeaderName, &'static str) {
    (header::CACHE_CONTROL, "no-store")
}

fn refresh_response(issued: Issued, rotated: bool) -> HttpResponse {
    HttpResponse::Ok().insert_header(no_store()).json(RefreshResponse {
        token: issued.access_token,
        session_expiration_time: issued.access_expires_at,
        refresh_token: if rotated { issued.refresh_token } else { None },
    })
}

/// Sign in with a user name and password.
///
/// With the tenant application's API key (`X-API-Key` or `Authorization: ApiKey`) a user
/// of that tenant signs in through its authentication cluster; without one, a platform
/// operator signs in.
#[utoipa::path(post, path = "/api/v1/users/auth/_login", operation_id = "login", tag = "authentication", request_body = LoginRequest,
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
    let origin = Origin::of(&req).0;
    let tenant = Presented::from_request(&req)?.key_tenant(&state, &origin).await?;
    let issued = state
        .tokens
        .sign_in(SignInRequest {
            realm: tenant.as_ref().map_or(Realm::Platform, Realm::Tenant),
            credentials: Credentials::Password {
                user_name: body.username,
                password: Password::presented(body.password),
            },
            origin: &origin,
            with_refresh: true,
        })
        .await?;
    Ok(HttpResponse::Ok().insert_header(no_store()).json(LoginResponse {
        token: issued.access_token,
        refresh_token: issued.refresh_token.unwrap_or_default(),
        session_expiration_time: issued.access_expires_at,
    }))
}

/// Issue a new authentication token.
///
/// With a valid access token as the bearer, a new access token for the same session.
/// With a refresh token as the bearer, the refresh token is rotated and its successor is
/// returned too (presenting a rotated refresh token again revokes the session, except
/// within the tenant's reuse grace, where it returns the same successor). With Basic
/// credentials (ECE's `--user name:password`), a new token for that user: a tenant user
/// beside the tenant application's API key, a platform operator without one. An API key
/// sent beside a bearer token must belong to the token's tenant.
#[utoipa::path(post, path = "/api/v1/users/auth/_refresh", operation_id = "refresh_token", tag = "authentication",
    params(("X-API-Key" = Option<String>, Header, description = "The tenant application's API key")),
    responses(
        (status = 200, description = "The token refreshed successfully and was returned in the body of the response.", body = RefreshResponse),
        (status = 401, description = "The authentication token is invalid or expired (`root.unauthorized`), or the Basic credentials are wrong (`root.unauthenticated`).", body = ErrorBody),
        (status = 429, description = "Password checks are saturated (`root.rate_limited`, `Retry-After`).", body = ErrorBody),
        (status = 501, description = "`authc.no_authentication_cluster`.", body = ErrorBody),
        (status = 502, description = "`authc.authentication_cluster_error`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []), ("api_key" = [], "bearer" = []), ("api_key" = [], "basic" = [])))]
pub async fn refresh(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let presented = Presented::from_request(&req)?;
    let origin = Origin::of(&req).0;
    let tenant = presented.key_tenant(&state, &origin).await?;
    if let Some((user_name, password)) = presented.basic {
        // ECE's own example: `--user name:password` issues a token for that user.
        let issued = state
            .tokens
            .sign_in(SignInRequest {
                realm: tenant.as_ref().map_or(Realm::Platform, Realm::Tenant),
                credentials: Credentials::Password { user_name, password },
                origin: &origin,
                with_refresh: false,
            })
            .await?;
        return Ok(refresh_response(issued, false));
    }
    let token = presented.bearer.ok_or_else(bearer_required)?;
    let renewal = Renewal {
        token: &token,
        tenant: tenant.map(|t| t.id),
        companion: None,
        accept_access: true,
        origin: Some(&origin),
    };
    let renewed = state.tokens.renew(renewal).await?;
    Ok(refresh_response(renewed.issued, renewed.rotated))
}

fn bearer_required() -> ApiError {
    ApiError::unauthorized("A bearer token (Authorization: Bearer <token>) or Basic credentials are required.")
}

/// Sign out: the bearer token's session ends.
///
/// Its refresh token stops working and its access tokens introspect as inactive. An API
/// key sent beside the bearer token must belong to the token's tenant.
#[utoipa::path(post, path = "/api/v1/users/auth/_logout", operation_id = "logout", tag = "authentication",
    params(("X-API-Key" = Option<String>, Header, description = "The tenant application's API key")),
    responses(
        (status = 200, description = "Signed out.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [], "bearer" = [])))]
pub async fn logout(
    auth: Authenticated,
    state: web::Data<AppState>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let sid = auth.principal.session.ok_or_else(|| {
        ApiError::unauthorized("Signing out needs the session's bearer token (Authorization: Bearer <token>).")
    })?;
    let scope = auth.principal.tenant.map_or(Scope::Platform, Scope::Tenant);
    state.tokens.end_session(scope, sid, &origin).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// The sign-in methods available to the caller's tenant.
///
/// The tenant named by the API key (or platform operators without one).
#[utoipa::path(get, path = "/api/v1/users/auth/methods", operation_id = "get_authentication_methods", tag = "authentication",
    params(("X-API-Key" = Option<String>, Header, description = "The tenant application's API key")),
    responses(
        (status = 200, description = "The available methods.", body = AuthMethods),
        (status = 401, description = "A bad API key (`root.unauthorized`).", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
pub async fn methods(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let password_enabled = match Presented::from_request(&req)?.key_tenant(&state, &Origin::of(&req).0).await? {
        Some(tenant) => tenant.cluster.is_some(),
        None => true,
    };
    Ok(HttpResponse::Ok().json(AuthMethods { password_enabled, sso_enabled: false }))
}

/// Who the credential identifies, and its session.
#[utoipa::path(get, path = "/api/v1/users/auth", operation_id = "get_authentication_info", tag = "authentication",
    responses(
        (status = 200, description = "The current caller.", body = AuthInfo),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn current(auth: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let via = auth.via.as_str();
    let p = auth.principal;
    let (subject_type, subject_id) = match &p.subject {
        Subject::User(u) => ("user", u.as_uuid()),
        Subject::PlatformUser(u) => ("platform_user", u.as_uuid()),
        Subject::ApiKey { key, .. } => ("api_key", key.as_uuid()),
    };
    let scope = p.tenant.map_or(Scope::Platform, Scope::Tenant);
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
#[utoipa::path(get, path = "/api/v1/user", operation_id = "get_current_user", tag = "authentication",
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
    let user = state.users.get_by_id(tenant, id).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}
