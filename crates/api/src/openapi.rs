//! The root OpenAPI 3.1 document: each route file's fragment merged, the security
//! schemes, and the table of error codes.

use crate::dto::{Empty, PageInfo};
use crate::error::{ErrorBody, ErrorCode, ErrorItem};
use crate::ratelimit::Class;
use crate::surfaces::{self, RouteFacts, TenantSource};
use utoipa::openapi::header::Header;
use utoipa::openapi::path::PathItem;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Object, Ref, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyplane",
        description = "Multi-tenant managed authentication. The native API follows Elastic Cloud Enterprise's shapes and error envelope.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(ErrorBody, ErrorItem, Empty, PageInfo)),
    tags(
        (name = "authentication", description = "Native (ECE) sign-in: `_login`, `_refresh`, `_logout`. The tenant comes from the application's API key."),
        (name = "sessions", description = "Sessions: list and end them."),
        (name = "user keys", description = "Users' own API keys, as ECE has them."),
        (name = "users", description = "User administration within a tenant. With a tenant API key the tenant is the key's; a platform operator names it in the `X-Keyplane-Tenant` header (slug or id)."),
        (name = "tenants", description = "Tenant administration (platform operators)."),
        (name = "platform users", description = "The platform's operators (`platform_admin`, `platform_viewer`) and their API keys (`kpp_…`). The last enabled `platform_admin` cannot be demoted, disabled or deleted."),
        (name = "tenant keys", description = "A tenant's application API keys."),
        (name = "tenant settings", description = "A tenant's authentication cluster, token policy and signing keys."),
        (name = "audit", description = "The audit trail: sign-ins, lockouts, key creation and revocation, and every administrative change, with actor, outcome, entry point, client address and request id. Never holds a secret."),
        (name = "oauth2", description = "Standard OAuth 2.0 endpoints per tenant (RFC 6749, 7662, 7009) and discovery (JWKS, OpenID configuration). Errors are `{error, error_description}`."),
        (name = "sensu", description = "Sensu Go's `/auth` API, per tenant under `/t/{tenant}/sensu`. Errors are `{message, code}`."),
        (name = "tenovos", description = "Tenovos' `/auth/token`, per tenant under `/t/{tenant}/tenovos`. `X-API-Key` required; errors are `{status: \"error\", message}`."),
        (name = "investsuite", description = "InvestSuite's `/auth/login/` and `/auth/refresh-token/`, per tenant under `/t/{tenant}/investsuite`. HTTPS required per `ssl_required`."),
        (name = "operations", description = "Health and readiness."),
    )
)]
struct RootApi;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key: a tenant's `kp_<id>_<secret>`, or a platform operator's `kpp_<id>_<secret>`.",
            ))),
        );
        components.add_security_scheme(
            "api_key_authorization",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`ApiKey kp_<id>_<secret>` (the ECE form; `kpp_…` for a platform key).",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from `_login` or the OAuth token endpoint."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth_client",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "OAuth client authentication: the API key id as user name, its secret as password.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("Platform operators: user name and password."))
                    .build(),
            ),
        );
    }
}

/// Every operation of the document, mutably.
#[cfg(test)]
fn operations(doc: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
    })
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = RootApi::openapi();
    for surface in surfaces::all() {
        for api in &surface.apis {
            let mut fragment = api.doc.clone();
            for (path, item) in fragment.paths.paths.iter_mut() {
                // InvestSuite's paths are documented with the trailing slash they are
                // also routed with.
                let route = api.routes.iter().find(|r| r.path() == path || format!("{}/", r.path()) == *path);
                let route = route.unwrap_or_else(|| panic!("{path} is documented but not routed"));
                let facts = surface.facts(route);
                document_rate_limits(item, &facts);
                document_common_errors(item, &facts);
                if surface.tenant == TenantSource::Credential {
                    document_tenant_header(item);
                }
            }
            doc.merge(fragment);
        }
    }
    let mut description = doc.info.description.clone().unwrap_or_default();
    description.push_str(
        "\n\nEvery error is `{\"errors\":[{\"code\",\"message\",\"fields\"?}]}` with the code(s) also in the \
         `x-cloud-error-codes` header; every 401 carries `WWW-Authenticate`. Every response carries \
         `X-Request-Id` (the id a trusted proxy sent, else a new UUID): the same id names the request in the \
         server's log and is the correlation id of a 500. Codes never change once released:\n\n\
         | code | status |\n|---|---|\n",
    );
    for code in ErrorCode::ALL {
        description.push_str(&format!("| `{}` | {} |\n", code.as_str(), code.status().as_u16()));
    }
    doc.info.description = Some(description);
    doc
}

