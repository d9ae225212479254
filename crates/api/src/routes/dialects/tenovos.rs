//! Tenovos' `/auth/token` under `/t/{tenant}/tenovos`: `X-API-Key` of the tenant required
//! (403 `{"message":"Forbidden"}` otherwise), `{username, password}` signs in,
//! `{session:{accessToken, refreshToken}}` refreshes, `DELETE` signs out. Errors 400 and
//! 401 as `{"status":"error","message"}`, with Cognito-style messages.

use super::{log_failure, tenant};
use crate::auth::authenticate;
use crate::extract::{read_body, BodyError};
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use keyplane_domain::api_key::PresentedKey;
use keyplane_domain::password::Password;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::tokens::{Issued, SignInError, TokenError};
use keyplane_domain::tenant::Tenant;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::{OpenApi, ToSchema};

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/t/{tenant}/tenovos/auth/token")
            .post(token)
            .delete(sign_out)
            .default_service(web::to(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed") })),
    );
}

/// The Tenovos routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(token, sign_out),
    components(schemas(TenovosRequest, TenovosSessionIn, TenovosResponse, TenovosSession, TenovosError))
)]
pub struct TenovosApi;

/// A new-token request (`username`, `password`) or a refresh (`session`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TenovosRequest {
    /// Use in a new token request.
    username: Option<String>,
    /// Use in a new token request.
    password: Option<String>,
    /// Use this to refresh the token.
    session: Option<TenovosSessionIn>,
}

/// The previous response's session, to refresh.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TenovosSessionIn {
    /// The access token.
    #[schema(rename = "accessToken")]
    access_token: Option<String>,
    /// The refresh token.
    #[schema(rename = "refreshToken")]
    refresh_token: String,
}

/// Tenovos' session object.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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

/// A Tenovos error (400 and 401).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenovosError {
    /// Always `error`.
    pub status: String,
    /// What went wrong.
    pub message: String,
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"status": "error", "message": message}))
}

fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden().json(json!({"message": "Forbidden"}))
}

fn internal(cause: &dyn std::fmt::Display) -> HttpResponse {
    let id = log_failure(cause);
    error(StatusCode::INTERNAL_SERVER_ERROR, &format!("Internal error (correlation id {id})"))
}

fn sign_in_failure(e: SignInError) -> HttpResponse {
    match e {
        SignInError::InvalidCredentials => error(StatusCode::UNAUTHORIZED, "Incorrect username or password."),
        SignInError::TenantSuspended => error(StatusCode::UNAUTHORIZED, "The tenant is suspended."),
        SignInError::NoCluster => {
            error(StatusCode::NOT_IMPLEMENTED, "No authentication cluster is configured for this tenant.")
        }
        SignInError::ClusterFailure(why) => {
            let id = log_failure(&why);
            error(StatusCode::BAD_GATEWAY, &format!("The authentication cluster failed (correlation id {id})."))
        }
        SignInError::Busy { .. } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Too many requests; retry shortly.");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            r
        }
        SignInError::Signing(e) => internal(&e),
        SignInError::Storage(e) => internal(&e),
    }
}

fn token_failure(e: TokenError) -> HttpResponse {
    match e {
        TokenError::Invalid(_) | TokenError::ReuseDetected => error(StatusCode::UNAUTHORIZED, "Invalid Refresh Token"),
        TokenError::Signing(e) => internal(&e),
        TokenError::Storage(e) => internal(&e),
    }
}

/// The tenant in the path, and the `X-API-Key` that must belong to it.
async fn tenant_and_client(state: &AppState, req: &HttpRequest, raw: &str) -> Result<(Tenant, String), HttpResponse> {
    let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).and_then(|v| PresentedKey::parse(v.trim()));
    let Some(key) = key else { return Err(forbidden()) };
    let client_id = key.public_id.to_string();
    let tenant = match tenant(state, raw).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(forbidden()),
        Err(e) => return Err(internal(&e)),
    };
    match authenticate(state, crate::auth::Credential::Key(key)).await {
        Ok(p) if p.tenant == Some(tenant.id) => Ok((tenant, client_id)),
        _ => Err(forbidden()),
    }
}

async fn json_body(req: &HttpRequest, payload: web::Payload) -> Result<serde_json::Map<String, Value>, HttpResponse> {
    let is_json = req.mime_type().ok().flatten().is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        return Err(error(StatusCode::BAD_REQUEST, "Content-Type must be application/json"));
    }
    let body = read_body(req, payload).await.map_err(|e| match e {
        BodyError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large"),
        BodyError::Unreadable => error(StatusCode::BAD_REQUEST, "The request body could not be read"),
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(StatusCode::BAD_REQUEST, "The request body must be a JSON object")),
    }
}

