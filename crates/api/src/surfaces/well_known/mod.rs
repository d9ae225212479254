//! `/t/{tenant}/.well-known/jwks.json` and `/openid-configuration`: what any JWT or OAuth
//! library needs to verify the tenant's tokens without Keyplane's code.

use crate::failure::Failure;
use crate::ratelimit::Class;
use crate::state::AppState;
use crate::surfaces::declaration::{Shape, Surface, TenantSource};
use crate::surfaces::oauth::{OAuthError, OAuthErrorBody};
use crate::surfaces::route::{Api, Route};
use crate::surfaces::tenant;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::scope::Scope;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// The discovery surface's declaration: its tenant is the path's, every route draws on
/// the `discovery` budget.
pub fn surface() -> Surface {
    Surface {
        name: "well_known",
        prefix: Some("/t/{tenant}/.well-known"),
        shape: Shape::of::<OAuthError>("OAuthErrorBody"),
        tenant: TenantSource::Path,
        limit: Some(Class::Discovery),
        entry_point: EntryPoint::Admin,
        apis: vec![api()],
    }
}

/// The routes and their part of the OpenAPI document, registered together.
pub fn api() -> Api {
    Api {
        doc: WellKnownApi::openapi(),
        routes: vec![
            Route::new("/t/{tenant}/.well-known/jwks.json", |r| r.get(jwks)),
            Route::new("/t/{tenant}/.well-known/openid-configuration", |r| r.get(discovery)),
        ],
    }
}

/// The discovery routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(paths(jwks, discovery), components(schemas(Jwks, Discovery)))]
pub struct WellKnownApi;

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwks {
    /// The active key and retired keys whose tokens may still be valid.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Value>,
}

/// OpenID Provider metadata (the parts Keyplane implements).
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    /// `<base>/t/<slug>`: the `iss` of the tenant's tokens.
    pub issuer: String,
    /// The JWKS URL.
    pub jwks_uri: String,
    /// The OAuth token endpoint.
    pub token_endpoint: String,
    /// RFC 7662 introspection.
    pub introspection_endpoint: String,
    /// RFC 7009 revocation.
    pub revocation_endpoint: String,
    /// `password`, `client_credentials`, `refresh_token`.
    pub grant_types_supported: Vec<&'static str>,
    /// `token`.
    pub response_types_supported: Vec<&'static str>,
    /// `public`.
    pub subject_types_supported: Vec<&'static str>,
    /// `EdDSA`, `ES256`.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// `client_secret_basic`, `client_secret_post`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Claims in Keyplane's tokens.
    pub claims_supported: Vec<&'static str>,
    /// Keyplane's extension: the `aud` of access tokens (the issuer). Access tokens carry
    /// the JOSE header `typ: at+jwt` (RFC 9068); refresh tokens carry `typ: refresh+jwt`
    /// and the audience `<issuer>/oauth2/token`, so a resource server that checks `aud`
    /// (or `typ`) with any JWT library never accepts a refresh token.
    pub access_token_audience: String,
}

/// The tenant's JSON Web Key Set.
#[utoipa::path(get, path = "/t/{tenant}/.well-known/jwks.json", operation_id = "get_jwks", tag = "oauth2",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The published keys.", body = Jwks), (status = 404, description = "Unknown tenant (`invalid_request`).", body = OAuthErrorBody)))]
pub async fn jwks(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, OAuthError> {
    let tenant = tenant::in_path::<OAuthError>(&state, &path).await?;
    let signing = state.tokens.signing();
    let mut keys: Vec<Value> =
        signing.published(Scope::Tenant(tenant.id)).await?.iter().map(|k| k.public_jwk.clone()).collect();
    if keys.is_empty() {
        // A tenant whose keys were all removed: publish its next key now.
        let key = signing
            .active(Scope::Tenant(tenant.id), tenant.policy.signing_algorithm)
            .await
            .map_err(|e| OAuthError::from(Failure::internal(&e)))?;
        keys.push(key.public_jwk.clone());
    }
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=60")).json(Jwks { keys }))
}

/// The tenant's OpenID Provider metadata.
#[utoipa::path(get, path = "/t/{tenant}/.well-known/openid-configuration", operation_id = "get_openid_configuration", tag = "oauth2",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "Provider metadata.", body = Discovery), (status = 404, description = "Unknown tenant (`invalid_request`).", body = OAuthErrorBody)))]
pub async fn discovery(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, OAuthError> {
    let tenant = tenant::in_path::<OAuthError>(&state, &path).await?;
    let issuer = state.tokens.issuer(&tenant);
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=300")).json(Discovery {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        token_endpoint: format!("{issuer}/oauth2/token"),
        introspection_endpoint: format!("{issuer}/oauth2/introspect"),
        revocation_endpoint: format!("{issuer}/oauth2/revoke"),
        access_token_audience: issuer.clone(),
        issuer,
        grant_types_supported: vec!["password", "client_credentials", "refresh_token"],
        response_types_supported: vec!["token"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["EdDSA", "ES256"],
        token_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "tid",
            "sid",
            "user_name",
            "roles",
            "token_use",
        ],
    }))
}