/// The operations of a path item that Keyplane routes, mutably.
fn routed_operations(item: &mut PathItem) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
}

/// An error response in `schema`, described by `description`.
fn error_response(description: &str, schema: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
        .build()
}

/// A tenant-scoped operation of a surface that finds the tenant from the credential (it
/// takes `X-Keyplane-Tenant`) answers a platform credential naming no tenant with `400
/// root.invalid_data`: documented on every such operation.
fn document_tenant_header(item: &mut PathItem) {
    use utoipa::openapi::RefOr;
    const NAMELESS: &str =
        "A platform credential that names no tenant in `X-Keyplane-Tenant` (`root.invalid_data`, with `fields`).";
    for operation in routed_operations(item) {
        let takes_header = operation.parameters.as_ref().is_some_and(|params| {
            params.iter().any(|p| matches!(p, RefOr::T(p) if p.name == crate::authentication::TENANT_HEADER))
        });
        if !takes_header {
            continue;
        }
        match operation.responses.responses.get_mut("400") {
            Some(RefOr::T(response)) if !response.description.contains("X-Keyplane-Tenant") => {
                response.description = format!("{} Also: {NAMELESS}", response.description);
            }
            Some(_) => {}
            None => {
                operation.responses.responses.insert("400".to_owned(), error_response(NAMELESS, "ErrorBody").into());
            }
        }
    }
}

/// Adds the answers every operation of a kind can give, so that no status the server
/// sends is undocumented: an operation with a body can get 400 (unreadable), 413 (too
/// large), 415 (not its media type) and 408 (body too slow); a secured native operation
/// 401 (no or bad credential) and 403 (a credential without the role, or of the wrong
/// kind). Native error answers get an example with the code that status carries, so
/// Swagger UI does not show `root.invalid_data` for a 404.
fn document_common_errors(item: &mut PathItem, facts: &RouteFacts) {
    use utoipa::openapi::RefOr;
    let schema = facts.shape.schema;
    let native = facts.shape.envelope;
    {
        for operation in routed_operations(item) {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let mut common: Vec<(&str, &str)> = Vec::new();
            let query = operation.parameters.as_ref().is_some_and(|params| {
                params.iter().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)),
                )
            });
            if query && operation.request_body.is_none() {
                common.push(("400", "A query parameter is malformed or out of range (with `fields`)."));
            }
            if operation.request_body.is_some() {
                common.extend([
                    ("400", "The body is malformed or a field is invalid."),
                    ("408", "The body did not arrive within the body-read timeout."),
                    ("413", "The body is larger than the limit."),
                    ("415", "The body is not of the documented media type."),
                ]);
            }
            if native && secured {
                common.extend([
                    ("401", "No credential, or a wrong, expired or revoked one."),
                    ("403", "The credential lacks the role this operation needs, or is of another kind."),
                ]);
            }
            if !facts.plain_http {
                common.push(("403", "Plain HTTP where HTTPS is required (`ssl_required`)."));
            }
            for (status, description) in common {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error_response(description, schema).into());
            }
            if !native {
                continue;
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                let (RefOr::T(response), Ok(status)) = (response, status.parse::<u16>()) else { continue };
                if status < 400 {
                    continue;
                }
                let Some(RefOr::T(content)) = response.content.get_mut("application/json") else { continue };
                // The code the description names for this status, else the status's first.
                let codes = || ErrorCode::ALL.iter().filter(|c| c.status().as_u16() == status);
                let named = codes().find(|c| response.description.contains(&format!("`{}`", c.as_str())));
                let Some(code) = named.or_else(|| codes().next()) else { continue };
                let code = code.as_str();
                content.example =
                    Some(serde_json::json!({"errors": [{"code": code, "message": response.description}]}));
            }
        }
    }
}

