//! `/api/v1/users`: user administration within the caller's tenant (a tenant key with
//! `tenant_admin`, or a platform operator naming the tenant in `X-Keyplane-Tenant`).

use crate::admin_errors::user_field;
use crate::audit::Origin;
use crate::authentication::{ActingTenant, TenantAdmin, TenantReader};
use crate::authorization::may_grant;
use crate::dto::{AddressLockout, Empty, Lockout, PageInfo, PageParams};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{double_option, required, JsonBody, PageQuery};
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::audit::Initiator;
use keyplane_domain::error::Invalid;
use keyplane_domain::ids::TenantId;
use keyplane_domain::password::Password;
use keyplane_domain::role::Roles;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::users::{NewUser, UserPatch};
use keyplane_domain::user::{Email, FullName, Metadata, User, UserName};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: UsersApi::openapi(),
        routes: vec![
            Route::new("/api/v1/users", |r| r.get(list).post(create)),
            Route::new("/api/v1/users/{user_name}", |r| r.get(get).patch(update).delete(delete)),
        ],
    }
}

/// The user routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, update, delete),
    components(schemas(
        RoleName,
        CreateUserRequest,
        UpdateUserRequest,
        UserResponse,
        UserList,
        Lockout,
        AddressLockout
    ))
)]
pub struct UsersApi;

/// A tenant role name: 1 to 64 of a-z, 0-9, `_`, `-`, `.` and `:`, not one of the platform
/// roles (the document's schema only; requests carry plain strings).
#[derive(ToSchema)]
#[schema(pattern = "^(?!platform_admin$|platform_viewer$)[a-z0-9_.:-]{1,64}$")]
pub struct RoleName(#[allow(dead_code)] String);

/// A user to create. `Debug` hides the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Sign-in name: 1 to 128 letters, digits, '.', '_', '-', '@', '+'; unique in the
    /// tenant without regard to case.
    #[schema(example = "alice", min_length = 1, max_length = 128, pattern = r"^[\p{L}\p{N}._@+-]+$")]
    pub user_name: String,
    /// 8 to 1024 characters; stored as an Argon2id hash, never returned.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 8, max_length = 1024)]
    pub password: String,
    /// Contact address.
    #[schema(
        max_length = 254,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f@]+@[^\s\x00-\x1f\x7f-\x9f@.]([^\s\x00-\x1f\x7f-\x9f@]*[^\s\x00-\x1f\x7f-\x9f@.])?$"
    )]
    pub email: Option<String>,
    /// Display name (at most 256 characters, no control characters).
    #[schema(max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub full_name: Option<String>,
    /// Roles (`tenant_admin`, `tenant_viewer` or custom); default none.
    #[serde(default)]
    #[schema(value_type = Vec<RoleName>, max_items = 32)]
    pub roles: Vec<String>,
    /// Whether the user may sign in; default true.
    pub enabled: Option<bool>,
    /// Free-form JSON object (at most 16 KiB; no NUL character in any key or string, no control character in a key);
    /// default `{}`.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest").field("user_name", &self.user_name).finish_non_exhaustive()
    }
}

/// A JSON merge patch (RFC 7386) of a user: absent fields stay, `null` clears `email`
/// and `full_name`, `metadata` is merged recursively. `Debug` hides the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New sign-in name.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = r"^[\p{L}\p{N}._@+-]+$")]
    pub user_name: Option<Option<String>>,
    /// New password.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    pub password: Option<Option<String>>,
    /// New address, or `null` to clear.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(max_length = 254, pattern = r"^[^\s\x00-\x1f\x7f-\x9f@]+@[^\s\x00-\x1f\x7f-\x9f@.]([^\s\x00-\x1f\x7f-\x9f@]*[^\s\x00-\x1f\x7f-\x9f@.])?$", value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// New display name, or `null` to clear.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 256, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub full_name: Option<Option<String>>,
    /// Replacement roles.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Vec<RoleName>, max_items = 32)]
    pub roles: Option<Option<Vec<String>>>,
    /// Enable or disable sign-in.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = bool)]
    pub enabled: Option<Option<bool>>,
    /// Merge patch for the metadata object (no NUL character in any key or string, no control
    /// character in a key);
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Value>>,
}

