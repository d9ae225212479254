//! Per-tenant settings: the authentication cluster, the token policy and the signing keys
//! (rotation), under `/api/v1/platform/tenants/{tenant}`. Readable by the tenant's
//! viewers, changeable by its admins and platform admins.

use crate::audit::Origin;
use crate::authentication::{PathTenant, TenantAdmin, TenantReader};
use crate::dto::Empty;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::audit::Initiator;
use keyplane_domain::policy::{ClusterKind, SigningAlgorithm, TokenPolicy};
use keyplane_domain::scope::Scope;
use keyplane_domain::token::SigningKey;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: TenantSettingsApi::openapi(),
        routes: vec![
            Route::new("/api/v1/platform/tenants/{tenant}/authentication-cluster", |r| {
                r.get(get_cluster).put(put_cluster).delete(delete_cluster)
            }),
            Route::new("/api/v1/platform/tenants/{tenant}/token-policy", |r| r.get(get_policy).put(put_policy)),
            Route::new("/api/v1/platform/tenants/{tenant}/signing-keys", |r| r.get(list_signing_keys)),
            Route::new("/api/v1/platform/tenants/{tenant}/signing-keys/_rotate", |r| r.post(rotate)),
            Route::new("/api/v1/platform/tenants/{tenant}/signing-keys/{kid}", |r| r.delete(withdraw)),
        ],
    }
}

/// The tenant settings routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(get_cluster, put_cluster, delete_cluster, get_policy, put_policy, list_signing_keys, rotate, withdraw),
    components(schemas(ClusterConfig, PolicyBody, PolicyUpdate, SigningKeyResponse, SigningKeyList, RotateRequest))
)]
pub struct TenantSettingsApi;

/// An authentication cluster.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `native`: users and passwords stored by Keyplane.
    #[schema(example = "native", pattern = "^native$")]
    pub kind: String,
}

/// A tenant's token policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyBody {
    /// Access token lifetime, 60 to 86400 (default 900).
    pub access_token_lifetime_seconds: i64,
    /// Absolute session lifetime, 3600 to 31536000 (default 2592000, 30 days).
    pub session_lifetime_seconds: i64,
    /// How long a just-rotated refresh token may still be presented (returning the same
    /// successor), 0 to 60 (default 10; 0 turns the grace off).
    pub refresh_token_reuse_grace_seconds: i64,
    /// Algorithm of the next generated signing key: `EdDSA` (default) or `ES256`.
    pub signing_algorithm: String,
    /// Whether a valid access token may renew itself at `_refresh` (default true).
    pub access_token_renewal: bool,
    /// How long a chain of access tokens renewed from one another may last from the
    /// sign-in or refresh-token renewal that started it, 60 to 31536000 (default 43200,
    /// 12 hours); then the user signs in again or uses the refresh token. Never past the
    /// session's end.
    pub access_token_renewal_max_seconds: i64,
    /// Whether the OAuth password grant is offered (default true). It always requires
    /// client authentication (the tenant's API key).
    pub password_grant: bool,
    /// How long a user's personal API key lives when its creator names no expiration,
    /// 3600 to 315360000 (default 7776000, 90 days); a key that never expires is made
    /// only with `"expiration": "never"`.
    pub personal_key_lifetime_seconds: i64,
}

/// Changes to a token policy: fields present replace, fields absent stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyUpdate {
    /// Access token lifetime, 60 to 86400.
    #[schema(minimum = 60, maximum = 86400)]
    pub access_token_lifetime_seconds: Option<i64>,
    /// Absolute session lifetime, 3600 to 31536000.
    #[schema(minimum = 3600, maximum = 31536000)]
    pub session_lifetime_seconds: Option<i64>,
    /// How long a just-rotated refresh token may still be presented, 0 to 60 (default 10;
    /// 0 turns the grace off).
    #[schema(minimum = 0, maximum = 60)]
    pub refresh_token_reuse_grace_seconds: Option<i64>,
    /// `EdDSA` or `ES256`.
    #[schema(pattern = "^(EdDSA|ES256)$")]
    pub signing_algorithm: Option<String>,
    /// Whether a valid access token may renew itself at `_refresh`.
    pub access_token_renewal: Option<bool>,
    /// How long a chain of renewed access tokens may last, 60 to 31536000.
    #[schema(minimum = 60, maximum = 31536000)]
    pub access_token_renewal_max_seconds: Option<i64>,
    /// Whether the OAuth password grant is offered.
    pub password_grant: Option<bool>,
    /// Personal API keys' default lifetime, 3600 to 315360000.
    #[schema(minimum = 3600, maximum = 315360000)]
    pub personal_key_lifetime_seconds: Option<i64>,
}

