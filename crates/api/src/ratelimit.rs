//! Rate limits on the endpoints that check credentials (and, more generously, on the
//! discovery documents), with `governor`'s keyed GCRA limiters: one budget per client
//! address and one per tenant, so that neither a single client nor a flood aimed at one
//! tenant can take the server from everyone else. A refused request is answered
//! `429` + `Retry-After` in its surface's own shape before any credential is looked at.

use crate::failure::Failure;
use crate::settings::RateLimitSettings;
use crate::transport::TransportPolicy;
use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use keyplane_domain::api_key::split_key_text;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Sign-in, refresh, token, introspection and revocation endpoints, and any request
    /// carrying `Authorization: Basic` (a password check on every admin request).
    Credentials,
    /// `/t/{tenant}/.well-known/*`: public, cheap, but not free.
    Discovery,
}

/// Longest tenant key kept, so that keys stay small whatever a client sends.
const MAX_KEY_LEN: usize = 80;

fn bounded(key: String) -> String {
    if key.len() <= MAX_KEY_LEN {
        return key;
    }
    let mut end = MAX_KEY_LEN;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    key[..end].to_owned()
}

fn header_str<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn authorization<'a>(req: &'a HttpRequest, scheme: &str) -> Option<&'a str> {
    let value = header_str(req, header::AUTHORIZATION.as_str())?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The unverified `tid` claim of a JWT: only a bucket name, never trusted for more.
fn unverified_tid(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let tid = uuid::Uuid::parse_str(claims.get("tid")?.as_str()?).ok()?;
    Some(format!("tid:{tid}"))
}

/// The tenant key of a request whose surface finds its tenant in the `{tenant}` path
/// segment: `t:<slug>`, lower-cased.
pub fn path_tenant(slug: &str) -> String {
    bounded(format!("t:{}", slug.to_ascii_lowercase()))
}

/// The tenant key of a request whose surface finds its tenant from the credential: the
/// API key's public id (`key:<id>`), else `X-Keyplane-Tenant` (`t:<slug>`), else a
/// bearer token's unverified `tid` (`tid:<uuid>`), else `platform`.
pub fn credential_tenant(req: &HttpRequest) -> String {
    let key =
        header_str(req, "x-api-key").or_else(|| authorization(req, "ApiKey")).or_else(|| authorization(req, "Key"));
    if let Some((id, _)) = key.and_then(split_key_text) {
        return bounded(format!("key:{id}"));
    }
    if let Some(slug) = header_str(req, crate::authentication::TENANT_HEADER).filter(|s| !s.is_empty()) {
        return bounded(format!("t:{}", slug.to_ascii_lowercase()));
    }
    authorization(req, "Bearer").and_then(unverified_tid).unwrap_or_else(|| "platform".to_owned())
}

/// Whether `req` carries `Authorization: Basic` (a password check, whatever the route).
pub fn carries_basic(req: &HttpRequest) -> bool {
    authorization(req, "Basic").is_some()
}

/// A per-address and a per-tenant limiter for one class.
struct Pair {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_tenant: DefaultKeyedRateLimiter<String>,
}

fn quota(settings: &RateLimitSettings, name: &str) -> Result<Quota, String> {
    let q = settings.quota(name);
    let rate =
        NonZeroU32::new(q.per_second).ok_or_else(|| format!("rate_limit.{name}_per_second must be at least 1"))?;
    let burst = NonZeroU32::new(q.burst).ok_or_else(|| format!("rate_limit.{name}_burst must be at least 1"))?;
    Ok(Quota::per_second(rate).allow_burst(burst))
}

impl Pair {
    fn new(settings: &RateLimitSettings, prefix: &str) -> Result<Self, String> {
        Ok(Self {
            per_address: RateLimiter::keyed(quota(settings, &format!("{prefix}per_address"))?),
            per_tenant: RateLimiter::keyed(quota(settings, &format!("{prefix}per_tenant"))?),
        })
    }
}

/// The server's rate limiters, shared by every worker.
pub struct RateLimits {
    credentials: Pair,
    discovery: Pair,
    transport: TransportPolicy,
    ipv6_prefix: u8,
    clock: DefaultClock,
}

