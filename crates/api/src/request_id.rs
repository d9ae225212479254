//! Request ids: every request gets one — the `X-Request-Id` a trusted proxy sent (when
//! it is a plausible id), otherwise a fresh UUID v7. It is answered in `X-Request-Id`,
//! is [`current`] while the request is served (the correlation id of any 500, stored
//! with its audit events), and each request is counted and timed under its route
//! template (see [`crate::metrics`]).

use crate::transport::TransportPolicy;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use std::future::Future;

/// The response (and trusted request) header carrying the id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id accepted from a proxy.
const MAX_ID_CHARS: usize = 64;

/// The id of a request, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served on this task, if any: where an internal error is
/// logged, so that the 500's correlation id, the log line and `X-Request-Id` agree.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

fn plausible(id: &str) -> bool {
    (1..=MAX_ID_CHARS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

/// Gives `req` its id: a trusted proxy's `X-Request-Id`, else a new one.
pub fn assign(req: &ServiceRequest, policy: &TransportPolicy) -> String {
    let from_proxy = req
        .peer_addr()
        .filter(|peer| policy.trusts(peer.ip()))
        .and_then(|_| req.headers().get(&X_REQUEST_ID))
        .and_then(|v| v.to_str().ok())
        .filter(|id| plausible(id))
        .map(str::to_owned);
    let id = from_proxy.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    id
}

/// Runs `serve` (the rest of the request) with `id` as the current request id, and
/// answers it in `X-Request-Id`.
pub async fn scoped<B, F>(id: String, serve: F) -> Result<ServiceResponse<B>, Error>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    let started = std::time::Instant::now();
    let mut response = CURRENT.scope(id.clone(), serve).await?;
    record(&response, started.elapsed());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

/// Counts the request in `keyplane_http_requests_total` and times it: by method (the
/// standard ones, else `other`), route template (never the raw path) and status.
fn record<B>(response: &ServiceResponse<B>, took: std::time::Duration) {
    use actix_web::http::Method;
    let request = response.request();
    let method: &'static str = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    // Matched once, when the span opened.
    let route = request.extensions().get::<MatchedRoute>().map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    let status = response.status().as_u16().to_string();
    metrics::counter!("keyplane_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("keyplane_http_request_duration_seconds", "method" => method, "route" => route)
        .record(took.as_secs_f64());
}

/// The route template a request matched (`unmatched` when none), found once per request
/// (when its log span opens, see `request_log`).
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_ids_are_taken_from_a_proxy() {
        assert!(plausible("f3a1-42"));
        assert!(plausible("Root=1-67891233-abcdef012345678912345678"));
        assert!(!plausible(""));
        assert!(!plausible("a b"));
        assert!(!plausible("line\nbreak"));
        assert!(plausible(&"a".repeat(64)));
        assert!(!plausible(&"a".repeat(65)));
    }
}
