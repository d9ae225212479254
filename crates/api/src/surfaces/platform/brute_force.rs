//! Brute-force lockout administration: each tenant's policy beside its token policy, the
//! platform's own, and unlocking a locked platform operator (a tenant's users are
//! unlocked through the native surface, `native::unlock`).

use crate::audit::Origin;
use crate::authentication::{Authenticated, PathTenant, PlatformAdmin, PlatformReader, TenantAdmin, TenantReader};
use crate::dto::Empty;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use keyplane_domain::audit::Initiator;
use keyplane_domain::lockout::BruteForcePolicy;
use keyplane_domain::scope::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: BruteForceApi::openapi(),
        routes: vec![
            Route::new("/api/v1/platform/tenants/{tenant}/brute-force-policy", |r| {
                r.get(get_tenant_policy).put(put_tenant_policy)
            }),
            Route::new("/api/v1/platform/brute-force-policy", |r| r.get(get_platform_policy).put(put_platform_policy)),
            Route::new("/api/v1/platform/users/{user_name}/_unlock", |r| r.post(unlock_operator)),
        ],
    }
}

/// The brute-force routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(get_tenant_policy, put_tenant_policy, get_platform_policy, put_platform_policy, unlock_operator),
    components(schemas(BruteForceBody, BruteForceUpdate))
)]
pub struct BruteForceApi;

/// A brute-force policy. Sign-in attempts on a user name (known or not, across every
/// entry point) are counted per client address and per name: after `max_failures` from
/// one address that address is locked out of the name; after `max_failures_total` from
/// all addresses the name is locked for everyone. A lock lasts `lock_seconds`; once it
/// has ended one attempt at a time is verified, and its failure locks again for twice as
/// long, up to `max_lock_seconds`; the count starts again after `failure_reset_seconds`
/// without a failure. While locked, even the right password gets the wrong-password
/// answer, at once: attempts made while locked are neither verified nor counted, and do
/// not extend the lock. Attempts are reserved before they are verified, so at most
/// `max_failures` guesses are verified per address and lock, whatever the concurrency;
/// more simultaneous attempts than that are answered 429 until those settle. Wrong key
/// secrets are counted per key id and never lock.
#[derive(Debug, Serialize, ToSchema)]
pub struct BruteForceBody {
    /// Whether failures are counted and subjects locked (default true).
    pub enabled: bool,
    /// Failures from one address that lock it out of the name: 3 to 100 (default 10).
    #[schema(minimum = 3, maximum = 100)]
    pub max_failures: u32,
    /// Failures from all addresses that lock the name: `max_failures` to 10000
    /// (default 100).
    #[schema(minimum = 3, maximum = 10000)]
    pub max_failures_total: u32,
    /// 1 to 3600 (default 60).
    #[schema(minimum = 1, maximum = 3600)]
    pub lock_seconds: i64,
    /// `lock_seconds` to 86400 (default 900).
    #[schema(minimum = 1, maximum = 86400)]
    pub max_lock_seconds: i64,
    /// 1 to 604800 (default 43200).
    #[schema(minimum = 1, maximum = 604800)]
    pub failure_reset_seconds: i64,
}

/// A change of the policy: absent fields keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BruteForceUpdate {
    /// Whether failures are counted and subjects locked.
    pub enabled: Option<bool>,
    /// 3 to 100.
    #[schema(minimum = 3, maximum = 100)]
    pub max_failures: Option<i64>,
    /// `max_failures` to 10000.
    #[schema(minimum = 3, maximum = 10000)]
    pub max_failures_total: Option<i64>,
    /// 1 to 3600.
    #[schema(minimum = 1, maximum = 3600)]
    pub lock_seconds: Option<i64>,
    /// `lock_seconds` to 86400.
    #[schema(minimum = 1, maximum = 86400)]
    pub max_lock_seconds: Option<i64>,
    /// 1 to 604800.
    #[schema(minimum = 1, maximum = 604800)]
    pub failure_reset_seconds: Option<i64>,
}

