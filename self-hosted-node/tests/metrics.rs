//! `/metrics`: parse the Prometheus text exposition and check the families
//! and numbers after real traffic over HTTP, UDP, TCP and DoH; and the DNS
//! rate limit (answered TC/REFUSED, counted, never silent).

mod node_harness;

use dmp_core::node::ratelimit::Rate;
use dmp_node::Config;
use dmp_node::dns_server::DnsConfig;
use node_harness::*;
use std::collections::BTreeMap;

/// One parsed exposition: family -> (type, samples name{labels} -> value).
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    order: Vec<String>,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut keys = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (k, r) = rest.split_once("=\"").expect("label =\"");
        let mut val = String::new();
        let mut chars = r.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, n) = chars.next().expect("escape");
                    val.push(if n == 'n' { '\n' } else { n });
                }
                '"' => {
                    end = Some(i);
                    break;
                }
                c => val.push(c),
            }
        }
        let end = end.expect("closing quote");
        keys.push(k.to_string());
        out.insert(k.to_string(), val);
        rest = r[end + 1..].trim_start_matches(',');
    }
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "labels sorted: {s}");
    out
}

fn parse(text: &str) -> Exposition {
    let mut e = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("TYPE name type");
            assert!(["counter", "gauge", "histogram"].contains(&ty), "{line}");
            e.types.insert(name.into(), ty.into());
            e.order.push(name.into());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().unwrap_or_else(|_| panic!("value in {line}"))
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, parse_labels(l.strip_suffix('}').expect("}"))),
            None => (series, BTreeMap::new()),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| e.types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            e.types.contains_key(family),
            "sample {name} before its TYPE line"
        );
        e.samples.push((name.into(), labels, value));
    }
    let mut sorted = e.order.clone();
    sorted.sort();
    assert_eq!(e.order, sorted, "families sorted by name");
    e
}

impl Exposition {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && l.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|s| s.2)
    }

    /// Checks a histogram series: cumulative buckets, +Inf == count.
    fn histogram_count(&self, name: &str, key: &str, val: &str) -> f64 {
        let mut last = 0.0;
        let mut inf = None;
        for (n, l, v) in &self.samples {
            if n == &format!("{name}_bucket") && l.get(key).map(String::as_str) == Some(val) {
                assert!(*v >= last, "buckets cumulative");
                last = *v;
                if l.get("le").map(String::as_str) == Some("+Inf") {
                    inf = Some(*v);
                }
            }
        }
        let count = self
            .value(&format!("{name}_count"), &[(key, val)])
            .unwrap_or_else(|| panic!("{name}_count{{{key}={val}}}"));
        assert_eq!(inf, Some(count), "{name} +Inf bucket equals count");
        assert!(self.value(&format!("{name}_sum"), &[(key, val)]).is_some());
        count
    }
}

async fn scrape(node: &TestNode) -> Exposition {
    let r = node.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&r.text())
}

