//! Authentication extractors. `Authenticated<R>` verifies the request's credential and
//! requires `R` of it, so a handler's signature shows what it needs. Accepted
//! credentials: `Authorization: Bearer <access token>`, `X-API-Key: <key>`,
//! `Authorization: ApiKey <key>` (ECE), `Authorization: Key <key>` (Sensu), and (for
//! platform operators) `Authorization: Basic`.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use keyplane_domain::api_key::PresentedKey;
use keyplane_domain::password::{HashError, Password};
use keyplane_domain::principal::Principal;
use keyplane_domain::services::authn::AuthnError;
use keyplane_domain::services::tenants::{Access, TenantAccessError};
use keyplane_domain::services::tokens::TokenError;
use keyplane_domain::services::users::FindUserError;
use keyplane_domain::tenant::{Tenant, TenantRef};
use std::marker::PhantomData;

/// Header naming the tenant a platform operator acts on in `/api/v1/users…`.
pub const TENANT_HEADER: &str = "X-Keyplane-Tenant";

/// A requirement on the caller, checked before the handler runs.
pub trait Requirement {
    /// Whether `principal` meets it.
    fn allows(principal: &Principal) -> bool;
}

/// Any valid credential.
pub struct AnyCredential;
impl Requirement for AnyCredential {
    fn allows(_: &Principal) -> bool {
        true
    }
}

/// `platform_admin`.
pub struct PlatformAdmin;
impl Requirement for PlatformAdmin {
    fn allows(p: &Principal) -> bool {
        p.is_platform_admin()
    }
}

/// `platform_admin` or `platform_viewer`.
pub struct PlatformReader;
impl Requirement for PlatformReader {
    fn allows(p: &Principal) -> bool {
        p.is_platform_reader()
    }
}

/// A verified caller meeting `R`.
pub struct Authenticated<R: Requirement = AnyCredential> {
    /// The caller.
    pub principal: Principal,
    _requirement: PhantomData<R>,
}

impl<R: Requirement + 'static> FromRequest for Authenticated<R> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credential = Credential::from_request(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&std::io::Error::other("application state missing")))?;
            let principal = authenticate(&state, credential?).await?;
            if !R::allows(&principal) {
                return Err(ApiError::forbidden());
            }
            Ok(Self { principal, _requirement: PhantomData })
        })
    }
}

/// A credential as found in the request headers.
pub enum Credential {
    /// An access token.
    Bearer(String),
    /// An API key.
    Key(PresentedKey),
    /// A platform operator's name and password.
    Basic(String, Password),
}

impl Credential {
    /// Reads the credential from the headers.
    ///
    /// # Errors
    /// `root.unauthorized` when none is present or it is malformed.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let invalid = || ApiError::unauthorized("The credential is invalid, expired or revoked.");
        if let Some(value) = req.headers().get("x-api-key") {
            let key = value.to_str().ok().and_then(|v| PresentedKey::parse(v.trim())).ok_or_else(invalid)?;
            return Ok(Self::Key(key));
        }
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "Authentication is required: send an API key (X-API-Key) or Basic credentials.",
            ));
        };
        let value = value.to_str().map_err(|_| invalid())?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or_else(invalid)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Ok(Self::Bearer(rest.to_owned()));
        }
        // `ApiKey` is ECE's form, `Key` Sensu's.
        if scheme.eq_ignore_ascii_case("apikey") || scheme.eq_ignore_ascii_case("key") {
            return PresentedKey::parse(rest).map(Self::Key).ok_or_else(invalid);
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
            let (name, password) = decoded.split_once(':').ok_or_else(invalid)?;
            return Ok(Self::Basic(name.to_owned(), Password::presented(password.to_owned())));
        }
        Err(ApiError::unauthorized(format!("Unsupported authorization scheme '{scheme}'.")))
    }
}

