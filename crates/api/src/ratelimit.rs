//! Rate limits on the endpoints that check credentials (and, more generously, on the
//! discovery documents), with `governor`'s keyed GCRA limiters: one budget per client
//! address and one per tenant, so that neither a single client nor a flood aimed at one
//! tenant can take the server from everyone else. A refused request is answered
//! `429` + `Retry-After` in its surface's own shape before any credential is looked at.

use crate::failure::Failure;
use crate::settings::RateLimitSettings;
use crate::surface::Surface;
use crate::transport::TransportPolicy;
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::HttpResponse;
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

/// The budget a request draws on and the tenant it is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The class of endpoint.
    pub class: Class,
    /// The tenant key: `t:<slug>` for `/t/{tenant}/...`; for native routes the API key's
    /// public id (`key:<id>`), else `X-Keyplane-Tenant` (`t:<slug>`), else a bearer
    /// token's unverified `tid` (`tid:<uuid>`), else `platform`.
    pub tenant: String,
}

/// Longest tenant key kept, so that keys stay small whatever a client sends.
const MAX_KEY_LEN: usize = 80;

const TENANT_PREFIXES: [&str; 7] = [
    "sensu/auth",
    "tenovos/auth/token",
    "investsuite/auth/",
    "oauth2/token",
    "oauth2/introspect",
    "oauth2/revoke",
    "oauth2/authorize",
];

const NATIVE_PATHS: [&str; 3] =
    ["/api/v1/users/auth/_login", "/api/v1/users/auth/_refresh", "/api/v1/users/auth/methods"];

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

fn header_str<'a>(req: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn authorization<'a>(req: &'a ServiceRequest, scheme: &str) -> Option<&'a str> {
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

/// The tenant a native request is counted against (see [`Bucket::tenant`]).
fn native_tenant(req: &ServiceRequest) -> String {
    let key =
        header_str(req, "x-api-key").or_else(|| authorization(req, "ApiKey")).or_else(|| authorization(req, "Key"));
    if let Some((id, _)) = key.and_then(split_key_text) {
        return bounded(format!("key:{id}"));
    }
    if let Some(slug) = header_str(req, crate::auth::TENANT_HEADER).filter(|s| !s.is_empty()) {
        return bounded(format!("t:{}", slug.to_ascii_lowercase()));
    }
    authorization(req, "Bearer").and_then(unverified_tid).unwrap_or_else(|| "platform".to_owned())
}

/// The class of budget a request to `path` draws on, `None` when it is not limited;
/// `basic` says whether it carries `Authorization: Basic`. Works on concrete paths and
/// on path templates alike, so the OpenAPI document marks exactly these operations.
pub fn classify(path: &str, basic: bool) -> Option<Class> {
    if let Some((_, rest)) = path.strip_prefix("/t/").and_then(|r| r.split_once('/')) {
        return if rest.starts_with(".well-known/") {
            Some(Class::Discovery)
        } else if basic || TENANT_PREFIXES.iter().any(|p| rest.starts_with(p)) {
            Some(Class::Credentials)
        } else {
            None
        };
    }
    (basic || NATIVE_PATHS.contains(&path)).then_some(Class::Credentials)
}

/// The budget `req` draws on, or `None` for a request that is not rate-limited.
pub fn bucket(req: &ServiceRequest) -> Option<Bucket> {
    let path = req.path();
    let class = classify(path, authorization(req, "Basic").is_some())?;
    let tenant = match path.strip_prefix("/t/").and_then(|r| r.split_once('/')) {
        Some((slug, _)) => bounded(format!("t:{}", slug.to_ascii_lowercase())),
        None => native_tenant(req),
    };
    Some(Bucket { class, tenant })
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

    /// Counts `req` against its budgets: `Ok` to proceed, or the wait before the
    /// limiter admits the next request. The address is checked first, so a client over
    /// its own budget does not also spend its tenant's.
    ///
    /// # Errors
    /// The wait, when a budget is spent.
    pub fn check(&self, req: &ServiceRequest) -> Result<(), Duration> {
        let Some(bucket) = bucket(req) else { return Ok(()) };
        let pair = match bucket.class {
            Class::Credentials => &self.credentials,
            Class::Discovery => &self.discovery,
        };
        if let Some(ip) = self.transport.client_address(req) {
            pair.per_address.check_key(&self.address_key(ip)).map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        pair.per_tenant.check_key(&bucket.tenant).map_err(|n| n.wait_time_from(self.clock.now()))
    }

    /// The response for a request refused after `wait`: 429 with `Retry-After` (whole
    /// seconds, rounded up, at least 1) in the shape of `path`'s surface.
    pub fn refusal(path: &str, wait: Duration) -> HttpResponse {
        let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Surface::of(path).respond(Failure::RateLimited { retry_after_secs: retry_after_secs.max(1) })
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

    fn bucket_of(req: TestRequest) -> Option<Bucket> {
        bucket(&req.to_srv_request())
    }

    #[test]
    fn credential_endpoints_are_limited_per_tenant() {
        let b = bucket_of(TestRequest::get().uri("/t/Acme/sensu/auth/test")).unwrap();
        assert_eq!(b, Bucket { class: Class::Credentials, tenant: "t:acme".into() });
        let b = bucket_of(TestRequest::get().uri("/t/acme/.well-known/jwks.json")).unwrap();
        assert_eq!(b.class, Class::Discovery);
        assert!(bucket_of(TestRequest::get().uri("/t/acme/oauth2/userinfo")).is_none());
        assert!(bucket_of(TestRequest::get().uri("/api/v1/users")).is_none());
        assert!(bucket_of(TestRequest::get().uri("/healthz")).is_none());
    }

    #[test]
    fn native_requests_are_counted_against_their_key_tenant_or_token() {
        let key = TestRequest::post().uri("/api/v1/users/auth/_login").insert_header(("X-API-Key", "kp_abc123_secret"));
        assert_eq!(bucket_of(key).unwrap().tenant, "key:abc123");
        let admin = TestRequest::get()
            .uri("/api/v1/users")
            .insert_header(("Authorization", "Basic YWRtaW46eA=="))
            .insert_header(("X-Keyplane-Tenant", "Acme"));
        assert_eq!(bucket_of(admin).unwrap().tenant, "t:acme");
        let claims = URL_SAFE_NO_PAD.encode(br#"{"tid":"0190a0b0-0000-7000-8000-000000000001"}"#);
        let refresh = TestRequest::post()
            .uri("/api/v1/users/auth/_refresh")
            .insert_header(("Authorization", format!("Bearer x.{claims}.y")));
        assert_eq!(bucket_of(refresh).unwrap().tenant, "tid:0190a0b0-0000-7000-8000-000000000001");
        let anonymous = TestRequest::post().uri("/api/v1/users/auth/_login");
        assert_eq!(bucket_of(anonymous).unwrap().tenant, "platform");
        let long = TestRequest::post().uri(&format!("/t/{}/tenovos/auth/token", "a".repeat(500)));
        assert_eq!(bucket_of(long).unwrap().tenant.len(), MAX_KEY_LEN);
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
        let response = RateLimits::refusal("/t/a/sensu/auth", Duration::from_millis(1200));
        assert_eq!(response.headers().get("retry-after").unwrap(), "2");
    }
}
