//! InvestSuite's `/auth/login/` and `/auth/refresh-token/` under `/t/{tenant}/investsuite`:
//! an API key's id and secret (`access_key_id` + `secret_access_key`, or `password` as the
//! seed's curl example sends it), or a user's `username` + `password`, for
//! `{access_token, token_type, expires_in, refresh_token}` with `expires_in` a string of
//! seconds. Errors in Django REST framework's shapes: `{"detail"}` (401 adds
//! `"code":"token_not_valid"` for tokens) and `{field: ["…"]}` for 400. HTTPS is enforced
//! by `ssl_required` before any credential is looked at.

mod error;

pub use error::{InvestSuiteError, InvestSuiteErrorBody};

use crate::audit::Origin;
use crate::failure::Failure;
use crate::ratelimit::Class;
use crate::state::AppState;
use crate::surfaces::declaration::{Shape, Surface, TenantSource};
use crate::surfaces::route::{Api, Route};
use crate::surfaces::tenant;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use error::{field_error, json_body};
use keyplane_domain::api_key::PresentedKey;
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::password::Password;
use keyplane_domain::services::tokens::{Credentials, Issued, Realm, Renewal, SignInRequest};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// The InvestSuite surface's declaration: its tenant is the path's, every route draws on
/// the `credentials` budget.
pub fn surface() -> Surface {
    Surface {
        name: "investsuite",
        prefix: Some("/t/{tenant}/investsuite"),
        shape: Shape::of::<InvestSuiteError>("InvestSuiteError"),
        tenant: TenantSource::Path,
        limit: Some(Class::Credentials),
        entry_point: EntryPoint::InvestSuite,
        apis: vec![api()],
    }
}

/// The routes and their part of the OpenAPI document, registered together. Both paths
/// also answer without the trailing slash (documented once, with it).
pub fn api() -> Api {
    let mut routes = Vec::new();
    for path in ["/t/{tenant}/investsuite/auth/login/", "/t/{tenant}/investsuite/auth/login"] {
        routes.push(Route::new(path, |r| r.post(login)));
    }
    for path in ["/t/{tenant}/investsuite/auth/refresh-token/", "/t/{tenant}/investsuite/auth/refresh-token"] {
        routes.push(Route::new(path, |r| r.post(refresh)));
    }
    Api { doc: InvestSuiteApi::openapi(), routes }
}

/// The InvestSuite routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(login, refresh),
    components(schemas(InvestSuiteLogin, InvestSuiteRefresh, InvestSuiteTokens, InvestSuiteErrorBody))
)]
pub struct InvestSuiteApi;

/// Sign-in with an access key (or a user's name and password). `Debug` hides secrets.
#[derive(Default, Deserialize, ToSchema)]
pub struct InvestSuiteLogin {
    /// The API key's public id (`access_key_id` of the key creation response).
    #[schema(min_length = 1)]
    pub access_key_id: Option<String>,
    /// The API key's secret (`password` is accepted in its place, as the seed's curl
    /// example sends it).
    #[schema(format = Password, min_length = 1)]
    pub secret_access_key: Option<String>,
    /// A user name, with `password`.
    #[schema(min_length = 1)]
    pub username: Option<String>,
    /// The user's password, or the key's secret with `access_key_id`.
    #[schema(format = Password, min_length = 1)]
    pub password: Option<String>,
}

impl std::fmt::Debug for InvestSuiteLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvestSuiteLogin")
            .field("access_key_id", &self.access_key_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A refresh.
#[derive(Default, Deserialize, ToSchema)]
pub struct InvestSuiteRefresh {
    /// The current refresh token (required; DRF answers its absence with
    /// `{"refresh_token": ["This field is required."]}`).
    #[schema(value_type = String, required = true, min_length = 1)]
    pub refresh_token: Option<String>,
}

/// InvestSuite's token response.
#[derive(Serialize, ToSchema)]
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

fn respond(issued: Issued) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(InvestSuiteTokens {
        expires_in: issued.expires_in().to_string(),
        access_token: issued.access_token,
        token_type: "Bearer",
        refresh_token: issued.refresh_token.unwrap_or_default(),
    })
}

