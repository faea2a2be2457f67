//! End-to-end: start the real `dmp-node` binary on a free loopback port, talk
//! HTTP/1.1 to it over a real socket, then stop it with SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Kills the node if a test fails before stopping it cleanly.
struct Node {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Node {
    fn start() -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .args(["--http-host", "127.0.0.1", "--http-port", "0"])
            .env_remove("DMP_HTTP_HOST")
            .env_remove("DMP_HTTP_PORT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn dmp-node");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read first line");
        // "dmp-node 0.1.0 listening on http://127.0.0.1:PORT/"
        let url = first
            .trim()
            .rsplit(' ')
            .next()
            .expect("a URL at the end of the first line");
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

    /// One GET over a fresh connection; returns (status line, headers, body).
    fn get(&self, path: &str) -> (String, String, String) {
        let mut s =
            TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read response");
        let (head, body) = raw.split_once("\r\n\r\n").expect("header/body separator");
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (
            status.to_string(),
            headers.to_ascii_lowercase(),
            body.to_string(),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn health_answers_ok_json_over_loopback() {
    let node = Node::start();
    assert!(node.addr.ip().is_loopback(), "{}", node.addr);
    assert_ne!(node.addr.port(), 0);
    let (status, headers, body) = node.get("/health");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    assert_eq!(body, r#"{"status":"ok"}"#);
}

#[test]
fn landing_page_and_unknown_path() {
    let node = Node::start();
    let (status, headers, body) = node.get("/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert!(
        body.contains(&format!("dmp-node {}", env!("CARGO_PKG_VERSION"))),
        "{body}"
    );
    let (status, _, _) = node.get("/no-such-page");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn sigint_stops_the_node_cleanly() {
    let mut node = Node::start();
    let (status, _, _) = node.get("/health");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let pid = node.child.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let code = node.child.wait().expect("wait for node");
    assert!(code.success(), "exit status {code:?}");
    // The rest of stdout is the second banner line, then EOF.
    let mut rest = String::new();
    node.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("/health"), "{rest:?}");
}

#[test]
fn help_explains_flags_and_env() {
    let out = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .arg("--help")
        .output()
        .expect("run dmp-node --help");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["--http-host", "--http-port", "DMP_HTTP_PORT", "/health"] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}
