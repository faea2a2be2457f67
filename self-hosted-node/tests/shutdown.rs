//! Graceful shutdown of the real binary: on SIGTERM a request already in
//! flight completes, new connections are refused, and the process exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(db: &std::path::Path) -> (Node, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .arg("--db-path")
        .arg(db)
        .args(["--http-port", "0", "--dns-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dmp-node");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("first line");
    let addr = first
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|u| u.strip_prefix("http://"))
        .and_then(|u| u.strip_suffix('/'))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("first line is the URL: {first:?}"));
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    (Node(child), addr)
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, addr) = start(&dir.path().join("dmp.db"));

    // A publish whose body arrives in two parts, SIGTERM in between.
    let body = br#"{"value": "in flight", "ttl": 300}"#;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /v1/records/inflight.mesh.test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let ok = Command::new("kill")
        .args(["-TERM", &node.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        node.0.try_wait().unwrap().is_none(),
        "the node waits for the request in flight"
    );
    s.write_all(&body[10..]).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = node.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the node did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "nothing listens after exit"
    );

    // The acknowledged write is on disk: a restarted node serves it.
    let (_node2, addr2) = start(&dir.path().join("dmp.db"));
    let mut s = TcpStream::connect(addr2).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /v1/records/inflight.mesh.test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("in flight"), "{resp}");
}
