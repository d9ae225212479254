//! Platform operators' own API keys (`kpp_…`): created, listed, read and revoked under
//! `/api/v1/platform/users/{user_name}/keys`, by an admin or by the operator.

use crate::admin_errors::user_field;
use crate::audit::Origin;
use crate::authentication::{Authenticated, PlatformReader};
use crate::authorization::{in_person, reauthenticated};
use crate::dto::{Empty, PageInfo, PageParams};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PageQuery};
use crate::state::AppState;
use crate::surfaces::native::user_keys::parse_expiration;
use crate::surfaces::platform::operators::PlatformRole;
use crate::surfaces::route::{Api, Route};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::KeyDescription;
use keyplane_domain::audit::Initiator;
use keyplane_domain::error::Invalid;
use keyplane_domain::platform::{PlatformKey, PlatformUser};
use keyplane_domain::principal::{Principal, Subject};
use keyplane_domain::role::Roles;
use keyplane_domain::services::operators::NewPlatformKey;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: PlatformKeysApi::openapi(),
        routes: vec![
            Route::new("/api/v1/platform/users/{user_name}/keys", |r| r.get(list_keys).post(create_key)),
            Route::new("/api/v1/platform/users/{user_name}/keys/{api_key_id}", |r| r.get(get_key).delete(delete_key)),
        ],
    }
}

/// The platform key routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create_key, list_keys, get_key, delete_key),
    components(schemas(CreatePlatformKeyRequest, PlatformKeyResponse, PlatformKeyList))
)]
pub struct PlatformKeysApi;

/// A platform key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlatformKeyRequest {
    /// What the key is for.
    #[schema(example = "prometheus scraper", max_length = 512)]
    pub description: String,
    /// Roles to grant, at most the operator's own; default all of the operator's.
    #[schema(value_type = Option<Vec<PlatformRole>>, min_items = 1, max_items = 2)]
    pub roles: Option<Vec<String>>,
    /// How long the key lives: a number and a unit, `s`, `m`, `h`, `d`, `w`, `M` (30 days)
    /// or `y` (365 days), e.g. `90d`; default forever.
    #[schema(example = "90d")]
    pub expiration: Option<String>,
    /// The caller's password, needed with a session signed in more than 5 minutes ago.
    pub current_password: Option<String>,
}

/// A platform key.
#[derive(Serialize, ToSchema)]
pub struct PlatformKeyResponse {
    /// The key id (its public part).
    #[schema(example = "3f1c0a9b7d2e4f6a8b0c1d2e")]
    pub id: String,
    /// The key itself, `kpp_<id>_<secret>`: present only in the creation response. Send
    /// it as `X-API-Key` or `Authorization: ApiKey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What the key is for.
    pub description: String,
    /// The operator it belongs to.
    pub user_id: Uuid,
    /// The roles it grants (while its operator holds them).
    #[schema(value_type = Vec<PlatformRole>)]
    pub roles: Vec<String>,
    /// Creation time.
    pub creation_date: DateTime<Utc>,
    /// When the key expires, if ever.
    pub expiration_date: Option<DateTime<Utc>>,
    /// Last use (recorded at most once a minute).
    pub last_used_date: Option<DateTime<Utc>>,
}

impl PlatformKeyResponse {
    fn of(k: PlatformKey, key: Option<String>) -> Self {
        Self {
            id: k.public_id.to_string(),
            key,
            description: k.description.as_str().to_owned(),
            user_id: k.owner.as_uuid(),
            roles: k.roles.to_strings(),
            creation_date: k.created_at,
            expiration_date: k.expires_at,
            last_used_date: k.last_used_at,
        }
    }
}

