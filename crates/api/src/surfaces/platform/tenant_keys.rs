//! `/api/v1/platform/tenants/{tenant}/keys`: the tenant's application API keys. The secret
//! is returned once, at creation; only its digest is stored.

use crate::audit::Origin;
use crate::authentication::{PathTenant, TenantAdmin, TenantReader};
use crate::authorization::{in_person, may_grant, reauthenticated};
use crate::dto::{Empty, PageInfo, PageParams};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{JsonBody, PageQuery};
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::api_key::{ApiKey, KeyDescription, KeyOwner};
use keyplane_domain::audit::Initiator;
use keyplane_domain::error::Invalid;
use keyplane_domain::role::Roles;
use keyplane_domain::services::api_keys::NewKey;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: TenantKeysApi::openapi(),
        routes: vec![
            Route::new("/api/v1/platform/tenants/{tenant}/keys", |r| r.get(list).post(create)),
            Route::new("/api/v1/platform/tenants/{tenant}/keys/{key_id}", |r| r.get(get).delete(revoke)),
        ],
    }
}

/// The tenant key routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create, list, get, revoke),
    components(schemas(CreateKeyRequest, KeyResponse, CreatedKeyResponse, KeyOwnerResponse, KeyList))
)]
pub struct TenantKeysApi;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// What the key is for (at most 512 characters).
    #[serde(default)]
    #[schema(example = "checkout service", max_length = 512, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub description: String,
    /// Roles the key grants (at most 32, each 1 to 64 of a-z, 0-9, `_-.:`); default none:
    /// a key without roles signs users in, refreshes and introspects their tokens, and
    /// administers nothing. Platform roles are refused, and so is a Keyplane role the
    /// caller does not hold (`root.unauthorized.rbac`).
    #[schema(value_type = Option<Vec<crate::surfaces::native::users::RoleName>>, max_items = 32)]
    pub roles: Option<Vec<String>>,
    /// When the key stops working (RFC 3339, in the future); default never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The caller's password, needed with a session signed in more than 5 minutes ago.
    pub current_password: Option<String>,
}

/// Who owns a key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOwnerResponse {
    /// `application` (the tenant's application) or `user`.
    #[serde(rename = "type")]
    #[schema(example = "application")]
    pub kind: String,
    /// The owning user, for user keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

