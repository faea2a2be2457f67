//! The DNS listener over real loopback sockets: UDP and TCP answers from
//! the store, negative answers, truncation and TCP retry, pipelining, the
//! idle timeout, the connection cap, and garbage that must not stop it.

use dmp_core::dns::client::{TxtResponse, build_txt_query, parse_txt_response};
use dmp_node::dns_server::{self, DnsConfig};
use dmp_node::store::{Store, unix_now_ms};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

const ZONE: &str = "mesh.test";
const WAIT: Duration = Duration::from_secs(5);

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "dmp-dns-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    addr: SocketAddr,
    store: Arc<Store>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(config: DnsConfig) -> Server {
    let dir = TempDir::new("srv");
    let store = Arc::new(Store::open(dir.0.join("records.db")).unwrap());
    let listeners = dns_server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listeners.local_addr().unwrap();
    let task = tokio::spawn(dns_server::serve(listeners, Arc::clone(&store), config));
    Server {
        addr,
        store,
        task,
        _dir: dir,
    }
}

async fn start_zone() -> Server {
    start(DnsConfig::default().with_zone(ZONE)).await
}

impl Server {
    fn publish(&self, name: &str, value: &str) {
        self.store.publish(name, value, 300, unix_now_ms()).unwrap();
    }
}

