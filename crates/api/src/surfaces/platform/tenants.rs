//! `/api/v1/platform/tenants`: tenant administration by platform operators.

use crate::audit::Origin;
use crate::authentication::{tenant_for, Authenticated, PathTenant, PlatformAdmin, PlatformReader, TenantReader};
use crate::dto::{Empty, PageInfo, PageParams};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{JsonBody, PageQuery};
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::audit::Initiator;
use keyplane_domain::services::tenants::{Access, CreateTenantError, TenantPatch};
use keyplane_domain::tenant::{Tenant, TenantName, TenantSlug, TenantStatus};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: TenantsApi::openapi(),
        routes: vec![
            Route::new("/api/v1/platform/tenants", |r| r.get(list).post(create)),
            Route::new("/api/v1/platform/tenants/{tenant}", |r| r.get(get).patch(update).delete(delete)),
            Route::new("/api/v1/platform/tenants/{tenant}/_suspend", |r| r.post(suspend)),
            Route::new("/api/v1/platform/tenants/{tenant}/_resume", |r| r.post(resume)),
        ],
    }
}

/// The tenant routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, update, delete, suspend, resume),
    components(schemas(CreateTenantRequest, UpdateTenantRequest, TenantResponse, TenantList))
)]
pub struct TenantsApi;

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// DNS label (lowercase letters, digits, '-'; 1 to 63 characters), unique, and not a
    /// UUID (tenant paths take either).
    #[schema(
        example = "acme",
        min_length = 1,
        max_length = 63,
        pattern = r"^(?![0-9a-f]{32}$)(?![0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub slug: String,
    /// Display name: 1 to 200 characters, not blank, no control characters.
    #[schema(example = "Acme Corp")]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
}

/// Changes to a tenant (JSON merge patch; the slug cannot change).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// New display name: 1 to 200 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantResponse {
    /// Identifier.
    pub id: Uuid,
    /// URL name.
    #[schema(example = "acme")]
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `active` or `suspended`.
    #[schema(example = "active")]
    pub status: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantResponse {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.as_uuid(),
            slug: t.slug.to_string(),
            name: t.name.as_str().to_owned(),
            status: t.status.as_str().to_owned(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A page of tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// The tenants on this page, oldest first.
    pub tenants: Vec<TenantResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Create a tenant.
#[utoipa::path(post, path = "/api/v1/platform/tenants", operation_id = "create_tenant", tag = "tenants", request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "The tenant was created.", body = TenantResponse),
        (status = 400, description = "Malformed body or invalid field (`root.invalid_data`, with `fields`).", body = ErrorBody),
        (status = 401, description = "Missing or invalid credential (`root.unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 409, description = "The slug is taken (`tenants.slug.conflict`).", body = ErrorBody),
        (status = 413, description = "Body too large (`root.payload_too_large`).", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`root.unsupported_media_type`).", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn create(
    auth: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<CreateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let slug = TenantSlug::parse(&body.slug)?;
    let name = TenantName::parse(&body.name)?;
    let by = Initiator::new(&auth.principal, origin);
    let tenant = state.tenants.create(slug, name, &by).await.map_err(|e| match e {
        CreateTenantError::SlugTaken => {
            ApiError::new(ErrorCode::TenantSlugConflict, format!("A tenant with slug '{}' already exists.", body.slug))
                .with_fields(["slug"])
        }
        CreateTenantError::Crypto(e) => ApiError::internal(&e),
        CreateTenantError::Storage(s) => s.into(),
    })?;
    Ok(HttpResponse::Created().json(TenantResponse::from(tenant)))
}

/// List tenants.
#[utoipa::path(get, path = "/api/v1/platform/tenants", operation_id = "list_tenants", tag = "tenants", params(PageParams),
    responses(
        (status = 200, description = "A page of tenants.", body = TenantList),
        (status = 400, description = "`from` or `size` out of bounds (`root.invalid_data`).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Not a platform operator (`root.unauthorized.rbac`).", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list(
    _auth: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let page = state.tenants.list(page).await?;
    let info = PageInfo::from(&page);
    Ok(HttpResponse::Ok().json(TenantList { tenants: page.items.into_iter().map(Into::into).collect(), page: info }))
}

/// Get a tenant (by slug or id). A tenant's own key may read its tenant.
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}", operation_id = "get_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The tenant.", body = TenantResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "No such tenant, or another tenant's credential (`tenants.not_found`).", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get(caller: PathTenant<TenantReader>) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    Ok(HttpResponse::Ok().json(TenantResponse::from(tenant)))
}

/// Update a tenant's name (JSON merge patch).
#[utoipa::path(patch, path = "/api/v1/platform/tenants/{tenant}", operation_id = "update_tenant", tag = "tenants", request_body(content = UpdateTenantRequest, content_type = "application/merge-patch+json"),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The updated tenant.", body = TenantResponse),
        (status = 400, description = "`root.invalid_data`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn update(
    auth: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<UpdateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_for(&state, &auth.principal, &path, Access::Admin).await?;
    let patch = TenantPatch { name: body.name.as_deref().map(TenantName::parse).transpose()? };
    let by = Initiator::new(&auth.principal, origin);
    let tenant = state.tenants.update(tenant, patch, &by).await?;
    Ok(HttpResponse::Ok().json(TenantResponse::from(tenant)))
}

/// Delete a tenant with its users and keys.
#[utoipa::path(delete, path = "/api/v1/platform/tenants/{tenant}", operation_id = "delete_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "Deleted.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn delete(
    auth: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_for(&state, &auth.principal, &path, Access::Admin).await?;
    let by = Initiator::new(&auth.principal, origin);
    state.tenants.delete(&tenant, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

async fn set_status(
    auth: &Authenticated<PlatformAdmin>,
    state: &AppState,
    raw: &str,
    status: TenantStatus,
    origin: Origin,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_for(state, &auth.principal, raw, Access::Admin).await?;
    let by = Initiator::new(&auth.principal, origin.0);
    let tenant = state.tenants.set_status(tenant, status, &by).await?;
    Ok(HttpResponse::Ok().json(TenantResponse::from(tenant)))
}

/// Suspend a tenant: its credentials stop working at once. Idempotent.
#[utoipa::path(post, path = "/api/v1/platform/tenants/{tenant}/_suspend", operation_id = "suspend_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The suspended tenant.", body = TenantResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn suspend(
    auth: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    origin: Origin,
) -> Result<HttpResponse, ApiError> {
    set_status(&auth, &state, &path, TenantStatus::Suspended, origin).await
}

/// Resume a suspended tenant. Idempotent.
#[utoipa::path(post, path = "/api/v1/platform/tenants/{tenant}/_resume", operation_id = "resume_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 200, description = "The active tenant.", body = TenantResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn resume(
    auth: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    origin: Origin,
) -> Result<HttpResponse, ApiError> {
    set_status(&auth, &state, &path, TenantStatus::Active, origin).await
}
