//! End-to-end: start the real `dmp-node` binary on a free loopback port with
//! a real SQLite database in a temp dir, talk HTTP/1.1 to it over real
//! sockets, stop it with signals (or `kill -9`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const OP: &str = "op-secret-token";

/// Kills the node if a test fails before stopping it cleanly.
struct Node {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

struct Resp {
    status: u16,
    headers: String,
    body: String,
}

fn spawn(db: &Path, args: &[&str], envs: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .envs(envs.iter().copied())
        .arg("--db-path")
        .arg(db)
        .args([
            "--http-host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--dns-port",
            "0",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dmp-node")
}

impl Node {
    fn start(db: &Path, args: &[&str], envs: &[(&str, &str)]) -> Node {
        let mut child = spawn(db, args, envs);
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read first line");
        if first.is_empty() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("dmp-node did not start: {err}");
        }
        // "dmp-node 0.1.0 listening on http://127.0.0.1:PORT/"
        let url = first.trim().rsplit(' ').next().expect("a URL");
        let addr = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .parse()
            .expect("socket address in URL");
        Node {
            child,
            stdout,
            addr,
        }
    }

    fn open(db: &Path) -> Node {
        Node::start(db, &[], &[])
    }

    /// One request over a fresh connection.
    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut s =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // The node may answer (and close) before reading an oversized body.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read response");
        let raw = String::from_utf8(raw).expect("utf-8 response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        let status = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status:?}"));
        Resp {
            status,
            headers: headers.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], b"")
    }

    fn post(&self, name: &str, body: &str, token: Option<&str>) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        self.req("POST", &format!("/v1/records/{name}"), &h, body.as_bytes())
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tmpdb() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("sub").join("dmp.db");
    (dir, db)
}

fn publish_body(value: &str, ttl: u64) -> String {
    format!("{{\"value\": \"{value}\", \"ttl\": {ttl}}}")
}

#[test]
fn health_stats_landing_and_unknown_path() {
    let (_d, db) = tmpdb();
    let node = Node::open(&db);
    assert!(node.addr.ip().is_loopback(), "{}", node.addr);
    let r = node.get("/health");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("content-type: application/json"));
    assert_eq!(r.body, r#"{"status": "ok"}"#);
    assert_eq!(node.get("/stats").body, r#"{"records": 0}"#);
    let r = node.get("/");
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("content-type: text/html"),
        "{}",
        r.headers
    );
    assert!(r.headers.contains("cache-control: public, max-age=30"));
    assert!(
        r.body
            .contains(&format!("dmp-node {}", env!("CARGO_PKG_VERSION")))
    );
    let r = node.get("/no-such-page");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"error": "not found"}"#)
    );
    let r = node.get("/v1/records/a/b");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"error": "not found"}"#)
    );
    assert!(db.exists(), "the DB and its directory are created");
}