impl std::fmt::Debug for UpdateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUserRequest").field("user_name", &self.user_name).finish_non_exhaustive()
    }
}

/// A user. The password is never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// Identifier.
    pub id: Uuid,
    /// Sign-in name, in the case it was created with.
    pub user_name: String,
    /// Contact address.
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// Granted roles.
    pub roles: Vec<String>,
    /// Whether the user may sign in.
    pub enabled: bool,
    /// Free-form data.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
    /// The user's lockout, counted across every entry point;
    /// `POST /api/v1/users/{user_name}/_unlock` lifts it.
    #[serde(flatten)]
    pub lockout: Lockout,
}

impl UserResponse {
    /// Adds the user's lockout state.
    ///
    /// # Errors
    /// Internal errors.
    pub async fn with_lockout(mut self, state: &AppState, tenant: TenantId) -> Result<Self, ApiError> {
        self.lockout = state.tokens.lockout_state(Scope::Tenant(tenant), &self.user_name).await?.into();
        Ok(self)
    }
}

impl From<User> for UserResponse {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            user_name: u.user_name.to_string(),
            email: u.email.map(|e| e.as_str().to_owned()),
            full_name: u.full_name.map(|n| n.as_str().to_owned()),
            roles: u.roles.to_strings(),
            enabled: u.enabled,
            metadata: u.metadata.to_value(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
            lockout: Lockout::default(),
        }
    }
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The users on this page, by name.
    pub users: Vec<UserResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

fn parse_new(body: CreateUserRequest) -> Result<NewUser, Invalid> {
    Ok(NewUser {
        user_name: UserName::parse(&body.user_name)?,
        password: Password::parse_new(body.password)?,
        email: body.email.as_deref().map(Email::parse).transpose()?,
        full_name: body.full_name.as_deref().map(FullName::parse).transpose()?,
        roles: Roles::parse_tenant("roles", &body.roles)?,
        enabled: body.enabled.unwrap_or(true),
        metadata: body.metadata.map(Metadata::parse).transpose()?.unwrap_or_default(),
    })
}

fn parse_patch(body: UpdateUserRequest) -> Result<UserPatch, Invalid> {
    Ok(UserPatch {
        user_name: required("user_name", body.user_name)?.as_deref().map(UserName::parse).transpose()?,
        password: required("password", body.password)?.map(Password::parse_new).transpose()?,
        email: body.email.map(|e| e.as_deref().map(Email::parse).transpose()).transpose()?,
        full_name: body.full_name.map(|n| n.as_deref().map(FullName::parse).transpose()).transpose()?,
        roles: required("roles", body.roles)?.map(|r| Roles::parse_tenant("roles", &r)).transpose()?,
        enabled: required("enabled", body.enabled)?,
        metadata: body.metadata.map(|m| m.unwrap_or(Value::Null)),
    })
}

/// Create a user in the caller's tenant.
#[utoipa::path(post, path = "/api/v1/users", operation_id = "create_user", tag = "users", request_body = CreateUserRequest,
    params(("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential, ignored with a tenant key")),
    responses(
        (status = 200, description = "The user was created (200, as ECE answers).", body = UserResponse),
        (status = 400, description = "Malformed body or invalid field: `root.invalid_data`, `user.user_name.invalid`, `user.roles.invalid` (with `fields`).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Lacks `tenant_admin`, or grants a Keyplane role the caller does not hold (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "The named tenant does not exist (`tenants.not_found`).", body = ErrorBody),
        (status = 409, description = "The name is taken, compared without case (`user.user_name.conflict`).", body = ErrorBody),
        (status = 413, description = "`root.payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`root.unsupported_media_type`.", body = ErrorBody),
        (status = 429, description = "The password hashing pool is full (`root.rate_limited`, with `Retry-After`).", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn create(
    caller: ActingTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = &caller.tenant;
    let new = parse_new(body).map_err(user_field)?;
    may_grant(&caller.principal, &new.roles)?;
    let by = Initiator::new(&caller.principal, origin);
    let user = state.users.create(tenant.id, new, &by).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user)))
}

