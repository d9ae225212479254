//! HTTP routes, one file per resource. Each exposes `api()`: its routes and its OpenAPI
//! fragment together. [`apis`] is the one list of them, which the server mounts (most
//! specific path first, so module order does not matter) and `openapi.rs` documents.

pub mod audit;
pub mod auth;
pub mod brute_force;
pub mod dialects;
pub mod health;
pub mod oauth;
pub mod platform_users;
pub mod sessions;
pub mod tenant_keys;
pub mod tenant_settings;
pub mod tenants;
pub mod user_keys;
pub mod users;
pub mod well_known;

use crate::error::{ApiError, ErrorCode};
use crate::failure::Failure;
use crate::surface::Surface;
use actix_web::dev::HttpServiceFactory;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, Resource, ResponseError};

/// One path and what each method does there. The methods are a plain function of the
/// resource, so a route is data: it can be sorted, listed and checked against the
/// OpenAPI document, which also says which methods the path allows.
pub struct Route {
    path: String,
    methods: fn(Resource) -> Resource,
}

impl Route {
    /// A route: any method `methods` does not handle gets `405` with `Allow`, in the
    /// path's own surface's error shape.
    pub fn new(path: impl Into<String>, methods: fn(Resource) -> Resource) -> Self {
        Self { path: path.into(), methods }
    }

    /// The path template.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn service(self, allow: HeaderValue) -> impl HttpServiceFactory {
        (self.methods)(web::resource(self.path)).default_service(web::to(move |req: HttpRequest| {
            let allow = allow.clone();
            async move { method_not_allowed(&req, allow) }
        }))
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
        platform_users::api(),
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

/// The methods `path` is documented with, as an `Allow` value (`GET, HEAD, POST`; HEAD
/// wherever GET is). A path also routed without its trailing slash (InvestSuite's) reads
/// the documented one.
fn documented_methods(doc: &utoipa::openapi::OpenApi, path: &str) -> Vec<&'static str> {
    let item = doc.paths.paths.get(path).or_else(|| doc.paths.paths.get(&format!("{path}/")));
    let Some(item) = item else { return Vec::new() };
    [
        ("GET", item.get.is_some()),
        ("HEAD", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("PATCH", item.patch.is_some()),
        ("DELETE", item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// Mounts every route, most specific first.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut routes: Vec<(Route, HeaderValue)> = Vec::new();
    for api in apis() {
        for route in api.routes {
            let allow = documented_methods(&api.doc, route.path()).join(", ");
            let allow = HeaderValue::from_str(&allow).expect("method names are valid header text");
            routes.push((route, allow));
        }
    }
    routes.sort_by_key(|(route, _)| specificity(&route.path));
    for (route, allow) in routes {
        cfg.service(route.service(allow));
    }
}

/// Answers a known path called with a method it does not support (RFC 9110 §15.5.6:
/// with the methods it does support), in the path's surface's error shape.
fn method_not_allowed(req: &HttpRequest, allow: HeaderValue) -> HttpResponse {
    let mut response = match Surface::of(req.path()) {
        // Django REST framework's own words, which InvestSuite clients see.
        Surface::InvestSuite => dialects::investsuite::InvestSuiteError::detail(
            actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method \"{}\" not allowed.", req.method()),
        )
        .error_response(),
        surface => surface.respond(Failure::MethodNotAllowed),
    };
    response.headers_mut().insert(header::ALLOW, allow);
    response
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
    fn every_route_allows_the_methods_it_documents() {
        for api in apis() {
            for route in &api.routes {
                let allow = documented_methods(&api.doc, route.path());
                assert!(!allow.is_empty(), "{} documents no method", route.path());
            }
        }
        let tenovos = dialects::tenovos::api().doc;
        assert_eq!(documented_methods(&tenovos, "/t/{tenant}/tenovos/auth/token"), ["POST", "DELETE"]);
        let investsuite = dialects::investsuite::api().doc;
        assert_eq!(documented_methods(&investsuite, "/t/{tenant}/investsuite/auth/login"), ["POST"], "the alias");
    }

    #[test]
    fn literal_segments_match_before_parameters() {
        let mut paths = ["/api/v1/users/{user_name}", "/api/v1/users/auth/keys/{id}", "/api/v1/users/auth"];
        paths.sort_by_key(|p| specificity(p));
        assert_eq!(paths, ["/api/v1/users/auth", "/api/v1/users/auth/keys/{id}", "/api/v1/users/{user_name}"]);
    }
}
