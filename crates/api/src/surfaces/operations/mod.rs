//! Operations: the health and readiness probes (answered over plain HTTP whatever
//! `ssl_required` says, so that a load balancer can reach them) and `/metrics`.

pub mod health;

use super::declaration::{method_not_allowed, not_found, screen, RouteFacts, Shape, Surface, TenantSource};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::{ready, Either};
use futures_util::TryFutureExt;
use keyplane_domain::origin::EntryPoint;
use utoipa_swagger_ui::SwaggerUi;

/// The operations surface's declaration.
pub fn surface() -> Surface {
    Surface {
        name: "operations",
        prefix: None,
        shape: Shape::NATIVE,
        tenant: TenantSource::Credential,
        limit: None,
        entry_point: EntryPoint::Admin,
        apis: vec![health::api()],
    }
}

/// Mounts what sits outside every surface's routes: the Swagger UI and the document it
/// reads (`/swagger-ui/`, `/api-docs/openapi.json`), `/` and `/swagger-ui` leading to it,
/// and the native 404 for every other path. Last, as the catch-all; the HTTPS rule and
/// the credential budget (for Basic credentials) hold here too, in the native shape.
pub fn configure_rest(cfg: &mut web::ServiceConfig, document: utoipa::openapi::OpenApi) {
    cfg.service(
        web::scope("")
            .wrap_fn(|req, srv| match screen(req.request(), &RouteFacts::unmatched(Shape::NATIVE)) {
                Some(failure) => {
                    let response = (Shape::NATIVE.respond)(failure);
                    Either::Right(ready(Ok(req.into_response(response).map_into_right_body())))
                }
                None => Either::Left(srv.call(req).map_ok(ServiceResponse::map_into_left_body)),
            })
            .service(SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", document))
            // Where a person typing the address lands: the Swagger UI.
            .service(web::resource(["/", "/swagger-ui"]).get(to_swagger_ui).default_service(web::to(
                |req: HttpRequest| async move {
                    method_not_allowed(Shape::NATIVE, &req, header::HeaderValue::from_static("GET"))
                },
            )))
            .default_service(web::to(not_found)),
    );
}

/// Sends `/` and `/swagger-ui` (no slash) to the Swagger UI's page.
async fn to_swagger_ui() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/swagger-ui/")).finish()
}
