//! Unlocking a tenant's user: forgets their failed sign-ins and ends the lock.

use crate::audit::Origin;
use crate::authentication::{ActingTenant, TenantAdmin};
use crate::dto::Empty;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use keyplane_domain::audit::Initiator;
use keyplane_domain::scope::Scope;
use utoipa::OpenApi;

/// The route and its part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: UnlockApi::openapi(),
        routes: vec![Route::new("/api/v1/users/{user_name}/_unlock", |r| r.post(unlock_user))],
    }
}

/// The unlock route's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(unlock_user), components(schemas(Empty)))]
pub struct UnlockApi;

/// Unlock a user of the tenant and forget their failed sign-ins.
#[utoipa::path(post, path = "/api/v1/users/{user_name}/_unlock", operation_id = "unlock_user", tag = "users",
    params(("user_name" = String, Path, description = "User name or id"),
        ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "Unlocked (also when the user was not locked).", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn unlock_user(
    caller: ActingTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user(&state, &path).await?;
    let by = Initiator::new(&caller.principal, origin);
    state.tokens.unlock(Scope::Tenant(caller.tenant.id), user.user_name.as_str(), &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
