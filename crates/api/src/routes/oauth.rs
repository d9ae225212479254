//! OAuth 2.0 for one tenant at `/t/{tenant}/oauth2/`: the token endpoint (RFC 6749:
//! `password`, `client_credentials`, `refresh_token`), introspection (RFC 7662) and
//! revocation (RFC 7009). Errors take RFC 6749's shape, `{error, error_description}`.
//! Clients authenticate with a tenant API key: HTTP Basic with the key id as `client_id`
//! and its secret as `client_secret`, the same two as form fields, or `X-API-Key`.

use crate::auth::authenticate;
use crate::extract::{read_body, BodyError};
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use keyplane_domain::api_key::PresentedKey;
use keyplane_domain::password::Password;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::tokens::{Issued, SignInError, TokenError};
use keyplane_domain::tenant::{Tenant, TenantRef};
use keyplane_domain::token::ACCESS;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use utoipa::{OpenApi, ToSchema};

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/t/{tenant}/oauth2/token").post(token).default_service(web::to(method_not_allowed)))
        .service(
            web::resource("/t/{tenant}/oauth2/introspect")
                .post(introspect)
                .default_service(web::to(method_not_allowed)),
        )
        .service(web::resource("/t/{tenant}/oauth2/revoke").post(revoke).default_service(web::to(method_not_allowed)));
}

/// The OAuth routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(token, introspect, revoke),
    components(schemas(TokenForm, TokenResponse, IntrospectionResponse, TokenParam, OAuthErrorBody))
)]
pub struct OAuthApi;

/// An error in RFC 6749 form.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `server_error` or `temporarily_unavailable`.
    pub error: String,
    /// A human-readable explanation.
    pub error_description: String,
}

/// An OAuth error on its way to the client.
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    body: OAuthErrorBody,
}

impl OAuthError {
    fn new(status: StatusCode, error: &str, description: impl Into<String>) -> Self {
        Self { status, body: OAuthErrorBody { error: error.to_owned(), error_description: description.into() } }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.")
    }

    fn invalid_grant(description: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn server_error(cause: &dyn std::error::Error) -> Self {
        let correlation_id = uuid::Uuid::new_v4();
        tracing::error!(%correlation_id, error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("An internal error occurred (correlation id {correlation_id})."),
        )
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.body.error, self.body.error_description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"keyplane\""));
        }
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response.json(&self.body)
    }
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    OAuthError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        format!("Method {} is not allowed here.", req.method()),
    )
    .error_response()
}

/// The token endpoint's form parameters.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// `password`, `client_credentials` or `refresh_token`.
    grant_type: String,
    /// For `password`.
    username: Option<String>,
    /// For `password`.
    password: Option<String>,
    /// For `refresh_token`.
    refresh_token: Option<String>,
    /// The API key id, when not sent with HTTP Basic.
    client_id: Option<String>,
    /// The API key secret, when not sent with HTTP Basic.
    client_secret: Option<String>,
    /// Accepted and ignored (Keyplane grants the subject's roles).
    scope: Option<String>,
}

