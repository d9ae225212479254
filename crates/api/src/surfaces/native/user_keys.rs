//! Users' own API keys, as ECE has them: `/api/v1/users/auth/keys` for the signed-in
//! user, `/api/v1/users/{user_id}/auth/keys` for tenant admins. A user's key acts as its
//! owner, with the owner's current roles, while the owner is enabled.

use crate::audit::Origin;
use crate::authentication::{ActingTenant, Authenticated, TenantAdmin, TenantReader};
use crate::authorization::reauthenticated;
use crate::dto::Empty;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::JsonBody;
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use keyplane_domain::api_key::{ApiKey, KeyDescription, KeyOwner};
use keyplane_domain::audit::Initiator;
use keyplane_domain::error::Invalid;
use keyplane_domain::ids::{TenantId, UserId};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::page::PageRequest;
use keyplane_domain::principal::{Principal, Subject};
use keyplane_domain::role::Roles;
use keyplane_domain::services::api_keys::{CreatedKey, KeyError, NewKey};
use keyplane_domain::tenant::TenantRef;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: UserKeysApi::openapi(),
        routes: vec![
            Route::new("/api/v1/users/auth/keys", |r| r.get(list_own).post(create_own).delete(delete_own_bulk))
                .entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/auth/keys/{api_key_id}", |r| r.get(get_own).delete(delete_own))
                .entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/{user_id}/auth/keys", |r| r.get(list_user)),
            Route::new("/api/v1/users/{user_id}/auth/keys/{api_key_id}", |r| r.get(get_user).delete(delete_user)),
        ],
    }
}

/// The user key routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(create_own, list_own, get_own, delete_own, delete_own_bulk, list_user, get_user, delete_user),
    components(schemas(CreateUserKeyRequest, UserKeyResponse, UserKeyList, DeleteKeysRequest))
)]
pub struct UserKeysApi;

/// A key to create for the signed-in user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserKeyRequest {
    /// What the key is for.
    #[schema(example = "ci pipeline")]
    pub description: String,
    /// How long the key lives: a number and a unit, `s`, `m`, `h`, `d`, `w`, `M` (30 days)
    /// or `y` (365 days), e.g. `30d`, or `never`; default the tenant's
    /// `personal_key_lifetime_seconds` (90 days unless changed).
    #[schema(example = "30d")]
    pub expiration: Option<String>,
    /// The user's password, needed when the session signed in more than 5 minutes ago.
    pub current_password: Option<String>,
}

/// Key ids to delete at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteKeysRequest {
    /// The key ids.
    pub keys: Vec<String>,
}

/// A user's API key (ECE's `ApiKeyResponse`).
#[derive(Serialize, ToSchema)]
pub struct UserKeyResponse {
    /// The key id.
    pub id: String,
    /// The key itself: present only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key's public id (the part of `key` between `kp_` and the next `_`), as
    /// InvestSuite's `POST /t/{tenant}/investsuite/auth/login/` takes it: present only in
    /// the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "3f1c0a9b7d2e4f6a8b0c1d2e")]
    pub access_key_id: Option<String>,
    /// The key's secret (the rest of `key` after `kp_<access_key_id>_`), as InvestSuite's
    /// `/auth/login/` takes it: present only in the creation response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// What the key is for.
    pub description: String,
    /// The owning user.
    pub user_id: Uuid,
    /// Creation time.
    pub creation_date: DateTime<Utc>,
    /// When the key expires, if ever.
    pub expiration_date: Option<DateTime<Utc>>,
}

/// A user's keys (ECE's `ApiKeysResponse`).
#[derive(Serialize, ToSchema)]
pub struct UserKeyList {
    /// The keys, oldest first.
    pub keys: Vec<UserKeyResponse>,
}

/// The creation response: the attributes and, this once, the key and its two halves.
fn created_response(created: CreatedKey) -> UserKeyResponse {
    let (id, secret) = created.access_key_pair();
    let (id, secret) = (id.to_owned(), secret.to_owned());
    let mut response = to_response(created.key, Some(created.full_text));
    response.access_key_id = Some(id);
    response.secret_access_key = Some(secret);
    response
}

fn to_response(k: ApiKey, key: Option<String>) -> UserKeyResponse {
    let user_id = match k.owner {
        KeyOwner::User(u) => u.as_uuid(),
        KeyOwner::Application => Uuid::nil(),
    };
    UserKeyResponse {
        id: k.public_id.to_string(),
        key,
        access_key_id: None,
        secret_access_key: None,
        description: k.description.as_str().to_owned(),
        user_id,
        creation_date: k.created_at,
        expiration_date: k.expires_at,
    }
}

