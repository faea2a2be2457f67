//! Live harness for the CLI interop tests: reference and dmp-node nodes on
//! loopback, users with isolated config homes running either CLI, and
//! small upstream DNS servers (a forwarding proxy, a liar).
#![allow(dead_code)]

use dmp_cli::net::dns::query_txt;
use dmp_cli::net::http::request;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ZONE: &str = "mesh.test";

/// The reference venv, or None when DMP_SKIP_REFERENCE=1.
pub fn reference_python() -> Option<PathBuf> {
    match std::env::var_os("DMP_REFERENCE_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var("DMP_SKIP_REFERENCE").as_deref() == Ok("1") => {
            eprintln!("skipped: DMP_SKIP_REFERENCE=1");
            None
        }
        _ => panic!(
            "set DMP_REFERENCE_PYTHON to the reference venv's python (dnsmesh 0.7.5), \
             or DMP_SKIP_REFERENCE=1 to skip"
        ),
    }
}

/// A loopback port free for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port");
}

pub struct Node {
    pub http: String,
    pub dns: SocketAddr,
    pub token: Option<String>,
    child: Child,
    _dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_health(http: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = request(
            "GET",
            &format!("{http}/health"),
            None,
            None,
            Duration::from_secs(1),
        ) && r.status == 200
        {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "node exited ({st}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("node never became healthy at {http}");
}

/// The reference node: multi-tenant with an operator token, registration
/// and DNS UPDATE (REFERENCE-NODE.md §0.2).
pub fn reference_node(python: &Path) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (dns_port, http_port) = (free_port(), free_port());
    let token = "op-interop-test-token".to_string();
    let log = dir.path().join("node.log");
    let mut child = Command::new(python)
        .args(["-m", "dmp.server"])
        .env("DMP_DB_PATH", dir.path().join("dmp.db"))
        .env("DMP_CLUSTER_FILE", dir.path().join("cluster.json"))
        .env("DMP_DNS_HOST", "127.0.0.1")
        .env("DMP_DNS_PORT", dns_port.to_string())
        .env("DMP_HTTP_HOST", "127.0.0.1")
        .env("DMP_HTTP_PORT", http_port.to_string())
        .env("DMP_DOMAIN", ZONE)
        .env("DMP_LOG_LEVEL", "INFO")
        .env("DMP_AUTH_MODE", "multi-tenant")
        .env("DMP_OPERATOR_TOKEN", &token)
        .env("DMP_REGISTRATION_ENABLED", "1")
        .env("DMP_NODE_HOSTNAME", ZONE)
        .env("DMP_DNS_UPDATE_ENABLED", "1")
        .env("DMP_REGISTRATION_ENDPOINT_RATE_BURST", "50")
        .env("DMP_DNS_RATE", "0")
        .env("DMP_HTTP_RATE", "0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the reference node");
    let http = format!("http://127.0.0.1:{http_port}");
    wait_health(&http, &mut child, &log);
    Node {
        http,
        dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
        token: Some(token),
        child,
        _dir: dir,
        log,
    }
}

/// `dmp-node`: DMP_NODE_BIN, else next to this test binary (cargo builds
/// it for the node's own tests); built on demand when missing.
fn node_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DMP_NODE_BIN").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join("dmp-node");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "dmp-node", "--bin", "dmp-node"])
            .status()
            .expect("run cargo build -p dmp-node");
        assert!(st.success(), "cargo build -p dmp-node failed");
    }
    bin
}

/// Our node: open auth (anyone on loopback may write), zone mesh.test.
pub fn our_node() -> Node {
    our_node_with(&[], None)
}

/// Our node in multi-tenant mode with an operator token, registration and
/// DNS UPDATE (the reference's §0.2 setup).
pub fn our_node_multi_tenant() -> Node {
    let token = "op-interop-test-token";
    our_node_with(
        &[
            ("DMP_AUTH_MODE", "multi-tenant"),
            ("DMP_OPERATOR_TOKEN", token),
            ("DMP_REGISTRATION_ENABLED", "1"),
            ("DMP_NODE_HOSTNAME", ZONE),
            ("DMP_DNS_UPDATE_ENABLED", "1"),
            ("DMP_REGISTRATION_ENDPOINT_RATE_BURST", "100"),
        ],
        Some(token),
    )
}

