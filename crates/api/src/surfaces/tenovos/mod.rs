//! Tenovos' `/auth/token` under `/t/{tenant}/tenovos`: `X-API-Key` of the tenant required
//! (403 `{"message":"Forbidden"}` otherwise), `{username, password}` signs in,
//! `{session:{accessToken, refreshToken}}` refreshes, `DELETE` signs out. Errors 400 and
//! 401 as `{"status":"error","message"}`, with Cognito-style messages.

mod error;

use crate::audit::Origin;
use crate::authentication::{tenant_client, Presented};
use crate::extract::read_body;
use crate::failure::Failure;
use crate::ratelimit::Class;
use crate::state::AppState;
use crate::surfaces::declaration::{Shape, Surface, TenantSource};
use crate::surfaces::route::{Api, Route};
use crate::surfaces::tenant;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
pub use error::{TenovosError, TenovosErrorBody};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::password::Password;
use keyplane_domain::services::tokens::{Credentials, Issued, Realm, Renewal, SignInRequest, SignOut};
use keyplane_domain::tenant::Tenant;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

/// The Tenovos surface's declaration: its tenant is the path's, every route draws on
/// the `credentials` budget.
pub fn surface() -> Surface {
    Surface {
        name: "tenovos",
        prefix: Some("/t/{tenant}/tenovos"),
        shape: Shape::of::<TenovosError>("TenovosError"),
        tenant: TenantSource::Path,
        limit: Some(Class::Credentials),
        entry_point: EntryPoint::Tenovos,
        apis: vec![api()],
    }
}

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: TenovosApi::openapi(),
        routes: vec![Route::new("/t/{tenant}/tenovos/auth/token", |r| r.post(token).delete(sign_out))],
    }
}

/// The Tenovos routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(token, sign_out),
    components(schemas(TenovosRequest, TenovosSessionIn, TenovosResponse, TenovosSession, TenovosErrorBody))
)]
pub struct TenovosApi;

/// A new-token request (`username` and `password`, or the same as HTTP Basic
/// credentials), or a refresh (`session`). `Debug` hides the secrets.
#[derive(Default, Deserialize, ToSchema)]
pub struct TenovosRequest {
    /// Use in a new token request: the user name.
    pub username: Option<String>,
    /// Use in a new token request: the user's password.
    #[schema(format = Password)]
    pub password: Option<String>,
    /// Use this to refresh the token, or to sign out.
    pub session: Option<TenovosSessionIn>,
}

impl std::fmt::Debug for TenovosRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenovosRequest").field("username", &self.username).finish_non_exhaustive()
    }
}

/// The previous response's session.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenovosSessionIn {
    /// The access token; when sent with a refresh, it must be of the same session.
    pub access_token: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
}

/// Tenovos' session object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenovosSession {
    /// The token for the `Authorization` header (the access token).
    pub authorization: String,
    /// The access token (a JWT).
    pub access_token: String,
    /// The refresh token (a JWT), rotated on every refresh.
    pub refresh_token: String,
    /// When the access token expires, in unix milliseconds.
    pub expire_epoch: i64,
}

/// Tenovos' token response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenovosResponse {
    /// The tenant's API base URL.
    pub endpoint_url: String,
    /// The public id of the API key used.
    pub client_id: String,
    /// The tenant id.
    pub user_pool_id: String,
    /// The signed-in user name.
    pub username: String,
    /// Always empty: the password is never echoed.
    pub password: String,
    /// The tokens.
    pub session: TenovosSession,
}

/// The tenant in the path, and the public id of the `X-API-Key` that must belong to it.
async fn tenant_and_client(state: &AppState, req: &HttpRequest, raw: &str) -> Result<(Tenant, String), TenovosError> {
    let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
    let key =
        key.and_then(|v| keyplane_domain::api_key::PresentedKey::parse(v.trim())).ok_or(TenovosError::Forbidden)?;
    let client_id = key.public_id.to_string();
    let tenant = tenant::in_path::<TenovosError>(state, raw).await?;
    tenant_client(state, &tenant, key, &Origin::of(req).0).await?.ok_or(TenovosError::Forbidden)?;
    Ok((tenant, client_id))
}

/// Reads the JSON body (empty counts as `{}`, for Basic sign-ins), naming the offending
/// parameter as Tenovos does.
async fn json_body(req: &HttpRequest, payload: web::Payload) -> Result<TenovosRequest, TenovosError> {
    let is_json = req.mime_type().ok().flatten().is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        return Err(TenovosError::new(StatusCode::BAD_REQUEST, "Content-Type must be application/json"));
    }
    let body = read_body(req, payload).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(TenovosRequest::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let label = e.path().iter().next_back().map(|segment| label(&segment.to_string()));
        match label {
            Some(label) if e.inner().is_data() => {
                TenovosError::new(StatusCode::BAD_REQUEST, format!("Invalid type for parameter {label}"))
            }
            _ => TenovosError::new(StatusCode::BAD_REQUEST, "The request body must be a JSON object"),
        }
    })
}

/// `refreshToken` → `REFRESH_TOKEN`, as Tenovos names parameters in its messages.
fn label(field: &str) -> String {
    let mut out = String::new();
    for c in field.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A parameter that must be a non-empty string.
fn required(value: Option<String>, label: &str) -> Result<String, TenovosError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| TenovosError::missing(label))
}

