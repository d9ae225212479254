//! HTTP routes, one file per resource. Each exposes `api()`: its routes and its OpenAPI
//! fragment together. [`apis`] is the one list of them, which the server mounts (most
//! specific path first, so module order does not matter) and `openapi.rs` documents.

pub mod audit;
pub mod auth;
pub mod brute_force;
pub mod dialects;
pub mod health;
pub mod oauth;
pub mod sessions;
pub mod tenant_keys;
pub mod tenant_settings;
pub mod tenants;
pub mod user_keys;
pub mod users;
pub mod well_known;

use crate::error::{ApiError, ErrorCode};
use actix_web::dev::HttpServiceFactory;
use actix_web::{web, HttpRequest, HttpResponse, Resource, ResponseError};

/// One path and what each method does there. The methods are a plain function of the
/// resource, so a route is data: it can be sorted, listed and checked against the
/// OpenAPI document.
pub struct Route {
    path: String,
    methods: fn(Resource) -> Resource,
    native_405: bool,
}

impl Route {
    /// A route of the native API: other methods get `405 root.method_not_allowed`.
    pub fn native(path: impl Into<String>, methods: fn(Resource) -> Resource) -> Self {
        Self { path: path.into(), methods, native_405: true }
    }

    /// A route whose `methods` also answer other methods in their own surface's shape.
    pub fn own(path: impl Into<String>, methods: fn(Resource) -> Resource) -> Self {
        Self { path: path.into(), methods, native_405: false }
    }

    /// The path template.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn service(self) -> impl HttpServiceFactory {
        let resource = (self.methods)(web::resource(self.path));
        if self.native_405 {
            resource.default_service(web::to(method_not_allowed))
        } else {
            resource
        }
    }
}

/// A route module: its routes and its part of the OpenAPI document, registered together.
pub struct Api {
    /// The module's OpenAPI fragment (its paths and schemas).
    pub doc: utoipa::openapi::OpenApi,
    /// The module's routes.
    pub routes: Vec<Route>,
}

/// Every route module: the one list that both the server and the OpenAPI document read.
pub fn apis() -> Vec<Api> {
    vec![
        health::api(),
        tenants::api(),
        tenant_keys::api(),
        tenant_settings::api(),
        brute_force::api(),
        users::api(),
        auth::api(),
        sessions::api(),
        audit::api(),
        user_keys::api(),
        oauth::api(),
        well_known::api(),
        dialects::sensu::api(),
        dialects::tenovos::api(),
        dialects::investsuite::api(),
    ]
}

/// How specific a path template is, for matching order: segment by segment, a literal
/// before a `{parameter}`. Sorting by it makes `/api/v1/users/auth` win over
/// `/api/v1/users/{user_name}` whatever order the modules list them in.
fn specificity(path: &str) -> Vec<bool> {
    path.split('/').map(|segment| segment.starts_with('{')).collect()
}

/// Mounts every route, most specific first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut routes: Vec<Route> = apis().into_iter().flat_map(|api| api.routes).collect();
    routes.sort_by_key(|route| specificity(&route.path));
    for route in routes {
        cfg.service(route.service());
    }
}

/// Answers a known path called with a method it does not support.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("Method {} is not allowed on {}.", req.method(), req.path()))
        .error_response()
}

/// Answers a path that matches no route.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::new(ErrorCode::NotFound, format!("No route matches {} {}.", req.method(), req.path())).error_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_and_every_documented_path_routed() {
        let mut routed = BTreeSet::new();
        let mut documented = BTreeSet::new();
        for api in apis() {
            documented.extend(api.doc.paths.paths.keys().cloned());
            for route in api.routes {
                assert!(routed.insert(route.path().to_owned()), "{} is registered twice", route.path());
            }
        }
        // InvestSuite's paths also answer without their trailing slash; documented once.
        let aliases: BTreeSet<String> = routed.iter().filter(|p| routed.contains(&format!("{p}/"))).cloned().collect();
        let routed: BTreeSet<String> = routed.difference(&aliases).cloned().collect();
        assert_eq!(routed, documented);
    }

    #[test]
    fn literal_segments_match_before_parameters() {
        let mut paths = ["/api/v1/users/{user_name}", "/api/v1/users/auth/keys/{id}", "/api/v1/users/auth"];
        paths.sort_by_key(|p| specificity(p));
        assert_eq!(paths, ["/api/v1/users/auth", "/api/v1/users/auth/keys/{id}", "/api/v1/users/{user_name}"]);
    }
}
