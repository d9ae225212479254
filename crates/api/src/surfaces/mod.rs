//! Keyplane's API surfaces, each declared once, in its own folder: its routes and their
//! OpenAPI fragment, its error shape, how it finds the tenant, the rate-limit budget its
//! routes draw on and whether it answers plain HTTP. [`all`] is the registry: the server
//! mounts it ([`configure`]) and `openapi.rs` documents it, so what the server enforces
//! before a handler runs (HTTPS rule, rate limit, 405), what it tells the handler (the
//! entry point its audit events name) and what the document says come from the same
//! declaration.
//!
//! Adding a surface: a folder here with its handlers and a `surface()` returning its
//! [`Surface`], and one line in [`all`].

pub mod declaration;
pub mod investsuite;
pub mod native;
pub mod oauth;
pub mod operations;
pub mod platform;
pub mod route;
pub mod sensu;
pub mod tenant;
pub mod tenovos;
pub mod well_known;

pub use declaration::{not_found, Guards, RouteFacts, Shape, ShapeInUse, Surface, TenantSource};
pub use route::{Api, Route};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::{ready, Either};
use futures_util::TryFutureExt;

/// Every surface: the one list that both the server and the OpenAPI document read.
pub fn all() -> Vec<Surface> {
    vec![
        operations::surface(),
        native::surface(),
        platform::surface(),
        oauth::surface(),
        well_known::surface(),
        sensu::surface(),
        tenovos::surface(),
        investsuite::surface(),
    ]
}

/// Mounts every surface: each route (most specific path first, so module order does not
/// matter) behind its guard and with its 405; then each surface's prefix, whose
/// unmatched paths get 404 in its shape. Paths no surface claims are left to the caller.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut routes: Vec<(Route, RouteFacts, HeaderValue)> = Vec::new();
    let mut prefixes: Vec<(&'static str, Shape)> = Vec::new();
    for surface in all() {
        prefixes.extend(surface.prefix.map(|prefix| (prefix, surface.shape)));
        for api in &surface.apis {
            for route in &api.routes {
                let allow = route::documented_methods(&api.doc, route.path()).join(", ");
                let allow = HeaderValue::from_str(&allow).expect("method names are valid header text");
                routes.push((route.clone(), surface.facts(route), allow));
            }
        }
    }
    routes.sort_by_key(|(route, _, _)| route::specificity(route.path()));
    for (route, facts, allow) in routes {
        mount(cfg, &route, facts, allow);
    }
    // Longest prefix first: `/api/v1/platform` before `/api/v1`.
    prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.matches('/').count()));
    for (prefix, shape) in prefixes {
        cfg.service(web::scope(prefix).default_service(web::to(move |req: HttpRequest| unmatched(req, shape))));
    }
}

/// One route's resource: its guard, its methods, and `405` with `Allow` for the others.
fn mount(cfg: &mut web::ServiceConfig, route: &Route, facts: RouteFacts, allow: HeaderValue) {
    let shape = facts.shape;
    let resource = route
        .resource()
        .default_service(web::to(move |req: HttpRequest| {
            let allow = allow.clone();
            async move { declaration::method_not_allowed(shape, &req, allow) }
        }))
        .wrap_fn(move |req, srv| {
            req.extensions_mut().insert(facts.shape.in_use());
            req.extensions_mut().insert(facts.entry_point);
            match declaration::screen(req.request(), &facts) {
                Some(failure) => {
                    let response = (facts.shape.respond)(failure);
                    Either::Right(ready(Ok(req.into_response(response).map_into_right_body())))
                }
                None => Either::Left(srv.call(req).map_ok(ServiceResponse::map_into_left_body)),
            }
        });
    cfg.service(resource);
}

