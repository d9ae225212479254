//! One worker's actix `App`: the server-wide middleware (see [`crate::middleware`]), the
//! shared state, every surface (see [`crate::surfaces`]) and, last, the Swagger UI and
//! the native 404.

use crate::connection;
use crate::extract::{BodyLimit, BodyTimeout};
use crate::metrics::Metrics;
use crate::middleware;
use crate::request_id;
use crate::request_log::RequestSpans;
use crate::state::AppState;
use crate::surfaces::operations::health::Readiness;
use crate::surfaces::{self, Guards};
use crate::transport::TransportPolicy;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::ErrorHandlers;
use actix_web::{web, App};
use futures_util::TryFutureExt;
use tracing_actix_web::TracingLogger;

/// What every worker's `App` shares.
#[derive(Clone)]
pub struct AppParts {
    /// The domain services.
    pub state: web::Data<AppState>,
    /// The largest body read.
    pub body_limit: web::Data<BodyLimit>,
    /// How long a body may take.
    pub body_timeout: web::Data<BodyTimeout>,
    /// Whose forwarding headers and `X-Request-Id` are believed (also `audit::Origin`).
    pub transport: TransportPolicy,
    /// Ready or stopping.
    pub readiness: web::Data<Readiness>,
    /// The metrics registry.
    pub metrics: web::Data<Metrics>,
    /// The HTTPS rule and the rate limiters, for the surfaces' route guards.
    pub guards: web::Data<Guards>,
    /// The OpenAPI document the Swagger UI reads.
    pub document: utoipa::openapi::OpenApi,
    /// Whether responses carry HSTS (the server speaks TLS).
    pub hsts: bool,
}

/// The `App` of one worker.
pub fn app(
    parts: &AppParts,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let ids = parts.transport.clone();
    let readiness = parts.readiness.clone();
    let document = parts.document.clone();
    App::new()
        .wrap_fn(middleware::head_as_get)
        .wrap(ErrorHandlers::new().default_handler(middleware::envelope_fallback))
        .wrap_fn(move |req, srv| middleware::close_when_stopping(&readiness, req, srv))
        // Outside every early answer, so that a refused request's unread body closes its
        // connection too.
        .wrap_fn(|mut req, srv| {
            let finished = connection::watch_body(&mut req);
            srv.call(req).map_ok(move |res| connection::close_if_unread(res, finished))
        })
        .wrap(TracingLogger::<RequestSpans>::new())
        // Before the span opens: the request's id.
        .wrap_fn(move |req, srv| {
            let id = request_id::assign(&req, &ids);
            request_id::scoped(id, srv.call(req))
        })
        // Outermost, so that responses rewritten by `ErrorHandlers` and refusals carry it.
        .wrap(middleware::security_headers(parts.hsts))
        .app_data(parts.state.clone())
        .app_data(parts.body_limit.clone())
        .app_data(parts.body_timeout.clone())
        .app_data(parts.transport.clone())
        .app_data(parts.readiness.clone())
        .app_data(parts.metrics.clone())
        .app_data(parts.guards.clone())
        .configure(surfaces::configure)
        .configure(move |cfg| surfaces::operations::configure_rest(cfg, document))
}