/// Adds the 429 answer, in the surface's own schema and with `Retry-After`, to every
/// operation: a route of a limited class draws on its budget on every request, any
/// other on the credential budget whenever it carries Basic credentials (a password
/// check). Read from the route's declaration, as the server applies it, so the document
/// cannot drift from it.
fn document_rate_limits(item: &mut PathItem, facts: &RouteFacts) {
    let description = match facts.class {
        Some(Class::Credentials) => {
            "Too many requests from this client address or for this tenant (rate limit), or too many password \
             checks in progress."
        }
        Some(Class::Discovery) => "Too many requests from this client address or for this tenant (rate limit).",
        None => {
            "Too many requests carrying Basic credentials from this client address or for this tenant (rate \
             limit), or too many password checks in progress."
        }
    };
    for operation in routed_operations(item) {
        let mut retry_after = Header::new(Object::with_type(Type::Integer));
        retry_after.description = Some("Seconds until the limiter admits the next request.".to_owned());
        let response = ResponseBuilder::new()
            .description(description)
            .header("Retry-After", retry_after)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name(facts.shape.schema))).build(),
            )
            .build();
        let responses = &mut operation.responses.responses;
        match responses.get_mut("429") {
            // A handler's own 429 (password checks saturated) keeps its words and gains the header.
            Some(utoipa::openapi::RefOr::T(existing)) => {
                existing.headers.insert("Retry-After".to_owned(), response.headers["Retry-After"].clone());
            }
            _ => {
                responses.insert("429".to_owned(), response.into());
            }
        }
    }
}

/// The document as pretty JSON, as committed in `openapi/openapi.json`.
///
/// # Panics
/// Never: the document is plain data.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().expect("the OpenAPI document serialises");
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_one_plain_line() {
        let mut doc = document();
        for op in operations(&mut doc) {
            let summary = op.summary.clone().unwrap_or_default();
            assert!(!summary.is_empty(), "{:?} has no summary", op.operation_id);
            assert!(
                !summary.contains('`') && !summary.contains('\n') && summary.len() <= 120,
                "{:?}: a summary is one short line without backticks: {summary:?}",
                op.operation_id
            );
        }
    }

    #[test]
    fn every_operation_id_is_unique() {
        let mut doc = document();
        let mut seen = std::collections::HashSet::new();
        for op in operations(&mut doc) {
            let id = op.operation_id.clone().expect("every operation has an id");
            assert!(seen.insert(id.clone()), "operationId {id} is used twice: Swagger UI would run the wrong request");
        }
        assert!(seen.contains("sensu_login") && seen.contains("list_tenants"), "{seen:?}");
    }

    #[test]
    fn rate_limited_operations_document_429_in_their_surface_shape() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).unwrap();
        for (path, method, schema) in [
            ("/api/v1/users/auth/_login", "post", "ErrorBody"),
            ("/api/v1/platform/tenants", "get", "ErrorBody"),
            ("/t/{tenant}/sensu/auth", "get", "SensuError"),
            ("/t/{tenant}/tenovos/auth/token", "post", "TenovosError"),
            ("/t/{tenant}/investsuite/auth/login/", "post", "InvestSuiteError"),
            ("/t/{tenant}/oauth2/token", "post", "OAuthErrorBody"),
            ("/t/{tenant}/.well-known/jwks.json", "get", "OAuthErrorBody"),
        ] {
            let response = &doc["paths"][path][method]["responses"]["429"];
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                format!("#/components/schemas/{schema}")
            );
            assert!(response["headers"]["Retry-After"].is_object(), "{method} {path}");
        }
        // Any request carrying Basic credentials is limited: the probes too.
        assert!(doc["paths"]["/healthz"]["get"]["responses"]["429"]["headers"]["Retry-After"].is_object());
    }
}