/// A present string must not be blank, as Django REST framework checks.
fn not_blank(value: Option<String>, field: &str) -> Result<Option<String>, InvestSuiteError> {
    match value {
        Some(v) if v.is_empty() => Err(field_error(field, "This field may not be blank.")),
        other => Ok(other),
    }
}

/// Sign in and get an access and a refresh token.
#[utoipa::path(post, path = "/t/{tenant}/investsuite/auth/login/", operation_id = "investsuite_login", tag = "investsuite", request_body = InvestSuiteLogin,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Tokens.", body = InvestSuiteTokens),
        (status = 400, description = "A missing or malformed field: `{field: [message]}`."),
        (status = 401, description = "Wrong credentials.", body = InvestSuiteErrorBody),
        (status = 403, description = "Plain HTTP refused by `ssl_required`: `{\"detail\":\"HTTPS is required.\"}`.", body = InvestSuiteErrorBody),
        (status = 404, description = "Unknown tenant.", body = InvestSuiteErrorBody),
        (status = 415, description = "Not JSON.", body = InvestSuiteErrorBody),
        (status = 429, description = "Password checks are saturated (`Retry-After`).", body = InvestSuiteErrorBody),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, InvestSuiteError> {
    let tenant = tenant::in_path::<InvestSuiteError>(&state, &path).await?;
    let body: InvestSuiteLogin = json_body(&req, payload).await?;
    let key_id = not_blank(body.access_key_id, "access_key_id")?;
    let secret = not_blank(body.secret_access_key, "secret_access_key")?;
    let username = not_blank(body.username, "username")?;
    let password = not_blank(body.password, "password")?;
    let credentials = match (key_id, username) {
        (Some(key_id), _) => {
            let secret =
                secret.or(password).ok_or_else(|| field_error("secret_access_key", "This field is required."))?;
            // A malformed pair is simply a wrong key: the same answer.
            let key = PresentedKey::from_parts(&key_id, &secret).ok_or(Failure::BadCredentials)?;
            Credentials::ApiKey(key)
        }
        (None, Some(user_name)) => {
            let password = password.ok_or_else(|| field_error("password", "This field is required."))?;
            Credentials::Password { user_name, password: Password::presented(password) }
        }
        (None, None) => return Err(field_error("access_key_id", "This field is required.")),
    };
    let request =
        SignInRequest { realm: Realm::Tenant(&tenant), credentials, origin: &Origin::of(&req).0, with_refresh: true };
    Ok(respond(state.tokens.sign_in(request).await?))
}

/// Silently prolong the session with a refresh token.
///
/// The same response as `/auth/login/`, with a rotated refresh token.
#[utoipa::path(post, path = "/t/{tenant}/investsuite/auth/refresh-token/", operation_id = "investsuite_refresh_token", tag = "investsuite", request_body = InvestSuiteRefresh,
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses(
        (status = 200, description = "Tokens.", body = InvestSuiteTokens),
        (status = 400, description = "`{\"refresh_token\": [\"This field is required.\"]}`."),
        (status = 401, description = "`{\"detail\":\"Token is invalid or expired\",\"code\":\"token_not_valid\"}`."),
        (status = 403, description = "Plain HTTP refused by `ssl_required`.", body = InvestSuiteErrorBody),
        (status = 404, description = "Unknown tenant.", body = InvestSuiteErrorBody),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, InvestSuiteError> {
    let tenant = tenant::in_path::<InvestSuiteError>(&state, &path).await?;
    let body: InvestSuiteRefresh = json_body(&req, payload).await?;
    let token = not_blank(body.refresh_token, "refresh_token")?
        .ok_or_else(|| field_error("refresh_token", "This field is required."))?;
    let origin = Origin::of(&req).0;
    let renewed =
        state.tokens.renew(Renewal { origin: Some(&origin), ..Renewal::refresh(&token, Some(tenant.id)) }).await?;
    Ok(respond(renewed.issued))
}