/// A string field: absent or empty is "missing", another type is invalid.
fn string_field(map: &serde_json::Map<String, Value>, name: &str, label: &str) -> Result<String, HttpResponse> {
    match map.get(name) {
        None | Some(Value::Null) => Err(error(StatusCode::BAD_REQUEST, &format!("Missing required parameter {label}"))),
        Some(Value::String(s)) if s.is_empty() => {
            Err(error(StatusCode::BAD_REQUEST, &format!("Missing required parameter {label}")))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => {
            Err(error(StatusCode::BAD_REQUEST, &format!("Invalid type for parameter {label}: expected a string")))
        }
    }
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

/// Authorize a session: sign in with `{username, password}`, or refresh with the previous
/// response's `{session: {accessToken, refreshToken}}`.
#[utoipa::path(post, path = "/t/{tenant}/tenovos/auth/token", tag = "tenovos", request_body = TenovosRequest,
    params(("tenant" = String, Path, description = "Tenant slug"), ("X-API-Key" = String, Header, description = "An API key of the tenant")),
    responses(
        (status = 200, description = "The session.", body = TenovosResponse),
        (status = 400, description = "Missing or malformed parameters, or a body that is not JSON.", body = TenovosError),
        (status = 401, description = "Wrong credentials or an invalid refresh token.", body = TenovosError),
        (status = 403, description = "Missing, invalid or foreign X-API-Key: `{\"message\":\"Forbidden\"}`."),
    ),
    security(("api_key" = [])))]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (tenant, client_id) = match tenant_and_client(&state, &req, &path).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = match json_body(&req, payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(session) = body.get("session") {
        let Value::Object(session) = session else {
            return error(StatusCode::BAD_REQUEST, "Invalid type for parameter SESSION: expected an object");
        };
        let refresh = match string_field(session, "refreshToken", "REFRESH_TOKEN") {
            Ok(r) => r,
            Err(r) => return r,
        };
        // When the access token is sent along, it must belong to the same session.
        let sid = match session.get("accessToken").and_then(Value::as_str) {
            Some(access) => match state.tokens.access_claims(access).await {
                Ok((claims, scope)) if scope == Scope::Tenant(tenant.id) => Some(claims.sid),
                Ok(_) | Err(TokenError::Invalid(_)) => return error(StatusCode::UNAUTHORIZED, "Invalid Access Token"),
                Err(e) => return token_failure(e),
            },
            None => None,
        };
        let result = match sid {
            Some(sid) => state.tokens.refresh_in_session(&refresh, Scope::Tenant(tenant.id), sid).await,
            None => state.tokens.refresh(&refresh, Some(Scope::Tenant(tenant.id))).await,
        };
        return match result {
            Ok(issued) => respond(&state, &tenant, client_id, issued),
            Err(e) => token_failure(e),
        };
    }
    let username = match string_field(&body, "username", "USERNAME") {
        Ok(u) => u,
        Err(r) => return r,
    };
    let password = match string_field(&body, "password", "PASSWORD") {
        Ok(p) => Password::presented(p),
        Err(r) => return r,
    };
    match state.tokens.sign_in_user(&tenant, &username, &password).await {
        Ok(issued) => respond(&state, &tenant, client_id, issued),
        Err(e) => sign_in_failure(e),
    }
}

/// Sign out: the session of `{session: {accessToken | refreshToken}}` ends.
#[utoipa::path(delete, path = "/t/{tenant}/tenovos/auth/token", tag = "tenovos", request_body = TenovosRequest,
    params(("tenant" = String, Path, description = "Tenant slug"), ("X-API-Key" = String, Header, description = "An API key of the tenant")),
    responses(
        (status = 200, description = "Signed out: `{\"status\":\"success\",\"message\":\"Signed out\"}`."),
        (status = 400, description = "Missing session.", body = TenovosError),
        (status = 401, description = "The session's tokens are invalid.", body = TenovosError),
        (status = 403, description = "Missing, invalid or foreign X-API-Key."),
    ),
    security(("api_key" = [])))]
pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let (tenant, _) = match tenant_and_client(&state, &req, &path).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = match json_body(&req, payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(Value::Object(session)) = body.get("session") else {
        return error(StatusCode::BAD_REQUEST, "Missing required parameter SESSION");
    };
    let token = session.get("accessToken").or_else(|| session.get("refreshToken")).and_then(Value::as_str);
    let Some(token) = token else { return error(StatusCode::BAD_REQUEST, "Missing required parameter ACCESS_TOKEN") };
    match state.tokens.revoke_token(&tenant, token).await {
        Ok(true) => HttpResponse::Ok().json(json!({"status": "success", "message": "Signed out"})),
        Ok(false) => error(StatusCode::UNAUTHORIZED, "Invalid session"),
        Err(e) => token_failure(e),
    }
}