fn body(p: &BruteForcePolicy) -> BruteForceBody {
    BruteForceBody {
        enabled: p.enabled,
        max_failures: p.max_failures,
        max_failures_total: p.max_failures_total,
        lock_seconds: p.lock.num_seconds(),
        max_lock_seconds: p.max_lock.num_seconds(),
        failure_reset_seconds: p.failure_reset.num_seconds(),
    }
}

async fn update(
    state: &AppState,
    scope: Scope,
    change: BruteForceUpdate,
    by: &Initiator,
) -> Result<HttpResponse, ApiError> {
    let current = state.tokens.brute_force_policy(scope).await?;
    let policy = BruteForcePolicy::new(
        change.enabled.unwrap_or(current.enabled),
        change.max_failures.unwrap_or(i64::from(current.max_failures)),
        change.max_failures_total.unwrap_or(i64::from(current.max_failures_total)),
        change.lock_seconds.unwrap_or(current.lock.num_seconds()),
        change.max_lock_seconds.unwrap_or(current.max_lock.num_seconds()),
        change.failure_reset_seconds.unwrap_or(current.failure_reset.num_seconds()),
    )?;
    state.tokens.set_brute_force_policy(scope, &policy, by).await?;
    Ok(HttpResponse::Ok().json(body(&policy)))
}

/// A tenant's brute-force policy.
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}/brute-force-policy", operation_id = "get_tenant_brute_force_policy", tag = "tenant settings",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The policy.", body = BruteForceBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get_tenant_policy(
    caller: PathTenant<TenantReader>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let policy = state.tokens.brute_force_policy(Scope::Tenant(caller.tenant.id)).await?;
    Ok(HttpResponse::Ok().json(body(&policy)))
}

/// Change a tenant's brute-force policy.
#[utoipa::path(put, path = "/api/v1/platform/tenants/{tenant}/brute-force-policy", operation_id = "set_tenant_brute_force_policy", tag = "tenant settings", request_body = BruteForceUpdate,
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The policy in force.", body = BruteForceBody),
        (status = 400, description = "A value out of range (`root.invalid_data`, naming the field).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn put_tenant_policy(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(change): JsonBody<BruteForceUpdate>,
) -> Result<HttpResponse, ApiError> {
    let by = Initiator::new(&caller.principal, origin);
    update(&state, Scope::Tenant(caller.tenant.id), change, &by).await
}

/// The platform operators' brute-force policy.
#[utoipa::path(get, path = "/api/v1/platform/brute-force-policy", operation_id = "get_platform_brute_force_policy", tag = "tenant settings",
    responses(
        (status = 200, description = "The policy.", body = BruteForceBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn get_platform_policy(
    _caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(body(&state.tokens.brute_force_policy(Scope::Platform).await?)))
}

/// Change the platform operators' brute-force policy.
#[utoipa::path(put, path = "/api/v1/platform/brute-force-policy", operation_id = "set_platform_brute_force_policy", tag = "tenant settings", request_body = BruteForceUpdate,
    responses(
        (status = 200, description = "The policy in force.", body = BruteForceBody),
        (status = 400, description = "A value out of range (`root.invalid_data`, naming the field).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn put_platform_policy(
    caller: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(change): JsonBody<BruteForceUpdate>,
) -> Result<HttpResponse, ApiError> {
    let by = Initiator::new(&caller.principal, origin);
    update(&state, Scope::Platform, change, &by).await
}

/// Unlock a platform operator and forget their failed sign-ins.
#[utoipa::path(post, path = "/api/v1/platform/users/{user_name}/_unlock", operation_id = "unlock_platform_user", tag = "platform users",
    params(("user_name" = String, Path, description = "Operator name")),
    responses(
        (status = 200, description = "Unlocked (also when the operator was not locked).", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = [])))]
pub async fn unlock_operator(
    caller: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let by = Initiator::new(&caller.principal, origin);
    state.tokens.unlock(Scope::Platform, &path, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
