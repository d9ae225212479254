//! Authentication extractors. `Authenticated<R>` verifies the request's credential and
//! requires `R` of it, so a handler's signature shows what it needs. Accepted
//! credentials: `Authorization: Bearer <access token>`, `X-API-Key: <key>`,
//! `Authorization: ApiKey <key>` (ECE), `Authorization: Key <key>` (Sensu), and (for
//! platform operators) `Authorization: Basic`.

use crate::audit::Origin;
use crate::error::{ApiError, ErrorCode};
use crate::failure::Failure;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use keyplane_domain::api_key::{KeyRealm, PresentedKey};
use keyplane_domain::origin::RequestContext;
use keyplane_domain::password::Password;
use keyplane_domain::principal::Principal;
use keyplane_domain::services::tenants::Access;
use keyplane_domain::services::tokens::{Credentials, Realm, SignInError};
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

/// How a request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A bearer access token.
    Bearer,
    /// An API key.
    ApiKey,
    /// HTTP Basic: a platform operator, or a tenant user beside the tenant's API key.
    Basic,
}

impl Via {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
        }
    }
}

/// A verified caller meeting `R`.
pub struct Authenticated<R: Requirement = AnyCredential> {
    /// The caller.
    pub principal: Principal,
    /// How it authenticated.
    pub via: Via,
    _requirement: PhantomData<R>,
}

impl<R: Requirement + 'static> FromRequest for Authenticated<R> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = Presented::from_request(req);
        let origin = Origin::of(req).0;
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(&std::io::Error::other("application state missing")))?;
            let (principal, via) = authenticate(&state, presented?, &origin).await?;
            if !R::allows(&principal) {
                return Err(ApiError::forbidden());
            }
            Ok(Self { principal, via, _requirement: PhantomData })
        })
    }
}

/// The credentials found in a request's headers: the application's API key
/// (`X-API-Key`, `Authorization: ApiKey` or `Key`), and a user's bearer token or Basic
/// name and password. `Debug` hides every secret.
#[derive(Default)]
pub struct Presented {
    /// `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// The API key.
    pub key: Option<PresentedKey>,
    /// `Authorization: Basic`.
    pub basic: Option<(String, Password)>,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("key", &self.key)
            .field("basic", &self.basic.as_ref().map(|(name, _)| name))
            .finish()
    }
}

fn invalid_credential() -> ApiError {
    ApiError::unauthorized("The credential is invalid, expired or revoked.")
}

impl Presented {
    /// Reads the credentials from the headers.
    ///
    /// # Errors
    /// `root.unauthorized` when a credential is malformed, two API keys are sent, or the
    /// scheme is unknown.
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let mut presented = Self::default();
        if let Some(value) = req.headers().get("x-api-key") {
            let key = value.to_str().ok().and_then(|v| PresentedKey::parse(v.trim())).ok_or_else(invalid_credential)?;
            presented.key = Some(key);
        }
        let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(presented) };
        let value = value.to_str().map_err(|_| invalid_credential())?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or_else(invalid_credential)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            presented.bearer = Some(rest.to_owned());
        } else if scheme.eq_ignore_ascii_case("apikey") || scheme.eq_ignore_ascii_case("key") {
            // `ApiKey` is ECE's form, `Key` Sensu's.
            if presented.key.is_some() {
                return Err(ApiError::unauthorized("Send one API key, in X-API-Key or in Authorization."));
            }
            presented.key = Some(PresentedKey::parse(rest).ok_or_else(invalid_credential)?);
        } else if scheme.eq_ignore_ascii_case("basic") {
            presented.basic = Some(decode_basic(rest).ok_or_else(invalid_credential)?);
        } else {
            return Err(ApiError::unauthorized("Unsupported authorization scheme."));
        }
        Ok(presented)
    }

    /// The tenant the application's API key belongs to, when a key was sent.
    ///
    /// # Errors
    /// `root.unauthorized` for a bad key; internal errors.
    pub async fn key_tenant(&self, state: &AppState, origin: &RequestContext) -> Result<Option<Tenant>, ApiError> {
        let Some(key) = &self.key else { return Ok(None) };
        if key.realm == KeyRealm::Platform {
            return Err(ApiError::unauthorized("A platform key belongs to no tenant; send it alone."));
        }
        let credentials = Credentials::ApiKey(key.clone());
        let verified = state.tokens.check(Realm::KeyTenant, &credentials, origin).await.map_err(credential_error)?;
        Ok(verified.tenant)
    }
}

