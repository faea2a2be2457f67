//! The client address of an HTTP request when the node runs behind a
//! reverse proxy (Caddy in `docker-compose.yml`).
//!
//! Behind a proxy every request arrives from the proxy's address, so the
//! per-IP buckets (record API, registration, sync, DoH) would be one bucket
//! for everybody. With `--trusted-proxies` (`DMP_TRUSTED_PROXIES`) the node
//! believes `X-Forwarded-For` only on connections from those addresses, and
//! only as far as the chain of trusted hops goes: it walks the header from
//! the right (the entry the nearest proxy appended) and takes the first
//! address that is not itself a trusted proxy. Entries to the left of that
//! were written by the client and are never believed. Without the setting
//! (the default) the header is ignored, as the reference node does.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The proxies whose `X-Forwarded-For` is believed: addresses or CIDR
/// ranges. Empty: none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `--trusted-proxies` entry that is neither an address nor a CIDR range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadProxyEntry(pub String);

impl fmt::Display for BadProxyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\" is not an IP address or CIDR range (e.g. 172.16.0.0/12, 10.0.0.5, ::1)",
            self.0
        )
    }
}

impl std::error::Error for BadProxyEntry {}

impl FromStr for TrustedProxies {
    type Err = BadProxyEntry;

    /// A comma- or space-separated list of addresses and CIDR ranges.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadProxyEntry(s.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    /// Whether no proxy is trusted (the header is never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket
    /// reports) counts as the IPv4 address it is.
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The address to rate-limit and log for a request from `peer`.
    ///
    /// `peer` itself unless it is a trusted proxy; then the rightmost
    /// `X-Forwarded-For` entry that is not a trusted proxy. An entry that
    /// does not parse ends the walk at the last trusted hop (a proxy's
    /// address is a safer key than a made-up one). Several header lines
    /// are read as one list, in order.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut current = peer.to_canonical();
        if !self.trusts(current) {
            return current;
        }
        let lines: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        for entry in lines.iter().rev().flat_map(|l| l.rsplit(',')) {
            let Some(ip) = parse_entry(entry) else {
                return current;
            };
            current = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        current
    }
}

/// One `X-Forwarded-For` element: an address, optionally with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:443`) as some proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = e.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    }
    let (host, port) = e.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    #[test]
    fn parses_addresses_and_ranges() {
        let t: TrustedProxies = "10.0.0.0/8, 127.0.0.1 ::1,fd00::/8".parse().unwrap();
        assert!(t.trusts(ip("10.1.2.3")));
        assert!(t.trusts(ip("127.0.0.1")));
        assert!(t.trusts(ip("::ffff:127.0.0.1")));
        assert!(t.trusts(ip("fd12::1")));
        assert!(!t.trusts(ip("127.0.0.2")));
        assert!(!t.trusts(ip("203.0.113.9")));
        assert_eq!(
            "10.0.0.0/8,proxy".parse::<TrustedProxies>(),
            Err(BadProxyEntry("proxy".into()))
        );
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn untrusted_peer_header_is_ignored() {
        let none = TrustedProxies::default();
        let h = xff(&["198.51.100.7"]);
        assert_eq!(none.client_ip(ip("203.0.113.1"), &h), ip("203.0.113.1"));
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        assert_eq!(t.client_ip(ip("203.0.113.1"), &h), ip("203.0.113.1"));
    }

    #[test]
    fn rightmost_untrusted_entry_wins() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let peer = ip("10.0.0.2");
        // No header: the proxy itself.
        assert_eq!(t.client_ip(peer, &HeaderMap::new()), peer);
        // A client-written entry to the left of the real one is not believed.
        let h = xff(&["1.1.1.1, 198.51.100.7"]);
        assert_eq!(t.client_ip(peer, &h), ip("198.51.100.7"));
        // Trusted hops are skipped, across header lines too.
        let h = xff(&["1.1.1.1, 198.51.100.7", "10.9.9.9"]);
        assert_eq!(t.client_ip(peer, &h), ip("198.51.100.7"));
        // Ports and brackets as some proxies write them.
        assert_eq!(
            t.client_ip(peer, &xff(&["198.51.100.8:4711"])),
            ip("198.51.100.8")
        );
        assert_eq!(
            t.client_ip(peer, &xff(&["[2001:db8::5]:443"])),
            ip("2001:db8::5")
        );
        // Garbage ends the walk at the last trusted hop.
        assert_eq!(t.client_ip(peer, &xff(&["198.51.100.7, nonsense"])), peer);
        assert_eq!(
            t.client_ip(peer, &xff(&["nonsense, 10.3.3.3"])),
            ip("10.3.3.3")
        );
        // Every entry trusted: the leftmost one.
        assert_eq!(
            t.client_ip(peer, &xff(&["10.4.4.4, 10.3.3.3"])),
            ip("10.4.4.4")
        );
    }
}
