//! Helpers of the sync tests: spawn `dmp-node` processes on loopback,
//! plain HTTP/1.1 requests, polling.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "sync-test-token";

/// A child process killed (and reaped) on drop.
pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for TCP and UDP right now.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct ports free for TCP and UDP right now (all held until every
/// one is chosen, so none is handed out twice).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let mut held = Vec::new();
    let mut out = [0u16; N];
    for slot in out.iter_mut() {
        loop {
            let t = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = t.local_addr().unwrap().port();
            if let Ok(u) = UdpSocket::bind(("127.0.0.1", port)) {
                *slot = port;
                held.push((t, u));
                break;
            }
        }
    }
    out
}

/// A running `dmp-node`.
pub struct Node {
    pub addr: SocketAddr,
    /// The DNS listener (UDP and TCP).
    pub dns: SocketAddr,
    pub db: PathBuf,
    pub log: PathBuf,
    // Keeps the stdout pipe open for the node's lifetime.
    _stdout: BufReader<ChildStdout>,
    pub proc: Kill,
}

impl Node {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Start `dmp-node` on `port` with its DB in `dir`, open auth, the sync
/// token, and `env` on top; waits until /health answers.
pub fn start_node(dir: &Path, port: u16, env: &[(&str, String)]) -> Node {
    std::fs::create_dir_all(dir).unwrap();
    let db = dir.join("dmp.db");
    let log = dir.join("node.log");
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmp-node"));
    cmd.env_clear()
        .env("RUST_LOG", "dmp_node=info")
        .env("DMP_SYNC_PEER_TOKEN", TOKEN)
        .env("DMP_CLUSTER_FILE", dir.join("cluster.json"))
        .env("DMP_SYNC_INTERVAL", "0.2")
        .env("DMP_HTTP_RATE", "0")
        .arg("--db-path")
        .arg(&db)
        .args([
            "--http-host",
            "127.0.0.1",
            "--http-port",
            &port.to_string(),
            "--dns-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(logf));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Kill(cmd.spawn().expect("start dmp-node"));
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "bad banner {line:?}");
    let mut dns = None;
    for _ in 0..5 {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(rest) = line.strip_prefix("dns: ") {
            dns = rest.split('/').next().and_then(|a| a.parse().ok());
            break;
        }
    }
    let dns = dns.expect("no dns line in the banner");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for(Duration::from_secs(20), || {
        request(addr, "GET", "/health", None, "").0 == 200
    });
    Node {
        addr,
        dns,
        db,
        log,
        _stdout: out,
        proc: child,
    }
}

/// (status, body) of one request over a fresh connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    if s.write_all(head.as_bytes()).is_err() {
        return (0, String::new());
    }
    let _ = s.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// Publish `value` at `name` (open auth).
pub fn publish(addr: SocketAddr, name: &str, value: &str) {
    let body = serde_json::json!({"value": value, "ttl": 3600}).to_string();
    let (status, resp) = request(addr, "POST", &format!("/v1/records/{name}"), None, &body);
    assert_eq!(status, 201, "publish {name} on {addr}: {resp}");
}

/// The values at `name` (empty on 404).
pub fn values(addr: SocketAddr, name: &str) -> Vec<String> {
    let (status, body) = request(addr, "GET", &format!("/v1/records/{name}"), None, "");
    if status != 200 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `GET /v1/sync/status` as JSON.
pub fn status(addr: SocketAddr) -> serde_json::Value {
    let (code, body) = request(addr, "GET", "/v1/sync/status", Some(TOKEN), "");
    assert_eq!(code, 200, "status: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Poll `cond` until it holds; panics after `limit` (a generous bound for a
/// loaded machine, not a performance assertion).
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("condition not reached within {limit:?}");
}
