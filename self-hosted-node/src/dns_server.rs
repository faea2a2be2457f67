//! The node's DNS listener: UDP and TCP (RFC 1035 §4.2, RFC 7766) on one
//! port, answering from the [`Store`] through `dmp_core::dns::answer`.
//!
//! Every protocol decision (NXDOMAIN vs NODATA, truncation, FORMERR, zone
//! checks) is made by `dmp_core::dns`; this module only owns the sockets:
//!
//! * UDP: [`DnsConfig::udp_workers`] receive loops share the socket; each
//!   datagram is answered in place (a store read is an in-memory lookup)
//!   and the answer sent back. Packets that
//!   get no answer (responses, fragments shorter than a header) are
//!   dropped.
//! * TCP: 2-byte length-prefixed messages, any number per connection, with
//!   pipelining: a reader task keeps reading queries while the writer
//!   answers the earlier ones, in order. A connection idle for
//!   [`DnsConfig::tcp_idle_timeout`] is closed, and at most
//!   [`DnsConfig::max_tcp_connections`] are open at once (the excess is
//!   closed on accept).
//! * Opcode UPDATE goes to the [`UpdateHandler`] in [`DnsConfig::update`]
//!   (see [`crate::update`]); without one it is answered REFUSED. Updates
//!   write to disk, so they are awaited off the query path: on UDP in their
//!   own task, on TCP in order with the other messages of the connection.
//!
//! * A per-IP token bucket per transport ([`DnsConfig::rate`]); over it a
//!   client gets TC (UDP) or REFUSED (TCP), never silence.
//! * Every query is counted and timed in [`DnsConfig::metrics`].
//!
//! Garbage never stops either loop: a malformed packet gets FORMERR (or
//! nothing) and the next one is served as usual.

use crate::metrics::Metrics;
use crate::store::{Store, unix_now_ms};
use dmp_core::dns::{self, Apex, Soa, Transport, TxtSource, TxtValue, ZoneConfig};
use dmp_core::node::ratelimit::{Rate, RateLimiter};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc};

/// Largest UDP datagram we read (anything longer is cut by the kernel and
/// then fails to parse, which answers FORMERR).
const UDP_BUF: usize = 65_535;
/// Queries read ahead on one TCP connection before the reader waits for the
/// writer (pipelining depth).
const TCP_PIPELINE: usize = 32;

/// The answer to an UPDATE message, computed asynchronously (it writes).
pub type UpdateFuture = Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>>;

/// Handles RFC 2136 UPDATE messages for the DNS listener.
pub trait UpdateHandler: Send + Sync + 'static {
    /// The response to `packet` from `peer` (`None`: stay silent).
    fn handle(&self, packet: Vec<u8>, peer: SocketAddr) -> UpdateFuture;
}

/// Settings of the DNS side.
#[derive(Clone)]
pub struct DnsConfig {
    /// Served zones. Empty: every name in the store is answered (the
    /// reference's zone-less mode); otherwise names outside are REFUSED.
    pub zones: Vec<ZoneConfig>,
    /// `DMP_DNS_TTL`: the largest TTL put on an answer RR. A value that
    /// expires sooner gets its remaining lifetime instead.
    pub ttl: u32,
    /// A TCP connection with no complete query for this long is closed
    /// (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
    /// Most TCP connections open at once; further ones are closed on accept.
    pub max_tcp_connections: usize,
    /// Where UPDATE messages go; `None` answers them REFUSED.
    pub update: Option<Arc<dyn UpdateHandler>>,
    /// Per source IP, UDP and TCP in separate buckets; 0 disables. Over
    /// the limit a UDP query gets an empty TC=1 answer (no larger than the
    /// query, so no amplification; a real client retries over TCP) and a
    /// TCP query gets REFUSED: a client is told, never silently dropped.
    pub rate: Rate,
    /// UDP receive tasks sharing the socket (at least 1).
    pub udp_workers: usize,
    /// Where queries are counted and timed.
    pub metrics: Metrics,
}