/// A path under a surface's prefix that matches none of its routes: the HTTPS rule and
/// the rate limit in its shape (they hold for unknown paths too), then the native 404.
async fn unmatched(req: HttpRequest, shape: Shape) -> HttpResponse {
    if let Some(failure) = declaration::screen(&req, &RouteFacts::unmatched(shape)) {
        req.extensions_mut().insert(shape.in_use());
        return (shape.respond)(failure);
    }
    not_found(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Failure;
    use keyplane_domain::origin::EntryPoint;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_documented_and_every_documented_path_routed() {
        let mut routed = BTreeSet::new();
        let mut documented = BTreeSet::new();
        for surface in all() {
            for api in surface.apis {
                documented.extend(api.doc.paths.paths.keys().cloned());
                for route in api.routes {
                    assert!(routed.insert(route.path().to_owned()), "{} is registered twice", route.path());
                }
            }
        }
        // InvestSuite's paths also answer without their trailing slash; documented once.
        let aliases: BTreeSet<String> = routed.iter().filter(|p| routed.contains(&format!("{p}/"))).cloned().collect();
        let routed: BTreeSet<String> = routed.difference(&aliases).cloned().collect();
        assert_eq!(routed, documented);
    }

    #[test]
    fn every_route_allows_the_methods_it_documents() {
        for surface in all() {
            for api in &surface.apis {
                for route in &api.routes {
                    let allow = route::documented_methods(&api.doc, route.path());
                    assert!(!allow.is_empty(), "{} documents no method", route.path());
                }
            }
        }
        let tenovos = tenovos::surface().apis.remove(0).doc;
        assert_eq!(route::documented_methods(&tenovos, "/t/{tenant}/tenovos/auth/token"), ["POST", "DELETE"]);
        let investsuite = investsuite::surface().apis.remove(0).doc;
        assert_eq!(
            route::documented_methods(&investsuite, "/t/{tenant}/investsuite/auth/login"),
            ["POST"],
            "the alias"
        );
    }

    #[test]
    fn every_route_lies_under_its_surface_prefix() {
        for surface in all() {
            let Some(prefix) = surface.prefix else { continue };
            for api in &surface.apis {
                for route in &api.routes {
                    assert!(
                        route.path().starts_with(prefix),
                        "{} is outside {}'s {prefix}",
                        route.path(),
                        surface.name
                    );
                }
            }
        }
    }

    /// The rule the entry point followed when it was read from the path (before it was
    /// declared by each surface): the declarations must give the same answer for every route.
    fn entry_point_of(path: &str) -> EntryPoint {
        if let Some(rest) = path.strip_prefix("/t/") {
            return match rest.split('/').nth(1).unwrap_or("") {
                "sensu" => EntryPoint::Sensu,
                "tenovos" => EntryPoint::Tenovos,
                "investsuite" => EntryPoint::InvestSuite,
                "oauth2" => EntryPoint::OAuth2,
                _ => EntryPoint::Admin,
            };
        }
        let native = path == "/api/v1/users/auth"
            || path.starts_with("/api/v1/users/auth/")
            || path == "/api/v1/user"
            || path.starts_with("/api/v1/user/");
        if native {
            EntryPoint::Native
        } else {
            EntryPoint::Admin
        }
    }

    #[test]
    fn every_route_is_audited_under_the_entry_point_its_path_always_had() {
        for surface in all() {
            for api in &surface.apis {
                for route in &api.routes {
                    let declared = surface.facts(route).entry_point;
                    assert_eq!(declared, entry_point_of(route.path()), "{}", route.path());
                }
            }
        }
    }

    #[test]
    fn literal_segments_match_before_parameters() {
        let mut paths = ["/api/v1/users/{user_name}", "/api/v1/users/auth/keys/{id}", "/api/v1/users/auth"];
        paths.sort_by_key(|p| route::specificity(p));
        assert_eq!(paths, ["/api/v1/users/auth", "/api/v1/users/auth/keys/{id}", "/api/v1/users/{user_name}"]);
    }

    #[test]
    fn every_shape_keeps_its_status_and_retry_after() {
        for surface in all() {
            let response = (surface.shape.respond)(Failure::RateLimited { retry_after_secs: 7 });
            assert_eq!(response.status(), 429, "{}", surface.name);
            assert_eq!(response.headers().get("retry-after").unwrap(), "7", "{}", surface.name);
            let response = (surface.shape.respond)(Failure::HttpsRequired);
            assert_eq!(response.status(), 403, "{}", surface.name);
            let response = (surface.shape.respond)(Failure::MethodNotAllowed { method: "PUT".into() });
            assert_eq!(response.status(), 405, "{}", surface.name);
        }
    }
}
