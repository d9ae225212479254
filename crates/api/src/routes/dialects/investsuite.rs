//! InvestSuite's `/auth/login/` and `/auth/refresh-token/` under `/t/{tenant}/investsuite`:
//! an API key's id and secret (`access_key_id` + `secret_access_key`, or `password` as the
//! seed's curl example sends it), or a user's `username` + `password`, for
//! `{access_token, token_type, expires_in, refresh_token}` with `expires_in` a string of
//! seconds. Errors in Django REST framework's shapes: `{"detail"}` (401 adds
//! `"code":"token_not_valid"` for tokens) and `{field: ["…"]}` for 400. HTTPS is enforced
//! by `ssl_required` before any credential is looked at.

use super::{log_failure, tenant};
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

/// Mounts the routes (with and without the trailing slash).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for path in ["/t/{tenant}/investsuite/auth/login/", "/t/{tenant}/investsuite/auth/login"] {
        cfg.service(web::resource(path).post(login).default_service(web::to(method_not_allowed)));
    }
    for path in ["/t/{tenant}/investsuite/auth/refresh-token/", "/t/{tenant}/investsuite/auth/refresh-token"] {
        cfg.service(web::resource(path).post(refresh).default_service(web::to(method_not_allowed)));
    }
}

/// The InvestSuite routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(login, refresh),
    components(schemas(InvestSuiteLogin, InvestSuiteRefresh, InvestSuiteTokens, InvestSuiteError))
)]
pub struct InvestSuiteApi;

/// Sign-in with an access key (or a user's name and password).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct InvestSuiteLogin {
    /// The API key's public id.
    access_key_id: Option<String>,
    /// The API key's secret (`password` is accepted in its place).
    secret_access_key: Option<String>,
    /// A user name, with `password`.
    username: Option<String>,
    /// The user's password, or the key's secret with `access_key_id`.
    password: Option<String>,
}

/// A refresh.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct InvestSuiteRefresh {
    /// The current refresh token.
    refresh_token: String,
}

/// InvestSuite's token response.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvestSuiteTokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The access token's lifetime in seconds, as a string (as the seed shows it).
    #[schema(example = "300")]
    pub expires_in: String,
    /// The refresh token (a JWT), rotated on every use.
    pub refresh_token: String,
}

/// An error: `{"detail"}` (with `code` for token errors), or `{field: [messages]}` for 400.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvestSuiteError {
    /// What went wrong.
    pub detail: String,
}

fn detail(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"detail": message}))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    detail(StatusCode::METHOD_NOT_ALLOWED, &format!("Method \"{}\" not allowed.", req.method()))
}

fn field_error(field: &str, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ field: [message] }))
}

fn internal(cause: &dyn std::fmt::Display) -> HttpResponse {
    let id = log_failure(cause);
    detail(StatusCode::INTERNAL_SERVER_ERROR, &format!("A server error occurred (correlation id {id})."))
}

fn sign_in_failure(e: SignInError) -> HttpResponse {
    match e {
        SignInError::InvalidCredentials | SignInError::TenantSuspended => {
            detail(StatusCode::UNAUTHORIZED, "No active account found with the given credentials")
        }
        SignInError::NoCluster => detail(StatusCode::NOT_IMPLEMENTED, "No authentication cluster is configured."),
        SignInError::ClusterFailure(why) => {
            let id = log_failure(&why);
            detail(StatusCode::BAD_GATEWAY, &format!("The authentication cluster failed (correlation id {id})."))
        }
        SignInError::Busy { .. } => {
            let mut r = detail(StatusCode::TOO_MANY_REQUESTS, "Request was throttled. Expected available in 1 second.");
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            r
        }
        SignInError::Signing(e) => internal(&e),
        SignInError::Storage(e) => internal(&e),
    }
}

fn token_failure(e: TokenError) -> HttpResponse {
    match e {
        TokenError::Invalid(_) | TokenError::ReuseDetected => HttpResponse::Unauthorized()
            .json(json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})),
        TokenError::Signing(e) => internal(&e),
        TokenError::Storage(e) => internal(&e),
    }
}

fn respond(issued: Issued) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(InvestSuiteTokens {
        expires_in: (issued.claims.exp - issued.claims.iat).max(0).to_string(),
        access_token: issued.access_token,
        token_type: "Bearer",
        refresh_token: issued.refresh_token.unwrap_or_default(),
    })
}

