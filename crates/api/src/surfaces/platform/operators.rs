//! `/api/v1/platform/users`: the platform's operators and their API keys. Operators hold
//! `platform_admin` (everything) or `platform_viewer` (read everything); the last enabled
//! admin can be neither demoted, disabled nor deleted (`platform.last_admin`). A platform
//! key (`kpp_…`) acts as its operator with the roles it was given that the operator still
//! holds, and stops working when the operator is disabled or deleted.

use crate::admin_errors::user_field;
use crate::audit::Origin;
use crate::authentication::{Authenticated, PlatformAdmin, PlatformReader};
use crate::authorization::in_person;
use crate::dto::{Empty, Lockout, PageInfo, PageParams};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{double_option, required, JsonBody, PageQuery};
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::audit::Initiator;
use keyplane_domain::error::Invalid;
use keyplane_domain::password::Password;
use keyplane_domain::platform::PlatformUser;
use keyplane_domain::principal::Subject;
use keyplane_domain::role::Roles;
use keyplane_domain::scope::Scope;
use keyplane_domain::services::operators::{NewOperator, OperatorPatch};
use keyplane_domain::user::UserName;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: PlatformUsersApi::openapi(),
        routes: vec![
            Route::new("/api/v1/platform/users", |r| r.get(list).post(create)),
            Route::new("/api/v1/platform/users/{user_name}", |r| r.get(get).patch(update).delete(delete)),
        ],
    }
}

/// The platform user routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, update, delete),
    components(schemas(
        PlatformRole,
        CreatePlatformUserRequest,
        UpdatePlatformUserRequest,
        PlatformUserResponse,
        PlatformUserList
    ))
)]
pub struct PlatformUsersApi;

/// A platform role.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformRole {
    /// Full control of the platform.
    PlatformAdmin,
    /// Read access to everything on the platform.
    PlatformViewer,
}

/// An operator to create. `Debug` hides the password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlatformUserRequest {
    /// Sign-in name: 1 to 128 letters, digits, '.', '_', '-', '@', '+'; unique among
    /// operators without regard to case.
    #[schema(example = "ops", min_length = 1, max_length = 128, pattern = r"^[\p{L}\p{N}._@+-]+$")]
    pub user_name: String,
    /// 8 to 1024 characters; stored as an Argon2id hash, never returned.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 8, max_length = 1024)]
    pub password: String,
    /// `platform_admin` and/or `platform_viewer`.
    #[schema(value_type = Vec<PlatformRole>, min_items = 1, max_items = 2)]
    pub roles: Vec<String>,
    /// Whether the operator may sign in; default true.
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for CreatePlatformUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatePlatformUserRequest").field("user_name", &self.user_name).finish_non_exhaustive()
    }
}

/// A JSON merge patch (RFC 7386) of an operator: absent fields stay. `Debug` hides the
/// password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlatformUserRequest {
    /// Replacement roles.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Vec<PlatformRole>, min_items = 1, max_items = 2)]
    pub roles: Option<Option<Vec<String>>>,
    /// Enable or disable sign-in.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = bool)]
    pub enabled: Option<Option<bool>>,
    /// New password.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 1024)]
    pub password: Option<Option<String>>,
}

impl std::fmt::Debug for UpdatePlatformUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdatePlatformUserRequest")
            .field("roles", &self.roles)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// An operator. The password is never returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformUserResponse {
    /// Identifier.
    pub id: Uuid,
    /// Sign-in name, in the case it was created with.
    pub user_name: String,
    /// `platform_admin` and/or `platform_viewer`.
    #[schema(value_type = Vec<PlatformRole>)]
    pub roles: Vec<String>,
    /// Whether the operator may sign in.
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The operator's lockout; `POST /api/v1/platform/users/{user_name}/_unlock` lifts it.
    #[serde(flatten)]
    pub lockout: Lockout,
}

impl PlatformUserResponse {
    async fn of(state: &AppState, user: PlatformUser) -> Result<Self, ApiError> {
        let lockout = state.tokens.lockout_state(Scope::Platform, &user.user_name).await?.into();
        Ok(Self {
            id: user.id.as_uuid(),
            user_name: user.user_name,
            roles: user.roles.to_strings(),
            enabled: user.enabled,
            created_at: user.created_at,
            lockout,
        })
    }
}

/// A page of operators.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformUserList {
    /// The operators on this page, by name.
    pub users: Vec<PlatformUserResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

fn parse_new(body: CreatePlatformUserRequest) -> Result<NewOperator, Invalid> {
    Ok(NewOperator {
        user_name: UserName::parse(&body.user_name)?,
        password: Password::parse_new(body.password)?,
        roles: Roles::parse_platform("roles", &body.roles)?,
        enabled: body.enabled.unwrap_or(true),
    })
}

fn parse_patch(body: UpdatePlatformUserRequest) -> Result<OperatorPatch, Invalid> {
    Ok(OperatorPatch {
        roles: required("roles", body.roles)?.map(|r| Roles::parse_platform("roles", &r)).transpose()?,
        enabled: required("enabled", body.enabled)?,
        password: required("password", body.password)?.map(Password::parse_new).transpose()?,
    })
}

