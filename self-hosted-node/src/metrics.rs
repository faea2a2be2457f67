//! `/metrics` in the Prometheus text format 0.0.4.
//!
//! The reference node's families (REFERENCE-NODE.md §8) keep their names
//! and labels, so dashboards built for it work unchanged:
//!
//! * `dmp_dns_queries_total{outcome}`: counter; `outcome` is the lower-case
//!   RCODE name of the answer (`noerror`, `nxdomain`, `refused`, …) or
//!   `rate_limited` / `malformed` for packets that got no normal answer.
//!   UDP, TCP and DoH queries all count here.
//! * `dmp_http_requests_total{method,status}`: counter of every HTTP
//!   request, 404 and 401 included.
//! * `dmp_records`: gauge of live records (read from the store at scrape).
//!
//! Added here:
//!
//! * `dmp_http_request_duration_seconds{route}`: histogram by route
//!   template (`/v1/records/{*name}`, `/dns-query`, …; `static` for the
//!   web root and unknown paths).
//! * `dmp_dns_request_duration_seconds{transport}`: histogram, `udp`,
//!   `tcp` or `doh`.
//! * `dmp_dns_updates_total{outcome}`: counter of answered DNS UPDATEs by
//!   RCODE name; the UPDATE handler ([`crate::update`]) counts every
//!   response ([`Metrics::observe_update`]).
//! * `dmp_sync_pulled_records_total`: counter of records taken in by
//!   anti-entropy ([`Metrics::inc_sync_pulled`]).
//! * `dmp_build_info{version}` (always 1) and
//!   `dmp_process_start_time_seconds`.
//!
//! Families are sorted by name and labels by key, values are floats
//! (`3.0`), as the reference renders them. A family is listed (HELP and
//! TYPE) from the start; its samples appear after the first event.
//!
//! Other modules record through the small methods of [`Metrics`]; a clone
//! is cheap (one `Arc`) and counts into the same registry.

use crate::AppState;
use crate::store::unix_now_ms;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Counter families: name and help.
const COUNTERS: [(&str, &str); 4] = [
    (
        "dmp_dns_queries_total",
        "DNS queries answered (UDP, TCP, DoH) by outcome (lower-case RCODE name, rate_limited, malformed).",
    ),
    (
        "dmp_dns_updates_total",
        "DNS UPDATE messages answered, by outcome (lower-case RCODE name).",
    ),
    (
        "dmp_http_requests_total",
        "HTTP requests by method and status.",
    ),
    (
        "dmp_sync_pulled_records_total",
        "Records taken in from peers by anti-entropy sync.",
    ),
];

/// Histogram families: name and help.
const HISTOGRAMS: [(&str, &str); 2] = [
    (
        "dmp_dns_request_duration_seconds",
        "Time to answer one DNS query, by transport (udp, tcp, doh).",
    ),
    (
        "dmp_http_request_duration_seconds",
        "Time to answer one HTTP request, by route template.",
    ),
];

type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative; summed on render).
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn record(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b)
            && let Some(c) = self.counts.get_mut(i)
        {
            *c += 1;
        }
        self.count += 1;
        self.sum += secs;
    }

    fn merge(&mut self, other: &Histogram) {
        for (dst, src) in self.counts.iter_mut().zip(other.counts.iter()) {
            *dst += src;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

#[derive(Debug, Default)]
struct Registry {
    counters: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Histogram>>,
}

/// Transports of the DNS latency histogram, in [`DnsAtomics::hist`] order.
const DNS_TRANSPORTS: [&str; 3] = ["udp", "tcp", "doh"];

/// A histogram updated without a lock.
#[derive(Debug, Default)]
struct AtomicHist {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// The per-query DNS series, kept in atomics so the query path takes no
/// lock and allocates nothing; folded into the registry at scrape.
#[derive(Debug, Default)]
struct DnsAtomics {
    /// By RCODE (0..=15).
    rcodes: [AtomicU64; 16],
    rate_limited: AtomicU64,
    malformed: AtomicU64,
    hist: [AtomicHist; 3],
}

/// The per-request HTTP series, keyed so that a request whose method,
/// status and route were seen before is counted by borrowed lookups only
/// (no allocation on the request path); folded into the registry at
/// scrape.
#[derive(Debug, Default)]
struct HttpSeries {
    /// method -> status -> requests.
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// route template -> latency.
    latency: BTreeMap<String, Histogram>,
}

/// Counters and histograms of the node (held by [`crate::AppState`]; the
/// DNS listener gets a clone through `DnsConfig::metrics`).
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Mutex<Registry>>,
    dns: Arc<DnsAtomics>,
    http: Arc<Mutex<HttpSeries>>,
    started_unix: f64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            inner: Arc::default(),
            dns: Arc::default(),
            http: Arc::default(),
            started_unix: unix_now_ms() as f64 / 1000.0,
        }
    }
}