/// Parses ECE-style durations: `90s`, `15m`, `12h`, `30d`, `2w`, `6M`, `1y`.
pub(crate) fn parse_expiration(raw: &str) -> Result<Duration, Invalid> {
    let bad = || Invalid::new("expiration", "must be a positive number followed by s, m, h, d, w, M or y (e.g. 30d)");
    let raw = raw.trim();
    let unit = raw.chars().last().ok_or_else(bad)?;
    let number: i64 = raw[..raw.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return Err(bad()),
    };
    if number <= 0 || number.checked_mul(seconds).is_none_or(|s| s > 100 * 365 * 86_400) {
        return Err(bad());
    }
    Ok(Duration::seconds(number * seconds))
}

/// The signed-in user behind a bearer token (keys are created from sessions only).
fn session_user(p: &Principal) -> Result<(TenantId, UserId), ApiError> {
    match (&p.subject, p.tenant, p.session) {
        (Subject::User(u), Some(t), Some(_)) => Ok((t, *u)),
        _ => Err(ApiError::forbidden()),
    }
}

/// The user's own keys: a session's user, or the owner of the user key in use.
fn own_user(p: &Principal) -> Result<(TenantId, UserId), ApiError> {
    match (&p.subject, p.tenant) {
        (Subject::User(u), Some(t)) | (Subject::ApiKey { owner: Some(u), .. }, Some(t)) => Ok((t, *u)),
        _ => Err(ApiError::forbidden()),
    }
}

async fn all_keys(state: &AppState, tenant: TenantId, owner: UserId) -> Result<Vec<ApiKey>, ApiError> {
    let mut keys = Vec::new();
    let mut from = 0;
    loop {
        let page = PageRequest::parse(Some(from), Some(100)).expect("valid page");
        let page = state.keys.list(tenant, Some(KeyOwner::User(owner)), true, page).await?;
        let done = page.items.len() < 100;
        keys.extend(page.items);
        if done {
            return Ok(keys);
        }
        from += 100;
    }
}

/// A deleted (revoked) user key no longer exists as far as the ECE API is concerned.
fn not_deleted(key: ApiKey) -> Result<ApiKey, ApiError> {
    if key.revoked_at.is_some() {
        return Err(KeyError::NotFound.into());
    }
    Ok(key)
}

/// Create an API key for the signed-in user; the key is shown only in this response.
#[utoipa::path(post, path = "/api/v1/users/auth/keys", operation_id = "create_own_api_key", tag = "user keys", request_body = CreateUserKeyRequest,
    responses(
        (status = 200, description = "The API key is created and returned in the body of the response, with `access_key_id` and `secret_access_key` (shown once, `Cache-Control: no-store`).", body = UserKeyResponse),
        (status = 400, description = "`root.invalid_data`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`, or `authc.reauthentication_required`: with a session signed in more than 5 minutes ago, send `current_password` (or sign in again).", body = ErrorBody),
        (status = 403, description = "Not a signed-in user's session (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 429, description = "`root.rate_limited`: checking `current_password` found the password hashing pool full, or the limit's worth of attempts being verified (with `Retry-After`).", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create_own(
    auth: Authenticated,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<CreateUserKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = session_user(&auth.principal)?;
    let description = KeyDescription::parse(&body.description)?;
    // A key that never expires only when asked for; else the tenant's default lifetime.
    let lifetime = match body.expiration.as_deref() {
        Some("never") => None,
        Some(raw) => Some(parse_expiration(raw).map_err(|_| {
            Invalid::new(
                "expiration",
                "must be `never`, or a positive number followed by s, m, h, d, w, M or y (e.g. 30d)",
            )
        })?),
        None => state.tenants.find(&TenantRef::Id(tenant)).await?.map(|t| t.policy.personal_key_lifetime),
    };
    reauthenticated(&state, &auth.principal, body.current_password, &origin).await?;
    let new = NewKey {
        description,
        owner: KeyOwner::User(user),
        roles: Roles::default(),
        expires_at: lifetime.map(|l| state.keys.now() + l),
    };
    let by = Initiator::new(&auth.principal, origin);
    let created = state.keys.create(tenant, new, &by).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(created_response(created)))
}