async fn find(state: &AppState, raw: &str) -> Result<Tenant, HttpResponse> {
    match tenant(state, raw).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(detail(StatusCode::NOT_FOUND, "Not found.")),
        Err(e) => Err(internal(&e)),
    }
}

async fn json_body(req: &HttpRequest, payload: web::Payload) -> Result<serde_json::Map<String, Value>, HttpResponse> {
    let is_json = req.mime_type().ok().flatten().is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        return Err(detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Unsupported media type \"{ct}\" in request."),
        ));
    }
    let body = read_body(req, payload).await.map_err(|e| match e {
        BodyError::TooLarge => detail(StatusCode::PAYLOAD_TOO_LARGE, "The request body is too large."),
        BodyError::Unreadable => detail(StatusCode::BAD_REQUEST, "The request body could not be read."),
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(detail(StatusCode::BAD_REQUEST, "Invalid data. Expected a dictionary.")),
        Err(e) => Err(detail(
            StatusCode::BAD_REQUEST,
            &format!("JSON parse error - invalid JSON at line {} column {}", e.line(), e.column()),
        )),
    }
}

/// A required string field, DRF-style errors.
fn string_field(map: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, HttpResponse> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::Null) => Err(field_error(name, "This field may not be null.")),
        Some(Value::String(s)) if s.is_empty() => Err(field_error(name, "This field may not be blank.")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field_error(name, "Not a valid string.")),
    }
}

/// Sign in and get an access and a refresh token.
#[utoipa::path(post, path = "/t/{tenant}/investsuite/auth/login/", tag = "investsuite", request_body = InvestSuiteLogin,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Tokens.", body = InvestSuiteTokens),
        (status = 400, description = "A missing or malformed field: `{field: [message]}`."),
        (status = 401, description = "Wrong credentials.", body = InvestSuiteError),
        (status = 403, description = "Plain HTTP refused by `ssl_required`: `{\"detail\":\"HTTPS is required.\"}`.", body = InvestSuiteError),
        (status = 404, description = "Unknown tenant.", body = InvestSuiteError),
        (status = 415, description = "Not JSON.", body = InvestSuiteError),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let tenant = match find(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let body = match json_body(&req, payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let field = |name: &str| string_field(&body, name);
    let (key_id, secret, username, password) =
        match (field("access_key_id"), field("secret_access_key"), field("username"), field("password")) {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
            (Err(r), ..) | (_, Err(r), ..) | (_, _, Err(r), _) | (.., Err(r)) => return r,
        };
    if let Some(key_id) = key_id {
        let Some(secret) = secret.or(password) else {
            return field_error("secret_access_key", "This field is required.");
        };
        let Some(key) = PresentedKey::from_parts(&key_id, &secret) else {
            return sign_in_failure(SignInError::InvalidCredentials);
        };
        return match state.tokens.sign_in_key(&tenant, &key, true).await {
            Ok(issued) => respond(issued),
            Err(e) => sign_in_failure(e),
        };
    }
    let Some(username) = username else { return field_error("access_key_id", "This field is required.") };
    let Some(password) = password else { return field_error("password", "This field is required.") };
    match state.tokens.sign_in_user(&tenant, &username, &Password::presented(password)).await {
        Ok(issued) => respond(issued),
        Err(e) => sign_in_failure(e),
    }
}

/// Silently prolong the session: the same response as `/auth/login/`, with a rotated
/// refresh token.
#[utoipa::path(post, path = "/t/{tenant}/investsuite/auth/refresh-token/", tag = "investsuite", request_body = InvestSuiteRefresh,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Tokens.", body = InvestSuiteTokens),
        (status = 400, description = "`{\"refresh_token\": [\"This field is required.\"]}`."),
        (status = 401, description = "`{\"detail\":\"Token is invalid or expired\",\"code\":\"token_not_valid\"}`."),
        (status = 403, description = "Plain HTTP refused by `ssl_required`.", body = InvestSuiteError),
        (status = 404, description = "Unknown tenant.", body = InvestSuiteError),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let tenant = match find(&state, &path).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let body = match json_body(&req, payload).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let token = match string_field(&body, "refresh_token") {
        Ok(Some(t)) => t,
        Ok(None) => return field_error("refresh_token", "This field is required."),
        Err(r) => return r,
    };
    match state.tokens.refresh(&token, Some(Scope::Tenant(tenant.id))).await {
        Ok(issued) => respond(issued),
        Err(e) => token_failure(e),
    }
}
