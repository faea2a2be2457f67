//! Shared by the auth tests: spawn the real `dmp-node` (and the reference
//! node) on loopback, HTTP/1.1 over fresh connections, registration
//! clients that sign like a real user.
#![allow(dead_code)]

use dmp_core::crypto::{Keypair, hex};
use dmp_core::node::registration::{signing_payload, x25519_pop};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub const OP: &str = "op-auth-test-token";
pub const ZONE: &str = "mesh.test";

/// A running node; killed on drop.
pub struct Node {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub http: SocketAddr,
    pub dns: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment of a multi-tenant node with registration (burst raised
/// for tests) and the zone `mesh.test`.
pub fn multi_tenant_env() -> Vec<(&'static str, String)> {
    vec![
        ("DMP_AUTH_MODE", "multi-tenant".into()),
        ("DMP_OPERATOR_TOKEN", OP.into()),
        ("DMP_REGISTRATION_ENABLED", "1".into()),
        ("DMP_NODE_HOSTNAME", ZONE.into()),
        ("DMP_DOMAIN", ZONE.into()),
        ("DMP_REGISTRATION_ENDPOINT_RATE_BURST", "100".into()),
    ]
}

impl Node {
    /// `dmp-node` on free loopback ports with `env` only (env_clear).
    pub fn start(db: &Path, env: &[(&str, String)]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("--db-path")
            .arg(db)
            .args([
                "--http-host",
                "127.0.0.1",
                "--http-port",
                "0",
                "--dns-host",
                "127.0.0.1",
                "--dns-port",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dmp-node");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut lines = Vec::new();
        for _ in 0..3 {
            let mut l = String::new();
            stdout.read_line(&mut l).expect("read stdout");
            if l.is_empty() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("dmp-node did not start: {err}");
            }
            lines.push(l);
        }
        let http = lines[0]
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|u| u.strip_prefix("http://"))
            .and_then(|u| u.strip_suffix('/'))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]));
        let dns = lines[2]
            .strip_prefix("dns: ")
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected dns line {:?}", lines[2]));
        Node {
            child,
            stdout,
            http,
            dns,
        }
    }
}