/// List the users of the caller's tenant.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "users",
    params(PageParams, ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "A page of users, ordered by name.", body = UserList),
        (status = 400, description = "`root.invalid_data` (pagination out of bounds, or no tenant named).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list(
    caller: ActingTenant<TenantReader>,
    state: web::Data<AppState>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let tenant = &caller.tenant;
    let page = state.users.list(tenant.id, page).await?;
    let info = PageInfo::from(&page);
    let mut users = Vec::with_capacity(page.items.len());
    for user in page.items {
        users.push(UserResponse::from(user).with_lockout(&state, tenant.id).await?);
    }
    Ok(HttpResponse::Ok().json(UserList { users, page: info }))
}

/// Get a user by name (without regard to case) or id.
#[utoipa::path(get, path = "/api/v1/users/{user_name}", operation_id = "get_user", tag = "users",
    params(("user_name" = String, Path, description = "User name or id"), ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found` or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get(
    caller: ActingTenant<TenantReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = &caller.tenant;
    let user = state.users.get(tenant.id, &path).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user).with_lockout(&state, tenant.id).await?))
}

/// Update a user (JSON merge patch).
///
/// Disabling the user, or an administrator's (or application key's) reset of their
/// password, ends all their sessions and those opened with their API keys, and revokes
/// their personal API keys (`api_key.revoked`, with the reason). A user changing their
/// own password with their bearer token keeps that session and their keys. A Keyplane
/// role the caller does not hold cannot be granted (`root.unauthorized.rbac`).
#[utoipa::path(patch, path = "/api/v1/users/{user_name}", operation_id = "update_user", tag = "users", request_body(content = UpdateUserRequest, content_type = "application/merge-patch+json"),
    params(("user_name" = String, Path, description = "User name or id"), ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "The updated user.", body = UserResponse),
        (status = 400, description = "`root.invalid_data`, `user.user_name.invalid`, `user.roles.invalid`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Lacks `tenant_admin`, or grants a Keyplane role the caller does not hold (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "`user.not_found` or `tenants.not_found`.", body = ErrorBody),
        (status = 409, description = "`user.user_name.conflict`.", body = ErrorBody),
        (status = 415, description = "`root.unsupported_media_type`.", body = ErrorBody),
        (status = 429, description = "`root.rate_limited`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn update(
    caller: ActingTenant<TenantAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<UpdateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = &caller.tenant;
    let patch = parse_patch(body).map_err(user_field)?;
    if let Some(roles) = &patch.roles {
        may_grant(&caller.principal, roles)?;
    }
    // A new password ends the user's other sessions; the caller's own one survives.
    let keep = caller.principal.session;
    let by = Initiator::new(&caller.principal, origin);
    let user = state.users.update(tenant.id, &path, patch, keep, &by).await?;
    Ok(HttpResponse::Ok().json(UserResponse::from(user).with_lockout(&state, tenant.id).await?))
}

/// Delete a user and the API keys it owns, ending the sessions of both.
#[utoipa::path(delete, path = "/api/v1/users/{user_name}", operation_id = "delete_user", tag = "users",
    params(("user_name" = String, Path, description = "User name or id"), ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "Deleted.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found` or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn delete(
    caller: ActingTenant<TenantAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let tenant = &caller.tenant;
    let by = Initiator::new(&caller.principal, origin);
    state.users.delete(tenant.id, &path, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
