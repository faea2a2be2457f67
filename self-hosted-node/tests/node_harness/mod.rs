//! An in-process node for tests: HTTP router and DNS listeners on free
//! loopback ports over one SQLite store in a temp dir, plus a minimal
//! HTTP/1.1 client and DNS helpers over real sockets.
#![allow(dead_code)]

use dmp_node::dns_server::{self, ApexSettings, DnsConfig};
use dmp_node::store::{Store, unix_now_ms};
use dmp_node::{AppState, Config};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

pub const ZONE: &str = "mesh.test";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestNode {
    pub http: SocketAddr,
    pub dns: SocketAddr,
    pub store: Arc<Store>,
    pub state: AppState,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The DNS settings tests use: zone `mesh.test` with a fixed SOA serial.
pub fn zone_config() -> DnsConfig {
    DnsConfig::default()
        .with_zone(ZONE)
        .with_apex(&ApexSettings {
            ns: vec![format!("ns1.{ZONE}")],
            soa_serial: Some(2026),
            ..ApexSettings::default()
        })
}

impl TestNode {
    pub async fn start(dns: DnsConfig, config: Config) -> TestNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(Store::open(dir.path().join("records.db")).expect("open store"));
        let config = Config {
            dns: dns.clone(),
            ..config
        };
        let state = AppState::new(Arc::clone(&store), config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let http = listener.local_addr().expect("http addr");
        let dns_l = dns_server::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind dns");
        let dns_addr = dns_l.local_addr().expect("dns addr");
        let dns_cfg = DnsConfig {
            metrics: state.metrics().clone(),
            ..dns
        };
        let s2 = state.clone();
        let t1 = tokio::spawn(async move {
            let _ = dmp_node::serve(listener, s2, std::future::pending()).await;
        });
        let st = Arc::clone(&store);
        let t2 = tokio::spawn(async move {
            let _ = dns_server::serve(dns_l, st, dns_cfg).await;
        });
        TestNode {
            http,
            dns: dns_addr,
            store,
            state,
            tasks: vec![t1, t2],
            _dir: dir,
        }
    }

    pub async fn default_zone() -> TestNode {
        TestNode::start(zone_config(), Config::default()).await
    }

    pub fn publish(&self, name: &str, value: &str, ttl: u32) {
        self.store
            .publish(name, value, ttl, unix_now_ms())
            .expect("publish");
    }

    pub async fn get(&self, path: &str) -> Resp {
        http(self.http, "GET", path, &[], b"").await
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// Lower-cased header lines.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw_req = head.into_bytes();
    raw_req.extend_from_slice(body);
    raw(addr, &raw_req).await.expect("an HTTP response")
}

/// Sends raw bytes, reads until close, parses one response (`None`: the
/// server closed without one).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before reading all of it.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = timeout(WAIT, s.read_to_end(&mut out)).await;
    parse_response(&out)
}

pub fn parse_response(out: &[u8]) -> Option<Resp> {
    let sep = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..sep]).into_owned();
    let mut body = out[sep + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Some(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..p]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let start = p + 2;
        out.extend_from_slice(&b[start..(start + n).min(b.len())]);
        b = &b[(start + n + 2).min(b.len())..];
    }
    out
}

pub async fn udp_raw(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    sock.send_to(packet, addr).await.expect("send");
    let mut buf = vec![0u8; 65_535];
    match timeout(Duration::from_millis(1500), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

/// One query over a fresh TCP connection; `None` if it closed first.
pub async fn tcp_raw(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&frame(packet)).await.ok()?;
    let len = timeout(WAIT, s.read_u16()).await.ok()?.ok()?;
    let mut buf = vec![0u8; usize::from(len)];
    timeout(WAIT, s.read_exact(&mut buf)).await.ok()?.ok()?;
    Some(buf)
}

/// A query for `name`/`qtype` (no EDNS unless `edns`).
pub fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if let Some(p) = edns {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&p.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}

pub fn rcode(resp: &[u8]) -> u8 {
    resp[3] & 0x0F
}

pub fn counts(resp: &[u8]) -> [u16; 4] {
    let c = |i: usize| u16::from_be_bytes([resp[4 + 2 * i], resp[5 + 2 * i]]);
    [c(0), c(1), c(2), c(3)]
}

/// base64url without padding (RFC 8484 GET).
pub fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
