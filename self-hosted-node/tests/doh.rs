//! DoH at `/dns-query` against the UDP and TCP listeners of the same node:
//! the same query gives byte-identical answers on every path (large RRsets
//! too), the JSON form says the same thing, negative answers agree, CORS
//! and request errors behave.

mod node_harness;

use node_harness::*;

const TXT: u16 = 16;

fn value(i: usize, len: usize) -> String {
    let mut v = format!("v{i:03}-");
    while v.len() < len {
        v.push(char::from(b'a' + (v.len() % 26) as u8));
    }
    v
}

async fn doh_get(node: &TestNode, q: &[u8]) -> Resp {
    node.get(&format!("/dns-query?dns={}", b64url(q))).await
}

async fn doh_post(node: &TestNode, q: &[u8]) -> Resp {
    http(
        node.http,
        "POST",
        "/dns-query",
        &[("Content-Type", "application/dns-message")],
        q,
    )
    .await
}

/// Every wire path answers `q` with exactly the same bytes.
async fn same_everywhere(node: &TestNode, q: &[u8]) -> Vec<u8> {
    let tcp = tcp_raw(node.dns, q).await.expect("TCP answer");
    let get = doh_get(node, q).await;
    assert_eq!(get.status, 200, "{}", get.text());
    assert_eq!(get.header("content-type"), Some("application/dns-message"));
    let post = doh_post(node, q).await;
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(get.body, tcp, "DoH GET differs from TCP");
    assert_eq!(post.body, tcp, "DoH POST differs from TCP");
    tcp
}