impl std::fmt::Debug for DnsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsConfig")
            .field("zones", &self.zones)
            .field("ttl", &self.ttl)
            .field("tcp_idle_timeout", &self.tcp_idle_timeout)
            .field("max_tcp_connections", &self.max_tcp_connections)
            .field("update", &self.update.is_some())
            .field("rate", &self.rate)
            .field("udp_workers", &self.udp_workers)
            .finish()
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            zones: Vec::new(),
            ttl: 60,
            tcp_idle_timeout: Duration::from_secs(10),
            max_tcp_connections: 1024,
            update: None,
            rate: DEFAULT_RATE,
            udp_workers: default_udp_workers(),
            metrics: Metrics::default(),
        }
    }
}

/// Default per-IP DNS limit: 200 queries/s with a burst of 1000, four
/// times the reference's 50/200. An authoritative server sees recursive
/// resolvers, each carrying many users, and a client reading a mailbox
/// sends dozens of queries at once.
pub const DEFAULT_RATE: Rate = Rate::new(200.0, 1000.0);

/// One UDP receive task per CPU, at most 8.
pub fn default_udp_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Apex and SOA settings of the served zone (`--dns-apex-*` flags).
#[derive(Clone, Debug, Default)]
pub struct ApexSettings {
    /// NS names of the apex; the first is also the SOA MNAME.
    pub ns: Vec<String>,
    /// A and AAAA addresses of the apex.
    pub a: Vec<std::net::Ipv4Addr>,
    pub aaaa: Vec<std::net::Ipv6Addr>,
    /// SOA RNAME (`hostmaster.example.org` or `hostmaster@example.org`);
    /// default `hostmaster.<zone>`.
    pub soa_rname: Option<String>,
    /// SOA serial; default the start time in Unix seconds.
    pub soa_serial: Option<u32>,
}

impl DnsConfig {
    /// Gives every served zone an SOA (so negative answers carry it in
    /// AUTHORITY, RFC 2308) and the apex NS/A/AAAA records of `apex`. The
    /// SOA MNAME is the first NS (else the zone name), RNAME as given
    /// (else `hostmaster.<zone>`), refresh/retry/expire 3600/600/604800,
    /// MINIMUM and TTL the answer TTL.
    pub fn with_apex(mut self, apex: &ApexSettings) -> Self {
        let serial = apex
            .soa_serial
            .unwrap_or_else(|| u32::try_from(unix_now_ms() / 1000).unwrap_or(u32::MAX));
        for z in &mut self.zones {
            let zone = dns::normalize_name(&z.name);
            let rname = apex
                .soa_rname
                .as_deref()
                .map(|r| dns::normalize_name(&r.replacen('@', ".", 1)))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| format!("hostmaster.{zone}"));
            let mname = apex
                .ns
                .first()
                .map(|n| dns::normalize_name(n))
                .unwrap_or_else(|| zone.clone());
            z.soa = Some(Soa {
                mname,
                rname,
                serial,
                refresh: 3600,
                retry: 600,
                expire: 604_800,
                minimum: self.ttl,
                ttl: self.ttl,
            });
            z.apex = Apex {
                ns: apex.ns.iter().map(|n| dns::normalize_name(n)).collect(),
                a: apex.a.clone(),
                aaaa: apex.aaaa.clone(),
                ttl: self.ttl,
            };
        }
        self
    }

    /// Zone settings for one served zone name (no SOA, no apex records;
    /// see [`DnsConfig::with_apex`]). An empty name means zone-less.
    pub fn with_zone(mut self, zone: &str) -> Self {
        let z = dns::normalize_name(zone.trim());
        self.zones = if z.is_empty() {
            Vec::new()
        } else {
            vec![ZoneConfig {
                name: z,
                soa: None,
                apex: dns::Apex::default(),
            }]
        };
        self
    }
}

/// The [`Store`] as a [`TxtSource`], read at one instant.
pub struct StoreTxt<'a> {
    store: &'a Store,
    now_ms: u64,
    max_ttl: u32,
}

impl<'a> StoreTxt<'a> {
    /// Reads `store` as of `now_ms`; answer TTLs are capped at `max_ttl`.
    pub fn new(store: &'a Store, now_ms: u64, max_ttl: u32) -> Self {
        StoreTxt {
            store,
            now_ms,
            max_ttl,
        }
    }
}