/// A status, lower-cased headers and a body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
    pub fn pair(&self) -> (u16, &str) {
        (self.status, self.body.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response {raw:?}"));
    Resp {
        status,
        headers: headers.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> Resp {
    req(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

/// POST a record with an optional bearer token.
pub fn publish(addr: SocketAddr, name: &str, value: &str, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        h.push(("Authorization", a.as_str()));
    }
    let body = format!("{{\"value\": \"{value}\", \"ttl\": 300}}");
    req(addr, "POST", &format!("/v1/records/{name}"), &h, &body)
}

/// DELETE a record (whole RRset) with an optional bearer token.
pub fn delete(addr: SocketAddr, name: &str, token: Option<&str>) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h = vec![];
    if let Some(a) = &auth {
        h.push(("Authorization", a.as_str()));
    }
    req(addr, "DELETE", &format!("/v1/records/{name}"), &h, "")
}

/// The values at `name` as the operator reads them.
pub fn values(addr: SocketAddr, name: &str) -> Vec<String> {
    let auth = format!("Bearer {OP}");
    let r = req(
        addr,
        "GET",
        &format!("/v1/records/{name}"),
        &[("Authorization", &auth)],
        "",
    );
    match r.json().get("values") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => panic!("no values in {:?}", r.body),
    }
}

/// A registering user: an identity key pair from a fixed seed.
pub struct User {
    pub subject: String,
    pub kp: Keypair,
}

impl User {
    pub fn new(local: &str, seed: u8) -> User {
        User {
            subject: format!("{local}@{ZONE}"),
            kp: Keypair::from_x25519_secret([seed; 32]),
        }
    }

    pub fn local(&self) -> &str {
        self.subject.split('@').next().unwrap_or("")
    }

    pub fn spk_hex(&self) -> String {
        hex(&self.kp.ed25519_public())
    }

    /// GET a challenge: (challenge hex, node, server x25519 pub hex).
    pub fn challenge(addr: SocketAddr) -> (String, String, String) {
        let r = req(addr, "GET", "/v1/registration/challenge", &[], "");
        assert_eq!(r.status, 200, "challenge: {}", r.body);
        let v = r.json();
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} in {v}"))
                .to_string()
        };
        (s("challenge"), s("node"), s("server_x25519_pub"))
    }

    /// A signed confirm body for a fresh challenge; `with_pop` adds the
    /// X25519 proof of possession.
    pub fn confirm_body(&self, addr: SocketAddr, with_pop: bool) -> String {
        let (ch, node, server_pub) = User::challenge(addr);
        self.body_for(&ch, &node, &server_pub, with_pop)
    }

    pub fn body_for(&self, ch: &str, node: &str, server_pub: &str, with_pop: bool) -> String {
        let challenge: [u8; 32] = unhex(ch).try_into().expect("32-byte challenge");
        let sig = self
            .kp
            .sign(&signing_payload(&challenge, &self.subject, node));
        let mut body = serde_json::json!({
            "subject": self.subject,
            "ed25519_spk": self.spk_hex(),
            "challenge": ch,
            "signature": hex(&sig),
        });
        if with_pop {
            let sp: [u8; 32] = unhex(server_pub).try_into().expect("32-byte key");
            let xp = self.kp.x25519_public();
            let pop = x25519_pop(self.kp.x25519_secret(), &sp, &challenge, &self.subject, &xp)
                .expect("pop");
            body["x25519_pub"] = Value::String(hex(&xp));
            body["x25519_pop"] = Value::String(hex(&pop));
        }
        body.to_string()
    }

    /// Register for a bearer token; panics unless 200.
    pub fn register_token(&self, addr: SocketAddr) -> String {
        let r = post_json(
            addr,
            "/v1/registration/confirm",
            &self.confirm_body(addr, false),
        );
        assert_eq!(r.status, 200, "confirm: {}", r.body);
        r.json()["token"].as_str().expect("token").to_string()
    }
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// `h(s)[..n]`.
pub fn h(s: &str, n: usize) -> String {
    hex(&dmp_core::crypto::sha256(s.as_bytes()))[..n].to_string()
}

pub fn tmpdb() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("node").join("dmp.db");
    (dir, db)
}

// ---- the reference as a peer ------------------------------------------------

/// The reference venv's python, or `None` (skip) with DMP_SKIP_REFERENCE=1.
pub fn reference_python() -> Option<PathBuf> {
    match std::env::var_os("DMP_REFERENCE_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var("DMP_SKIP_REFERENCE").as_deref() == Ok("1") => {
            eprintln!("skipped: DMP_SKIP_REFERENCE=1");
            None
        }
        _ => panic!(
            "set DMP_REFERENCE_PYTHON to the reference venv's python \
             (e.g. ~/.cache/dmp/venv/bin/python), or DMP_SKIP_REFERENCE=1 to skip"
        ),
    }
}

pub fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The reference node; killed on drop.
pub struct RefNode {
    pub child: Child,
    pub http: SocketAddr,
    pub dns: SocketAddr,
}

impl Drop for RefNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RefNode {
    /// `python -m dmp.server` with `env` plus its own paths and ports.
    pub fn start(python: &Path, dir: &Path, env: &[(&str, String)]) -> RefNode {
        let (hp, dp) = (free_port(), free_port());
        let child = Command::new(python)
            .args(["-m", "dmp.server"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DMP_DB_PATH", dir.join("dmp.db"))
            .env("DMP_CLUSTER_FILE", dir.join("cluster.json"))
            .env("DMP_DNS_HOST", "127.0.0.1")
            .env("DMP_DNS_PORT", dp.to_string())
            .env("DMP_HTTP_HOST", "127.0.0.1")
            .env("DMP_HTTP_PORT", hp.to_string())
            .env("DMP_LOG_LEVEL", "WARNING")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the reference node");
        let node = RefNode {
            child,
            http: SocketAddr::from(([127, 0, 0, 1], hp)),
            dns: SocketAddr::from(([127, 0, 0, 1], dp)),
        };
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&node.http, Duration::from_millis(200)).is_ok()
                && req(node.http, "GET", "/health", &[], "").status == 200
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "reference never healthy"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }
}