/// Checks an application's API key for `tenant` (OAuth client authentication, Tenovos'
/// `X-API-Key`): `Ok(None)` when it is refused — bad, revoked or foreign key, or a
/// suspended tenant — so that each surface answers in its own shape.
///
/// # Errors
/// Other failures (internal errors).
pub async fn tenant_client(
    state: &AppState,
    tenant: &Tenant,
    key: PresentedKey,
    origin: &RequestContext,
) -> Result<Option<keyplane_domain::services::tokens::Verified>, Failure> {
    let credentials = Credentials::ApiKey(key);
    match state.tokens.check(Realm::Tenant(tenant), &credentials, origin).await.map_err(Failure::from) {
        Ok(verified) => Ok(Some(verified)),
        Err(Failure::BadCredentials | Failure::TenantSuspended) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Decodes `Basic` credentials: `name:password`, base64.
pub fn decode_basic(encoded: &str) -> Option<(String, Password)> {
    let decoded = STANDARD.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok())?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), Password::presented(password.to_owned())))
}

/// A credential on an administrative request that failed: `root.unauthorized`, whatever
/// was wrong with it; other failures as usual.
pub(crate) fn credential_error(e: SignInError) -> ApiError {
    match Failure::from(e) {
        Failure::BadCredentials => invalid_credential(),
        Failure::TenantSuspended => ApiError::unauthorized("The credential's tenant is suspended."),
        other => other.into(),
    }
}

/// Verifies a request's credentials and says who is calling. A bearer token is the
/// identity whenever one is sent, and an API key sent beside it must belong to the same
/// tenant; Basic credentials are a platform operator's, or a tenant user's beside the
/// tenant's key; an API key alone is the key's own identity.
///
/// # Errors
/// `root.unauthorized`, `root.rate_limited` (busy hashing pool) or an internal error.
pub async fn authenticate(
    state: &AppState,
    presented: Presented,
    origin: &RequestContext,
) -> Result<(Principal, Via), ApiError> {
    if let Some(token) = &presented.bearer {
        let context = state.tokens.authenticate(token, false).await?;
        let principal = context.principal();
        if let Some(tenant) = presented.key_tenant(state, origin).await? {
            if principal.tenant != Some(tenant.id) {
                return Err(ApiError::unauthorized("The API key and the bearer token belong to different tenants."));
            }
        }
        return Ok((principal, Via::Bearer));
    }
    let tenant = if presented.basic.is_some() { presented.key_tenant(state, origin).await? } else { None };
    if let Some((user_name, password)) = presented.basic {
        let realm = tenant.as_ref().map_or(Realm::Platform, Realm::Tenant);
        let credentials = Credentials::Password { user_name, password };
        let verified = state.tokens.check(realm, &credentials, origin).await.map_err(credential_error)?;
        return Ok((verified.principal(), Via::Basic));
    }
    if let Some(key) = presented.key {
        let credentials = Credentials::ApiKey(key);
        let verified = state.tokens.check(Realm::KeyTenant, &credentials, origin).await.map_err(credential_error)?;
        return Ok((verified.principal(), Via::ApiKey));
    }
    Err(ApiError::unauthorized(
        "Authentication is required: send an API key (X-API-Key), a bearer token or Basic credentials.",
    ))
}

/// A role in a tenant, as a type: what a handler needs of the caller in the tenant it
/// acts on.
pub trait TenantRole {
    /// The access it grants.
    const ACCESS: Access;
}

/// `tenant_admin` in the tenant (or `platform_admin`).
pub struct TenantAdmin;
impl TenantRole for TenantAdmin {
    const ACCESS: Access = Access::Admin;
}

/// `tenant_admin` or `tenant_viewer` in the tenant (or a platform operator).
pub struct TenantReader;
impl TenantRole for TenantReader {
    const ACCESS: Access = Access::Read;
}

/// A verified caller holding `R` in the tenant named by the `{tenant}` path segment
/// (slug or id). Another tenant's credential gets `tenants.not_found`.
pub struct PathTenant<R: TenantRole> {
    /// The caller.
    pub principal: Principal,
    /// The tenant.
    pub tenant: Tenant,
    _role: PhantomData<R>,
}

/// A verified caller holding `R` in the tenant a `/api/v1/users…` request acts on: the
/// credential's own, or for a platform operator the one named in `X-Keyplane-Tenant`.
pub struct ActingTenant<R: TenantRole> {
    /// The caller.
    pub principal: Principal,
    /// The tenant.
    pub tenant: Tenant,
    _role: PhantomData<R>,
}