impl TxtSource for StoreTxt<'_> {
    fn txt(&self, name: &str) -> Vec<TxtValue> {
        self.store
            .get_with_ttl(name, self.now_ms)
            .into_iter()
            .map(|(value, left)| TxtValue {
                value: value.to_string(),
                ttl: u32::try_from(left).unwrap_or(u32::MAX).min(self.max_ttl),
            })
            .collect()
    }

    fn has_names_below(&self, name: &str) -> bool {
        // The store answers "at or below"; when `name` itself holds values
        // the answer path never needs this (the name exists either way), so
        // only the strictly-below case matters.
        self.store.name_exists_at_or_below(name, self.now_ms)
            && self.store.get(name, self.now_ms).is_empty()
    }
}

/// The answer to one packet, or `None` to stay silent. UPDATE messages are
/// answered REFUSED here; the listeners route them to
/// [`DnsConfig::update`] first when one is set.
pub fn handle(
    packet: &[u8],
    store: &Store,
    config: &DnsConfig,
    transport: Transport,
) -> Option<Vec<u8>> {
    if dns::is_update(packet) {
        return dns::stub_response(packet, dns::rcode::REFUSED);
    }
    let source = StoreTxt::new(store, unix_now_ms(), config.ttl);
    dns::answer(packet, &config.zones, &source, transport)
}

/// A UDP socket and a TCP listener on the same address.
pub struct DnsListeners {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl DnsListeners {
    /// The bound address (the same port for both).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Binds UDP and TCP on `addr`. Port 0 picks one free port for both.
pub async fn bind(addr: SocketAddr) -> io::Result<DnsListeners> {
    if addr.port() != 0 {
        let tcp = TcpListener::bind(addr).await?;
        let udp = UdpSocket::bind(addr).await?;
        return Ok(DnsListeners { udp, tcp });
    }
    let mut last = None;
    for _ in 0..32 {
        let tcp = TcpListener::bind(addr).await?;
        let port_addr = tcp.local_addr()?;
        match UdpSocket::bind(port_addr).await {
            Ok(udp) => return Ok(DnsListeners { udp, tcp }),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port for UDP and TCP")))
}

/// Per-IP buckets of one transport.
struct Limiter(Option<Mutex<RateLimiter<IpAddr>>>);

impl Limiter {
    fn new(rate: Rate) -> Self {
        Limiter(rate.enabled().then(|| Mutex::new(RateLimiter::new(rate))))
    }

    fn allow(&self, ip: IpAddr) -> bool {
        match &self.0 {
            None => true,
            Some(m) => m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .allow(&ip, unix_now_ms()),
        }
    }
}

/// Answers one query packet that passed the rate limit, counting it.
fn answer_counted(
    packet: &[u8],
    store: &Store,
    config: &DnsConfig,
    transport: Transport,
) -> Option<Vec<u8>> {
    let start = Instant::now();
    let resp = handle(packet, store, config, transport);
    let label = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    };
    match resp.as_ref().and_then(|r| r.get(3)) {
        Some(b) => config.metrics.observe_dns(label, b & 0x0F, start.elapsed()),
        None => config.metrics.inc_dns_outcome("malformed"),
    }
    resp
}

/// What an over-limit query gets: an empty TC=1 answer over UDP, REFUSED
/// over TCP (see [`DnsConfig::rate`]).
fn over_limit(packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    match transport {
        Transport::Udp => {
            let mut r = dns::stub_response(packet, dns::rcode::NOERROR)?;
            if let Some(b) = r.get_mut(2) {
                *b |= 0x02; // TC
            }
            Some(r)
        }
        Transport::Tcp => dns::stub_response(packet, dns::rcode::REFUSED),
    }
}

/// Serves DNS on both listeners until the returned futures are dropped or
/// the task is aborted. Never returns on its own except on a fatal accept
/// error of the TCP listener.
pub async fn serve(
    listeners: DnsListeners,
    store: Arc<Store>,
    config: DnsConfig,
) -> io::Result<()> {
    let udp_limit = Arc::new(Limiter::new(config.rate));
    let tcp_limit = Arc::new(Limiter::new(config.rate));
    let config = Arc::new(config);
    let socket = Arc::new(listeners.udp);
    let mut udp = Vec::new();
    for _ in 0..config.udp_workers.max(1) {
        udp.push(tokio::spawn(serve_udp(
            Arc::clone(&socket),
            Arc::clone(&store),
            Arc::clone(&config),
            Arc::clone(&udp_limit),
        )));
    }
    // Aborts the UDP tasks however this future ends (dropped included).
    struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            for t in &self.0 {
                t.abort();
            }
        }
    }
    let _udp = AbortOnDrop(udp);
    serve_tcp(listeners.tcp, store, config, tcp_limit).await
}

async fn serve_udp(
    socket: Arc<UdpSocket>,
    store: Arc<Store>,
    config: Arc<DnsConfig>,
    limit: Arc<Limiter>,
) {
    let mut buf = vec![0u8; UDP_BUF];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors of earlier sends and the like: keep serving.
            Err(_) => continue,
        };
        let Some(packet) = buf.get(..n) else { continue };
        if !limit.allow(peer.ip()) {
            config.metrics.inc_dns_outcome("rate_limited");
            if let Some(resp) = over_limit(packet, Transport::Udp) {
                let _ = socket.send_to(&resp, peer).await;
            }
            continue;
        }
        if let Some(hook) = config.update.as_ref().filter(|_| dns::is_update(packet)) {
            let fut = hook.handle(packet.to_vec(), peer);
            let socket = Arc::clone(&socket);
            tokio::spawn(async move {
                if let Some(resp) = fut.await {
                    let _ = socket.send_to(&resp, peer).await;
                }
            });
            continue;
        }
        if let Some(resp) = answer_counted(packet, &store, &config, Transport::Udp) {
            let _ = socket.send_to(&resp, peer).await;
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    store: Arc<Store>,
    config: Arc<DnsConfig>,
    limit: Arc<Limiter>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.max_tcp_connections.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) if is_transient_accept_error(&e) => {
                // Out of descriptors and the like: back off, then go on.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream); // over the connection cap: close at once
            continue;
        };
        let store = Arc::clone(&store);
        let config = Arc::clone(&config);
        let limit = Arc::clone(&limit);
        tokio::spawn(async move {
            connection(stream, peer, store, config, limit).await;
            drop(permit);
        });
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    )
}