/// An API key (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    /// Public key id: the part of the key between `kp_` and the second `_`.
    #[schema(example = "3f1c0a9b7d2e4f6a8b0c1d2e")]
    pub id: String,
    /// What the key is for.
    pub description: String,
    /// Who owns it.
    pub owner: KeyOwnerResponse,
    /// Roles it grants.
    pub roles: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use (recorded at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyResponse {
    fn from(k: ApiKey) -> Self {
        let owner = match k.owner {
            KeyOwner::Application => KeyOwnerResponse { kind: "application".into(), user_id: None },
            KeyOwner::User(u) => KeyOwnerResponse { kind: "user".into(), user_id: Some(u.as_uuid()) },
        };
        Self {
            id: k.public_id.to_string(),
            description: k.description.as_str().to_owned(),
            owner,
            roles: k.roles.to_strings(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked: k.revoked_at.is_some(),
            revoked_at: k.revoked_at,
        }
    }
}

/// A created key, with its full text: shown this once, never again (sent with
/// `Cache-Control: no-store`).
#[derive(Serialize, ToSchema)]
pub struct CreatedKeyResponse {
    /// The key, to send as `X-API-Key` or `Authorization: ApiKey …`.
    #[schema(example = "kp_3f1c0a9b7d2e4f6a8b0c1d2e_Jq8…")]
    pub key: String,
    /// The key's public id (the part of `key` between `kp_` and the next `_`): what
    /// InvestSuite's `POST /t/{tenant}/investsuite/auth/login/` takes as `access_key_id`.
    #[schema(example = "3f1c0a9b7d2e4f6a8b0c1d2e")]
    pub access_key_id: String,
    /// The key's secret (the rest of `key` after `kp_<access_key_id>_`): what InvestSuite's
    /// `/auth/login/` takes as `secret_access_key`. Shown only in this response.
    #[schema(example = "Jq8…")]
    pub secret_access_key: String,
    /// The key's attributes.
    #[serde(flatten)]
    pub attributes: KeyResponse,
}

/// A page of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The keys on this page, oldest first.
    pub keys: Vec<KeyResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

fn parse_new(body: CreateKeyRequest) -> Result<NewKey, Invalid> {
    Ok(NewKey {
        description: KeyDescription::parse(&body.description)?,
        owner: KeyOwner::Application,
        roles: match body.roles {
            Some(r) => Roles::parse_tenant("roles", &r)?,
            None => Roles::default(),
        },
        expires_at: body.expires_at,
    })
}

/// Create an API key for the tenant's application.
#[utoipa::path(post, path = "/api/v1/platform/tenants/{tenant}/keys", operation_id = "create_tenant_key", tag = "tenant keys", request_body = CreateKeyRequest,
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    responses(
        (status = 201, description = "The key, with its secret (shown once, `Cache-Control: no-store`).", body = CreatedKeyResponse),
        (status = 400, description = "`root.invalid_data` (with `fields`).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`, or `authc.reauthentication_required`: with a session signed in more than 5 minutes ago, send `current_password`.", body = ErrorBody),
        (status = 403, description = "Needs `platform_admin` or the tenant's `tenant_admin`, signed in with a password or a session: an API key cannot create keys; nor can anyone grant a Keyplane role they do not hold (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "`tenants.not_found` (also for another tenant's credential).", body = ErrorBody),
        (status = 413, description = "`root.payload_too_large`.", body = ErrorBody),
        (status = 415, description = "`root.unsupported_media_type`.", body = ErrorBody),
        (status = 429, description = "`root.rate_limited`: checking `current_password` found the password hashing pool full (with `Retry-After`).", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn create(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<CreateKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    in_person(&caller.principal, "create API keys")?;
    reauthenticated(&state, &caller.principal, body.current_password.clone(), &origin).await?;
    let new = parse_new(body)?;
    may_grant(&caller.principal, &new.roles)?;
    let by = Initiator::new(&caller.principal, origin);
    let created = state.keys.create(tenant.id, new, &by).await?;
    let (access_key_id, secret_access_key) = created.access_key_pair();
    let body = CreatedKeyResponse {
        access_key_id: access_key_id.to_owned(),
        secret_access_key: secret_access_key.to_owned(),
        key: created.full_text.clone(),
        attributes: created.key.into(),
    };
    Ok(HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// List the tenant's keys (revoked ones included).
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}/keys", operation_id = "list_tenant_keys", tag = "tenant keys",
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams),
    responses(
        (status = 200, description = "A page of keys.", body = KeyList),
        (status = 400, description = "`root.invalid_data`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list(
    caller: PathTenant<TenantReader>,
    state: web::Data<AppState>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let tenant = caller.tenant;
    let page = state.keys.list(tenant.id, None, false, page).await?;
    let info = PageInfo::from(&page);
    Ok(HttpResponse::Ok().json(KeyList { keys: page.items.into_iter().map(Into::into).collect(), page: info }))
}

/// Get one of the tenant's keys.
#[utoipa::path(get, path = "/api/v1/platform/tenants/{tenant}/keys/{key_id}", operation_id = "get_tenant_key", tag = "tenant keys",
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("key_id" = String, Path, description = "Public key id")),
    responses(
        (status = 200, description = "The key.", body = KeyResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`api_keys.key_not_found` or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get(
    caller: PathTenant<TenantReader>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, key_id) = path.into_inner();
    let tenant = caller.tenant;
    let key = state.keys.get(tenant.id, &key_id, None).await?;
    Ok(HttpResponse::Ok().json(KeyResponse::from(key)))
}

/// Revoke one of the tenant's keys.
///
/// It stops working at once, and the sessions it opened end (their refresh tokens are
/// refused, their access tokens introspect as inactive). Idempotent.
#[utoipa::path(delete, path = "/api/v1/platform/tenants/{tenant}/keys/{key_id}", operation_id = "revoke_tenant_key", tag = "tenant keys",
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("key_id" = String, Path, description = "Public key id")),
    responses(
        (status = 200, description = "Revoked.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`api_keys.key_not_found` or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn revoke(
    caller: PathTenant<TenantAdmin>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let (_, key_id) = path.into_inner();
    let tenant = caller.tenant;
    let by = Initiator::new(&caller.principal, origin);
    state.keys.revoke(tenant.id, &key_id, None, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