/// A signing key (public information only).
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyResponse {
    /// The JOSE `kid`.
    pub kid: String,
    /// `EdDSA` or `ES256`.
    pub algorithm: String,
    /// `active` (signs new tokens) or `retired` (still published, verifies old tokens).
    pub status: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// Until when a retired key stays in the JWKS.
    pub retain_until: Option<DateTime<Utc>>,
    /// The public key (JWK).
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
}

/// The published signing keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeyList {
    /// The keys.
    pub keys: Vec<SigningKeyResponse>,
}

/// Options of a rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Algorithm of the new key, `EdDSA` or `ES256`; default the policy's `signing_algorithm`.
    #[schema(pattern = "^(EdDSA|ES256)$")]
    pub algorithm: Option<String>,
}

fn policy_body(p: &TokenPolicy) -> PolicyBody {
    PolicyBody {
        access_token_lifetime_seconds: p.access_token_ttl.num_seconds(),
        session_lifetime_seconds: p.session_ttl.num_seconds(),
        refresh_token_reuse_grace_seconds: p.refresh_reuse_grace.num_seconds(),
        signing_algorithm: p.signing_algorithm.as_str().to_owned(),
        access_token_renewal: p.access_token_renewal,
        access_token_renewal_max_seconds: p.access_token_renewal_max.num_seconds(),
        password_grant: p.password_grant,
        personal_key_lifetime_seconds: p.personal_key_lifetime.num_seconds(),
    }
}

fn key_body(k: SigningKey) -> SigningKeyResponse {
    SigningKeyResponse {
        kid: k.kid,
        algorithm: k.algorithm.as_str().to_owned(),
        status: if k.retired_at.is_some() { "retired" } else { "active" }.to_owned(),
        created_at: k.created_at,
        retired_at: k.retired_at,
        retain_until: k.retain_until,
        public_jwk: k.public_jwk,
    }
}

/// Get the tenant's authentication cluster.
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}/authentication-cluster", operation_id = "get_authentication_cluster", tag = "tenant settings",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The cluster.", body = ClusterConfig),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "None configured (`tenants.authentication_cluster_not_found`), or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get_cluster(caller: PathTenant<TenantReader>) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let kind = tenant.cluster.ok_or_else(|| {
        ApiError::new(ErrorCode::ClusterNotFound, "The tenant has no authentication cluster configured.")
    })?;
    Ok(HttpResponse::Ok().json(ClusterConfig { kind: kind.as_str().to_owned() }))
}

/// Configure the tenant's authentication cluster.
#[utoipa::path(put, path = "/api/v1/platform/tenants/{tenant}/authentication-cluster", operation_id = "set_authentication_cluster", tag = "tenant settings", request_body = ClusterConfig,
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The cluster in force.", body = ClusterConfig),
        (status = 400, description = "Unknown kind (`root.invalid_data`, field `kind`).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn put_cluster(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<ClusterConfig>,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let kind = ClusterKind::parse(&body.kind)?;
    let by = Initiator::new(&caller.principal, origin);
    let tenant = state.tenants.set_cluster(tenant, Some(kind), &by).await?;
    Ok(HttpResponse::Ok().json(ClusterConfig { kind: tenant.cluster.map_or("", |c| c.as_str()).to_owned() }))
}

/// Remove the tenant's authentication cluster.
///
/// Every credential check then answers `501 authc.no_authentication_cluster`.
#[utoipa::path(delete, path = "/api/v1/platform/tenants/{tenant}/authentication-cluster", operation_id = "delete_authentication_cluster", tag = "tenant settings",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "Removed.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn delete_cluster(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let by = Initiator::new(&caller.principal, origin);
    state.tenants.set_cluster(tenant, None, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// Get the tenant's token policy.
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}/token-policy", operation_id = "get_token_policy", tag = "tenant settings",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The policy.", body = PolicyBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get_policy(caller: PathTenant<TenantReader>) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    Ok(HttpResponse::Ok().json(policy_body(&tenant.policy)))
}