#[tokio::test]
async fn traffic_shows_up_in_every_family() {
    let node = TestNode::default_zone().await;
    let e = scrape(&node).await;
    for (family, ty) in [
        ("dmp_dns_queries_total", "counter"),
        ("dmp_http_requests_total", "counter"),
        ("dmp_records", "gauge"),
        ("dmp_http_request_duration_seconds", "histogram"),
        ("dmp_dns_request_duration_seconds", "histogram"),
        ("dmp_dns_updates_total", "counter"),
        ("dmp_sync_pulled_records_total", "counter"),
    ] {
        assert_eq!(
            e.types.get(family).map(String::as_str),
            Some(ty),
            "{family}"
        );
    }
    assert_eq!(e.value("dmp_records", &[]), Some(0.0));

    // HTTP: a publish, a 404, a GET.
    let body = br#"{"value": "hello", "ttl": 300}"#;
    let r = http(
        node.http,
        "POST",
        &format!("/v1/records/a.{ZONE}"),
        &[("Content-Type", "application/json")],
        body,
    )
    .await;
    assert_eq!(r.status, 201);
    node.publish(&format!("b.{ZONE}"), "x", 300);
    assert_eq!(node.get("/nope").await.status, 404);
    assert_eq!(node.get(&format!("/v1/records/a.{ZONE}")).await.status, 200);
    // DNS: two answers over UDP, one NXDOMAIN over TCP, two over DoH.
    let q = query(1, &format!("a.{ZONE}"), 16, None);
    assert!(udp_raw(node.dns, &q).await.is_some());
    assert!(udp_raw(node.dns, &q).await.is_some());
    let nx = query(2, &format!("zz.{ZONE}"), 16, None);
    assert_eq!(rcode(&tcp_raw(node.dns, &nx).await.unwrap()), 3);
    node.get(&format!("/dns-query?name=a.{ZONE}&type=TXT"))
        .await;
    node.get(&format!("/dns-query?dns={}", b64url(&nx))).await;
    // Hooks for the update and sync modules.
    node.state.metrics().observe_update(0);
    node.state.metrics().observe_update(9);
    node.state.metrics().inc_sync_pulled(7);

    let e = scrape(&node).await;
    assert_eq!(e.value("dmp_records", &[]), Some(2.0));
    assert_eq!(
        e.value("dmp_dns_queries_total", &[("outcome", "noerror")]),
        Some(3.0)
    );
    assert_eq!(
        e.value("dmp_dns_queries_total", &[("outcome", "nxdomain")]),
        Some(2.0)
    );
    assert_eq!(
        e.histogram_count("dmp_dns_request_duration_seconds", "transport", "udp"),
        2.0
    );
    assert_eq!(
        e.histogram_count("dmp_dns_request_duration_seconds", "transport", "tcp"),
        1.0
    );
    assert_eq!(
        e.histogram_count("dmp_dns_request_duration_seconds", "transport", "doh"),
        2.0
    );
    assert_eq!(
        e.value(
            "dmp_http_requests_total",
            &[("method", "POST"), ("status", "201")]
        ),
        Some(1.0)
    );
    assert_eq!(
        e.value(
            "dmp_http_requests_total",
            &[("method", "GET"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert_eq!(
        e.histogram_count(
            "dmp_http_request_duration_seconds",
            "route",
            "/v1/records/{*name}"
        ),
        2.0
    );
    assert_eq!(
        e.histogram_count("dmp_http_request_duration_seconds", "route", "/dns-query"),
        2.0
    );
    // The first scrape itself was counted.
    assert!(e.histogram_count("dmp_http_request_duration_seconds", "route", "/metrics") >= 1.0);
    assert_eq!(
        e.value("dmp_dns_updates_total", &[("outcome", "noerror")]),
        Some(1.0)
    );
    assert_eq!(
        e.value("dmp_dns_updates_total", &[("outcome", "notauth")]),
        Some(1.0)
    );
    assert_eq!(e.value("dmp_sync_pulled_records_total", &[]), Some(7.0));
    assert_eq!(
        e.value("dmp_build_info", &[("version", env!("CARGO_PKG_VERSION"))]),
        Some(1.0)
    );
}

#[tokio::test]
async fn over_the_dns_rate_limit_clients_are_told_not_dropped() {
    let dns = DnsConfig {
        rate: Rate::new(1.0, 3.0),
        ..zone_config()
    };
    let node = TestNode::start(dns, Config::default()).await;
    node.publish(&format!("a.{ZONE}"), "v", 300);
    let q = query(11, &format!("a.{ZONE}"), 16, None);
    let mut tc = 0;
    for _ in 0..6 {
        let r = udp_raw(node.dns, &q).await.expect("always an answer");
        assert_eq!(&r[..2], &[0, 11]);
        if r[2] & 0x02 != 0 {
            tc += 1;
            assert_eq!(counts(&r)[1], 0);
            assert!(r.len() <= q.len(), "no amplification");
        }
    }
    assert!(tc >= 2, "{tc} truncated answers");
    // TCP has its own bucket: the retry works, then it too is limited.
    let mut refused = 0;
    for _ in 0..6 {
        let r = tcp_raw(node.dns, &q).await.expect("always an answer");
        if rcode(&r) == 5 {
            refused += 1;
        } else {
            assert_eq!(counts(&r)[1], 1);
        }
    }
    assert!((2..6).contains(&refused), "{refused} refused");
    let e = scrape(&node).await;
    let limited = e
        .value("dmp_dns_queries_total", &[("outcome", "rate_limited")])
        .unwrap_or(0.0);
    assert_eq!(limited, f64::from(tc + refused));
}

#[test]
fn zero_disables_the_dns_limit() {
    assert!(!Rate::new(0.0, 100.0).enabled());
    assert!(!Rate::new(10.0, 0.0).enabled());
    let d = DnsConfig::default().rate;
    assert!(d.per_sec >= 200.0 && d.burst >= 1000.0, "{d:?}");
}
