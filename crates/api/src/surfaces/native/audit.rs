//! `GET /api/v1/audit`: the audit trail, newest first. A tenant admin sees their own
//! tenant's events (a tenant credential never reaches another tenant's, whatever header it
//! sends); a platform operator sees every event, or one tenant's with `X-Keyplane-Tenant`.

use crate::authentication::{tenant_for, Authenticated, TENANT_HEADER};
use crate::dto::PageInfo;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::AppState;
use crate::surfaces::route::{Api, Route};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use keyplane_domain::audit::{AuditEvent, AuditFilter, AuditScope};
use keyplane_domain::page::PageRequest;
use keyplane_domain::services::tenants::Access;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

/// The route and its part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api { doc: AuditApi::openapi(), routes: vec![Route::new("/api/v1/audit", |r| r.get(list))] }
}

/// The audit route's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(list), components(schemas(AuditEventResponse, AuditActorResponse, AuditEventList)))]
pub struct AuditApi;

/// Filters and paging of `GET /api/v1/audit`. Unknown parameters are refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Events whose action starts with this (`user.` for every user event,
    /// `user.sign_in` for sign-ins).
    #[param(pattern = "^[a-z0-9._]{1,128}$", example = "user.sign_in")]
    pub action: Option<String>,
    /// The actor's name (a user name, without regard to case, or an API key's public
    /// id) or id; no control characters.
    #[param(min_length = 1, max_length = 128)]
    pub actor: Option<String>,
    /// `success` or `failure`.
    #[param(pattern = "^(success|failure)$")]
    pub outcome: Option<String>,
    /// At or after this instant (RFC 3339, e.g. `2026-01-01T00:00:00Z`).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// Index of the first event (default 0).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// Events per page (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActorResponse {
    /// `user`, `platform_user`, `api_key` or `anonymous`.
    #[schema(example = "user")]
    pub kind: String,
    /// The user, operator or key id.
    pub id: Option<Uuid>,
    /// The user name, or the API key's public id.
    pub name: Option<String>,
}

/// One audit event. Never holds a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    /// Identifier (time-ordered).
    pub id: Uuid,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The tenant it concerns; `null` for the platform.
    pub tenant_id: Option<Uuid>,
    /// Who acted.
    pub actor: AuditActorResponse,
    /// What happened, a stable dotted name (`user.created`, `user.sign_in.failed`, …).
    #[schema(example = "user.created")]
    pub action: String,
    /// `success` or `failure`.
    #[schema(example = "success")]
    pub outcome: String,
    /// `native`, `sensu`, `tenovos`, `investsuite`, `oauth2` or `admin`.
    #[schema(example = "admin")]
    pub entry_point: String,
    /// The client's address (the peer, or as a trusted proxy forwarded it).
    pub client_address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The request's correlation id, as in the logs.
    pub request_id: Option<String>,
    /// Ids, names and changed field names; never values of secrets.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            time: e.time,
            tenant_id: e.tenant.map(|t| t.as_uuid()),
            actor: AuditActorResponse { kind: e.actor.kind.as_str().to_owned(), id: e.actor.id, name: e.actor.name },
            action: e.action,
            outcome: e.outcome.as_str().to_owned(),
            entry_point: e.entry_point.as_str().to_owned(),
            client_address: e.client_address,
            user_agent: e.user_agent,
            request_id: e.request_id,
            details: e.details.to_value(),
        }
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    /// The events.
    pub events: Vec<AuditEventResponse>,
    /// Position in the whole list.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// A caller allowed to read the audit trail, and the events it may see: a tenant admin
/// its own tenant's; a platform operator all, or the tenant named in `X-Keyplane-Tenant`.
pub struct AuditReader {
    /// The events within reach.
    pub scope: AuditScope,
}

