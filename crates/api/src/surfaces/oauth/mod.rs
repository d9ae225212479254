//! OAuth 2.0 for one tenant at `/t/{tenant}/oauth2/`: the token endpoint (RFC 6749:
//! `password`, `client_credentials`, `refresh_token`), introspection (RFC 7662) and
//! revocation (RFC 7009). Errors take RFC 6749's shape, `{error, error_description}`.
//! Clients authenticate with a tenant API key: HTTP Basic with the key id as `client_id`
//! and its secret as `client_secret`, the same two as form fields, or `X-API-Key`.

mod client;
mod error;

pub use error::{OAuthError, OAuthErrorBody};

use crate::audit::Origin;
use crate::failure::Failure;
use crate::ratelimit::Class;
use crate::state::AppState;
use crate::surfaces::declaration::{Shape, Surface, TenantSource};
use crate::surfaces::route::{Api, Route};
use crate::surfaces::tenant;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use client::{authenticate_client, client_key, form, read_params, require};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::password::Password;
use keyplane_domain::services::tokens::{Credentials, Issued, Realm, Renewal, SignInRequest};
use keyplane_domain::token::ACCESS;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// The OAuth 2.0 surface's declaration: its tenant is the path's, every route draws on
/// the `credentials` budget.
pub fn surface() -> Surface {
    Surface {
        name: "oauth",
        prefix: Some("/t/{tenant}/oauth2"),
        shape: Shape::of::<OAuthError>("OAuthErrorBody"),
        tenant: TenantSource::Path,
        limit: Some(Class::Credentials),
        entry_point: EntryPoint::OAuth2,
        apis: vec![api()],
    }
}

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: OAuthApi::openapi(),
        routes: vec![
            Route::new("/t/{tenant}/oauth2/token", |r| r.post(token)),
            Route::new("/t/{tenant}/oauth2/introspect", |r| r.post(introspect)),
            Route::new("/t/{tenant}/oauth2/revoke", |r| r.post(revoke)),
        ],
    }
}

/// The OAuth routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(token, introspect, revoke),
    components(schemas(TokenForm, TokenResponse, IntrospectionResponse, TokenParam, OAuthErrorBody))
)]
pub struct OAuthApi;

/// The token endpoint's form parameters. `Debug` hides the secrets.
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// `password`, `client_credentials` or `refresh_token`.
    pub grant_type: Option<String>,
    /// For `password`.
    pub username: Option<String>,
    /// For `password`.
    pub password: Option<String>,
    /// For `refresh_token`.
    pub refresh_token: Option<String>,
    /// The API key id, when not sent with HTTP Basic.
    pub client_id: Option<String>,
    /// The API key secret, when not sent with HTTP Basic.
    pub client_secret: Option<String>,
    /// Accepted and ignored (Keyplane grants the subject's roles).
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("username", &self.username)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The `token` parameter of introspection and revocation.
#[derive(Deserialize, ToSchema)]
pub struct TokenParam {
    /// The token.
    pub token: Option<String>,
    /// `access_token` or `refresh_token` (a hint only).
    pub token_type_hint: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Serialize, ToSchema)]
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
    /// The subject's roles now (not necessarily those the token was issued with),
    /// space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user name now (or the key id).
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
    /// The subject's roles now.
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

fn token_response(issued: Issued) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            expires_in: issued.expires_in(),
            access_token: issued.access_token,
            token_type: "Bearer",
            refresh_token: issued.refresh_token,
            scope: issued.claims.roles.join(" "),
        })
}

