//! Hostile and broken input to the DNS port (UDP and TCP) and to HTTP: each
//! gets a clean error or silence, nothing panics, and the node answers a
//! normal query right after.

mod node_harness;

use dmp_node::Config;
use dmp_node::dns_server::DnsConfig;
use node_harness::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics anywhere in this test process (a panicking server task
/// would otherwise just end quietly).
fn count_panics() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        prev(info);
    }));
}

/// xorshift64*: deterministic garbage.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A single UDP worker, so a panicking receive loop would be noticed by
/// the follow-up query; no rate limit, so the flood is all answered.
async fn node() -> TestNode {
    let dns = DnsConfig {
        udp_workers: 1,
        rate: dmp_core::node::ratelimit::Rate::new(0.0, 0.0),
        ..zone_config()
    };
    let n = TestNode::start(dns, Config::default()).await;
    n.publish(&format!("ok.{ZONE}"), "still here", 3600);
    n
}

/// The hostile DNS messages: every one must get silence or a response.
fn hostile(g: &mut Garbage) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for n in 0..12 {
        out.push(vec![0x42; n]); // truncated headers
    }
    for _ in 0..300 {
        let n = (g.next() % 600) as usize;
        out.push(g.bytes(n)); // random bytes
    }
    for _ in 0..100 {
        // A valid header with random body.
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        let n = (g.next() % 100) as usize;
        p.extend(g.bytes(n));
        out.push(p);
    }
    // Compression pointer to itself, and a two-pointer cycle.
    let mut selfloop = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12];
    selfloop.extend_from_slice(&[0, 16, 0, 1]);
    out.push(selfloop);
    let mut cycle = vec![0xAB, 0xCE, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    cycle.extend_from_slice(&[1, b'a', 0xC0, 16, 1, b'b', 0xC0, 12, 0, 16, 0, 1]);
    out.push(cycle);
    // Forward pointer past the end.
    out.push(vec![
        0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 16, 0, 1,
    ]);
    // Huge section counts on a short message.
    for counts in [
        [0xFFFF, 0, 0, 0],
        [1, 0xFFFF, 0xFFFF, 0xFFFF],
        [0, 0, 0, 0xFFFF],
    ] {
        let mut p = vec![0x55, 0x66, 0x01, 0x00];
        for c in counts {
            p.extend_from_slice(&(c as u16).to_be_bytes());
        }
        p.extend_from_slice(&[2, b'o', b'k', 0, 0, 16, 0, 1]);
        out.push(p);
    }
    // Labels over 63 bytes / name over 255 bytes.
    let mut long = vec![0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for _ in 0..5 {
        long.push(63);
        long.extend([b'x'; 63]);
    }
    long.extend_from_slice(&[0, 0, 16, 0, 1]);
    out.push(long);
    // An UPDATE with garbage (no update handler here: REFUSED or FORMERR).
    out.push(vec![0, 3, 0x28, 0, 0, 1, 0, 5, 0, 9, 0, 0, 0xC0, 0xC0]);
    // An EDNS OPT claiming a huge rdata length.
    let mut opt = query(4, "ok.mesh.test", 16, Some(4096));
    let l = opt.len();
    opt[l - 2] = 0xFF;
    opt[l - 1] = 0xFF;
    out.push(opt);
    out
}

fn check_response(req: &[u8], resp: &[u8]) {
    assert!(resp.len() >= 12, "short response to {req:02x?}");
    assert_ne!(resp[2] & 0x80, 0, "QR set");
    assert_eq!(&resp[..2], &req[..2], "ID echoed");
}

/// One framed message on a fresh connection; silence for a second or a
/// close means no answer.
async fn tcp_quick(addr: std::net::SocketAddr, m: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(&frame(m)).await.ok()?;
    let len = timeout(Duration::from_millis(500), s.read_u16())
        .await
        .ok()?
        .ok()?;
    let mut r = vec![0u8; usize::from(len)];
    timeout(Duration::from_secs(1), s.read_exact(&mut r))
        .await
        .ok()?
        .ok()?;
    Some(r)
}

async fn still_answers(node: &TestNode) {
    let q = query(0x7777, &format!("ok.{ZONE}"), 16, None);
    let u = udp_raw(node.dns, &q).await.expect("UDP still answers");
    assert_eq!((rcode(&u), counts(&u)[1]), (0, 1));
    let t = tcp_raw(node.dns, &q).await.expect("TCP still answers");
    assert_eq!((rcode(&t), counts(&t)[1]), (0, 1));
    let h = node.get("/health").await;
    assert_eq!(h.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_dns_over_udp_and_tcp_gets_errors_or_silence() {
    count_panics();
    let node = node().await;
    let mut g = Garbage(0x9E37_79B9_7F4A_7C15);
    let msgs = hostile(&mut g);

    // UDP: one socket, all at once, then collect what comes back.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for m in &msgs {
        sock.send_to(m, node.dns).await.unwrap();
    }
    let mut buf = vec![0u8; 65_535];
    let mut answered = 0;
    while let Ok(Ok((n, _))) = timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await {
        assert!(n >= 12 && buf[2] & 0x80 != 0, "a DNS response");
        answered += 1;
    }
    assert!(answered > 0 && answered <= msgs.len(), "{answered}");
    still_answers(&node).await;

    // TCP: each message framed on its own connection...
    for m in msgs.iter().step_by(16) {
        if let Some(r) = tcp_quick(node.dns, m).await {
            check_response(m, &r);
        }
    }
    // ...and all of them pipelined on one connection.
    let mut s = TcpStream::connect(node.dns).await.unwrap();
    let mut all = Vec::new();
    for m in &msgs {
        all.extend(frame(m));
    }
    all.extend(frame(&query(0x7778, &format!("ok.{ZONE}"), 16, None)));
    s.write_all(&all).await.unwrap();
    let mut last = None;
    while let Ok(Ok(len)) = timeout(Duration::from_secs(3), s.read_u16()).await {
        let mut r = vec![0u8; usize::from(len)];
        s.read_exact(&mut r).await.unwrap();
        last = Some(r);
    }
    let last = last.expect("answers on the pipelined connection");
    assert_eq!(
        &last[..2],
        &[0x77, 0x78],
        "the trailing valid query is answered"
    );
    assert_eq!(counts(&last)[1], 1, "{last:02x?}");

    // Broken framing: a length with fewer bytes, then close; a zero length.
    for bad in [&[0xFF, 0xFF, 1, 2, 3][..], &[0, 0][..], &[0x01][..]] {
        let mut s = TcpStream::connect(node.dns).await.unwrap();
        s.write_all(bad).await.unwrap();
        let _ = s.shutdown().await;
        let mut sink = Vec::new();
        let _ = timeout(Duration::from_secs(3), s.read_to_end(&mut sink)).await;
    }
    still_answers(&node).await;
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a server task panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_http_gets_clean_errors() {
    count_panics();
    let node = node().await;
    let addr = node.http;
    let json = [("Content-Type", "application/json")];

    let r = http(
        addr,
        "POST",
        &format!("/v1/records/x.{ZONE}"),
        &json,
        b"{not json",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"].is_string());
    let r = http(
        addr,
        "POST",
        &format!("/v1/records/x.{ZONE}"),
        &json,
        b"[1,2]",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = http(
        addr,
        "POST",
        &format!("/v1/records/x.{ZONE}"),
        &json,
        &[0xFF, 0xFE],
    )
    .await;
    assert_eq!(r.status, 400);

    // Oversized bodies: refused, not buffered without end.
    let big = vec![b'a'; 4 << 20];
    let r = http(addr, "POST", &format!("/v1/records/x.{ZONE}"), &json, &big).await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    let r = http(
        addr,
        "POST",
        "/dns-query",
        &[("Content-Type", "application/dns-message")],
        &big,
    )
    .await;
    assert_eq!(r.status, 413);

    // Bad methods.
    assert_eq!(
        http(addr, "PATCH", &format!("/v1/records/x.{ZONE}"), &[], b"")
            .await
            .status,
        405
    );
    assert_eq!(http(addr, "PUT", "/metrics", &[], b"").await.status, 405);
    let r = raw(
        addr,
        b"FROB /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.is_none_or(|r| r.status >= 400), "unknown method");

    // Huge headers: 431/400 or a closed connection, never a hang.
    let mut req = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(vec![b'a'; 1 << 20]);
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    let r = raw(addr, &req).await;
    assert!(r.is_none_or(|r| r.status >= 400), "huge header");
    let mut req = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..2000 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    let r = raw(addr, &req).await;
    assert!(r.is_none_or(|r| r.status >= 400), "many headers");

    // Not HTTP at all, and a request line cut short.
    let mut g = Garbage(7);
    for n in [1usize, 10, 100, 5000] {
        let r = raw(addr, &g.bytes(n)).await;
        assert!(r.is_none_or(|r| r.status >= 400), "garbage of {n}");
    }
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /hea").await.unwrap();
    drop(s);
    // Bad JSON to the DoH endpoint's JSON form is a query-string matter.
    let r = node.get("/dns-query?name=%ZZ&type=%").await;
    assert_eq!(r.status, 400);

    // A bad percent-escape in a record path.
    let r = node.get("/v1/records/%FF%FE").await;
    assert!((400..500).contains(&r.status));

    still_answers(&node).await;
    let r = http(
        addr,
        "POST",
        &format!("/v1/records/after.{ZONE}"),
        &json,
        br#"{"value": "ok", "ttl": 60}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a server task panicked");
}