/// Change the tenant's token policy.
///
/// Fields absent stay as they are. New lifetimes apply to tokens and sessions issued
/// from now on.
#[utoipa::path(put, path = "/api/v1/platform/tenants/{tenant}/token-policy", operation_id = "set_token_policy", tag = "tenant settings", request_body = PolicyUpdate,
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The policy in force.", body = PolicyBody),
        (status = 400, description = "A value out of range (`root.invalid_data`, naming the field).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn put_policy(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<PolicyUpdate>,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let current = policy_body(&tenant.policy);
    let algorithm = match &body.signing_algorithm {
        Some(a) => SigningAlgorithm::parse("signing_algorithm", a)?,
        None => tenant.policy.signing_algorithm,
    };
    let policy = TokenPolicy::from_seconds(
        body.access_token_lifetime_seconds.unwrap_or(current.access_token_lifetime_seconds),
        body.session_lifetime_seconds.unwrap_or(current.session_lifetime_seconds),
        body.refresh_token_reuse_grace_seconds.unwrap_or(current.refresh_token_reuse_grace_seconds),
        algorithm,
    )?
    .with_grants(
        body.access_token_renewal.unwrap_or(current.access_token_renewal),
        body.access_token_renewal_max_seconds.unwrap_or(current.access_token_renewal_max_seconds),
        body.password_grant.unwrap_or(current.password_grant),
    )?
    .with_personal_keys(body.personal_key_lifetime_seconds.unwrap_or(current.personal_key_lifetime_seconds))?;
    let by = Initiator::new(&caller.principal, origin);
    let tenant = state.tenants.set_policy(tenant, policy, &by).await?;
    Ok(HttpResponse::Ok().json(policy_body(&tenant.policy)))
}

/// List the tenant's published signing keys.
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}/signing-keys", operation_id = "list_signing_keys", tag = "tenant settings",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The keys in the JWKS, newest first.", body = SigningKeyList),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list_signing_keys(
    caller: PathTenant<TenantReader>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let keys = state.tokens.signing().published(Scope::Tenant(tenant.id)).await?;
    Ok(HttpResponse::Ok().json(SigningKeyList { keys: keys.iter().cloned().map(key_body).collect() }))
}

/// Rotate the tenant's signing key.
///
/// A new key signs from now on; the old ones stay in the JWKS until every token they
/// signed has expired.
#[utoipa::path(post, path = "/api/v1/platform/tenants/{tenant}/signing-keys/_rotate", operation_id = "rotate_signing_key", tag = "tenant settings", request_body(content = Option<RotateRequest>),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The new active key.", body = SigningKeyResponse),
        (status = 400, description = "`root.invalid_data`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn rotate(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    body: web::Bytes,
    req: actix_web::HttpRequest,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    // No body, or JSON `null`, means no options.
    let options: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        RotateRequest::default()
    } else {
        crate::extract::check_json_content_type(&req)?;
        crate::extract::parse_json(&body)?
    };
    let algorithm = match options.algorithm {
        Some(a) => SigningAlgorithm::parse("algorithm", &a)?,
        None => tenant.policy.signing_algorithm,
    };
    let retain_for = tenant.policy.session_ttl.max(tenant.policy.access_token_ttl);
    let by = Initiator::new(&caller.principal, origin);
    let key = state
        .tokens
        .signing()
        .rotate(Scope::Tenant(tenant.id), algorithm, retain_for, &by)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().json(key_body(key)))
}

/// Withdraw one of the tenant's signing keys at once (a key that leaked, say).
///
/// Tokens it signed stop verifying (on this server at once, on other replicas within a
/// minute) and it leaves the JWKS; sessions whose tokens it signed must sign in again.
/// When it was the active key, a new key (of the policy's algorithm) signs from now on.
/// Recorded as `signing_key.withdrawn`.
#[utoipa::path(delete, path = "/api/v1/platform/tenants/{tenant}/signing-keys/{kid}", operation_id = "withdraw_signing_key", tag = "tenant settings",
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("kid" = String, Path, description = "The key's `kid`")),
    responses(
        (status = 200, description = "Withdrawn.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`, or `signing_keys.key_not_found` (no key of the tenant's that still verifies has this `kid`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn withdraw(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let (_, kid) = path.into_inner();
    let by = Initiator::new(&caller.principal, origin);
    let signing = state.tokens.signing();
    let done = signing
        .withdraw(Scope::Tenant(tenant.id), &kid, tenant.policy.signing_algorithm, &by)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match done {
        Some(_) => Ok(HttpResponse::Ok().json(Empty {})),
        None => Err(ApiError::new(ErrorCode::SigningKeyNotFound, "No signing key of this tenant has this kid.")),
    }
}