/// A page of an operator's keys.
#[derive(Serialize, ToSchema)]
pub struct PlatformKeyList {
    /// The keys, oldest first.
    pub keys: Vec<PlatformKeyResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Whether `caller` may create and delete `owner`'s keys: an admin, or the operator.
fn may_manage_keys(caller: &Principal, owner: &PlatformUser) -> Result<(), ApiError> {
    match caller.subject {
        _ if caller.is_platform_admin() => Ok(()),
        Subject::PlatformUser(id) if id == owner.id => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

/// Create a platform API key for an operator; the key is shown only in this response.
///
/// An admin creates keys for any operator, an operator for themselves, with a password
/// (Basic) or a session (bearer token): a platform key cannot create keys.
#[utoipa::path(post, path = "/api/v1/platform/users/{user_name}/keys", operation_id = "create_platform_api_key", tag = "platform users", request_body = CreatePlatformKeyRequest,
    params(("user_name" = String, Path, description = "Operator name or id")),
    responses(
        (status = 200, description = "The key, with `key` shown this once (`Cache-Control: no-store`).", body = PlatformKeyResponse),
        (status = 400, description = "`root.invalid_data` (description, expiration), `user.roles.invalid` (a role the operator lacks).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`, or `authc.reauthentication_required`: with a session signed in more than 5 minutes ago, send `current_password` (or sign in again).", body = ErrorBody),
        (status = 403, description = "Neither `platform_admin` nor the operator, or a platform key asking (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
        (status = 415, description = "`root.unsupported_media_type`.", body = ErrorBody),
        (status = 429, description = "`root.rate_limited`: checking `current_password` found the password hashing pool full, or the limit's worth of attempts being verified (with `Retry-After`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn create_key(
    caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<CreatePlatformKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    in_person(&caller.principal, "create API keys")?;
    let owner = state.operators.get(&path).await?;
    may_manage_keys(&caller.principal, &owner)?;
    reauthenticated(&state, &caller.principal, body.current_password.clone(), &origin).await?;
    let parse = || -> Result<NewPlatformKey, Invalid> {
        Ok(NewPlatformKey {
            description: KeyDescription::parse(&body.description)?,
            roles: body.roles.as_deref().map(|r| Roles::parse_platform("roles", r)).transpose()?,
            expires_at: body.expiration.as_deref().map(parse_expiration).transpose()?.map(|l| state.keys.now() + l),
        })
    };
    let new = parse().map_err(user_field)?;
    let by = Initiator::new(&caller.principal, origin);
    let created = state.operators.create_key(&owner, new, &by).await?;
    let response = PlatformKeyResponse::of(created.key, Some(created.full_text));
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(response))
}

/// List an operator's API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/platform/users/{user_name}/keys", operation_id = "list_platform_api_keys", tag = "platform users",
    params(("user_name" = String, Path, description = "Operator name or id"), PageParams),
    responses(
        (status = 200, description = "A page of the operator's unrevoked keys, oldest first.", body = PlatformKeyList),
        (status = 400, description = "`root.invalid_data` (pagination out of bounds).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list_keys(
    _caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let owner = state.operators.get(&path).await?;
    let page = state.operators.list_keys(&owner, page).await?;
    let info = PageInfo::from(&page);
    let keys = page.items.into_iter().map(|k| PlatformKeyResponse::of(k, None)).collect();
    Ok(HttpResponse::Ok().json(PlatformKeyList { keys, page: info }))
}

/// Get one of an operator's API keys.
#[utoipa::path(get, path = "/api/v1/platform/users/{user_name}/keys/{api_key_id}", operation_id = "get_platform_api_key", tag = "platform users",
    params(("user_name" = String, Path, description = "Operator name or id"), ("api_key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key.", body = PlatformKeyResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found` or `api_keys.key_not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get_key(
    _caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, key) = path.into_inner();
    let owner = state.operators.get(&user).await?;
    let key = state.operators.get_key(&owner, &key).await?;
    Ok(HttpResponse::Ok().json(PlatformKeyResponse::of(key, None)))
}

/// Revoke one of an operator's API keys; it stops working at once.
///
/// An admin revokes any operator's keys, an operator their own.
#[utoipa::path(delete, path = "/api/v1/platform/users/{user_name}/keys/{api_key_id}", operation_id = "delete_platform_api_key", tag = "platform users",
    params(("user_name" = String, Path, description = "Operator name or id"), ("api_key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Neither `platform_admin` nor the operator (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "`user.not_found` or `api_keys.key_not_found` (also once revoked).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn delete_key(
    caller: Authenticated<PlatformReader>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let (user, key) = path.into_inner();
    let owner = state.operators.get(&user).await?;
    may_manage_keys(&caller.principal, &owner)?;
    let by = Initiator::new(&caller.principal, origin);
    state.operators.revoke_key(&owner, &key, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
