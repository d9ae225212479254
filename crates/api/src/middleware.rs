//! The server-wide middleware, one function each; `app::app` applies them in order
//! (outermost last): the request id, the request's log span, closing connections whose
//! body was left unread (`connection`), closing every connection once stopping, the
//! envelope for actix's own error responses, and HEAD routed as GET. Per-route checks
//! (HTTPS rule, rate limits, 405) belong to the surfaces (`surfaces::configure`).

use crate::error::{ApiError, ErrorCode, ERROR_CODES_HEADER};
use crate::surfaces::operations::health::Readiness;
use crate::surfaces::ShapeInUse;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::{header, ConnectionType, Method, StatusCode};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse};
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::TryFutureExt;
use std::future::Future;

/// HEAD is GET without the body (RFC 9110 §9.3.2): routed as GET; the connection still
/// knows the request was HEAD and sends no body.
pub fn head_as_get<S: Service<ServiceRequest>>(mut req: ServiceRequest, srv: &S) -> S::Future {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    srv.call(req)
}

/// Once stopping, every answer closes its connection, so that a load balancer's
/// kept-alive connections move to the other replicas.
pub fn close_when_stopping<S, B>(
    readiness: &web::Data<Readiness>,
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let readiness = readiness.clone();
    srv.call(req).map_ok(move |mut res| {
        if !readiness.is_ready() {
            res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
        }
        res
    })
}

/// `nosniff` on every response, and HSTS when the server speaks TLS.
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if hsts {
        headers.add((header::STRICT_TRANSPORT_SECURITY, crate::tls::HSTS))
    } else {
        headers
    }
}

/// Any error response produced outside our handlers (actix's own 404/405/400, a panic
/// caught as 500, …) is rewritten into the native envelope.
pub fn envelope_fallback<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Enveloped already, or answered by a surface speaking its own dialect's shape.
    let dialect = res.request().extensions().get::<ShapeInUse>().is_some_and(|shape| !shape.native);
    if res.headers().contains_key(ERROR_CODES_HEADER) || dialect {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let code = match res.status() {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthorized,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        s if s.is_client_error() => ErrorCode::InvalidData,
        _ => ErrorCode::Internal,
    };
    let error = if code == ErrorCode::Internal {
        ApiError::internal(&std::io::Error::other(format!("unhandled {} response", res.status())))
    } else {
        ApiError::new(code, res.status().canonical_reason().unwrap_or("Request failed").to_owned() + ".")
    };
    let (req, _) = res.into_parts();
    let response = ServiceResponse::new(req, error.error_response()).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(response))
}
