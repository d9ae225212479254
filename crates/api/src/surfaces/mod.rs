//! Keyplane's API surfaces, each declared once, in its own folder: its routes and their
//! OpenAPI fragment, its error shape, how it finds the tenant, the rate-limit budget its
//! routes draw on and whether it answers plain HTTP. [`all`] is the registry: the server
//! mounts it ([`configure`]) and `openapi.rs` documents it, so what the server enforces
//! before a handler runs (HTTPS rule, rate limit, 405, 404) and what the document says
//! come from the same declaration.
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

pub use declaration::{not_found, Guards, OwnShape, RouteFacts, Shape, Surface, TenantSource};
pub use route::{Api, Route};

use crate::failure::Failure;
use crate::ratelimit::{self, Class, RateLimits};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
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

/// Why `req` may not reach its handler, if it may not: plain HTTP where HTTPS is
/// required, then a spent rate-limit budget. Nothing of the request's credentials is
/// verified before this.
fn screen(req: &ServiceRequest, facts: &RouteFacts) -> Option<Failure> {
    let guards = req.app_data::<web::Data<Guards>>()?;
    if !facts.plain_http && !guards.transport.allows(req.request()) {
        return Some(Failure::HttpsRequired);
    }
    let limits = guards.limits.as_ref()?;
    let class = facts.class.or_else(|| ratelimit::carries_basic(req).then_some(Class::Credentials))?;
    let tenant = match facts.tenant {
        TenantSource::Path => ratelimit::path_tenant(req.match_info().get("tenant").unwrap_or_default()),
        TenantSource::Credential => ratelimit::credential_tenant(req),
    };
    limits.check(req, class, &tenant).err().map(RateLimits::refusal)
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
            async move {
                let method = req.method().to_string();
                let mut response = (shape.respond)(Failure::MethodNotAllowed { method });
                response.headers_mut().insert(header::ALLOW, allow);
                response
            }
        }))
        .wrap_fn(move |req, srv| {
            req.extensions_mut().insert(facts.shape.envelope_marker());
            match screen(&req, &facts) {
                Some(failure) => {
                    let response = (facts.shape.respond)(failure);
                    Either::Right(ready(Ok(req.into_response(response).map_into_right_body())))
                }
                None => Either::Left(srv.call(req).map_ok(ServiceResponse::map_into_left_body)),
            }
        });
    cfg.service(resource);
}

/// A path under a surface's prefix that matches none of its routes: the HTTPS rule in
/// its shape (it holds for unknown paths too), then the native 404.
async fn unmatched(req: HttpRequest, shape: Shape) -> HttpResponse {
    let https_refused = req.app_data::<web::Data<Guards>>().is_some_and(|guards| !guards.transport.allows(&req));
    if https_refused {
        req.extensions_mut().insert(shape.envelope_marker());
        return (shape.respond)(Failure::HttpsRequired);
    }
    not_found(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
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
