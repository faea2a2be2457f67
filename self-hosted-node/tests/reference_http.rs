//! Differential test: the same record-API requests against the live
//! reference node (dnsmesh 0.7.5, legacy mode, loopback) and against
//! `dmp-node`; status codes and bodies must be identical.
//!
//! Needs DMP_REFERENCE_PYTHON (the reference venv's python). Without it the
//! test fails, unless DMP_SKIP_REFERENCE=1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OP: &str = "op-differential-token";

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reference_python() -> Option<PathBuf> {
    match std::env::var_os("DMP_REFERENCE_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var("DMP_SKIP_REFERENCE").as_deref() == Ok("1") => {
            eprintln!("skipped: DMP_SKIP_REFERENCE=1");
            None
        }
        _ => panic!(
            "set DMP_REFERENCE_PYTHON to the reference venv's python \
             (e.g. ~/.cache/dmp/venv-dnsmesh-0.7.5/bin/python), or DMP_SKIP_REFERENCE=1 to skip"
        ),
    }
}

fn free_port() -> u16 {
    // A port free for both TCP and UDP (the reference binds DNS on both).
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// (status, body) of one request over a fresh connection.
fn req(addr: SocketAddr, method: &str, path: &str, auth: bool, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if auth {
        head.push_str(&format!("Authorization: Bearer {OP}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes()).unwrap();
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

fn wait_healthy(addr: SocketAddr) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            && req(addr, "GET", "/health", false, "").0 == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("node at {addr} never became healthy");
}

#[test]
fn record_api_matches_the_reference_byte_for_byte() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ref_http, ref_dns) = (free_port(), free_port());
    let _reference = Kill(
        Command::new(&python)
            .args(["-m", "dmp.server"])
            .env_clear()
            .env("DMP_DB_PATH", dir.path().join("ref/dmp.db"))
            .env("DMP_CLUSTER_FILE", dir.path().join("ref/cluster.json"))
            .env("DMP_DNS_HOST", "127.0.0.1")
            .env("DMP_DNS_PORT", ref_dns.to_string())
            .env("DMP_HTTP_HOST", "127.0.0.1")
            .env("DMP_HTTP_PORT", ref_http.to_string())
            .env("DMP_OPERATOR_TOKEN", OP)
            .env("DMP_LOG_LEVEL", "WARNING")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the reference node"),
    );
    let mut ours = Kill(
        Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .env_clear()
            .env("DMP_OPERATOR_TOKEN", OP)
            .arg("--db-path")
            .arg(dir.path().join("ours/dmp.db"))
            .args([
                "--http-host",
                "127.0.0.1",
                "--http-port",
                "0",
                "--dns-port",
                "0",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dmp-node"),
    );
    let mut line = String::new();
    // Keep the pipe open for the node's lifetime.
    let mut stdout = BufReader::new(ours.0.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let ours_addr: SocketAddr = line
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|u| u.strip_prefix("http://"))
        .and_then(|u| u.strip_suffix('/'))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bad banner {line:?}"));
    let ref_addr = SocketAddr::from(([127, 0, 0, 1], ref_http));
    wait_healthy(ref_addr);
    wait_healthy(ours_addr);

    let n = "probe-a.mesh.test";
    let p = format!("/v1/records/{n}");
    let long = "a".repeat(2049);
    let big = format!("{{\"value\": \"{}\"}}", "b".repeat(20_000));
    let cases: Vec<(&str, String, bool, String)> = vec![
        ("GET", "/health".into(), false, String::new()),
        ("GET", "/stats".into(), false, String::new()),
        ("GET", "/nope".into(), false, String::new()),
        (
            "POST",
            p.clone(),
            false,
            r#"{"value": "v=probe;x=1", "ttl": 300}"#.into(),
        ),
        (
            "POST",
            p.clone(),
            true,
            r#"{"value": "v=probe;x=1", "ttl": 300}"#.into(),
        ),
        (
            "POST",
            p.clone(),
            true,
            r#"{"value": "v=probe;x=1", "ttl": 300}"#.into(),
        ),
        (
            "POST",
            p.clone(),
            true,
            r#"{"value": "v=probe;x=2"}"#.into(),
        ),
        (
            "POST",
            format!("{p}."),
            true,
            r#"{"value": "v=probe;x=3", "ttl": 60}"#.into(),
        ),
        ("GET", p.clone(), false, String::new()),
        ("GET", p.clone(), true, String::new()),
        ("GET", "/stats".into(), false, String::new()),
        (
            "POST",
            p.clone(),
            true,
            r#"{"value": "x", "ttl": 0}"#.into(),
        ),
        (
            "POST",
            p.clone(),
            true,
            r#"{"value": "x", "ttl": "60"}"#.into(),
        ),
        ("POST", p.clone(), true, r#"{"value": 1, "ttl": 60}"#.into()),
        (
            "POST",
            p.clone(),
            true,
            r#"{"value": "x", "ttl": 86401}"#.into(),
        ),
        (
            "POST",
            p.clone(),
            true,
            format!("{{\"value\": \"{long}\"}}"),
        ),
        ("POST", p.clone(), true, r#"{"value": "a\"b"}"#.into()),
        ("POST", p.clone(), true, r#"{"value": "a\nb"}"#.into()),
        ("POST", p.clone(), true, "{not json".into()),
        ("POST", p.clone(), true, big),
        (
            "POST",
            "/v1/records/bad_name!.mesh.test".into(),
            true,
            r#"{"value": "x"}"#.into(),
        ),
        (
            "GET",
            "/v1/records/missing.mesh.test".into(),
            true,
            String::new(),
        ),
        ("DELETE", p.clone(), false, String::new()),
        (
            "DELETE",
            p.clone(),
            true,
            r#"{"value": "v=probe;x=1"}"#.into(),
        ),
        (
            "DELETE",
            p.clone(),
            true,
            r#"{"value": "v=probe;x=1"}"#.into(),
        ),
        ("DELETE", p.clone(), true, r#"{"value": 5}"#.into()),
        ("GET", p.clone(), true, String::new()),
        ("DELETE", p.clone(), true, String::new()),
        ("DELETE", p.clone(), true, String::new()),
        ("GET", p.clone(), true, String::new()),
    ];
    for (method, path, auth, body) in &cases {
        let want = req(ref_addr, method, path, *auth, body);
        assert_ne!(want.0, 0, "no answer from the reference: {method} {path}");
        let got = req(ours_addr, method, path, *auth, body);
        assert_eq!(got, want, "{method} {path} auth={auth} body={body:.60}");
    }
}