/// Get tokens (RFC 6749 §4.3, §4.4, §6).
///
/// Form parameters: `grant_type` = `password` (with `username`, `password`; client
/// authentication required, and the tenant's `password_grant` switch on),
/// `client_credentials` (client authentication required: the API key), or
/// `refresh_token` (with `refresh_token`; rotated on every use).
#[utoipa::path(post, path = "/t/{tenant}/oauth2/token", operation_id = "oauth2_token", tag = "oauth2",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens.", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unsupported_grant_type`, or `unauthorized_client` (the password grant is turned off for the tenant).", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`: no client authentication (required for the password and client-credentials grants), or a bad key.", body = OAuthErrorBody),
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
    let tenant = tenant::in_path::<OAuthError>(&state, &path).await?;
    let origin = Origin::of(&req).0;
    let params = read_params(&req, payload).await?;
    let client = client_key(&req, &params)?;
    let form: TokenForm = form(&params)?;
    let grant = require(&form.grant_type, "grant_type")?;
    let password_grant = |user_name: &str, password: &str| SignInRequest {
        realm: Realm::Tenant(&tenant),
        credentials: Credentials::Password {
            user_name: user_name.to_owned(),
            password: Password::presented(password.to_owned()),
        },
        origin: &origin,
        with_refresh: true,
    };
    let issued = match grant {
        "password" => {
            // RFC 6749 §4.3.2: a client with credentials authenticates; every client of
            // Keyplane has them (the tenant's API key).
            let key = client.ok_or_else(OAuthError::invalid_client)?;
            // The client is the tenant's application, not a user's own key.
            if authenticate_client(&state, &tenant, key, &origin).await?.key_owner.is_some() {
                return Err(OAuthError::invalid_client());
            }
            if !tenant.policy.password_grant {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "The password grant is turned off for this tenant.",
                ));
            }
            let request = password_grant(require(&form.username, "username")?, require(&form.password, "password")?);
            state.tokens.sign_in(request).await?
        }
        "client_credentials" => {
            // The client is the subject: a bad key is a bad client, not a bad grant.
            let key = client.ok_or_else(OAuthError::invalid_client)?;
            let credentials = Credentials::ApiKey(key);
            let request =
                SignInRequest { realm: Realm::Tenant(&tenant), credentials, origin: &origin, with_refresh: false };
            state.tokens.sign_in(request).await.map_err(|e| match Failure::from(e) {
                Failure::BadCredentials | Failure::TenantSuspended => OAuthError::invalid_client(),
                other => other.into(),
            })?
        }
        "refresh_token" => {
            if let Some(key) = client {
                authenticate_client(&state, &tenant, key, &origin).await?;
            }
            let refresh = require(&form.refresh_token, "refresh_token")?;
            state
                .tokens
                .renew(Renewal { origin: Some(&origin), ..Renewal::refresh(refresh, Some(tenant.id)) })
                .await?
                .issued
        }
        other => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Grant type '{}' is not supported.", other.escape_debug()),
            ))
        }
    };
    Ok(token_response(issued))
}

/// Introspect a token (RFC 7662). The caller authenticates with an API key of the tenant.
#[utoipa::path(post, path = "/t/{tenant}/oauth2/introspect", operation_id = "oauth2_introspect", tag = "oauth2",
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
    let tenant = tenant::in_path::<OAuthError>(&state, &path).await?;
    let origin = Origin::of(&req).0;
    let params = read_params(&req, payload).await?;
    let key = client_key(&req, &params)?.ok_or_else(OAuthError::invalid_client)?;
    // A resource server asks with the tenant's application key; a user's own key would
    // let one user read another's sessions.
    if authenticate_client(&state, &tenant, key, &origin).await?.key_owner.is_some() {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Introspection needs an application key of the tenant, not a user's own key.",
        ));
    }
    let param: TokenParam = form(&params)?;
    let token = require(&param.token, "token")?;
    let answer = match state.tokens.introspect(&tenant, token).await? {
        // The subject as it stands now: roles granted or withdrawn since the token was
        // issued show at once, as a resource server asking expects.
        Some((claims, _session, standing)) => IntrospectionResponse {
            active: true,
            scope: Some(standing.roles.to_strings().join(" ")),
            username: Some(standing.name),
            token_type: Some(if claims.token_use == ACCESS { "Bearer" } else { "refresh_token" }.to_owned()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            sub: Some(claims.sub),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            jti: Some(claims.jti),
            tid: claims.tid,
            sid: Some(claims.sid),
            roles: Some(standing.roles.to_strings()),
            token_use: Some(claims.token_use),
        },
        None => IntrospectionResponse::inactive(),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer))
}

/// Revoke a token (RFC 7009).
///
/// The session behind it ends. Answers 200 for unknown or invalid tokens too, as the
/// RFC requires.
#[utoipa::path(post, path = "/t/{tenant}/oauth2/revoke", operation_id = "oauth2_revoke", tag = "oauth2",
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
    let tenant = tenant::in_path::<OAuthError>(&state, &path).await?;
    let origin = Origin::of(&req).0;
    let params = read_params(&req, payload).await?;
    if let Some(key) = client_key(&req, &params)? {
        authenticate_client(&state, &tenant, key, &origin).await?;
    }
    let param: TokenParam = form(&params)?;
    let token = require(&param.token, "token")?;
    state.tokens.revoke(&tenant, token, &origin).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}
