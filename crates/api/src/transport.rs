//! `ssl_required`: whether plain HTTP is accepted. `none` accepts it from anyone,
//! `external` (the default) only from loopback and private addresses, `all` from no one.
//! `X-Forwarded-Proto` and `X-Forwarded-For` are believed only from configured trusted
//! proxies. A refused request is answered 403 ([`crate::failure::Failure::HttpsRequired`])
//! in its API surface's error shape before any credential in it is looked at.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;

/// The `ssl_required` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SslRequired {
    /// Plain HTTP from anywhere.
    None,
    /// Plain HTTP only from loopback and private addresses.
    #[default]
    External,
    /// HTTPS only.
    All,
}

/// The transport rule in force.
#[derive(Debug, Clone, Default)]
pub struct TransportPolicy {
    /// The mode.
    pub mode: SslRequired,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

impl TransportPolicy {
    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack listener arrives as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address of a request: see [`TransportPolicy::client_address_of`];
    /// `None` when the peer is unknown (not a TCP connection).
    pub fn client_address(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        Some(self.client_address_of(peer, req.headers()))
    }

    /// The client's address: the peer, or (when the peer is a trusted proxy) the last
    /// address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_address_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.client_hop(peer, headers).map_or(peer, |(ip, _)| ip)
    }

    /// The forwarded client, when the peer is a trusted proxy that names one: its
    /// address and its position in `X-Forwarded-For`, counted from the right (0: added
    /// by the proxy nearest to Keyplane). The walk stops at the first entry that is not
    /// a trusted proxy; an entry that is no address there (`unknown`, a typo) names no
    /// client, so the peer counts rather than anything the client wrote further left.
    fn client_hop(&self, peer: IpAddr, headers: &HeaderMap) -> Option<(IpAddr, usize)> {
        if !self.trusts(peer) {
            return None;
        }
        let chain = all_lines(headers, "x-forwarded-for")?;
        for (hop, entry) in chain.rsplit(',').map(str::trim).enumerate() {
            let ip = forwarded_address(entry)?;
            if !self.trusts(ip) {
                return Some((ip, hop));
            }
        }
        None
    }

    /// The scheme the client used, as the trusted proxies tell it: the `X-Forwarded-Proto`
    /// entry written at the same hop as the client's `X-Forwarded-For` entry, assuming
    /// each trusted proxy appends to both; the nearest entry when no client is named,
    /// the farthest when the list is shorter.
    fn forwarded_proto(&self, peer: IpAddr, headers: &HeaderMap) -> Option<String> {
        let line = all_lines(headers, "x-forwarded-proto")?;
        let protos: Vec<&str> = line.rsplit(',').map(str::trim).collect();
        let hop = self.client_hop(peer, headers).map_or(0, |(_, hop)| hop);
        let proto = protos.get(hop).or(protos.last())?;
        Some(proto.to_ascii_lowercase())
    }

    /// Whether the request may proceed.
    pub fn allows(&self, req: &HttpRequest) -> bool {
        if self.mode == SslRequired::None {
            return true;
        }
        let tls = req.app_config().secure();
        let Some(peer) = req.peer_addr().map(|a| a.ip()) else { return tls };
        let client = self.client_address_of(peer, req.headers());
        let https = if self.trusts(peer) {
            self.forwarded_proto(peer, req.headers()).map_or(tls, |p| p == "https")
        } else {
            tls
        };
        match self.mode {
            SslRequired::None => true,
            SslRequired::All => https,
            SslRequired::External => https || is_internal(client),
        }
    }
}

/// Every line of a list header, joined as one list (a proxy may add its own line
/// rather than append to the last); `None` when absent or not text.
fn all_lines(headers: &HeaderMap, name: &str) -> Option<String> {
    let lines: Option<Vec<&str>> = headers.get_all(name).map(|v| v.to_str().ok()).collect();
    let lines = lines?;
    (!lines.is_empty()).then(|| lines.join(","))
}

/// An `X-Forwarded-For` entry: an address, with or without a port (`a.b.c.d:port`,
/// `[v6]:port`), as proxies write them.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_loopback_and_private() {
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "::1", "fd00::1", "::ffff:10.0.0.1"] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_scheme_is_read_at_the_clients_hop() {
        let policy = TransportPolicy { mode: SslRequired::All, trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()] };
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let headers = |xff: &str, xfp: &str| {
            let mut headers = HeaderMap::new();
            let name = actix_web::http::header::HeaderName::from_static;
            if !xff.is_empty() {
                headers.insert(name("x-forwarded-for"), xff.parse().unwrap());
            }
            headers.insert(name("x-forwarded-proto"), xfp.parse().unwrap());
            headers
        };
        // One proxy: the client claimed https itself; the proxy appended what it saw.
        assert_eq!(policy.forwarded_proto(proxy, &headers("203.0.113.9", "https, http")).as_deref(), Some("http"));
        assert_eq!(policy.forwarded_proto(proxy, &headers("203.0.113.9", "https")).as_deref(), Some("https"));
        // Two trusted proxies: the outer one saw the client's https, the inner one http.
        let two = headers("203.0.113.9, 10.0.0.7", "https, http");
        assert_eq!(policy.forwarded_proto(proxy, &two).as_deref(), Some("https"));
        // Only the outer proxy writes the scheme: its entry counts.
        assert_eq!(policy.forwarded_proto(proxy, &headers("203.0.113.9, 10.0.0.7", "https")).as_deref(), Some("https"));
        // No client named: the nearest entry.
        assert_eq!(policy.forwarded_proto(proxy, &headers("", "https, http")).as_deref(), Some("http"));
        // Not from a trusted proxy: its own client is the peer.
        assert_eq!(policy.client_hop("8.8.8.8".parse().unwrap(), &two), None);
        // A second header line counts as entries appended after the first.
        let mut split = headers("203.0.113.9", "https");
        let name = actix_web::http::header::HeaderName::from_static;
        split.append(name("x-forwarded-proto"), "http".parse().unwrap());
        assert_eq!(policy.forwarded_proto(proxy, &split).as_deref(), Some("http"));
    }

    #[test]
    fn the_client_is_the_first_untrusted_entry_from_the_right() {
        let policy = TransportPolicy { mode: SslRequired::None, trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()] };
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client = |xff: &[&str]| {
            let mut headers = HeaderMap::new();
            for line in xff {
                headers
                    .append(actix_web::http::header::HeaderName::from_static("x-forwarded-for"), line.parse().unwrap());
            }
            policy.client_address_of(proxy, &headers).to_string()
        };
        assert_eq!(client(&["203.0.113.9:4711"]), "203.0.113.9");
        assert_eq!(client(&["[2001:db8::7]:443, 10.0.0.5"]), "2001:db8::7");
        // What the client wrote left of an unreadable entry is not believed.
        assert_eq!(client(&["198.51.100.1, unknown"]), "10.0.0.2");
        // Lines are read in order, the last one nearest.
        assert_eq!(client(&["198.51.100.1", "203.0.113.9"]), "203.0.113.9");
    }

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        let policy = TransportPolicy { mode: SslRequired::None, trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()] };
        let mut headers = HeaderMap::new();
        headers.insert(
            actix_web::http::header::HeaderName::from_static("x-forwarded-for"),
            "198.51.100.7, 203.0.113.9, 10.0.0.3".parse().unwrap(),
        );
        assert_eq!(
            policy.client_address_of("10.0.0.2".parse().unwrap(), &headers),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            policy.client_address_of("8.8.8.8".parse().unwrap(), &headers),
            "8.8.8.8".parse::<IpAddr>().unwrap()
        );
    }
}