/// Verifies a credential.
///
/// # Errors
/// `root.unauthorized`, `root.rate_limited` (busy hashing pool) or an internal error.
pub async fn authenticate(state: &AppState, credential: Credential) -> Result<Principal, ApiError> {
    let result = match credential {
        Credential::Bearer(token) => {
            return match state.tokens.authenticate(&token, false).await {
                Ok(context) => Ok(context.principal()),
                Err(e) => Err(token_error(e)),
            };
        }
        Credential::Key(key) => state.authn.authenticate_key(&key).await,
        Credential::Basic(name, password) => state.authn.authenticate_platform(&name, &password).await,
    };
    result.map_err(|e| match e {
        AuthnError::InvalidCredentials => ApiError::unauthorized("The credential is invalid, expired or revoked."),
        AuthnError::TenantSuspended => ApiError::unauthorized("The credential's tenant is suspended."),
        AuthnError::Hash(h) => hash_error(h),
        AuthnError::Storage(s) => s.into(),
    })
}

/// Maps a token failure: `401 root.unauthorized`, or a 500 for backend failures.
pub fn token_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Invalid(_) => ApiError::unauthorized("The authentication token is invalid or expired."),
        TokenError::ReuseDetected => {
            ApiError::unauthorized("The refresh token was already used; the session has been revoked.")
        }
        TokenError::Signing(s) => ApiError::internal(&s),
        TokenError::Storage(s) => s.into(),
    }
}

/// Maps a hashing failure: a full pool is `429 root.rate_limited` with `Retry-After`.
pub fn hash_error(e: HashError) -> ApiError {
    match e {
        HashError::Busy { retry_after_secs } => {
            ApiError::new(ErrorCode::RateLimited, "Too many password checks are in progress; retry shortly.")
                .with_retry_after(retry_after_secs)
        }
        HashError::Failed(_) => ApiError::internal(&e),
    }
}

/// Resolves the tenant named in a path for the caller, checking `access`.
///
/// # Errors
/// `tenants.not_found` (also for another tenant's credential), `root.unauthorized.rbac`.
pub async fn tenant_for(
    state: &AppState,
    principal: &Principal,
    raw: &str,
    access: Access,
) -> Result<Tenant, ApiError> {
    let not_found = || ApiError::new(ErrorCode::TenantNotFound, format!("Tenant '{raw}' was not found."));
    let tenant_ref = TenantRef::parse(raw).ok_or_else(not_found)?;
    state.tenants.resolve_for(principal, &tenant_ref, access).await.map_err(|e| match e {
        TenantAccessError::NotFound => not_found(),
        TenantAccessError::Forbidden => ApiError::forbidden(),
        TenantAccessError::Storage(s) => s.into(),
    })
}

/// The tenant a `/api/v1/users…` request acts on: the credential's own, or for a platform
/// operator the one named by the `X-Keyplane-Tenant` header (slug or id).
///
/// # Errors
/// `root.invalid_data` when an operator names no tenant; otherwise as [`tenant_for`].
pub async fn acting_tenant(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    access: Access,
) -> Result<Tenant, ApiError> {
    match principal.tenant {
        Some(own) => tenant_for(state, principal, &own.to_string(), access).await,
        None => {
            let named =
                req.headers().get(TENANT_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
            let named = named.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidData,
                    format!("A platform credential must name the tenant in the {TENANT_HEADER} header."),
                )
                .with_fields([TENANT_HEADER])
            })?;
            tenant_for(state, principal, named, access).await
        }
    }
}

/// The tenant a request acts on (as [`acting_tenant`]) and a user of it named by name or
/// id, for the admin routes under `/api/v1/users/{user}/…`.
///
/// # Errors
/// As [`acting_tenant`], and `user.not_found`.
pub async fn acting_user(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    user: &str,
    access: Access,
) -> Result<(Tenant, keyplane_domain::user::User), ApiError> {
    let tenant = acting_tenant(state, req, principal, access).await?;
    let found = state.users.get(tenant.id, user).await.map_err(|e| match e {
        FindUserError::NotFound => ApiError::new(ErrorCode::UserNotFound, format!("User '{user}' was not found.")),
        FindUserError::Storage(s) => s.into(),
    })?;
    Ok((tenant, found))
}