fn json_values(v: &serde_json::Value) -> Vec<String> {
    v["Answer"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|rr| {
                    // "s1" "s2": quoted character-strings joined by spaces.
                    rr["data"]
                        .as_str()
                        .unwrap()
                        .split("\" \"")
                        .map(|s| s.trim_matches('"'))
                        .collect::<String>()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn small_and_large_rrsets_are_identical_on_udp_tcp_and_doh() {
    let node = TestNode::default_zone().await;
    let small = format!("small.{ZONE}");
    let large = format!("prekeys.id-abc.{ZONE}");
    node.publish(&small, "one", 300);
    node.publish(&small, "two", 300);
    let mut large_values = Vec::new();
    for i in 0..40 {
        let v = value(i, 600);
        node.publish(&large, &v, 300);
        large_values.push(v);
    }
    for (name, want) in [
        (&small, vec!["one".to_string(), "two".to_string()]),
        (&large, large_values.clone()),
    ] {
        // With an EDNS size big enough that UDP carries the whole answer.
        let q = query(0x1234, name, TXT, Some(65_000));
        let wire = same_everywhere(&node, &q).await;
        let udp = udp_raw(node.dns, &q).await.expect("UDP answer");
        assert_eq!(udp, wire, "UDP differs for {name}");
        assert_eq!(rcode(&wire), 0);
        assert_eq!(usize::from(counts(&wire)[1]), want.len());
        // Without EDNS (as the Python CLI asks) TCP and DoH agree too.
        same_everywhere(&node, &query(7, name, TXT, None)).await;

        let json = node.get(&format!("/dns-query?name={name}&type=TXT")).await;
        assert_eq!(json.status, 200);
        assert_eq!(json.header("content-type"), Some("application/dns-json"));
        let j = json.json();
        assert_eq!(j["Status"], 0);
        assert_eq!(j["TC"], false);
        assert_eq!(j["RD"], true);
        assert_eq!(j["Question"][0]["name"], name.as_str());
        assert_eq!(j["Question"][0]["type"], 16);
        assert_eq!(j["Answer"][0]["type"], 16);
        assert_eq!(j["Answer"][0]["TTL"], 60);
        assert_eq!(json_values(&j), want, "JSON values of {name}");
    }
    // The large RRset does not fit 1232 bytes: UDP says TC, TCP/DoH carry it.
    let q = query(9, &large, TXT, Some(1232));
    let udp = udp_raw(node.dns, &q).await.expect("UDP answer");
    assert_ne!(udp[2] & 0x02, 0, "TC expected");
    let full = same_everywhere(&node, &q).await;
    assert!(full.len() > 20_000, "{} bytes", full.len());
    assert_eq!(usize::from(counts(&full)[1]), 40);
}

#[tokio::test]
async fn nxdomain_and_nodata_agree_on_every_path_with_soa() {
    let node = TestNode::default_zone().await;
    node.publish(&format!("slot-1.mb-0123456789ab.{ZONE}"), "msg", 300);
    node.publish(&format!("txt.{ZONE}"), "x", 300);
    let cases = [
        (format!("missing.{ZONE}"), TXT, 3u8, "NXDOMAIN"),
        (format!("missing.{ZONE}"), 1, 3, "NXDOMAIN for A"),
        (
            format!("mb-0123456789ab.{ZONE}"),
            TXT,
            0,
            "empty non-terminal",
        ),
        (format!("txt.{ZONE}"), 1, 0, "A at a TXT name"),
        (ZONE.to_string(), TXT, 0, "apex"),
    ];
    for (name, qtype, want, what) in cases {
        let q = query(42, &name, qtype, None);
        let wire = same_everywhere(&node, &q).await;
        let udp = udp_raw(node.dns, &q).await.expect("UDP answer");
        assert_eq!(udp, wire, "{what}: UDP differs");
        assert_eq!(rcode(&wire), want, "{what}");
        let c = counts(&wire);
        assert_eq!(c[1], 0, "{what}: no answers");
        assert_eq!(c[2], 1, "{what}: SOA in AUTHORITY");

        let j = node
            .get(&format!("/dns-query?name={name}&type={qtype}"))
            .await
            .json();
        assert_eq!(j["Status"], want, "{what}: JSON status");
        assert!(j.get("Answer").is_none(), "{what}: {j}");
        assert_eq!(j["Authority"][0]["type"], 6, "{what}: JSON SOA");
        assert_eq!(j["Authority"][0]["name"], ZONE, "{what}");
    }
    // Outside the zone: REFUSED everywhere.
    let q = query(5, "elsewhere.example", TXT, None);
    assert_eq!(rcode(&same_everywhere(&node, &q).await), 5);
}

#[tokio::test]
async fn cache_control_follows_the_smallest_ttl() {
    let node = TestNode::default_zone().await;
    let name = format!("short.{ZONE}");
    node.publish(&name, "a", 30);
    node.publish(&name, "b", 300);
    let r = doh_get(&node, &query(1, &name, TXT, None)).await;
    let cc = r
        .header("cache-control")
        .expect("cache-control")
        .to_string();
    let age: u32 = cc.strip_prefix("max-age=").unwrap().parse().unwrap();
    assert!((28..=30).contains(&age), "{cc}");
    // A negative answer is cached for the SOA's negative TTL (60 here).
    let r = node
        .get(&format!("/dns-query?name=nothing.{ZONE}&type=TXT"))
        .await;
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
}

#[tokio::test]
async fn cors_preflight_and_simple_requests_allow_any_origin() {
    let node = TestNode::default_zone().await;
    let pre = http(
        node.http,
        "OPTIONS",
        "/dns-query",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
    .await;
    assert!(pre.status == 200 || pre.status == 204, "{}", pre.status);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    let methods = pre.header("access-control-allow-methods").unwrap_or("");
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let hdrs = pre
        .header("access-control-allow-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(hdrs.contains("content-type"), "{hdrs}");

    let r = http(
        node.http,
        "GET",
        &format!("/dns-query?name={ZONE}&type=SOA"),
        &[("Origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let j = r.json();
    assert_eq!(j["Answer"][0]["type"], 6);
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_node_keeps_answering() {
    let node = TestNode::default_zone().await;
    node.publish(&format!("ok.{ZONE}"), "fine", 300);
    let r = node.get("/dns-query").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("dns="), "{}", r.text());
    assert_eq!(node.get("/dns-query?dns=***").await.status, 400);
    assert_eq!(node.get("/dns-query?dns=").await.status, 400);
    // Decodes, but is not a DNS query (too short for a header).
    assert_eq!(node.get("/dns-query?dns=AAAA").await.status, 400);
    assert_eq!(
        node.get(&format!("/dns-query?name=x.{ZONE}&type=NOPE"))
            .await
            .status,
        400
    );
    let long = "a".repeat(300);
    assert_eq!(
        node.get(&format!("/dns-query?name={long}")).await.status,
        400
    );
    let r = http(
        node.http,
        "POST",
        "/dns-query",
        &[("Content-Type", "application/json")],
        b"{}",
    )
    .await;
    assert_eq!(r.status, 415);
    let big = vec![0u8; 70_000];
    let r = http(
        node.http,
        "POST",
        "/dns-query",
        &[("Content-Type", "application/dns-message")],
        &big,
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        http(node.http, "PUT", "/dns-query", &[], b"x").await.status,
        405
    );
    // A header-carrying garbage message gets a DNS FORMERR, as over UDP.
    let mut garbage = query(77, "x", TXT, None);
    garbage.truncate(14);
    let r = doh_post(&node, &garbage).await;
    assert_eq!(r.status, 200);
    assert_eq!(rcode(&r.body), 1);
    // And it still answers.
    let j = node
        .get(&format!("/dns-query?name=ok.{ZONE}&type=16"))
        .await
        .json();
    assert_eq!(json_values(&j), vec!["fine".to_string()]);
}

#[tokio::test]
async fn doh_shares_the_dns_rate_and_answers_429_over_it() {
    let dns = dmp_node::dns_server::DnsConfig {
        rate: dmp_core::node::ratelimit::Rate::new(1.0, 3.0),
        ..zone_config()
    };
    let node = TestNode::start(dns, dmp_node::Config::default()).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = node
            .get(&format!("/dns-query?name=a.{ZONE}&type=TXT"))
            .await;
        if r.status == 429 {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
        statuses.push(r.status);
    }
    // Burst 3, then 1/s: 3 pass (4 if the loop took over a second).
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!((3..=4).contains(&ok), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    // Other routes are not limited by it.
    assert_eq!(node.get("/health").await.status, 200);
}

/// The real binary: zone and apex flags (and their env variables) reach
/// UDP and DoH alike, and `--help` documents them.
mod binary {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    struct Proc(Child);

    impl Drop for Proc {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts the node; returns it with its HTTP and DNS addresses.
    fn spawn(
        db: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> (Proc, std::net::SocketAddr, std::net::SocketAddr) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .env_clear()
            .envs(envs.iter().copied())
            .arg("--db-path")
            .arg(db)
            .args(["--http-port", "0", "--dns-port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dmp-node");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        for _ in 0..4 {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            lines.push(l);
        }
        let http = lines[0]
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|u| u.strip_prefix("http://"))
            .and_then(|u| u.strip_suffix('/'))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("URL first: {lines:?}"));
        let dns = lines[2]
            .strip_prefix("dns: ")
            .and_then(|l| l.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("dns line: {lines:?}"));
        assert!(lines[3].contains("dns-query"), "{lines:?}");
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut sink);
        });
        (Proc(child), http, dns)
    }

    #[tokio::test]
    async fn apex_and_soa_flags_reach_udp_and_doh() {
        let dir = tempfile::tempdir().unwrap();
        let (_p, http_addr, dns) = spawn(
            &dir.path().join("a.db"),
            &[
                "--served-zone",
                "Mesh.Test.",
                "--dns-apex-ns",
                "ns1.mesh.test,ns2.mesh.test",
                "--dns-apex-a",
                "192.0.2.7",
                "--dns-soa-rname",
                "ops@mesh.test",
                "--dns-ttl",
                "45",
            ],
            &[],
        );
        let a = udp_raw(dns, &query(1, "mesh.test", 1, None)).await.unwrap();
        assert_eq!((rcode(&a), counts(&a)[1]), (0, 1));
        assert_eq!(&a[a.len() - 4..], &[192, 0, 2, 7]);
        let ns = udp_raw(dns, &query(2, "mesh.test", 2, None)).await.unwrap();
        assert_eq!(counts(&ns)[1], 2);
        let nx = udp_raw(dns, &query(3, "nope.mesh.test", 16, None))
            .await
            .unwrap();
        assert_eq!((rcode(&nx), counts(&nx)[2]), (3, 1));
        let r = http(
            http_addr,
            "GET",
            "/dns-query?name=nope.mesh.test&type=TXT",
            &[],
            b"",
        )
        .await;
        let j = r.json();
        assert_eq!(j["Status"], 3);
        let soa = j["Authority"][0]["data"].as_str().unwrap().to_string();
        assert!(
            soa.starts_with("ns1.mesh.test. ops.mesh.test. "),
            "SOA {soa}"
        );
        assert!(soa.ends_with(" 3600 600 604800 45"), "SOA {soa}");
        assert_eq!(j["Authority"][0]["TTL"], 45);
        assert_eq!(r.header("cache-control"), Some("max-age=45"));
        // Outside the served zone: REFUSED.
        let out = udp_raw(dns, &query(4, "other.example", 16, None))
            .await
            .unwrap();
        assert_eq!(rcode(&out), 5);
    }

    #[tokio::test]
    async fn the_env_variables_work_too() {
        let dir = tempfile::tempdir().unwrap();
        let (_p, _http, dns) = spawn(
            &dir.path().join("b.db"),
            &[],
            &[
                ("DMP_SERVED_ZONE", "mesh.test"),
                ("DMP_DNS_APEX_AAAA", "2001:db8::5"),
                ("DMP_DNS_APEX_SOA_RNAME", "hm.mesh.test"),
                ("DMP_DNS_RATE", "0"),
            ],
        );
        let r = udp_raw(dns, &query(1, "mesh.test", 28, None))
            .await
            .unwrap();
        assert_eq!(counts(&r)[1], 1);
        assert_eq!(&r[r.len() - 2..], &[0, 5]);
        let nd = udp_raw(dns, &query(2, "mesh.test", 16, None))
            .await
            .unwrap();
        assert_eq!((rcode(&nd), counts(&nd)[1], counts(&nd)[2]), (0, 0, 1));
    }

    #[test]
    fn help_documents_the_new_flags_with_their_env() {
        let out = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .arg("--help")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for needle in [
            "--web-dir",
            "DMP_WEB_DIR",
            "--dns-rate",
            "DMP_DNS_RATE",
            "DMP_DNS_BURST",
            "DMP_DNS_UDP_WORKERS",
            "DMP_DNS_APEX_NS",
            "DMP_DNS_APEX_A",
            "DMP_DNS_APEX_AAAA",
            "DMP_DNS_APEX_SOA_RNAME",
            "/dns-query",
            "/metrics",
        ] {
            assert!(text.contains(needle), "--help lacks {needle}");
        }
    }
}