/// One TCP connection: a reader that frames queries (with the idle timeout)
/// and a writer that answers them in order.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    store: Arc<Store>,
    config: Arc<DnsConfig>,
    limit: Arc<Limiter>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_PIPELINE);
    let idle = config.tcp_idle_timeout;
    let reader = async move {
        loop {
            let Ok(Ok(len)) = tokio::time::timeout(idle, rd.read_u16()).await else {
                break; // idle, EOF or reset
            };
            let mut msg = vec![0u8; usize::from(len)];
            if !matches!(
                tokio::time::timeout(idle, rd.read_exact(&mut msg)).await,
                Ok(Ok(_))
            ) {
                break;
            }
            if tx.send(msg).await.is_err() {
                break; // the writer gave up
            }
        }
    };
    let writer = async move {
        while let Some(msg) = rx.recv().await {
            let resp = if !limit.allow(peer.ip()) {
                config.metrics.inc_dns_outcome("rate_limited");
                over_limit(&msg, Transport::Tcp)
            } else {
                match config.update.as_ref().filter(|_| dns::is_update(&msg)) {
                    Some(hook) => hook.handle(msg, peer).await,
                    None => answer_counted(&msg, &store, &config, Transport::Tcp),
                }
            };
            let Some(resp) = resp else {
                continue;
            };
            let Ok(len) = u16::try_from(resp.len()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(resp.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&resp);
            if !matches!(
                tokio::time::timeout(idle, wr.write_all(&framed)).await,
                Ok(Ok(()))
            ) {
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    tokio::join!(reader, writer);
}