/// The lower-case RCODE name used as `outcome` (`rcode5` style for ones
/// without a name here).
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "noerror".into(),
        1 => "formerr".into(),
        2 => "servfail".into(),
        3 => "nxdomain".into(),
        4 => "notimp".into(),
        5 => "refused".into(),
        6 => "yxdomain".into(),
        7 => "yxrrset".into(),
        8 => "nxrrset".into(),
        9 => "notauth".into(),
        10 => "notzone".into(),
        n => format!("rcode{n}"),
    }
}

/// Label values escaped per the text format (`\`, `"`, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

fn label_str(labels: &Labels, extra: Option<(&str, &str)>) -> String {
    let mut all: Vec<(&str, String)> = labels.iter().map(|(k, v)| (*k, escape(v))).collect();
    if let Some((k, v)) = extra {
        all.push((k, v.to_string()));
    }
    all.sort();
    if all.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = all.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    fn add(&self, family: &'static str, labels: Labels, by: f64) {
        self.with(|r| {
            *r.counters
                .entry(family)
                .or_default()
                .entry(labels)
                .or_default() += by;
        });
    }

    fn observe(&self, family: &'static str, labels: Labels, elapsed: Duration) {
        self.with(|r| {
            r.histograms
                .entry(family)
                .or_default()
                .entry(labels)
                .or_default()
                .record(elapsed);
        });
    }

    /// One answered DNS query: `transport` is `udp`, `tcp` or `doh`.
    pub fn observe_dns(&self, transport: &'static str, rcode: u8, elapsed: Duration) {
        let Some(t) = DNS_TRANSPORTS.iter().position(|x| *x == transport) else {
            self.add(
                "dmp_dns_queries_total",
                vec![("outcome", rcode_name(rcode))],
                1.0,
            );
            self.observe(
                "dmp_dns_request_duration_seconds",
                vec![("transport", transport.into())],
                elapsed,
            );
            return;
        };
        if let Some(c) = self.dns.rcodes.get(usize::from(rcode & 0x0F)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.dns.hist.get(t) {
            let secs = elapsed.as_secs_f64();
            if let Some(i) = BUCKETS.iter().position(|b| secs <= *b)
                && let Some(c) = h.counts.get(i)
            {
                c.fetch_add(1, Ordering::Relaxed);
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            h.sum_ns.fetch_add(ns, Ordering::Relaxed);
        }
    }

    /// A DNS packet that got no normal answer: `outcome` is `rate_limited`
    /// or `malformed` (other names are counted too, under that label).
    pub fn inc_dns_outcome(&self, outcome: &'static str) {
        match outcome {
            "rate_limited" => {
                self.dns.rate_limited.fetch_add(1, Ordering::Relaxed);
            }
            "malformed" => {
                self.dns.malformed.fetch_add(1, Ordering::Relaxed);
            }
            other => self.add(
                "dmp_dns_queries_total",
                vec![("outcome", other.into())],
                1.0,
            ),
        }
    }

    /// The registry with the DNS atomics folded in.
    fn snapshot(&self) -> Registry {
        let (mut counters, mut histograms) =
            self.with(|r| (r.counters.clone(), r.histograms.clone()));
        let outcomes = counters.entry("dmp_dns_queries_total").or_default();
        let named = self
            .dns
            .rcodes
            .iter()
            .enumerate()
            .map(|(rc, c)| (rcode_name(rc as u8), c))
            .chain([
                ("rate_limited".to_owned(), &self.dns.rate_limited),
                ("malformed".to_owned(), &self.dns.malformed),
            ]);
        for (name, c) in named {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                *outcomes.entry(vec![("outcome", name)]).or_default() += n as f64;
            }
        }
        let hists = histograms
            .entry("dmp_dns_request_duration_seconds")
            .or_default();
        for (t, h) in DNS_TRANSPORTS.iter().zip(self.dns.hist.iter()) {
            let count = h.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let e = hists
                .entry(vec![("transport", (*t).to_owned())])
                .or_default();
            for (dst, src) in e.counts.iter_mut().zip(h.counts.iter()) {
                *dst += src.load(Ordering::Relaxed);
            }
            e.count += count;
            e.sum += h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        }
        let http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let requests = counters.entry("dmp_http_requests_total").or_default();
        for (method, by_status) in &http.requests {
            for (status, n) in by_status {
                *requests
                    .entry(vec![
                        ("method", method.clone()),
                        ("status", status.to_string()),
                    ])
                    .or_default() += *n as f64;
            }
        }
        let latency = histograms
            .entry("dmp_http_request_duration_seconds")
            .or_default();
        for (route, h) in &http.latency {
            latency
                .entry(vec![("route", route.clone())])
                .or_default()
                .merge(h);
        }
        Registry {
            counters,
            histograms,
        }
    }

    /// One HTTP request: `route` is the matched route template.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let by_status = match http.requests.get_mut(method) {
            Some(m) => m,
            None => http.requests.entry(method.to_owned()).or_default(),
        };
        *by_status.entry(status).or_default() += 1;
        let hist = match http.latency.get_mut(route) {
            Some(h) => h,
            None => http.latency.entry(route.to_owned()).or_default(),
        };
        hist.record(elapsed);
    }

    /// One answered DNS UPDATE with the RCODE of its response (for the
    /// update module).
    pub fn observe_update(&self, rcode: u8) {
        self.add(
            "dmp_dns_updates_total",
            vec![("outcome", rcode_name(rcode))],
            1.0,
        );
    }

    /// `n` records taken in by anti-entropy (for the sync module).
    pub fn inc_sync_pulled(&self, n: u64) {
        self.add("dmp_sync_pulled_records_total", Vec::new(), n as f64);
    }

    /// The current value of a counter sample (tests, `/stats`-like views).
    pub fn counter(&self, family: &str, labels: &[(&str, &str)]) -> f64 {
        self.snapshot()
            .counters
            .get(family)
            .and_then(|m| {
                m.iter().find_map(|(k, v)| {
                    let same = k.len() == labels.len()
                        && k.iter()
                            .zip(labels)
                            .all(|((a, b), (c, d))| a == c && b == d);
                    same.then_some(*v)
                })
            })
            .unwrap_or(0.0)
    }

    /// The exposition text; `records` is the live record count.
    pub fn render(&self, records: u64) -> String {
        let mut families: Vec<(&str, String)> = Vec::new();
        let snap = self.snapshot();
        let reg = (snap.counters, snap.histograms);
        for (name, help) in COUNTERS {
            let mut s = format!("# HELP {name} {help}\n# TYPE {name} counter\n");
            for (labels, v) in reg.0.get(name).into_iter().flatten() {
                let _ = writeln!(s, "{name}{} {}", label_str(labels, None), float(*v));
            }
            families.push((name, s));
        }
        for (name, help) in HISTOGRAMS {
            let mut s = format!("# HELP {name} {help}\n# TYPE {name} histogram\n");
            for (labels, h) in reg.1.get(name).into_iter().flatten() {
                let mut cum = 0u64;
                for (b, c) in BUCKETS.iter().zip(h.counts.iter()) {
                    cum += c;
                    let le = format!("{b}");
                    let _ = writeln!(
                        s,
                        "{name}_bucket{} {}",
                        label_str(labels, Some(("le", &le))),
                        float(cum as f64)
                    );
                }
                let _ = writeln!(
                    s,
                    "{name}_bucket{} {}",
                    label_str(labels, Some(("le", "+Inf"))),
                    float(h.count as f64)
                );
                let l = label_str(labels, None);
                let _ = writeln!(s, "{name}_sum{l} {}", float(h.sum));
                let _ = writeln!(s, "{name}_count{l} {}", float(h.count as f64));
            }
            families.push((name, s));
        }
        families.push((
            "dmp_records",
            format!(
                "# HELP dmp_records Live records in the store.\n# TYPE dmp_records gauge\n\
                 dmp_records {}\n",
                float(records as f64)
            ),
        ));
        families.push((
            "dmp_build_info",
            format!(
                "# HELP dmp_build_info Version of this node (always 1).\n\
                 # TYPE dmp_build_info gauge\ndmp_build_info{{version=\"{}\"}} 1.0\n",
                escape(crate::VERSION)
            ),
        ));
        families.push((
            "dmp_process_start_time_seconds",
            format!(
                "# HELP dmp_process_start_time_seconds Start time of the node, Unix seconds.\n\
                 # TYPE dmp_process_start_time_seconds gauge\n\
                 dmp_process_start_time_seconds {}\n",
                float(self.started_unix)
            ),
        ));
        families.sort_by(|a, b| a.0.cmp(b.0));
        families.into_iter().map(|(_, s)| s).collect()
    }
}

/// The metrics route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> Response {
    let records = state.store().stats(unix_now_ms()).records;
    let body = state.metrics().render(records);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// Middleware (added around the whole router by [`crate::router`]) that
/// counts every HTTP request and times it by route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    // Both clones are cheap (a standard method has no heap part; the
    // matched path is an `Arc<str>`).
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    state.metrics().observe_http(
        method.as_str(),
        route.as_ref().map_or("static", MatchedPath::as_str),
        resp.status().as_u16(),
        start.elapsed(),
    );
    resp
}