impl FromRequest for AuditReader {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Authenticated::<crate::authentication::AnyCredential>::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let named = req.headers().get(TENANT_HEADER).map(|v| v.to_str().unwrap_or("").trim().to_owned());
        Box::pin(async move {
            let principal = caller.await?.principal;
            let state = state.ok_or_else(|| ApiError::internal(&std::io::Error::other("application state missing")))?;
            match principal.tenant {
                // A tenant credential: its own tenant only; the header cannot widen it.
                Some(own) if principal.can_admin_tenant(own) => Ok(Self { scope: AuditScope::Tenant(own) }),
                Some(_) => Err(ApiError::forbidden()),
                None if !principal.is_platform_reader() => Err(ApiError::forbidden()),
                None => match named.filter(|n| !n.is_empty()) {
                    None => Ok(Self { scope: AuditScope::All }),
                    Some(named) => {
                        let tenant = tenant_for(&state, &principal, &named, Access::Read).await?;
                        Ok(Self { scope: AuditScope::Tenant(tenant.id) })
                    }
                },
            }
        })
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidData, message).with_fields([field.to_owned()])
}

/// Parses the query string: filters and page.
fn parse_query(query: &str) -> Result<(AuditFilter, PageRequest), ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    let params: AuditParams =
        serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|e| {
            let text = e.inner().to_string();
            let field = e.path().iter().next_back().map(|s| s.to_string()).filter(|f| f != "?");
            if let Some(unknown) = text.strip_prefix("unknown field `").and_then(|t| t.split('`').next()) {
                return invalid(unknown, format!("Unknown query parameter '{unknown}'."));
            }
            match field {
                Some(field) => invalid(&field, format!("Invalid value for query parameter '{field}'.")),
                None => ApiError::new(ErrorCode::InvalidData, "The query string is malformed."),
            }
        })?;
    let time = |field: &str, raw: Option<&str>| -> Result<Option<DateTime<Utc>>, ApiError> {
        raw.map(|r| {
            DateTime::parse_from_rfc3339(r).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                invalid(field, format!("'{field}' must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z."))
            })
        })
        .transpose()
    };
    let since = time("since", params.since.as_deref())?;
    let until = time("until", params.until.as_deref())?;
    let filter =
        AuditFilter::parse(params.action.as_deref(), params.actor.as_deref(), params.outcome.as_deref(), since, until)?;
    let page = PageRequest::parse(params.from, params.size)?;
    Ok((filter, page))
}

/// List audit events, newest first.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit_events", tag = "audit",
    params(AuditParams, ("X-Keyplane-Tenant" = Option<String>, Header, description = "Tenant slug or id, to see one tenant's events with a platform credential; ignored with a tenant credential")),
    responses(
        (status = 200, description = "A page of events, newest first.", body = AuditEventList),
        (status = 400, description = "A bad filter, date or page parameter, or an unknown parameter (`root.invalid_data`, with `fields`).", body = ErrorBody),
        (status = 401, description = "`root.unauthorized`.", body = ErrorBody),
        (status = 403, description = "Needs `tenant_admin`, `platform_admin` or `platform_viewer` (`root.unauthorized.rbac`).", body = ErrorBody),
        (status = 404, description = "The tenant named in `X-Keyplane-Tenant` does not exist (`tenants.not_found`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ("api_key_authorization" = []), ("basic" = [])))]
pub async fn list(reader: AuditReader, state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (filter, page) = parse_query(req.query_string())?;
    let page = state.audit.list(reader.scope, &filter, page).await?;
    let info = PageInfo::from(&page);
    let events = page.items.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(AuditEventList { events, page: info }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(query: &str) -> Option<Vec<String>> {
        parse_query(query).expect_err("refused").body().errors[0].fields.clone()
    }

    #[test]
    fn filters_parse_and_bad_ones_name_their_field() {
        let (filter, page) =
            parse_query("action=user.sign_in&actor=alice&outcome=failure&since=2026-01-01T00:00:00Z&from=20&size=5")
                .unwrap();
        assert_eq!(filter.action_prefix.as_deref(), Some("user.sign_in"));
        assert_eq!(filter.since.map(|t| t.to_rfc3339()), Some("2026-01-01T00:00:00+00:00".into()));
        assert_eq!((page.from(), page.size()), (20, 5));
        for (query, field) in [
            ("since=yesterday", "since"),
            ("until=2026-13-01T00:00:00Z", "until"),
            ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "until"),
            ("colour=blue", "colour"),
            ("outcome=maybe", "outcome"),
            ("action=USER", "action"),
            ("size=500", "size"),
            ("from=x", "from"),
        ] {
            assert_eq!(field_of(query), Some(vec![field.to_owned()]), "{query}");
        }
    }
}