impl RateLimits {
    /// The limiters configured by `settings`; `None` when rate limiting is disabled.
    /// Client addresses come from `transport` (forwarding headers only from trusted
    /// proxies).
    ///
    /// # Errors
    /// A message naming a quota of zero.
    pub fn new(settings: &RateLimitSettings, transport: TransportPolicy) -> Result<Option<Arc<Self>>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        if settings.ipv6_prefix > 128 {
            return Err("rate_limit.ipv6_prefix must be at most 128".into());
        }
        Ok(Some(Arc::new(Self {
            credentials: Pair::new(settings, "")?,
            discovery: Pair::new(settings, "discovery_")?,
            transport,
            ipv6_prefix: settings.ipv6_prefix,
            clock: DefaultClock::default(),
        })))
    }

    /// The address a client is counted as: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by
    /// its `ipv6_prefix` network, since one host commonly holds a whole /64.
    fn address_key(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let bits = u128::from(v6);
                    let mask = u128::MAX.checked_shl(128 - u32::from(self.ipv6_prefix)).unwrap_or(0);
                    IpAddr::V6(Ipv6Addr::from(bits & mask))
                }
            },
        }
    }

    /// Counts `req` against the `class` budgets of its client address and of `tenant`
    /// (see [`path_tenant`], [`credential_tenant`]): `Ok` to proceed, or the wait before
    /// the limiter admits the next request. The address is checked first, so a client
    /// over its own budget does not also spend its tenant's.
    ///
    /// # Errors
    /// The wait, when a budget is spent.
    pub fn check(&self, req: &HttpRequest, class: Class, tenant: &str) -> Result<(), Duration> {
        let pair = match class {
            Class::Credentials => &self.credentials,
            Class::Discovery => &self.discovery,
        };
        if let Some(peer) = req.peer_addr() {
            let ip = self.transport.client_address_of(peer.ip(), req.headers());
            pair.per_address.check_key(&self.address_key(ip)).map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        // Keys are owned by the limiter; a tenant key is at most `MAX_KEY_LEN` bytes.
        pair.per_tenant.check_key(&tenant.to_owned()).map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// The failure for a request refused after `wait`: `Retry-After` in whole seconds,
    /// rounded up, at least 1.
    pub fn refusal(wait: Duration) -> Failure {
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Failure::RateLimited { retry_after_secs: retry_after_secs.max(1) }
    }

    /// Keys tracked, across every limiter.
    pub fn tracked(&self) -> usize {
        [&self.credentials, &self.discovery].iter().map(|p| p.per_address.len() + p.per_tenant.len()).sum()
    }

    /// Forgets every key whose budget is full again (it would behave like a new key), so
    /// that memory is bounded by the keys active within one interval.
    pub fn forget_idle(&self) {
        for pair in [&self.credentials, &self.discovery] {
            pair.per_address.retain_recent();
            pair.per_address.shrink_to_fit();
            pair.per_tenant.retain_recent();
            pair.per_tenant.shrink_to_fit();
        }
    }

    /// Runs [`RateLimits::forget_idle`] every `interval` until the task is aborted.
    pub async fn run_upkeep(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            let before = self.tracked();
            self.forget_idle();
            tracing::debug!(before, after = self.tracked(), "rate limiter keys pruned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn requests_are_counted_against_their_key_tenant_or_token() {
        let tenant = |req: TestRequest| credential_tenant(&req.to_http_request());
        let key = TestRequest::post().uri("/api/v1/users/auth/_login").insert_header(("X-API-Key", "kp_abc123_secret"));
        assert_eq!(tenant(key), "key:abc123");
        let admin = TestRequest::get()
            .uri("/api/v1/users")
            .insert_header(("Authorization", "Basic YWRtaW46eA=="))
            .insert_header(("X-Keyplane-Tenant", "Acme"));
        assert_eq!(tenant(admin), "t:acme");
        let claims = URL_SAFE_NO_PAD.encode(br#"{"tid":"0190a0b0-0000-7000-8000-000000000001"}"#);
        let refresh = TestRequest::post()
            .uri("/api/v1/users/auth/_refresh")
            .insert_header(("Authorization", format!("Bearer x.{claims}.y")));
        assert_eq!(tenant(refresh), "tid:0190a0b0-0000-7000-8000-000000000001");
        assert_eq!(tenant(TestRequest::post().uri("/api/v1/users/auth/_login")), "platform");
        assert_eq!(path_tenant("Acme"), "t:acme");
        assert_eq!(path_tenant(&"a".repeat(500)).len(), MAX_KEY_LEN);
    }

    #[test]
    fn ipv6_clients_are_counted_by_network() {
        let limits = RateLimits::new(&RateLimitSettings::default(), TransportPolicy::default()).unwrap().unwrap();
        let a = limits.address_key("2001:db8::1".parse().unwrap());
        let b = limits.address_key("2001:db8::ffff:1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, limits.address_key("2001:db8:0:1::1".parse().unwrap()));
        assert_eq!(limits.address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn zero_quotas_are_refused() {
        let settings = RateLimitSettings { per_tenant_burst: 0, ..RateLimitSettings::default() };
        let err = RateLimits::new(&settings, TransportPolicy::default()).err().unwrap();
        assert_eq!(err, "rate_limit.per_tenant_burst must be at least 1");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(RateLimits::refusal(Duration::from_millis(1200)), Failure::RateLimited { retry_after_secs: 2 });
        assert_eq!(RateLimits::refusal(Duration::ZERO), Failure::RateLimited { retry_after_secs: 1 });
    }
}