/// The `token` parameter of introspection and revocation.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenParam {
    /// The token.
    token: String,
    /// `access_token` or `refresh_token` (a hint only).
    token_type_hint: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token, except for `client_credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted roles, space-separated.
    pub scope: String,
}

/// An introspection answer (RFC 7662). Inactive tokens give `{"active": false}` only.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    /// Whether the token is valid now.
    pub active: bool,
    /// Granted roles, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user name (or key id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time (unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Tenant id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tid: Option<uuid::Uuid>,
    /// Session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<uuid::Uuid>,
    /// Roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// `access` or `refresh`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
}

impl IntrospectionResponse {
    fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            username: None,
            token_type: None,
            exp: None,
            iat: None,
            sub: None,
            aud: None,
            iss: None,
            jti: None,
            tid: None,
            sid: None,
            roles: None,
            token_use: None,
        }
    }
}

/// Reads an `application/x-www-form-urlencoded` body (JSON is accepted too), refusing
/// repeated parameters as RFC 6749 §3.2 requires.
async fn read_params(req: &HttpRequest, payload: web::Payload) -> Result<HashMap<String, String>, OAuthError> {
    let mime = req.mime_type().ok().flatten();
    let is_form = mime.as_ref().is_some_and(|m| m.type_() == "application" && m.subtype() == "x-www-form-urlencoded");
    let is_json = mime.as_ref().is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_form && !is_json {
        return Err(OAuthError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let body = read_body(req, payload).await.map_err(|e| match e {
        BodyError::TooLarge => {
            OAuthError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large.")
        }
        BodyError::Unreadable => OAuthError::invalid_request("The request body could not be read."),
    })?;
    let pairs: Vec<(String, String)> = if is_form {
        serde_urlencoded::from_bytes(&body).map_err(|_| OAuthError::invalid_request("The form body is malformed."))?
    } else {
        let map: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&body).map_err(|_| OAuthError::invalid_request("The JSON body is malformed."))?;
        map.into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                _ => Err(OAuthError::invalid_request(format!("Parameter '{k}' must be a string."))),
            })
            .collect::<Result<_, _>>()?
    };
    let mut params = HashMap::new();
    for (k, v) in pairs {
        if params.insert(k.clone(), v).is_some() {
            return Err(OAuthError::invalid_request(format!("Parameter '{k}' is repeated.")));
        }
    }
    Ok(params)
}

/// The API key the client authenticated with, if it sent one.
fn client_key(req: &HttpRequest, params: &HashMap<String, String>) -> Result<Option<PresentedKey>, OAuthError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| OAuthError::invalid_client())?.trim();
        if let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .map(|(_, v)| v)
            };
            let (id, secret) = (
                decode(id).ok_or_else(OAuthError::invalid_client)?,
                decode(secret).ok_or_else(OAuthError::invalid_client)?,
            );
            return PresentedKey::from_parts(&id, &secret).map(Some).ok_or_else(OAuthError::invalid_client);
        }
    }
    if let (Some(id), Some(secret)) = (params.get("client_id"), params.get("client_secret")) {
        return PresentedKey::from_parts(id, secret).map(Some).ok_or_else(OAuthError::invalid_client);
    }
    if let Some(value) = req.headers().get("x-api-key") {
        let key = value.to_str().ok().and_then(|v| PresentedKey::parse(v.trim()));
        return key.map(Some).ok_or_else(OAuthError::invalid_client);
    }
    Ok(None)
}

/// Verifies the client's key and that it belongs to `tenant`.
async fn authenticate_client(state: &AppState, tenant: &Tenant, key: PresentedKey) -> Result<(), OAuthError> {
    match authenticate(state, crate::auth::Credential::Key(key)).await {
        Ok(p) if p.tenant == Some(tenant.id) => Ok(()),
        _ => Err(OAuthError::invalid_client()),
    }
}

async fn find_tenant(state: &AppState, raw: &str) -> Result<Tenant, OAuthError> {
    let not_found =
        || OAuthError::new(StatusCode::NOT_FOUND, "invalid_request", format!("Tenant '{raw}' was not found."));
    let tenant_ref = TenantRef::parse(raw).ok_or_else(not_found)?;
    let tenant = state.tenants.find(&tenant_ref).await.map_err(|e| OAuthError::server_error(&e))?;
    tenant.ok_or_else(not_found)
}

fn require<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("Missing required parameter '{name}'.")))
}

fn sign_in_error(e: SignInError) -> OAuthError {
    match e {
        SignInError::InvalidCredentials => OAuthError::invalid_grant("The username or password is incorrect."),
        SignInError::TenantSuspended => OAuthError::invalid_grant("The tenant is suspended."),
        SignInError::NoCluster => OAuthError::new(
            StatusCode::NOT_IMPLEMENTED,
            "server_error",
            "The tenant has no authentication cluster (authc.no_authentication_cluster).",
        ),
        SignInError::ClusterFailure(why) => {
            tracing::error!(error = %why, "authentication cluster failure");
            OAuthError::new(
                StatusCode::BAD_GATEWAY,
                "temporarily_unavailable",
                "The authentication cluster failed to process the request (authc.authentication_cluster_error).",
            )
        }
        SignInError::Busy { .. } => OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            "Too many sign-ins are in progress; retry shortly.",
        ),
        SignInError::Signing(s) => OAuthError::server_error(&s),
        SignInError::Storage(s) => OAuthError::server_error(&s),
    }
}

fn token_error(e: TokenError) -> OAuthError {
    match e {
        TokenError::Invalid(_) => OAuthError::invalid_grant("The refresh token is invalid, expired or revoked."),
        TokenError::ReuseDetected => {
            OAuthError::invalid_grant("The refresh token was already used; the session has been revoked.")
        }
        TokenError::Signing(s) => OAuthError::server_error(&s),
        TokenError::Storage(s) => OAuthError::server_error(&s),
    }
}

fn token_response(issued: Issued) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            expires_in: (issued.claims.exp - issued.claims.iat).max(0),
            access_token: issued.access_token,
            token_type: "Bearer",
            refresh_token: issued.refresh_token,
            scope: issued.claims.roles.join(" "),
        })
}

/// Get tokens (RFC 6749 §4.3, §4.4, §6).
///
/// Form parameters: `grant_type` = `password` (with `username`, `password`),
/// `client_credentials` (client authentication required: the API key), or
/// `refresh_token` (with `refresh_token`; rotated on every use).
#[utoipa::path(post, path = "/t/{tenant}/oauth2/token", tag = "oauth2",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens.", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant` or `unsupported_grant_type`.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 404, description = "Unknown tenant (`invalid_request`).", body = OAuthErrorBody),
        (status = 415, description = "Not a form body (`invalid_request`).", body = OAuthErrorBody),
        (status = 429, description = "Password checks saturated (`temporarily_unavailable`).", body = OAuthErrorBody),
        (status = 501, description = "No authentication cluster (`server_error`).", body = OAuthErrorBody),
        (status = 502, description = "The authentication cluster failed (`temporarily_unavailable`).", body = OAuthErrorBody),
    ),
    security((), ("oauth_client" = [])))]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let tenant = find_tenant(&state, &path).await?;
    let params = read_params(&req, payload).await?;
    let client = client_key(&req, &params)?;
    let grant = require(&params, "grant_type")?;
    let issued = match grant {
        "password" => {
            if let Some(key) = client {
                authenticate_client(&state, &tenant, key).await?;
            }
            let username = require(&params, "username")?;
            let password = Password::presented(require(&params, "password")?.to_owned());
            state.tokens.sign_in_user(&tenant, username, &password).await.map_err(sign_in_error)?
        }
        "client_credentials" => {
            let key = client.ok_or_else(OAuthError::invalid_client)?;
            state.tokens.sign_in_key(&tenant, &key, false).await.map_err(|e| match e {
                SignInError::InvalidCredentials | SignInError::TenantSuspended => OAuthError::invalid_client(),
                other => sign_in_error(other),
            })?
        }
        "refresh_token" => {
            if let Some(key) = client {
                authenticate_client(&state, &tenant, key).await?;
            }
            let refresh = require(&params, "refresh_token")?;
            state.tokens.refresh(refresh, Some(Scope::Tenant(tenant.id))).await.map_err(token_error)?
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Grant type '{other}' is not supported."),
            ))
        }
    };
    Ok(token_response(issued))
}

