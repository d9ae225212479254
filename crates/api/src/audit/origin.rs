//! [`Origin`]: the [`RequestContext`] of a request, as an extractor. The client address is
//! the peer's, or what a trusted proxy forwarded (the rule `transport.rs` applies); the
//! request id is the one `request_log` gave the request (and logs); the entry point
//! follows from the path.

use crate::request_id::RequestId;
use crate::transport::TransportPolicy;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Ready};
use keyplane_domain::audit::RequestContext;
use keyplane_domain::services::tokens::EntryPoint;
use std::convert::Infallible;

/// Where a request came from. Never fails.
#[derive(Debug, Clone)]
pub struct Origin(pub RequestContext);

impl FromRequest for Origin {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

impl Origin {
    /// The origin of `req`.
    pub fn of(req: &HttpRequest) -> Self {
        let peer = req.peer_addr().map(|a| a.ip());
        let client_address = match (peer, req.app_data::<TransportPolicy>()) {
            (Some(peer), Some(policy)) => Some(policy.client_address_of(peer, req.headers())),
            (peer, None) => peer,
            (None, Some(_)) => None,
        };
        let agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
        let context = RequestContext { client_address, ..RequestContext::new(entry_point_of(req.path())) }
            .with_user_agent(agent)
            .with_request_id(request_id.as_deref());
        Self(context)
    }
}

/// The surface a path belongs to: a dialect under `/t/{tenant}/…`, the native API's own
/// sign-in and self-service routes (`/api/v1/users/auth…`, `/api/v1/user`), and
/// administration for everything else.
pub fn entry_point_of(path: &str) -> EntryPoint {
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn entry_points_follow_the_path() {
        for (path, entry) in [
            ("/t/acme/sensu/auth", EntryPoint::Sensu),
            ("/t/acme/tenovos/auth/token", EntryPoint::Tenovos),
            ("/t/acme/investsuite/auth/login/", EntryPoint::InvestSuite),
            ("/t/acme/oauth2/token", EntryPoint::OAuth2),
            ("/api/v1/users/auth/_login", EntryPoint::Native),
            ("/api/v1/users/auth", EntryPoint::Native),
            ("/api/v1/user", EntryPoint::Native),
            ("/api/v1/users/alice", EntryPoint::Admin),
            ("/api/v1/users", EntryPoint::Admin),
            ("/api/v1/platform/tenants", EntryPoint::Admin),
        ] {
            assert_eq!(entry_point_of(path), entry, "{path}");
        }
    }

    #[test]
    fn the_client_address_is_forwarded_only_by_trusted_proxies() {
        let trusted = TransportPolicy { trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()], ..Default::default() };
        let req = |peer: &str| {
            TestRequest::with_uri("/api/v1/users")
                .peer_addr(format!("{peer}:4000").parse().unwrap())
                .insert_header(("X-Forwarded-For", "203.0.113.9"))
                .insert_header((header::USER_AGENT, "curl/8"))
                .app_data(trusted.clone())
                .to_http_request()
        };
        let via_proxy = Origin::of(&req("10.1.1.1")).0;
        assert_eq!(via_proxy.client_address, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(via_proxy.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(via_proxy.entry_point, EntryPoint::Admin);
        assert_eq!(Origin::of(&req("192.0.2.1")).0.client_address, Some("192.0.2.1".parse().unwrap()));
    }
}
