//! Network I/O around the sans-IO client: TXT reads through a resolver
//! pool or DoH, record writes over the node's HTTP API or DNS UPDATE with
//! TSIG, un-signed claim UPDATEs, and the registration HTTP calls.

pub mod dns;
pub mod http;
pub mod reader;
pub mod writer;

pub use reader::{Reader, Upstream};
pub use writer::Writer;

use std::net::{SocketAddr, ToSocketAddrs};

/// `host:port`, `[v6]:port`, `ip` or `host` (with `default_port`) to
/// socket addresses; hostnames resolve through the system.
pub fn resolve_host(entry: &str, default_port: u16) -> Result<Vec<SocketAddr>, String> {
    let entry = entry.trim();
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        return Ok(vec![sa]);
    }
    if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, default_port)]);
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return Err(format!("bad port in {entry:?}")),
        },
        _ => (entry, default_port),
    };
    (host, port)
        .to_socket_addrs()
        .map(|a| a.collect())
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))
}

/// The host part of an endpoint URL (`https://h:p/x` → `h`).
pub fn endpoint_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    authority.split(':').next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(endpoint_host("http://127.0.0.1:18053"), "127.0.0.1");
        assert_eq!(endpoint_host("https://node.example/x"), "node.example");
        assert_eq!(endpoint_host("https://[::1]:8/"), "::1");
        assert_eq!(
            resolve_host("127.0.0.1:53", 1).unwrap(),
            vec!["127.0.0.1:53".parse().unwrap()]
        );
        assert_eq!(
            resolve_host("::1", 5).unwrap(),
            vec!["[::1]:5".parse().unwrap()]
        );
        assert!(resolve_host("localhost:x", 5).is_err());
    }
}