/// Introspect a token (RFC 7662). The caller authenticates with an API key of the tenant.
#[utoipa::path(post, path = "/t/{tenant}/oauth2/introspect", tag = "oauth2",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token's state; `{\"active\": false}` for anything not valid now.", body = IntrospectionResponse),
        (status = 400, description = "`invalid_request`.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 404, description = "Unknown tenant.", body = OAuthErrorBody),
    ),
    security(("oauth_client" = []), ("api_key" = [])))]
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let tenant = find_tenant(&state, &path).await?;
    let params = read_params(&req, payload).await?;
    let key = client_key(&req, &params)?.ok_or_else(OAuthError::invalid_client)?;
    authenticate_client(&state, &tenant, key).await?;
    let token = require(&params, "token")?;
    let answer = match state.tokens.introspect(&tenant, token).await {
        Ok(Some((claims, _session))) => IntrospectionResponse {
            active: true,
            scope: Some(claims.roles.join(" ")),
            username: Some(claims.user_name.clone()),
            token_type: Some(if claims.token_use == ACCESS { "Bearer" } else { "refresh_token" }.to_owned()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
            tid: claims.tid,
            sid: Some(claims.sid),
            roles: Some(claims.roles),
            token_use: Some(claims.token_use),
        },
        Ok(None) => IntrospectionResponse::inactive(),
        Err(e) => return Err(token_error(e)),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer))
}

/// Revoke a token (RFC 7009): the session behind it ends. Answers 200 for unknown or
/// invalid tokens too, as the RFC requires.
#[utoipa::path(post, path = "/t/{tenant}/oauth2/revoke", tag = "oauth2",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body(content = TokenParam, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked (or nothing to revoke)."),
        (status = 400, description = "`invalid_request`.", body = OAuthErrorBody),
        (status = 401, description = "Client authentication sent and wrong (`invalid_client`).", body = OAuthErrorBody),
        (status = 404, description = "Unknown tenant.", body = OAuthErrorBody),
    ),
    security((), ("oauth_client" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let tenant = find_tenant(&state, &path).await?;
    let params = read_params(&req, payload).await?;
    if let Some(key) = client_key(&req, &params)? {
        authenticate_client(&state, &tenant, key).await?;
    }
    let token = require(&params, "token")?;
    state.tokens.revoke_token(&tenant, token).await.map_err(token_error)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}