impl<R: TenantRole + 'static> FromRequest for PathTenant<R> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Authenticated::<AnyCredential>::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let raw = req.match_info().get("tenant").unwrap_or_default().to_owned();
        Box::pin(async move {
            let principal = caller.await?.principal;
            let state = state.ok_or_else(|| ApiError::internal(&std::io::Error::other("application state missing")))?;
            let tenant = tenant_for(&state, &principal, &raw, R::ACCESS).await?;
            Ok(Self { principal, tenant, _role: PhantomData })
        })
    }
}

impl<R: TenantRole + 'static> FromRequest for ActingTenant<R> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Authenticated::<AnyCredential>::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let principal = caller.await?.principal;
            let state = state.ok_or_else(|| ApiError::internal(&std::io::Error::other("application state missing")))?;
            let tenant = acting_tenant(&state, &req, &principal, R::ACCESS).await?;
            Ok(Self { principal, tenant, _role: PhantomData })
        })
    }
}

impl<R: TenantRole> ActingTenant<R> {
    /// A user of the tenant, by name or id.
    ///
    /// # Errors
    /// `user.not_found`; internal errors.
    pub async fn user(&self, state: &AppState, user: &str) -> Result<keyplane_domain::user::User, ApiError> {
        Ok(state.users.get(self.tenant.id, user).await?)
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
    let tenant_ref = TenantRef::parse(raw).ok_or_else(crate::admin_errors::tenant_not_found)?;
    Ok(state.tenants.resolve_for(principal, &tenant_ref, access).await?)
}

/// The tenant a `/api/v1/users…` request acts on: the credential's own, or for a platform
/// operator the one named by the `X-Keyplane-Tenant` header (slug or id).
///
/// # Errors
/// `root.invalid_data` when an operator names no tenant; otherwise as [`tenant_for`].
async fn acting_tenant(
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use actix_web::ResponseError;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    fn presented(name: &str, value: &[u8]) -> Option<Result<Presented, ApiError>> {
        let value = header::HeaderValue::from_bytes(value).ok()?;
        let req = TestRequest::default().insert_header((name, value)).to_http_request();
        Some(Presented::from_request(&req))
    }

    fn basic(name: &str, password: &str) -> String {
        STANDARD.encode(format!("{name}:{password}"))
    }

    proptest! {
        /// Whatever bytes arrive in `Authorization` or `X-API-Key`, the parser answers
        /// (a credential or 401) and never panics.
        #[test]
        fn any_header_bytes_are_parsed_or_refused(
            name in prop::sample::select(vec!["authorization", "x-api-key"]),
            value in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Some(Err(e)) = presented(name, &value) {
                prop_assert_eq!(e.status_code(), actix_web::http::StatusCode::UNAUTHORIZED);
            }
        }

        /// `Basic` gives back exactly the name (up to its first colon) and the password,
        /// whatever they hold, in any casing of the scheme.
        #[test]
        fn basic_credentials_round_trip(
            name in "[^:]{0,64}",
            password in "\\PC{0,64}",
            scheme in "[bB][aA][sS][iI][cC]",
        ) {
            let header = format!("{scheme} {}", basic(&name, &password));
            let parsed = presented("authorization", header.as_bytes()).unwrap().unwrap();
            let (n, p) = parsed.basic.expect("Basic credentials");
            prop_assert_eq!(n, name);
            prop_assert_eq!(p.expose(), password.as_str());
        }

        /// Base64 that is not `name:password` in UTF-8 is refused, never half-read.
        #[test]
        fn basic_without_a_colon_or_utf8_is_refused(raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let decoded = decode_basic(&STANDARD.encode(&raw));
            let well_formed = std::str::from_utf8(&raw).is_ok_and(|t| t.contains(':'));
            prop_assert_eq!(decoded.is_some(), well_formed);
        }

        /// A bearer token is taken as sent, trimmed, in any casing of the scheme.
        #[test]
        fn bearer_tokens_are_taken_as_sent(token in "[!-~]{1,200}", scheme in "[bB][eE][aA][rR][eE][rR]") {
            let parsed = presented("authorization", format!("{scheme}  {token} ").as_bytes()).unwrap().unwrap();
            prop_assert_eq!(parsed.bearer.as_deref(), Some(token.as_str()));
        }
    }
}