/// Create a platform operator.
#[utoipa::path(post, path = "/api/v1/platform/users", operation_id = "create_platform_user", tag = "platform users", request_body = CreatePlatformUserRequest,
    responses(
        (status = 200, description = "The operator was created.", body = PlatformUserResponse),
        (status = 400, description = "Malformed body or invalid field: `root.invalid_data`, `user.user_name.invalid`, `user.roles.invalid` (with `fields`).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Lacks `platform_admin` (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 409, description = "The name is taken, compared without case (`user.user_name.conflict`).", body = ErrorBody),
        (status = 413, description = "`root.payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`root.unsupported_media_type`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn create(
    caller: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<CreatePlatformUserRequest>,
) -> Result<HttpResponse, ApiError> {
    in_person(&caller.principal, "create platform operators")?;
    let new = parse_new(body).map_err(user_field)?;
    let by = Initiator::new(&caller.principal, origin);
    let user = state.operators.create(new, &by).await?;
    Ok(HttpResponse::Ok().json(PlatformUserResponse::of(&state, user).await?))
}

/// List the platform operators.
#[utoipa::path(get, path = "/api/v1/platform/users", operation_id = "list_platform_users", tag = "platform users",
    params(PageParams),
    responses(
        (status = 200, description = "A page of operators, ordered by name.", body = PlatformUserList),
        (status = 400, description = "`root.invalid_data` (pagination out of bounds).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Not a platform operator (`root.unauthorized.rbac`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list(
    _caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let page = state.operators.list(page).await?;
    let info = PageInfo::from(&page);
    let mut users = Vec::with_capacity(page.items.len());
    for user in page.items {
        users.push(PlatformUserResponse::of(&state, user).await?);
    }
    Ok(HttpResponse::Ok().json(PlatformUserList { users, page: info }))
}

/// Get a platform operator by name (without regard to case) or id.
#[utoipa::path(get, path = "/api/v1/platform/users/{user_name}", operation_id = "get_platform_user", tag = "platform users",
    params(("user_name" = String, Path, description = "Operator name or id")),
    responses(
        (status = 200, description = "The operator.", body = PlatformUserResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get(
    _caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = state.operators.get(&path).await?;
    Ok(HttpResponse::Ok().json(PlatformUserResponse::of(&state, user).await?))
}

/// Change a platform operator's roles, enabled flag or password (JSON merge patch).
///
/// A `platform_admin` changes anyone; any other operator only their own password. A
/// password or roles are changed only in person (a password or a session), never with
/// an API key. Disabling the operator or an admin's reset of their password ends their
/// sessions and revokes their API keys; changing one's own password ends one's other
/// sessions. The last enabled
/// `platform_admin` cannot be demoted or disabled.
#[utoipa::path(patch, path = "/api/v1/platform/users/{user_name}", operation_id = "update_platform_user", tag = "platform users", request_body(content = UpdatePlatformUserRequest, content_type = "application/merge-patch+json"),
    params(("user_name" = String, Path, description = "Operator name or id")),
    responses(
        (status = 200, description = "The updated operator.", body = PlatformUserResponse),
        (status = 400, description = "`root.invalid_data`, `user.roles.invalid`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Lacks `platform_admin`, beyond changing one's own password; or an API key asking to change a password or roles (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
        (status = 409, description = "It would leave no enabled `platform_admin` (`platform.last_admin`).", body = ErrorBody),
        (status = 415, description = "`root.unsupported_media_type`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn update(
    caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<UpdatePlatformUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let patch = parse_patch(body).map_err(user_field)?;
    if patch.password.is_some() || patch.roles.is_some() {
        in_person(&caller.principal, "change an operator's password or roles")?;
    }
    if !caller.principal.is_platform_admin() {
        // Anyone else changes only their own password (in person, as checked above).
        let own_password = patch.roles.is_none() && patch.enabled.is_none();
        let target = state.operators.get(&path).await?;
        if !own_password || caller.principal.subject != Subject::PlatformUser(target.id) {
            return Err(ApiError::forbidden());
        }
    }
    let by = Initiator::new(&caller.principal, origin);
    let user = state.operators.update(&path, patch, &by).await?;
    Ok(HttpResponse::Ok().json(PlatformUserResponse::of(&state, user).await?))
}

/// Delete a platform operator and their keys, ending their sessions.
///
/// The last enabled `platform_admin` cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/platform/users/{user_name}", operation_id = "delete_platform_user", tag = "platform users",
    params(("user_name" = String, Path, description = "Operator name or id")),
    responses(
        (status = 200, description = "Deleted.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Lacks `platform_admin` (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
        (status = 409, description = "It is the last enabled `platform_admin` (`platform.last_admin`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn delete(
    caller: Authenticated<PlatformAdmin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let by = Initiator::new(&caller.principal, origin);
    state.operators.delete(&path, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
