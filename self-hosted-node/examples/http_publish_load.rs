//! HTTP publish load generator for `scripts/bench/dns-qps.sh`.
//!
//! POSTs records to `/v1/records/<name>` of a node (dmp-node or the
//! reference) from `--concurrency` clients, each on its own keep-alive
//! HTTP/1.1 connection; when the server closes after a response (the
//! reference speaks HTTP/1.0) the client reconnects, and that cost counts.
//! Prints one JSON line: `{"sent":…,"ok":…,"errors":…,"seconds":…,"per_sec":…}`.
//!
//! ```text
//! cargo run --release -p dmp-node --example http_publish_load -- \
//!     --url http://127.0.0.1:8053 --count 100000 --concurrency 32
//! cargo run --release -p dmp-node --example http_publish_load -- \
//!     --url http://127.0.0.1:8053 --file records.tsv   # name<TAB>value per line
//! ```
//!
//! Without `--file` it generates `--count` distinct chunk-shaped records
//! (`chunk-NNNN-<hex12>.<zone>`, 241-byte `v=dmp1;t=chunk;d=…` values).
//! `--duration S` stops after S seconds even if records remain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    addr: SocketAddr,
    host: String,
    count: usize,
    concurrency: usize,
    duration: Option<Duration>,
    file: Option<String>,
    zone: String,
    ttl: u32,
    token: Option<String>,
}

const USAGE: &str = "usage: http_publish_load --url http://127.0.0.1:PORT \
[--count N] [--concurrency C] [--duration SECONDS] [--file name-TAB-value.tsv] \
[--zone ZONE] [--ttl SECONDS] [--token BEARER]";

fn parse_args() -> Result<Opts, String> {
    let mut url = None;
    let mut o = Opts {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        host: String::new(),
        count: 10_000,
        concurrency: 32,
        duration: None,
        file: None,
        zone: "mesh.test".into(),
        ttl: 86_400,
        token: std::env::var("DMP_BENCH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--url" => url = Some(val()?),
            "--count" => o.count = val()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--concurrency" => {
                o.concurrency = val()?.parse().map_err(|e| format!("--concurrency: {e}"))?;
            }
            "--duration" => {
                let s: f64 = val()?.parse().map_err(|e| format!("--duration: {e}"))?;
                o.duration = Some(Duration::from_secs_f64(s.max(0.0)));
            }
            "--file" => o.file = Some(val()?),
            "--zone" => o.zone = val()?,
            "--ttl" => o.ttl = val()?.parse().map_err(|e| format!("--ttl: {e}"))?,
            "--token" => o.token = Some(val()?),
            "-h" | "--help" => return Err(USAGE.into()),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    let url = url.ok_or_else(|| format!("--url is required\n{USAGE}"))?;
    let hostport = url
        .strip_prefix("http://")
        .ok_or("--url must start with http://")?
        .trim_end_matches('/');
    o.addr = hostport
        .parse()
        .map_err(|e| format!("--url needs an IP:port ({hostport}): {e}"))?;
    o.host = hostport.to_string();
    o.concurrency = o.concurrency.max(1);
    Ok(o)
}

/// Deterministic pseudo-random bytes (xorshift), so runs are repeatable.
fn filler(seed: u64, len: usize) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(B64[(x % 64) as usize])
        })
        .collect()
}

fn generated(i: usize, zone: &str) -> (String, String) {
    let key = format!(
        "{:012x}",
        (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16
    );
    let name = format!("chunk-{:04}-{key}.{zone}", i % 10_000);
    // 17-byte prefix + 224 base64 characters = 241 bytes, a real chunk's size.
    let value = format!("v=dmp1;t=chunk;d={}", filler(i as u64, 224));
    (name, value)
}

fn load_file(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect())
}

fn request(o: &Opts, name: &str, value: &str) -> Vec<u8> {
    let body = format!("{{\"value\": \"{value}\", \"ttl\": {}}}", o.ttl);
    let auth = o
        .token
        .as_deref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /v1/records/{name} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: {}\r\n\r\n{body}",
        o.host,
        body.len()
    )
    .into_bytes()
}

/// One parsed response: status, and whether the connection stays open.
struct Resp {
    status: u16,
    keep_alive: bool,
}

/// Reads one response from `conn` (headers plus a Content-Length body, or
/// until EOF without one). `buf` keeps bytes read past it.
async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Resp> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed before a response"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head = buf.get(..head_end).unwrap_or_default();
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let http10 = status_line.starts_with(b"HTTP/1.0");
    let status = status_line
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut length = None;
    let mut keep_alive = !http10;
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (k, v) = (
            line.get(..colon).unwrap_or_default(),
            line.get(colon + 1..).unwrap_or_default(),
        );
        let v = v.trim_ascii();
        if k.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
        } else if k.eq_ignore_ascii_case(b"connection") {
            if v.eq_ignore_ascii_case(b"close") {
                keep_alive = false;
            } else if v.eq_ignore_ascii_case(b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    match length {
        Some(len) => {
            while buf.len() < head_end + len {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    return Err(bad("connection closed inside a body"));
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            buf.drain(..head_end + len);
        }
        None => {
            // No length: the body runs to EOF.
            while conn.read(&mut chunk).await? > 0 {}
            buf.clear();
            keep_alive = false;
        }
    }
    Ok(Resp { status, keep_alive })
}

/// One runtime thread: the tool shares the machine with the node it
/// measures, and one thread keeps many connections busy.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let records = match &o.file {
        Some(f) => match load_file(f) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("http_publish_load: {e}");
                return std::process::ExitCode::FAILURE;
            }
        },
        None => (0..o.count).map(|i| generated(i, &o.zone)).collect(),
    };
    // Every request is built before the clock starts, so the load tool spends
    // its share of the (shared) cores on sockets, not on formatting.
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        records
            .iter()
            .map(|(name, value)| request(&o, name, value))
            .collect(),
    );
    let o = Arc::new(o);
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = o.duration.map(|d| start + d);
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (o, requests, next, ok, errors) = (
            Arc::clone(&o),
            Arc::clone(&requests),
            Arc::clone(&next),
            Arc::clone(&ok),
            Arc::clone(&errors),
        );
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(req) = requests.get(i) else {
                    break;
                };
                let mut done = false;
                // One retry on a fresh connection: a kept-alive connection
                // may have been closed by the server in between.
                for _ in 0..2 {
                    let c = match conn.take() {
                        Some(c) => c,
                        None => match TcpStream::connect(o.addr).await {
                            Ok(c) => {
                                let _ = c.set_nodelay(true);
                                buf.clear();
                                c
                            }
                            Err(_) => continue,
                        },
                    };
                    let mut c = c;
                    if c.write_all(req).await.is_err() {
                        continue;
                    }
                    match read_response(&mut c, &mut buf).await {
                        Ok(r) => {
                            if r.status == 201 {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            if r.keep_alive {
                                conn = Some(c);
                            }
                            done = true;
                            break;
                        }
                        Err(_) => buf.clear(),
                    }
                }
                if !done {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "{{\"sent\": {}, \"ok\": {ok}, \"errors\": {errors}, \"seconds\": {secs:.3}, \"per_sec\": {:.1}}}",
        ok + errors,
        ok as f64 / secs.max(1e-9)
    );
    if ok == 0 {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