fn our_node_with(env: &[(&str, &str)], token: Option<&str>) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let mut child = Command::new(node_bin())
        .env_clear()
        .envs(env.iter().copied())
        .env("DMP_DOMAIN", ZONE)
        .env("DMP_HTTP_RATE", "0")
        .env("DMP_HTTP_BURST", "0")
        .arg("--db-path")
        .arg(dir.path().join("records.db"))
        .args(["--http-host", "127.0.0.1", "--http-port", "0"])
        .args(["--dns-host", "127.0.0.1", "--dns-port", "0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start dmp-node");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut http, mut dns) = (None, None);
    for _ in 0..6 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(i) = line.find("listening on ") {
            http = Some(line[i + 13..].trim().trim_end_matches('/').to_string());
        }
        if let Some(rest) = line.strip_prefix("dns: ") {
            dns = Some(
                rest.split('/')
                    .next()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap(),
            );
        }
        if http.is_some() && dns.is_some() {
            break;
        }
    }
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    let http = http.expect("dmp-node printed its URL");
    wait_health(&http, &mut child, &log);
    Node {
        http,
        dns: dns.expect("dmp-node printed its DNS address"),
        token: token.map(String::from),
        child,
        _dir: dir,
        log,
    }
}

impl Node {
    /// TXT values at `name`, straight from the node's DNS.
    pub fn txt(&self, name: &str) -> Vec<String> {
        query_txt(self.dns, name, Duration::from_secs(3))
            .map(|r| r.values)
            .unwrap_or_default()
    }

    /// Delete one value over HTTP (operator token when the node has one).
    pub fn delete(&self, name: &str, value: &str) {
        let r = request(
            "DELETE",
            &format!("{}/v1/records/{name}", self.http),
            Some(&serde_json::json!({ "value": value })),
            self.token.as_deref(),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, 204, "delete {name}: {}", r.body);
    }

    /// Flags for `init` that point a user at this node.
    pub fn init_flags(&self) -> Vec<String> {
        vec![
            "--domain".into(),
            ZONE.into(),
            "--endpoint".into(),
            self.http.clone(),
            "--dns-resolvers".into(),
            self.dns.to_string(),
            "--dns-port".into(),
            self.dns.port().to_string(),
            "--no-probe-local-dns".into(),
        ]
    }
}

/// One simulated user with its own config home.
pub struct User {
    pub name: String,
    pub home: PathBuf,
    bin: PathBuf,
    pub reference: bool,
    _dir: tempfile::TempDir,
}

impl User {
    pub fn ours(name: &str) -> User {
        Self::new(name, PathBuf::from(env!("CARGO_BIN_EXE_dnsmesh")), false)
    }

    pub fn reference(name: &str, python: &Path) -> User {
        Self::new(name, python.with_file_name("dnsmesh"), true)
    }

    fn new(name: &str, bin: PathBuf, reference: bool) -> User {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        User {
            name: name.into(),
            home,
            bin,
            reference,
            _dir: dir,
        }
    }

    /// The same config home driven by the other CLI.
    pub fn with_bin(&self, bin: PathBuf) -> UserView<'_> {
        UserView { user: self, bin }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_in(&self.bin, &self.home, &self.name, args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        run_in(&self.bin, &self.home, &self.name, args, env)
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok(self.run(args), &self.name, args)
    }

    pub fn init(&self, node: &Node, extra: &[&str]) {
        let mut a: Vec<String> = vec!["init".into(), self.name.clone()];
        a.extend(node.init_flags());
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.ok(&a);
    }

    /// `identity show --json` field.
    pub fn show(&self, field: &str) -> String {
        let out = self.ok(&["identity", "show", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[field].as_str().unwrap().to_string()
    }
}

pub struct UserView<'a> {
    user: &'a User,
    bin: PathBuf,
}

impl UserView<'_> {
    pub fn run(&self, args: &[&str]) -> Output {
        run_in(&self.bin, &self.user.home, &self.user.name, args, &[])
    }
    pub fn ok(&self, args: &[&str]) -> String {
        expect_ok(self.run(args), &self.user.name, args)
    }
}