#[test]
fn publish_get_delete_round_trip_with_append_semantics() {
    let (_d, db) = tmpdb();
    let node = Node::open(&db);
    let name = "probe-a.mesh.test";
    for body in [
        publish_body("v=probe;x=1", 300),
        publish_body("v=probe;x=1", 600), // same value: refresh, not a second row
        publish_body("v=probe;x=2", 300),
    ] {
        let r = node.post(name, &body, None);
        assert_eq!((r.status, r.body.as_str()), (201, r#"{"ok": true}"#));
    }
    let r = node.get(&format!("/v1/records/{name}"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        r#"{"name": "probe-a.mesh.test", "values": ["v=probe;x=1", "v=probe;x=2"]}"#
    );
    assert_eq!(node.get("/stats").body, r#"{"records": 2}"#);
    // Trailing dot and upper case reach the same RRset; default TTL applies.
    let r = node.post("PROBE-A.mesh.test.", r#"{"value": "v=probe;x=3"}"#, None);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = node.get(&format!("/v1/records/{name}"));
    assert!(r.body.contains("x=3"), "{}", r.body);

    // Delete one value.
    let p = format!("/v1/records/{name}");
    let r = node.req("DELETE", &p, &[], br#"{"value": "v=probe;x=1"}"#);
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = node.get(&p);
    assert_eq!(
        r.body,
        r#"{"name": "probe-a.mesh.test", "values": ["v=probe;x=2", "v=probe;x=3"]}"#
    );
    let r = node.req("DELETE", &p, &[], br#"{"value": "v=probe;x=1"}"#);
    assert_eq!(r.status, 404);
    // Delete the RRset.
    assert_eq!(node.req("DELETE", &p, &[], b"").status, 204);
    assert_eq!(node.req("DELETE", &p, &[], b"").status, 404);
    let r = node.get(&p);
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"name": "probe-a.mesh.test", "values": []}"#)
    );
    assert_eq!(node.get("/stats").body, r#"{"records": 0}"#);
}

#[test]
fn caps_and_bad_input_get_the_reference_errors_and_the_node_keeps_serving() {
    let (_d, db) = tmpdb();
    let node = Node::start(&db, &["--max-values-per-name", "2"], &[]);
    let n = "caps.mesh.test";
    let big = "a".repeat(2049);
    let cases: Vec<(String, String, u16, &str)> = vec![
        (
            n.into(),
            publish_body("x", 0),
            400,
            "value (str) and ttl (int > 0) required",
        ),
        (
            n.into(),
            r#"{"value": "x", "ttl": "60"}"#.into(),
            400,
            "value (str) and ttl (int > 0) required",
        ),
        (
            n.into(),
            r#"{"value": 5, "ttl": 60}"#.into(),
            400,
            "value (str) and ttl (int > 0) required",
        ),
        (
            n.into(),
            publish_body("x", 86_401),
            400,
            "ttl exceeds cap of 86400s",
        ),
        (
            n.into(),
            publish_body(&big, 60),
            400,
            "value exceeds cap of 2048 bytes",
        ),
        (
            n.into(),
            r#"{"value": "a\"b", "ttl": 60}"#.into(),
            400,
            "invalid record value",
        ),
        (
            n.into(),
            r#"{"value": "a\nb", "ttl": 60}"#.into(),
            400,
            "invalid record value",
        ),
        (
            "bad_name!.mesh.test".into(),
            publish_body("x", 60),
            400,
            "invalid record name",
        ),
        (n.into(), "{not json".into(), 400, "invalid body"),
        (n.into(), "[1, 2]".into(), 400, "invalid body"),
        (
            n.into(),
            format!("{{\"value\": \"{}\"}}", "a".repeat(20_000)),
            400,
            "invalid body",
        ),
    ];
    for (name, body, status, err) in &cases {
        let r = node.post(name, body, None);
        assert_eq!(r.status, *status, "{name} {body:.60}: {}", r.body);
        assert_eq!(r.body, format!("{{\"error\": \"{err}\"}}"), "{body:.60}");
    }
    // RRset cardinality cap (2 here): a third distinct value is refused, a
    // refresh of a stored one is not.
    assert_eq!(node.post(n, &publish_body("v1", 60), None).status, 201);
    assert_eq!(node.post(n, &publish_body("v2", 60), None).status, 201);
    let r = node.post(n, &publish_body("v3", 60), None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            413,
            r#"{"error": "RRset at caps.mesh.test already holds 2 values"}"#
        )
    );
    assert_eq!(node.post(n, &publish_body("v2", 90), None).status, 201);
    // A 2 MB body is refused cleanly too.
    let huge = vec![b'x'; 2 << 20];
    let r = node.req("POST", &format!("/v1/records/{n}"), &[], &huge);
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, r#"{"error": "invalid body"}"#)
    );
    let r = node.req(
        "DELETE",
        &format!("/v1/records/{n}"),
        &[],
        b"{\"value\": 7}",
    );
    assert_eq!(r.status, 400);
    // Still serving, nothing bad stored.
    assert_eq!(node.get("/health").status, 200);
    let r = node.get(&format!("/v1/records/{n}"));
    assert_eq!(
        r.body,
        r#"{"name": "caps.mesh.test", "values": ["v1", "v2"]}"#
    );
}

#[test]
fn operator_token_guards_writes_and_reads() {
    let (_d, db) = tmpdb();
    let node = Node::start(&db, &[], &[("DMP_OPERATOR_TOKEN", OP)]);
    let n = "auth.mesh.test";
    let unauthorized = r#"{"error": "unauthorized"}"#;
    for token in [None, Some("wrong"), Some("op-secret-tokenX")] {
        let r = node.post(n, &publish_body("x", 60), token);
        assert_eq!(
            (r.status, r.body.as_str()),
            (401, unauthorized),
            "{token:?}"
        );
    }
    assert_eq!(node.post(n, &publish_body("x", 60), Some(OP)).status, 201);
    let p = format!("/v1/records/{n}");
    let r = node.get(&p);
    assert_eq!((r.status, r.body.as_str()), (401, unauthorized));
    let bearer = format!("Bearer {OP}");
    let r = node.req("GET", &p, &[("Authorization", &bearer)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(node.req("DELETE", &p, &[], b"").status, 401);
    let r = node.req("DELETE", &p, &[("Authorization", "Bearer nope")], b"");
    assert_eq!(r.status, 401);
    let r = node.req("DELETE", &p, &[("Authorization", &bearer)], b"");
    assert_eq!(r.status, 204);
    // /health and /stats stay open.
    assert_eq!(node.get("/health").status, 200);
    assert_eq!(node.get("/stats").status, 200);

    // The legacy alias DMP_HTTP_TOKEN works too; multi-tenant without a token
    // store accepts only the operator; an unknown mode accepts only the
    // operator too (the reference's order: operator short-circuit first).
    let (_d2, db2) = tmpdb();
    let node = Node::start(
        &db2,
        &[],
        &[("DMP_HTTP_TOKEN", OP), ("DMP_AUTH_MODE", "multi-tenant")],
    );
    let user = format!("dmp_v1_{}", "A".repeat(52));
    assert_eq!(
        node.post(n, &publish_body("x", 60), Some(&user)).status,
        401
    );
    assert_eq!(node.post(n, &publish_body("x", 60), Some(OP)).status, 201);
    let (_d3, db3) = tmpdb();
    let node = Node::start(
        &db3,
        &[],
        &[("DMP_OPERATOR_TOKEN", OP), ("DMP_AUTH_MODE", "bogus")],
    );
    assert_eq!(node.post(n, &publish_body("x", 60), Some(OP)).status, 201);
    assert_eq!(
        node.post(n, &publish_body("x", 60), Some(&user)).status,
        401
    );
    assert_eq!(node.post(n, &publish_body("x", 60), None).status, 401);
}

#[test]
fn cors_preflight_allows_authorization_on_v1() {
    let (_d, db) = tmpdb();
    let node = Node::start(&db, &[], &[("DMP_OPERATOR_TOKEN", OP)]);
    let r = node.req(
        "OPTIONS",
        "/v1/records/x.mesh.test",
        &[
            ("Origin", "https://client.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    assert!(
        r.headers.contains("access-control-allow-origin: *"),
        "{}",
        r.headers
    );
    let allow_headers = r
        .headers
        .lines()
        .find(|l| l.starts_with("access-control-allow-headers:"))
        .unwrap_or_else(|| panic!("no allow-headers: {}", r.headers));
    assert!(allow_headers.contains("authorization"), "{allow_headers}");
    let allow_methods = r
        .headers
        .lines()
        .find(|l| l.starts_with("access-control-allow-methods:"))
        .expect("allow-methods");
    assert!(allow_methods.contains("post") && allow_methods.contains("delete"));
    // Actual requests carry the header too (even refused ones).
    let r = node.req(
        "GET",
        "/v1/records/x.mesh.test",
        &[("Origin", "https://client.example")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(
        r.headers.contains("access-control-allow-origin: *"),
        "{}",
        r.headers
    );
}

#[test]
fn per_ip_rate_limit_answers_429_and_spares_health() {
    let (_d, db) = tmpdb();
    let node = Node::start(&db, &["--http-rate", "0.01", "--http-burst", "3"], &[]);
    for _ in 0..3 {
        assert_eq!(node.get("/v1/records/r.mesh.test").status, 404);
    }
    let r = node.post("r.mesh.test", &publish_body("x", 60), None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (429, r#"{"error": "rate limit exceeded"}"#)
    );
    assert_eq!(node.get("/health").status, 200);
    assert_eq!(node.get("/stats").status, 200);

    // 0 disables the limiter.
    let (_d2, db2) = tmpdb();
    let node = Node::start(&db2, &["--http-rate", "0"], &[("DMP_HTTP_BURST", "1")]);
    for _ in 0..20 {
        assert_eq!(node.get("/v1/records/r.mesh.test").status, 404);
    }
}

/// Behind a trusted proxy each client gets its own bucket (keyed by the
/// rightmost untrusted X-Forwarded-For entry); from anyone else the header
/// changes nothing.
#[test]
fn per_ip_limit_behind_a_trusted_proxy() {
    let limited = ["--http-rate", "0.01", "--http-burst", "2"];
    let get_as = |node: &Node, xff: &str| {
        node.req(
            "GET",
            "/v1/records/r.mesh.test",
            &[("X-Forwarded-For", xff)],
            b"",
        )
        .status
    };

    let (_d, db) = tmpdb();
    let mut args = limited.to_vec();
    args.extend(["--trusted-proxies", "10.0.0.0/8, 127.0.0.1"]);
    let node = Node::start(&db, &args, &[]);
    // A client-written entry on the left is not believed: both requests
    // count for 198.51.100.1.
    assert_eq!(get_as(&node, "198.51.100.1"), 404);
    assert_eq!(get_as(&node, "203.0.113.77, 198.51.100.1"), 404);
    assert_eq!(get_as(&node, "198.51.100.1"), 429);
    // Another client behind the same proxy still has its bucket, also when
    // a second trusted hop forwarded it.
    assert_eq!(get_as(&node, "198.51.100.2, 10.1.1.1"), 404);
    // Without the header the proxy's own address is the key.
    assert_eq!(node.get("/v1/records/r.mesh.test").status, 404);

    // Not trusted: the header is ignored, everyone shares the peer's bucket.
    let (_d2, db2) = tmpdb();
    let node = Node::start(&db2, &limited, &[]);
    assert_eq!(get_as(&node, "198.51.100.1"), 404);
    assert_eq!(get_as(&node, "198.51.100.2"), 404);
    assert_eq!(get_as(&node, "198.51.100.3"), 429);

    // A bad list is refused at start, naming the entry.
    let (_d3, db3) = tmpdb();
    let out = spawn(&db3, &[], &[("DMP_TRUSTED_PROXIES", "10.0.0.0/8,caddy")])
        .wait_with_output()
        .expect("run dmp-node");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"caddy\" is not an IP address or CIDR range"),
        "{err}"
    );
}

#[test]
fn open_mode_on_a_public_bind_is_refused_unless_allowed() {
    let (_d, db) = tmpdb();
    let out = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .arg("--db-path")
        .arg(&db)
        .args([
            "--http-host",
            "0.0.0.0",
            "--http-port",
            "0",
            "--dns-port",
            "0",
        ])
        .output()
        .expect("run dmp-node");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DMP_ALLOW_OPEN_PUBLIC_BIND"), "{err}");
    assert!(out.stdout.is_empty());

    // With an operator token (legacy mode) or the explicit opt-in it starts.
    for envs in [
        [("DMP_OPERATOR_TOKEN", OP)],
        [("DMP_ALLOW_OPEN_PUBLIC_BIND", "1")],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .env_clear()
            .envs(envs)
            .arg("--db-path")
            .arg(&db)
            .args([
                "--http-host",
                "0.0.0.0",
                "--http-port",
                "0",
                "--dns-port",
                "0",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            line.contains("listening on http://0.0.0.0:"),
            "{envs:?}: {line}"
        );
    }
}

#[test]
fn acknowledged_publishes_survive_kill_9() {
    let (_d, db) = tmpdb();
    let node = Node::open(&db);
    let mut acked = Vec::new();
    for i in 0..60 {
        let name = format!("dur-{}.mesh.test", i % 20);
        let value = format!("v=dur;i={i}");
        let r = node.post(&name, &publish_body(&value, 3600), None);
        assert_eq!(r.status, 201);
        acked.push((name, value));
    }
    node.signal("-KILL");
    drop(node);
    let node = Node::open(&db);
    for (name, value) in &acked {
        let r = node.get(&format!("/v1/records/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert!(
            r.body.contains(&format!("\"{value}\"")),
            "{name}: {}",
            r.body
        );
    }
    assert_eq!(node.get("/stats").body, r#"{"records": 60}"#);
}

#[test]
fn sigint_and_sigterm_stop_the_node_cleanly() {
    for sig in ["-INT", "-TERM"] {
        let (_d, db) = tmpdb();
        let mut node = Node::open(&db);
        assert_eq!(node.get("/health").status, 200);
        node.signal(sig);
        let code = node.child.wait().expect("wait for node");
        assert!(code.success(), "{sig}: exit status {code:?}");
        let mut rest = String::new();
        node.stdout.read_to_string(&mut rest).unwrap();
        assert!(rest.contains("/health"), "{rest:?}");
    }
}

#[test]
fn expired_records_are_hidden_then_swept() {
    let (_d, db) = tmpdb();
    let node = Node::start(&db, &["--cleanup-interval", "1"], &[]);
    assert_eq!(
        node.post("exp.mesh.test", &publish_body("x", 1), None)
            .status,
        201
    );
    assert_eq!(
        node.post("keep.mesh.test", &publish_body("y", 600), None)
            .status,
        201
    );
    std::thread::sleep(Duration::from_millis(3_500));
    assert_eq!(node.get("/v1/records/exp.mesh.test").status, 404);
    assert_eq!(node.get("/stats").body, r#"{"records": 1}"#);
    // The sweeper deleted the row from SQLite, not only from view.
    node.signal("-TERM");
    drop(node);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn help_explains_flags_and_env() {
    let out = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .arg("--help")
        .output()
        .expect("run dmp-node --help");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--http-host",
        "--http-port",
        "DMP_HTTP_PORT",
        "DMP_DB_PATH",
        "DMP_OPERATOR_TOKEN",
        "DMP_AUTH_MODE",
        "DMP_ALLOW_OPEN_PUBLIC_BIND",
        "DMP_MAX_VALUES_PER_NAME",
        "DMP_HTTP_RATE",
        "DMP_CLEANUP_INTERVAL",
        "DMP_DURABILITY",
        "/health",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}
