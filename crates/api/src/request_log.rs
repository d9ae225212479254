//! The request log line. Each request is one span named by its id (see
//! [`crate::request_id`]): method, route template, path without its query string and
//! with anything secret-shaped redacted, client; a refused request (4xx) logs one `info`
//! line, a failed one (5xx) one `error` line, and a successful one a `debug` line.

use crate::error::ERROR_CODES_HEADER;
use crate::request_id::{MatchedRoute, RequestId};
use crate::transport::TransportPolicy;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// The longest path written to a log line.
const MAX_PATH_CHARS: usize = 256;

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
        request.extensions_mut().insert(MatchedRoute(route.clone()));
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
}