fn run_in(bin: &Path, home: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.arg("--config-home")
        .arg(home)
        .args(args)
        .env_remove("DMP_CONFIG_HOME")
        .env_remove("DMP_PASSPHRASE_OVERRIDE_VERIFY")
        .env_remove("DMP_HTTP_TOKEN")
        .env_remove("DMP_DOH_URL")
        .env_remove("RUST_LOG")
        .env("DMP_TOKENS_HOME", home.join("tokens"))
        .env("DMP_PASSPHRASE", format!("passphrase of {name}"))
        .env("HOME", home.join("fake-home"))
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run dnsmesh")
}

fn expect_ok(o: Output, name: &str, args: &[&str]) -> String {
    assert!(
        o.status.success(),
        "{name}: dnsmesh {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Message bodies in `recv` output (the indented line after `ts=`).
pub fn bodies(recv_out: &str) -> Vec<String> {
    let lines: Vec<&str> = recv_out.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim_start().starts_with("ts="))
        .map(|w| w[1].strip_prefix("  ").unwrap_or(w[1]).to_string())
        .collect()
}

// ------------------------------------------------------------ upstream DNS

/// How a test upstream answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Forward to the node and relay its answer.
    Forward(SocketAddr),
    /// Forward and mark the answer DNSSEC-validated (AD), as a validating
    /// recursor would for a signed zone.
    ForwardValidated(SocketAddr),
    /// NXDOMAIN for everything.
    Nxdomain,
    /// A TXT answer that is not DMP data, for everything.
    WrongTxt,
}

/// A small DNS server on loopback (UDP and TCP on one port) that counts
/// the queries it receives. Stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    pub queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn wrong_txt(query: &[u8]) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, MessageType, OpCode};
    use hickory_proto::rr::rdata::TXT;
    use hickory_proto::rr::{RData, Record};
    let q = Message::from_vec(query).ok()?;
    let first = q.queries.first()?.clone();
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    let name = first.name().clone();
    m.add_query(first);
    m.add_answer(Record::from_rdata(
        name,
        60,
        RData::TXT(TXT::new(vec!["v=spf1 include:_spf.example -all".into()])),
    ));
    m.to_vec().ok()
}

fn respond(b: Behaviour, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    match b {
        Behaviour::Nxdomain => dmp_core::dns::stub_response(query, 3),
        Behaviour::WrongTxt => wrong_txt(query),
        Behaviour::Forward(to) => {
            let t = Duration::from_secs(3);
            if tcp {
                dmp_cli::net::dns::tcp_exchange(to, query, t).ok()
            } else {
                dmp_cli::net::dns::udp_exchange(to, query, t).ok()
            }
        }
        Behaviour::ForwardValidated(to) => {
            let mut r = respond(Behaviour::Forward(to), query, tcp)?;
            if let Some(b) = r.get_mut(3) {
                *b |= 0x20;
            }
            Some(r)
        }
    }
}

pub fn upstream(b: Behaviour) -> Upstream {
    let (udp, tcp) = (0..50)
        .find_map(|_| {
            let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
            let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
            Some((udp, tcp))
        })
        .expect("a loopback port free for UDP and TCP");
    let addr = udp.local_addr().unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    udp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    tcp.set_nonblocking(true).unwrap();
    {
        let (q, stop) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while !stop.load(Ordering::SeqCst) {
                let Ok((n, from)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::SeqCst);
                let pkt = buf[..n].to_vec();
                let sock = udp.try_clone().unwrap();
                std::thread::spawn(move || {
                    if let Some(r) = respond(b, &pkt, false) {
                        let _ = sock.send_to(&r, from);
                    }
                });
            }
        });
    }
    {
        let (q, stop) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let q = q.clone();
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                    let mut lb = [0u8; 2];
                    if s.read_exact(&mut lb).is_err() {
                        return;
                    }
                    let mut pkt = vec![0u8; usize::from(u16::from_be_bytes(lb))];
                    if s.read_exact(&mut pkt).is_err() {
                        return;
                    }
                    q.fetch_add(1, Ordering::SeqCst);
                    if let Some(r) = respond(b, &pkt, true) {
                        let mut framed = (r.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&r);
                        let _ = s.write_all(&framed);
                    }
                });
            }
        });
    }
    Upstream {
        addr,
        queries,
        stop,
    }
}

/// A loopback address with nothing listening (UDP gets "port unreachable").
pub fn dead_addr() -> SocketAddr {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = u.local_addr().unwrap();
    drop(u);
    a
}
