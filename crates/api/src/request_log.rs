//! Request ids and the request log line.
//!
//! Every request gets an id: the `X-Request-Id` a trusted proxy sent (when it is a
//! plausible id), otherwise a fresh UUID v7. The id is answered in `X-Request-Id`, names
//! the request's log span, is stored with its audit events, and is the correlation id of
//! any 500 (see [`current`]). Each request is one span (method, route template, path
//! without its query string and with anything secret-shaped redacted, client, id); a
//! refused request (4xx) logs one `info` line, a failed one (5xx) one `error` line, and a
//! successful one a `debug` line. Each request is also counted and timed (see
//! [`crate::metrics`]).

use crate::error::ERROR_CODES_HEADER;
use crate::transport::TransportPolicy;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use std::future::Future;
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// The response (and trusted request) header carrying the id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id accepted from a proxy.
const MAX_ID_CHARS: usize = 64;
/// The longest path written to a log line.
const MAX_PATH_CHARS: usize = 256;

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
    let route = request.extensions().get::<Route>().map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    let status = response.status().as_u16().to_string();
    metrics::counter!("keyplane_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("keyplane_http_request_duration_seconds", "method" => method, "route" => route)
        .record(took.as_secs_f64());
}

/// The route template a request matched (`unmatched` when none), found once per request.
#[derive(Debug, Clone)]
struct Route(String);

/// `path` for a log line: at most [`MAX_PATH_CHARS`] characters, with every segment that
/// looks like a credential (a `kp_` API key, a JWT) replaced by `<redacted>`. The query
/// string is never logged.
pub fn loggable_path(path: &str) -> String {
    let redacted: Vec<&str> =
        path.split('/').map(|segment| if secret_shaped(segment) { "<redacted>" } else { segment }).collect();
    let joined = redacted.join("/");
    match joined.char_indices().nth(MAX_PATH_CHARS) {
        Some((at, _)) => format!("{}…", &joined[..at]),
        None => joined,
    }
}

/// An API key (`kp_…`), a JWT (three base64url parts, the first starting `eyJ`), or a
/// long unbroken run of token characters (a secret pasted where a name belongs).
fn secret_shaped(segment: &str) -> bool {
    let segment = segment.trim();
    segment.starts_with("kp_")
        || (segment.starts_with("eyJ") && segment.matches('.').count() >= 2)
        || (segment.len() >= 40
            && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=%".contains(&b))
            && !segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
}

/// The query string's parameter names, without their values (which may be secrets put
/// in a URL by mistake).
fn query_names(query: &str) -> String {
    let names: Vec<String> = form_urlencoded::parse(query.as_bytes())
        .take(16)
        .map(|(name, _)| name.chars().take(32).collect::<String>())
        .collect();
    names.join(",")
}

/// The request span and its end-of-request line (see the module documentation).
pub struct RequestSpans;

impl RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        request.extensions_mut().insert(Route(route.clone()));
        let client = request
            .app_data::<TransportPolicy>()
            .and_then(|policy| policy.client_address(request))
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let query = query_names(request.query_string());
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            route = %route,
            path = %loggable_path(request.path()),
            query_params = tracing::field::Empty,
            client = %client,
            status = tracing::field::Empty,
        );
        if !query.is_empty() {
            span.record("query_params", tracing::field::display(&query));
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, code) = match outcome {
            Ok(response) => (
                response.status(),
                response.headers().get(ERROR_CODES_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned),
            ),
            Err(error) => (error.as_response_error().status_code(), None),
        };
        span.record("status", status.as_u16());
        let code = code.unwrap_or_default();
        // A probe's 503 (shutting down, database away) is a state, not a failed request.
        let probe = outcome.as_ref().is_ok_and(|r| matches!(r.request().path(), "/readyz" | "/healthz"));
        if probe && status.is_server_error() {
            tracing::info!(parent: &span, "not ready");
        } else if status.is_server_error() {
            tracing::error!(parent: &span, code = %code, "request failed");
        } else if status.is_client_error() {
            tracing::info!(parent: &span, code = %code, "request refused");
        } else {
            tracing::debug!(parent: &span, "request served");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shaped_segments_and_query_values_never_reach_the_log() {
        assert_eq!(loggable_path("/api/v1/users/alice"), "/api/v1/users/alice");
        assert_eq!(
            loggable_path("/api/v1/users/01a20c01-6003-7542-b079-34763f375357/auth/keys"),
            "/api/v1/users/01a20c01-6003-7542-b079-34763f375357/auth/keys"
        );
        assert_eq!(loggable_path("/t/acme/kp_0123456789abcdef01234567_s3cr3t"), "/t/acme/<redacted>");
        assert_eq!(loggable_path("/x/eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"), "/x/<redacted>");
        assert_eq!(loggable_path(&format!("/x/{}", "Zm9vYmFy".repeat(6))), "/x/<redacted>");
        assert_eq!(loggable_path(&"/a".repeat(400)).chars().count(), MAX_PATH_CHARS + 1);
        assert_eq!(query_names("password=hunter2&key=kp_x&size=10"), "password,key,size");
    }

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
