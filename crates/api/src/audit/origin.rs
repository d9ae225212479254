//! [`Origin`]: the [`RequestContext`] of a request, as an extractor. The client address is
//! the peer's, or what a trusted proxy forwarded (the rule `transport.rs` applies); the
//! request id is the one `request_id` gave the request (and logs); the entry point is the
//! one its route declares (see `surfaces`).

use crate::request_id::RequestId;
use crate::transport::TransportPolicy;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Ready};
use keyplane_domain::origin::EntryPoint;
use keyplane_domain::origin::RequestContext;
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
        // Set by the route's guard from its surface's declaration; administration else.
        let entry_point = req.extensions().get::<EntryPoint>().copied().unwrap_or(EntryPoint::Admin);
        let context = RequestContext { client_address, ..RequestContext::new(entry_point) }
            .with_user_agent(agent)
            .with_request_id(request_id.as_deref());
        Self(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

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