/// List the caller's own keys.
#[utoipa::path(get, path = "/api/v1/users/auth/keys", operation_id = "list_own_api_keys", tag = "user keys",
    responses(
        (status = 200, description = "The keys.", body = UserKeyList),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_own(auth: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = own_user(&auth.principal)?;
    let keys = all_keys(&state, tenant, user).await?;
    Ok(HttpResponse::Ok().json(UserKeyList { keys: keys.into_iter().map(|k| to_response(k, None)).collect() }))
}

/// Get one of the caller's own keys.
#[utoipa::path(get, path = "/api/v1/users/auth/keys/{api_key_id}", operation_id = "get_own_api_key", tag = "user keys",
    params(("api_key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key.", body = UserKeyResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 404, description = "`api_keys.key_not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_own(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = own_user(&auth.principal)?;
    let key = state.keys.get(tenant, &path, Some(KeyOwner::User(user))).await?;
    Ok(HttpResponse::Ok().json(to_response(not_deleted(key)?, None)))
}

/// Delete one of the caller's own keys.
///
/// It stops working at once, and the sessions it opened end.
#[utoipa::path(delete, path = "/api/v1/users/auth/keys/{api_key_id}", operation_id = "delete_own_api_key", tag = "user keys",
    params(("api_key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Deleted.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 404, description = "`api_keys.key_not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_own(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = own_user(&auth.principal)?;
    let by = Initiator::new(&auth.principal, origin);
    delete_one(&state, tenant, user, &path, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

async fn delete_one(
    state: &AppState,
    tenant: TenantId,
    user: UserId,
    id: &str,
    by: &Initiator,
) -> Result<(), ApiError> {
    let key = state.keys.get(tenant, id, Some(KeyOwner::User(user))).await?;
    not_deleted(key)?;
    state.keys.revoke(tenant, id, Some(KeyOwner::User(user)), by).await?;
    Ok(())
}

/// Delete several of the caller's own keys. Every id must exist, or none is deleted.
#[utoipa::path(delete, path = "/api/v1/users/auth/keys", operation_id = "delete_own_api_keys", tag = "user keys", request_body = DeleteKeysRequest,
    responses(
        (status = 200, description = "Deleted.", body = Empty),
        (status = 400, description = "`root.invalid_data`.", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 404, description = "One of the keys does not exist (`api_keys.key_not_found`, naming it).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_own_bulk(
    auth: Authenticated,
    state: web::Data<AppState>,
    Origin(origin): Origin,
    JsonBody(body): JsonBody<DeleteKeysRequest>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, user) = own_user(&auth.principal)?;
    if body.keys.is_empty() || body.keys.len() > 100 {
        return Err(ApiError::new(ErrorCode::InvalidData, "'keys' must list 1 to 100 key ids.").with_fields(["keys"]));
    }
    for id in &body.keys {
        let key = state.keys.get(tenant, id, Some(KeyOwner::User(user))).await;
        if key.map_err(ApiError::from).and_then(not_deleted).is_err() {
            return Err(
                ApiError::new(ErrorCode::KeyNotFound, format!("API key '{id}' was not found.")).with_fields(["keys"])
            );
        }
    }
    let by = Initiator::new(&auth.principal, origin);
    for id in &body.keys {
        state.keys.revoke(tenant, id, Some(KeyOwner::User(user)), &by).await?;
    }
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// List a user's keys (tenant admin or viewer).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/auth/keys", operation_id = "list_user_api_keys", tag = "user keys",
    params(("user_id" = String, Path, description = "User id or name"),
        ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "The keys.", body = UserKeyList),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list_user(
    caller: ActingTenant<TenantReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user(&state, &path).await?;
    let (tenant, user) = (caller.tenant.id, user.id);
    let keys = all_keys(&state, tenant, user).await?;
    Ok(HttpResponse::Ok().json(UserKeyList { keys: keys.into_iter().map(|k| to_response(k, None)).collect() }))
}

/// Get one of a user's keys (tenant admin or viewer).
#[utoipa::path(get, path = "/api/v1/users/{user_id}/auth/keys/{api_key_id}", operation_id = "get_user_api_key", tag = "user keys",
    params(("user_id" = String, Path, description = "User id or name"), ("api_key_id" = String, Path, description = "Key id"),
        ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "The key.", body = UserKeyResponse),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`api_keys.key_not_found` or `user.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn get_user(
    caller: ActingTenant<TenantReader>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, id) = path.into_inner();
    let user = caller.user(&state, &user).await?;
    let (tenant, user) = (caller.tenant.id, user.id);
    let key = state.keys.get(tenant, &id, Some(KeyOwner::User(user))).await?;
    Ok(HttpResponse::Ok().json(to_response(not_deleted(key)?, None)))
}

/// Delete one of a user's keys (tenant admin).
#[utoipa::path(delete, path = "/api/v1/users/{user_id}/auth/keys/{api_key_id}", operation_id = "delete_user_api_key", tag = "user keys",
    params(("user_id" = String, Path, description = "User id or name"), ("api_key_id" = String, Path, description = "Key id"),
        ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "Deleted.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`api_keys.key_not_found` or `user.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn delete_user(
    caller: ActingTenant<TenantAdmin>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let (user, id) = path.into_inner();
    let user = caller.user(&state, &user).await?;
    let (tenant, user) = (caller.tenant.id, user.id);
    let by = Initiator::new(&caller.principal, origin);
    delete_one(&state, tenant, user, &id, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expirations_parse_like_ece() {
        assert_eq!(parse_expiration("90s").unwrap().num_seconds(), 90);
        assert_eq!(parse_expiration("3d").unwrap().num_seconds(), 3 * 86_400);
        assert_eq!(parse_expiration("1y").unwrap().num_days(), 365);
        for bad in ["", "d", "0d", "-1d", "5x", "1.5h", "999999999999999y"] {
            assert!(parse_expiration(bad).is_err(), "{bad}");
        }
    }
}