fn respond(state: &AppState, tenant: &Tenant, client_id: String, issued: Issued) -> HttpResponse {
    let access = issued.access_token;
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(TenovosResponse {
        endpoint_url: state.tokens.issuer(tenant),
        client_id,
        user_pool_id: tenant.id.to_string(),
        username: issued.session.subject_name.clone(),
        password: String::new(),
        session: TenovosSession {
            authorization: access.clone(),
            access_token: access,
            refresh_token: issued.refresh_token.unwrap_or_default(),
            expire_epoch: issued.access_expires_at.timestamp_millis(),
        },
    })
}

/// Authorize a session: sign in, or refresh the session.
///
/// Sign in with `{username, password}` (or the same as HTTP Basic credentials, Tenovos'
/// BasicAuth scheme, with an empty body), or refresh with the previous response's
/// `{session: {accessToken, refreshToken}}`.
#[utoipa::path(post, path = "/t/{tenant}/tenovos/auth/token", operation_id = "tenovos_token", tag = "tenovos", request_body = TenovosRequest,
    params(("tenant" = String, Path, description = "Tenant slug"), ("X-API-Key" = String, Header, description = "An API key of the tenant")),
    responses(
        (status = 200, description = "The session.", body = TenovosResponse),
        (status = 400, description = "Missing or malformed parameters, or a body that is not JSON.", body = TenovosErrorBody),
        (status = 401, description = "Wrong credentials or an invalid refresh token.", body = TenovosErrorBody),
        (status = 403, description = "Missing, invalid or foreign X-API-Key: `{\"message\":\"Forbidden\"}`."),
        (status = 429, description = "Password checks are saturated (`Retry-After`).", body = TenovosErrorBody),
    ),
    security(("api_key" = []), ("api_key" = [], "basic" = [])))]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, TenovosError> {
    let (tenant, client_id) = tenant_and_client(&state, &req, &path).await?;
    let origin = Origin::of(&req).0;
    let body = json_body(&req, payload).await?;
    if let Some(session) = body.session {
        let refresh = required(session.refresh_token, "REFRESH_TOKEN")?;
        let companion = session.access_token.as_deref().filter(|t| !t.is_empty());
        let renewal = Renewal {
            token: &refresh,
            tenant: Some(tenant.id),
            companion,
            accept_access: false,
            origin: Some(&origin),
        };
        let renewed = state.tokens.renew(renewal).await?;
        return Ok(respond(&state, &tenant, client_id, renewed.issued));
    }
    let basic = Presented::from_request(&req).ok().and_then(|p| p.basic);
    let (user_name, password) = match (body.username, body.password, basic) {
        (None, None, Some(basic)) => basic,
        (username, password, _) => {
            (required(username, "USERNAME")?, Password::presented(required(password, "PASSWORD")?))
        }
    };
    let request = SignInRequest {
        realm: Realm::Tenant(&tenant),
        credentials: Credentials::Password { user_name, password },
        origin: &origin,
        with_refresh: true,
    };
    let issued = state.tokens.sign_in(request).await?;
    Ok(respond(&state, &tenant, client_id, issued))
}

/// Sign out: the session ends.
///
/// The session of `{session: {accessToken | refreshToken}}` ends. An expired access token
/// ends it only with the session's current refresh token beside it.
#[utoipa::path(delete, path = "/t/{tenant}/tenovos/auth/token", operation_id = "tenovos_logout", tag = "tenovos", request_body = TenovosRequest,
    params(("tenant" = String, Path, description = "Tenant slug"), ("X-API-Key" = String, Header, description = "An API key of the tenant")),
    responses(
        (status = 200, description = "Signed out: `{\"status\":\"success\",\"message\":\"Signed out\"}`."),
        (status = 400, description = "Missing session.", body = TenovosErrorBody),
        (status = 401, description = "The session's tokens are invalid.", body = TenovosErrorBody),
        (status = 403, description = "Missing, invalid or foreign X-API-Key."),
    ),
    security(("api_key" = [])))]
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, TenovosError> {
    let (tenant, _) = tenant_and_client(&state, &req, &path).await?;
    let session = json_body(&req, payload).await?.session.ok_or_else(|| TenovosError::missing("SESSION"))?;
    let access = session.access_token.filter(|t| !t.is_empty());
    let refresh = session.refresh_token.filter(|t| !t.is_empty());
    // The access token, with the refresh token beside it when both are sent (an expired
    // access token alone no longer ends a session).
    let (token, companion) = match (access, refresh) {
        (Some(access), refresh) => (access, refresh),
        (None, Some(refresh)) => (refresh, None),
        (None, None) => return Err(TenovosError::missing("ACCESS_TOKEN")),
    };
    let origin = Origin::of(&req).0;
    let request = SignOut { token: &token, tenant: Some(tenant.id), companion: companion.as_deref(), origin: &origin };
    match state.tokens.sign_out(request).await {
        Ok(_) => Ok(HttpResponse::Ok().json(json!({"status": "success", "message": "Signed out"}))),
        Err(e) => Err(match Failure::from(e) {
            Failure::BadToken => TenovosError::new(StatusCode::UNAUTHORIZED, "Invalid session"),
            other => other.into(),
        }),
    }
}