async fn udp_raw(addr: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(packet, addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match timeout(Duration::from_millis(700), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

async fn udp_query(addr: SocketAddr, id: u16, name: &str, edns: Option<u16>) -> TxtResponse {
    let q = build_txt_query(id, name, false, edns).unwrap();
    let raw = udp_raw(addr, &q).await.expect("UDP answer");
    let r = parse_txt_response(&raw).unwrap();
    assert_eq!(r.id, id);
    r
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

async fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let len = timeout(WAIT, s.read_u16()).await.unwrap().unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    timeout(WAIT, s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf
}

async fn tcp_query(addr: SocketAddr, id: u16, name: &str) -> TxtResponse {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let q = build_txt_query(id, name, false, None).unwrap();
    s.write_all(&frame(&q)).await.unwrap();
    let r = parse_txt_response(&read_frame(&mut s).await).unwrap();
    assert_eq!(r.id, id);
    r
}

fn rcode(packet: &[u8]) -> u8 {
    packet[3] & 0x0F
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_answers_stored_records_case_insensitively() {
    let srv = start_zone().await;
    srv.publish("a.mesh.test", "hello");
    srv.publish("a.mesh.test", "world");
    let r = udp_query(srv.addr, 7, "a.mesh.test", None).await;
    assert_eq!((r.rcode, r.truncated), (0, false));
    assert_eq!(r.values, ["hello", "world"]);
    let r = udp_query(srv.addr, 8, "A.Mesh.TEST", Some(1232)).await;
    assert_eq!(r.values, ["hello", "world"]);
    // TCP gives the same RRset.
    let r = tcp_query(srv.addr, 9, "a.mesh.test").await;
    assert_eq!((r.rcode, r.values.len()), (0, 2));
    // Names outside the served zone are refused.
    let r = udp_query(srv.addr, 10, "a.other.test", None).await;
    assert_eq!((r.rcode, r.values.len()), (5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_ttl_is_capped_by_dns_ttl_and_remaining_lifetime() {
    let srv = start(DnsConfig {
        ttl: 45,
        ..DnsConfig::default()
    })
    .await;
    srv.store
        .publish("long.x", "v", 3600, unix_now_ms())
        .unwrap();
    srv.store
        .publish("short.x", "v", 20, unix_now_ms())
        .unwrap();
    for (name, want) in [("long.x", 45u32), ("short.x", 20)] {
        let q = build_txt_query(1, name, false, None).unwrap();
        let raw = udp_raw(srv.addr, &q).await.unwrap();
        // The answer RR follows the 12-byte header and the echoed question
        // (same bytes as in the query); its owner is a 2-byte pointer, then
        // type, class, TTL.
        let at = q.len() + 2 + 4;
        let ttl = u32::from_be_bytes(raw[at..at + 4].try_into().unwrap());
        assert!(
            ttl <= want && ttl + 2 >= want,
            "{name}: ttl {ttl}, want {want}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_values_are_split_into_255_byte_strings() {
    let srv = start_zone().await;
    let value: String = (0..600).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    srv.publish("long.mesh.test", &value);
    let q = build_txt_query(3, "long.mesh.test", false, Some(4096)).unwrap();
    let raw = udp_raw(srv.addr, &q).await.unwrap();
    let r = parse_txt_response(&raw).unwrap();
    assert_eq!((r.rcode, r.truncated), (0, false));
    assert_eq!(r.values, std::slice::from_ref(&value));
    let mut rdata = (603u16).to_be_bytes().to_vec();
    for chunk in value.as_bytes().chunks(255) {
        rdata.push(chunk.len() as u8);
        rdata.extend_from_slice(chunk);
    }
    assert!(
        raw.windows(rdata.len()).any(|w| w == rdata.as_slice()),
        "RDATA is not 255+255+90 strings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_versus_nodata_for_empty_non_terminals() {
    let srv = start_zone().await;
    srv.publish("x.b.mesh.test", "leaf");
    let r = udp_query(srv.addr, 1, "x.b.mesh.test", None).await;
    assert_eq!((r.rcode, r.values.len()), (0, 1));
    // b.mesh.test has a name below it: NODATA (NOERROR, empty answer).
    let r = udp_query(srv.addr, 2, "b.mesh.test", None).await;
    assert_eq!((r.rcode, r.values.len()), (0, 0));
    // Nothing at or below: NXDOMAIN.
    let r = udp_query(srv.addr, 3, "nope.mesh.test", None).await;
    assert_eq!((r.rcode, r.values.len()), (3, 0));
    let r = udp_query(srv.addr, 4, "y.x.b.mesh.test", None).await;
    assert_eq!(r.rcode, 3);
    // Deleting the leaf makes the parent NXDOMAIN too.
    srv.store.delete_name("x.b.mesh.test").unwrap();
    let r = udp_query(srv.addr, 5, "x.b.mesh.test", None).await;
    assert_eq!(r.rcode, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_udp_answer_is_truncated_and_tcp_returns_it_whole() {
    let srv = start_zone().await;
    let values: Vec<String> = (0..5).map(|i| format!("{i}{}", "v".repeat(199))).collect();
    for v in &values {
        srv.publish("big.mesh.test", v);
    }
    let r = udp_query(srv.addr, 11, "big.mesh.test", None).await;
    assert_eq!((r.rcode, r.truncated), (0, true));
    assert!(r.values.is_empty());
    // A large enough EDNS payload fits it over UDP.
    let r = udp_query(srv.addr, 12, "big.mesh.test", Some(4096)).await;
    assert_eq!((r.truncated, r.values.len()), (false, 5));
    let r = tcp_query(srv.addr, 13, "big.mesh.test").await;
    assert_eq!((r.rcode, r.truncated), (0, false));
    assert_eq!(r.values, values);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_tcp_queries_are_all_answered_in_order() {
    let srv = start_zone().await;
    for i in 0..6 {
        srv.publish(&format!("n{i}.mesh.test"), &format!("value {i}"));
    }
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // All queries in one write, before reading anything.
    let mut burst = Vec::new();
    for i in 0..6u16 {
        let q = build_txt_query(100 + i, &format!("n{i}.mesh.test"), false, None).unwrap();
        burst.extend_from_slice(&frame(&q));
    }
    s.write_all(&burst).await.unwrap();
    for i in 0..6u16 {
        let r = parse_txt_response(&read_frame(&mut s).await).unwrap();
        assert_eq!(r.id, 100 + i);
        assert_eq!(r.values, [format!("value {i}")]);
    }
    // The connection stays usable for later queries.
    let q = build_txt_query(200, "n0.mesh.test", false, None).unwrap();
    s.write_all(&frame(&q)).await.unwrap();
    let r = parse_txt_response(&read_frame(&mut s).await).unwrap();
    assert_eq!((r.id, r.values.len()), (200, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed() {
    let srv = start(DnsConfig {
        tcp_idle_timeout: Duration::from_millis(300),
        ..DnsConfig::default().with_zone(ZONE)
    })
    .await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let started = std::time::Instant::now();
    let n = timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the idle connection");
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed() {
    let srv = start(DnsConfig {
        max_tcp_connections: 1,
        ..DnsConfig::default().with_zone(ZONE)
    })
    .await;
    srv.publish("a.mesh.test", "v");
    let mut first = TcpStream::connect(srv.addr).await.unwrap();
    let q = build_txt_query(1, "a.mesh.test", false, None).unwrap();
    first.write_all(&frame(&q)).await.unwrap();
    read_frame(&mut first).await; // accepted and holding the only slot
    let mut second = TcpStream::connect(srv.addr).await.unwrap();
    let _ = second.write_all(&frame(&q)).await;
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, second.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "second connection should be closed");
    drop(first);
    // The slot is released once the first connection ends.
    let mut ok = false;
    for _ in 0..50 {
        let mut third = TcpStream::connect(srv.addr).await.unwrap();
        let _ = third.write_all(&frame(&q)).await;
        if let Ok(Ok(len)) = timeout(Duration::from_millis(500), third.read_u16()).await
            && len > 0
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a new connection is served after the first one closes");
}

/// Deterministic junk (xorshift).
fn junk(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn garbage_packets() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..20u64)
        .map(|i| junk(i + 1, (i as usize * 37) % 300))
        .collect();
    // Every packet below is a query (QR clear).
    v.push(vec![0x12]);
    v.push(vec![0x12, 0x34, 0x01, 0x00, 0x00]); // truncated header
    // Header claiming one question, no question bytes.
    v.push(vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    // A question whose name is a compression pointer to itself.
    v.push(vec![
        0x12, 0x35, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 16, 0, 1,
    ]);
    // Two pointers pointing at each other.
    v.push(vec![
        0x12, 0x36, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 14, 0xC0, 12, 0, 16, 0, 1,
    ]);
    // A label running past the end.
    v.push(vec![
        0x12, 0x37, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 40, b'a', b'b',
    ]);
    // Counts far beyond the data.
    v.push(vec![
        0x12, 0x38, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_over_udp_does_not_stop_the_server() {
    let srv = start_zone().await;
    srv.publish("ok.mesh.test", "alive");
    for (i, p) in garbage_packets().iter().enumerate() {
        if let Some(resp) = udp_raw(srv.addr, p).await {
            // Whatever comes back is a response to a packet with a header:
            // FORMERR (or another error), same ID.
            assert!(p.len() >= 12, "packet {i}: answered a headerless packet");
            assert_eq!(resp[..2], p[..2], "packet {i}");
            assert!(resp[2] & 0x80 != 0, "packet {i}: QR");
        }
        let r = udp_query(srv.addr, 500 + i as u16, "ok.mesh.test", None).await;
        assert_eq!(r.values, ["alive"], "after packet {i}");
    }
    // Pointer loops get FORMERR specifically.
    let loop_q = &garbage_packets()[23];
    let resp = udp_raw(srv.addr, loop_q).await.expect("FORMERR");
    assert_eq!(rcode(&resp), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_over_tcp_does_not_stop_the_connection_or_server() {
    let srv = start_zone().await;
    srv.publish("ok.mesh.test", "alive");
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut burst = Vec::new();
    for p in garbage_packets() {
        burst.extend_from_slice(&frame(&p));
    }
    burst.extend_from_slice(&frame(&[])); // an empty message
    let q = build_txt_query(0xBEEF, "ok.mesh.test", false, None).unwrap();
    burst.extend_from_slice(&frame(&q));
    s.write_all(&burst).await.unwrap();
    // Error responses may come first; the real answer must follow.
    let mut got = None;
    for _ in 0..64 {
        let f = read_frame(&mut s).await;
        if f.len() >= 2 && f[..2] == [0xBE, 0xEF] {
            got = Some(parse_txt_response(&f).unwrap());
            break;
        }
        assert!(rcode(&f) != 0 || f.len() == 12, "unexpected answer to junk");
    }
    assert_eq!(got.expect("answer after junk").values, ["alive"]);
    // A connection that sends a short frame and hangs up does no harm.
    let mut t = TcpStream::connect(srv.addr).await.unwrap();
    t.write_all(&[0x00, 0x40, 1, 2, 3]).await.unwrap();
    drop(t);
    let r = tcp_query(srv.addr, 77, "ok.mesh.test").await;
    assert_eq!(r.values, ["alive"]);
    let r = udp_query(srv.addr, 78, "ok.mesh.test", None).await;
    assert_eq!(r.values, ["alive"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_is_refused_for_now() {
    let srv = start_zone().await;
    // Opcode 5 (UPDATE), ZOCOUNT 1: mesh.test SOA IN.
    let mut p = vec![0x44, 0x55, 5 << 3, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(b"\x04mesh\x04test\x00\x00\x06\x00\x01");
    let resp = udp_raw(srv.addr, &p).await.expect("REFUSED over UDP");
    assert_eq!((resp[..2].to_vec(), rcode(&resp)), (vec![0x44, 0x55], 5));
    assert_eq!((resp[2] >> 3) & 0x0F, 5, "opcode echoed");
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&frame(&p)).await.unwrap();
    assert_eq!(rcode(&read_frame(&mut s).await), 5);
}

/// The binary starts the DNS listener from its flags and environment.
#[test]
fn binary_serves_dns_on_the_given_port() {
    let dir = TempDir::new("bin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .env("DMP_DOMAIN", "Mesh.Test.")
        .arg("--db-path")
        .arg(dir.0.join("records.db"))
        .args(["--http-host", "127.0.0.1", "--http-port", "0"])
        .args(["--dns-host", "127.0.0.1", "--dns-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut dns_line = None;
    for _ in 0..5 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.strip_prefix("dns: ") {
            dns_line = Some(rest.trim().to_string());
            break;
        }
    }
    let dns_line = dns_line.expect("a `dns: ADDR/udp+tcp, zone Z` line");
    assert!(dns_line.ends_with("zone mesh.test"), "{dns_line}");
    let addr: SocketAddr = dns_line.split('/').next().unwrap().parse().unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut results = Vec::new();
    for (id, name) in [(1u16, "none.mesh.test"), (2, "x.elsewhere")] {
        sock.send_to(&build_txt_query(id, name, false, None).unwrap(), addr)
            .unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        results.push(parse_txt_response(&buf[..n]).unwrap().rcode);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(results, [3, 5]); // NXDOMAIN in the zone, REFUSED outside
}
