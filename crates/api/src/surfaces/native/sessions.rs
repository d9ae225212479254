//! Sessions: a user lists and ends its own (`/api/v1/users/auth/sessions`); a tenant
//! admin lists and ends any user's (`/api/v1/users/{user_name}/sessions`).

use crate::audit::Origin;
use crate::authentication::{ActingTenant, Authenticated, TenantAdmin, TenantReader};
use crate::dto::{Empty, PageInfo, PageParams};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::PageQuery;
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use keyplane_domain::audit::Initiator;
use keyplane_domain::ids::SessionId;
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::principal::{Principal, Subject};
use keyplane_domain::scope::Scope;
use keyplane_domain::services::sessions::reasons;
use keyplane_domain::session::{Session, SessionSubject};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: SessionsApi::openapi(),
        routes: vec![
            Route::new("/api/v1/users/auth/sessions", |r| r.get(list_own)).entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/auth/sessions/{session_id}", |r| r.delete(end_own))
                .entered_as(EntryPoint::Native),
            Route::new("/api/v1/users/{user_name}/sessions", |r| r.get(list_user)),
            Route::new("/api/v1/users/{user_name}/sessions/{session_id}", |r| r.delete(end_user)),
        ],
    }
}

/// The session routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(list_own, end_own, list_user, end_user), components(schemas(SessionResponse, SessionList)))]
pub struct SessionsApi;

/// A session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Identifier (the `sid` claim of its tokens).
    pub id: Uuid,
    /// The user (or key) that signed in.
    pub subject_id: Uuid,
    /// Its name at sign-in.
    pub user_name: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session.
    pub expires_at: DateTime<Utc>,
    /// Last refresh-token rotation.
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Number of rotations.
    pub refresh_count: i64,
    /// Whether this is the session of the calling token.
    pub current: bool,
}

/// A page of active sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// The sessions.
    pub sessions: Vec<SessionResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

fn to_response(s: Session, caller: &Principal) -> SessionResponse {
    SessionResponse {
        id: s.id.as_uuid(),
        subject_id: s.subject.id(),
        user_name: s.subject_name,
        created_at: s.created_at,
        expires_at: s.expires_at,
        last_refreshed_at: s.rotated_at,
        refresh_count: s.refresh_count,
        current: caller.session == Some(s.id),
    }
}

fn own_subject(p: &Principal) -> Result<(Scope, SessionSubject), ApiError> {
    let scope = p.tenant.map_or(Scope::Platform, Scope::Tenant);
    match p.subject {
        Subject::User(u) if p.session.is_some() => Ok((scope, SessionSubject::User(u))),
        Subject::PlatformUser(u) if p.session.is_some() => Ok((scope, SessionSubject::PlatformUser(u))),
        _ => Err(ApiError::forbidden()),
    }
}

fn session_not_found() -> ApiError {
    ApiError::new(ErrorCode::SessionNotFound, "The session was not found.")
}

fn parse_sid(raw: &str) -> Result<SessionId, ApiError> {
    Uuid::parse_str(raw).map(SessionId::from_uuid).map_err(|_| session_not_found())
}

/// List the caller's own active sessions.
#[utoipa::path(get, path = "/api/v1/users/auth/sessions", operation_id = "list_own_sessions", tag = "sessions", params(PageParams),
    responses(
        (status = 200, description = "The caller's active sessions.", body = SessionList),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Not a signed-in user (`root.unauthorized.rbac`).", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list_own(
    auth: Authenticated,
    state: web::Data<AppState>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let (scope, subject) = own_subject(&auth.principal)?;
    let page = state.tokens.sessions(scope, Some(subject), page).await?;
    let info = PageInfo::from(&page);
    let sessions = page.items.into_iter().map(|s| to_response(s, &auth.principal)).collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions, page: info }))
}

/// End one of the caller's own sessions.
#[utoipa::path(delete, path = "/api/v1/users/auth/sessions/{session_id}", operation_id = "end_own_session", tag = "sessions",
    params(("session_id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "Ended.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 404, description = "`sessions.session_not_found`.", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn end_own(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let (scope, subject) = own_subject(&auth.principal)?;
    let sid = parse_sid(&path)?;
    let session =
        state.tokens.session(scope, sid).await?.filter(|s| s.subject == subject).ok_or_else(session_not_found)?;
    let by = Initiator::new(&auth.principal, origin);
    state.sessions.end(scope, session.id, reasons::LOGOUT, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// List a user's active sessions (tenant admin or viewer).
#[utoipa::path(get, path = "/api/v1/users/{user_name}/sessions", operation_id = "list_user_sessions", tag = "sessions",
    params(("user_name" = String, Path, description = "User name or id"), PageParams,
        ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "The user's active sessions.", body = SessionList),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`user.not_found` or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list_user(
    caller: ActingTenant<TenantReader>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    PageQuery(page): PageQuery,
) -> Result<HttpResponse, ApiError> {
    let subject = caller.user(&state, &path).await?;
    let (scope, subject) = (Scope::Tenant(caller.tenant.id), SessionSubject::User(subject.id));
    let page = state.tokens.sessions(scope, Some(subject), page).await?;
    let info = PageInfo::from(&page);
    let sessions = page.items.into_iter().map(|s| to_response(s, &caller.principal)).collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions, page: info }))
}

/// End a user's session (tenant admin).
#[utoipa::path(delete, path = "/api/v1/users/{user_name}/sessions/{session_id}", operation_id = "end_user_session", tag = "sessions",
    params(("user_name" = String, Path, description = "User name or id"), ("session_id" = Uuid, Path, description = "Session id"),
        ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id; required with a platform credential")),
    responses(
        (status = 200, description = "Ended.", body = Empty),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "`root.unauthorized.rbac`.", body = ErrorBody),
        (status = 404, description = "`sessions.session_not_found`, `user.not_found` or `tenants.not_found`.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn end_user(
    caller: ActingTenant<TenantAdmin>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, ApiError> {
    let (user, sid) = path.into_inner();
    let subject = caller.user(&state, &user).await?;
    let (scope, subject) = (Scope::Tenant(caller.tenant.id), SessionSubject::User(subject.id));
    let sid = parse_sid(&sid)?;
    let session =
        state.tokens.session(scope, sid).await?.filter(|s| s.subject == subject).ok_or_else(session_not_found)?;
    let by = Initiator::new(&caller.principal, origin);
    state.sessions.end(scope, session.id, reasons::REVOKED, &by).await?;
    Ok(HttpResponse::Ok().json(Empty {}))
}
