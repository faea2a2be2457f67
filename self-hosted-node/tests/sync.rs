//! Anti-entropy between real `dmp-node` processes on 127.0.0.1: transitive
//! convergence over three nodes, resume from the persisted cursor after a
//! restart, and a malicious peer whose forged records are never stored
//! while the cursor still moves past them (REFERENCE-NODE.md §13.1 R7).

mod sync_common;

use dmp_core::crypto::{Signer25519, hex, sha256};
use dmp_core::records::cluster::{ClusterManifest, ClusterNode};
use dmp_core::wire::b64_encode;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_common::*;

const LIMIT: Duration = Duration::from_secs(30);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_record_written_to_a_reaches_c_through_b() {
    let dir = tempfile::tempdir().unwrap();
    let [pa, pb, pc] = free_ports::<3>();
    let url = |p: u16| format!("http://127.0.0.1:{p}");
    // A chain: C only knows B, A only knows B.
    let a = start_node(&dir.path().join("a"), pa, &[("DMP_SYNC_PEERS", url(pb))]);
    let b = start_node(
        &dir.path().join("b"),
        pb,
        &[("DMP_SYNC_PEERS", format!("{},{}", url(pa), url(pc)))],
    );
    let c = start_node(&dir.path().join("c"), pc, &[("DMP_SYNC_PEERS", url(pb))]);

    // An opaque record and a signed cluster manifest, written to A only.
    publish(a.addr, "note-1.mesh.test", "hello from a");
    let signer = Signer25519::from_seed(&[7u8; 32]);
    let manifest = ClusterManifest {
        cluster_name: "mesh.test".into(),
        operator_spk: signer.public(),
        nodes: vec![ClusterNode {
            node_id: "a".into(),
            http_endpoint: url(pa),
            dns_endpoint: None,
        }],
        seq: 1,
        exp: now() + 86_400,
    };
    let wire = manifest.to_wire(&signer).unwrap();
    publish(a.addr, "cluster.mesh.test", &wire);
    // And one written to C travels the other way.
    publish(c.addr, "note-2.mesh.test", "hello from c");

    wait_for(LIMIT, || {
        values(c.addr, "note-1.mesh.test") == ["hello from a"]
            && values(c.addr, "cluster.mesh.test") == [wire.clone()]
            && values(a.addr, "note-2.mesh.test") == ["hello from c"]
    });
    assert_eq!(values(b.addr, "note-1.mesh.test"), ["hello from a"]);

    // C also serves it over DNS-independent HTTP reads with the same TTL
    // budget (remote remaining TTL kept, ≤ 3600).
    let st = status(c.addr);
    assert!(st["records_written"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(st["records_rejected"].as_u64(), Some(0), "{st}");
}

#[test]
fn a_restarted_node_resumes_from_its_saved_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let [pa, pb] = free_ports::<2>();
    let a = start_node(&dir.path().join("a"), pa, &[]);
    let b_env = [("DMP_SYNC_PEERS", a.url())];
    let mut b = start_node(&dir.path().join("b"), pb, &b_env);

    for i in 0..50 {
        publish(a.addr, &format!("r{i}.mesh.test"), &format!("value {i}"));
    }
    wait_for(LIMIT, || values(b.addr, "r49.mesh.test") == ["value 49"]);
    // B's saved cursor reaches A's last row (the status shows the cursor
    // once it is durable), so the hard stop below loses nothing.
    let (_, digest) = request(
        a.addr,
        "GET",
        "/v1/sync/digest?limit=10000",
        Some(TOKEN),
        "",
    );
    let digest: serde_json::Value = serde_json::from_str(&digest).unwrap();
    let last = digest["next_cursor"].as_str().unwrap().to_string();
    wait_for(LIMIT, || {
        status(b.addr)["peers"][0]["cursor"].as_str() == Some(last.as_str())
    });
    let before = status(b.addr);
    assert_eq!(
        before["peers"][0]["entries_seen"].as_u64(),
        Some(50),
        "{before}"
    );
    assert_eq!(before["records_written"].as_u64(), Some(50), "{before}");
    let cursor_before = before["peers"][0]["cursor"].as_str().unwrap().to_string();

    // Hard stop (no graceful shutdown), more writes to A, restart B on the
    // same database.
    drop(b.proc);
    for i in 50..70 {
        publish(a.addr, &format!("r{i}.mesh.test"), &format!("value {i}"));
    }
    b = start_node(&dir.path().join("b"), pb, &b_env);
    wait_for(LIMIT, || values(b.addr, "r69.mesh.test") == ["value 69"]);
    wait_for(LIMIT, || {
        status(b.addr)["peers"][0]["entries_seen"].as_u64() == Some(20)
    });
    // Give it a few more ticks: nothing old is read again.
    std::thread::sleep(Duration::from_millis(1000));
    let after = status(b.addr);
    let peer = &after["peers"][0];
    assert_eq!(peer["entries_seen"].as_u64(), Some(20), "{after}");
    assert_eq!(peer["records_written"].as_u64(), Some(20), "{after}");
    assert_ne!(peer["cursor"].as_str().unwrap(), cursor_before);
    for i in 0..70 {
        assert_eq!(
            values(b.addr, &format!("r{i}.mesh.test")),
            [format!("value {i}")]
        );
    }
    let log = std::fs::read_to_string(&b.log).unwrap();
    assert!(
        log.contains("resuming from the saved cursor"),
        "no resume line in the log:\n{log}"
    );
}

/// One entry the fake peer offers.
struct Offer {
    name: &'static str,
    /// The value advertised (its hash goes into the digest).
    advertised: String,
    /// The value returned by pull.
    served: String,
    ts: u64,
}

/// A peer that serves forged records: a tiny HTTP/1.1 server on a thread.
/// Returns its URL and the log of request targets it saw.
fn malicious_peer(
    offers: Vec<Offer>,
    manifest: Option<String>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split(' ').nth(1).unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            log.lock().unwrap().push(target.clone());
            let resp = if target.starts_with("/v1/sync/digest") {
                // Everything after the requested cursor's ts.
                let after: u64 = target
                    .split("cursor=")
                    .nth(1)
                    .and_then(|c| c.split(':').next())
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let mut recs: Vec<serde_json::Value> = offers
                    .iter()
                    .filter(|o| o.ts > after)
                    .map(|o| {
                        serde_json::json!({"name": o.name, "hash": hex(&sha256(o.advertised.as_bytes())), "ts": o.ts, "ttl": 3000})
                    })
                    .collect();
                if after == 0 {
                    // A structurally invalid entry: far-future ts.
                    recs.push(serde_json::json!({"name": "x.mesh.test", "hash": "0".repeat(64), "ts": 99_999_999_999_999u64, "ttl": 5}));
                }
                serde_json::json!({"records": recs, "has_more": false, "next_cursor": "0::"})
                    .to_string()
            } else if target == "/v1/sync/pull" {
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let names: Vec<String> = req["names"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let recs: Vec<serde_json::Value> = offers
                    .iter()
                    .filter(|o| names.iter().any(|n| n == o.name))
                    .map(|o| serde_json::json!({"name": o.name, "value": o.served, "ttl": 3000}))
                    .chain(std::iter::once(serde_json::json!({"name": "unasked.mesh.test", "value": "smuggled", "ttl": 3000})))
                    .collect();
                serde_json::json!({"records": recs}).to_string()
            } else if target == "/v1/sync/cluster-manifest" {
                manifest
                    .as_ref()
                    .map(|w| serde_json::json!({"wire": w, "seq": 0, "exp": 0, "cluster_name": "mesh.test"}).to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let status = if resp.is_empty() {
                "204 No Content"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}",
                resp.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn forged_records_from_a_peer_are_never_stored_and_do_not_stall_the_cursor() {
    let forged_manifest = format!("v=dmp1;t=manifest;d={}", b64_encode(&[0x42u8; 300]));
    let forged_identity = format!("v=dmp1;t=identity;d={}", b64_encode(&[0x17u8; 200]));
    let forged_chunk = format!("v=dmp1;t=chunk;d={}", b64_encode(&[0x01u8; 100]));
    let offers = vec![
        Offer {
            name: "slot-1.mb-0123456789ab.mesh.test",
            advertised: forged_manifest.clone(),
            served: forged_manifest,
            ts: 1_000,
        },
        Offer {
            name: "dmp.alice.mesh.test",
            advertised: forged_identity.clone(),
            served: forged_identity,
            ts: 2_000,
        },
        Offer {
            name: "slot-2.mb-0123456789ab.mesh.test",
            advertised: "v=spf1 -all".into(),
            served: "v=spf1 -all".into(),
            ts: 3_000,
        },
        Offer {
            name: "chunk-0-0123456789ab.mesh.test",
            advertised: forged_chunk.clone(),
            served: forged_chunk,
            ts: 4_000,
        },
        // Advertises one value, serves another.
        Offer {
            name: "swap.mesh.test",
            advertised: "the advertised value".into(),
            served: "a different value".into(),
            ts: 5_000,
        },
        // A genuine opaque record behind all of them.
        Offer {
            name: "note.mesh.test",
            advertised: "hello".into(),
            served: "hello".into(),
            ts: 6_000,
        },
    ];
    let (peer_url, seen) = malicious_peer(offers, None);
    let dir = tempfile::tempdir().unwrap();
    let b = start_node(
        &dir.path().join("b"),
        free_port(),
        &[("DMP_SYNC_PEERS", peer_url)],
    );

    let good_cursor = format!("6000:note.mesh.test:{}", hex(&sha256(b"hello")));
    wait_for(LIMIT, || values(b.addr, "note.mesh.test") == ["hello"]);
    wait_for(LIMIT, || {
        status(b.addr)["peers"][0]["cursor"].as_str() == Some(good_cursor.as_str())
    });
    // Several more ticks: the cursor stays past the forged entries, so they
    // are neither pulled again nor stored.
    std::thread::sleep(Duration::from_millis(1500));
    for name in [
        "slot-1.mb-0123456789ab.mesh.test",
        "dmp.alice.mesh.test",
        "slot-2.mb-0123456789ab.mesh.test",
        "chunk-0-0123456789ab.mesh.test",
        "swap.mesh.test",
        "unasked.mesh.test",
        "x.mesh.test",
    ] {
        assert!(values(b.addr, name).is_empty(), "{name} was stored");
    }
    let st = status(b.addr);
    assert_eq!(st["records_written"].as_u64(), Some(1), "{st}");
    // 4 forged + 1 smuggled + 1 invalid digest entry.
    assert_eq!(st["records_rejected"].as_u64(), Some(6), "{st}");
    let targets = seen.lock().unwrap().clone();
    let pulls = targets.iter().filter(|t| *t == "/v1/sync/pull").count();
    assert_eq!(pulls, 1, "pulled more than once: {targets:?}");
    let digests: Vec<&String> = targets
        .iter()
        .filter(|t| t.starts_with("/v1/sync/digest"))
        .collect();
    assert!(digests.len() >= 3, "{targets:?}");
    assert!(
        digests
            .last()
            .unwrap()
            .contains(&format!("cursor={good_cursor}&limit=1000")),
        "{targets:?}"
    );
}

fn manifest(signer: &Signer25519, seq: u64, nodes: &[(&str, &str)]) -> String {
    ClusterManifest {
        cluster_name: "mesh.test".into(),
        operator_spk: signer.public(),
        nodes: nodes
            .iter()
            .map(|(id, url)| ClusterNode {
                node_id: (*id).into(),
                http_endpoint: (*url).into(),
                dns_endpoint: None,
            })
            .collect(),
        seq,
        exp: now() + 86_400,
    }
    .to_wire(signer)
    .unwrap()
}

#[test]
fn gossip_adopts_only_a_higher_seq_manifest_signed_by_the_pinned_operator() {
    let operator = Signer25519::from_seed(&[3u8; 32]);
    let spk = hex(&operator.public());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let self_url = format!("http://127.0.0.1:{port}");
    std::fs::create_dir_all(dir.path().join("n")).unwrap();
    // The node starts from a seq-5 manifest listing itself and three
    // peers: p1 gossips an older seq 4, "rogue" a seq 9 signed by another
    // key, "good" a seq 6 signed by the operator. Only seq 6 is adopted.
    let (p2_url, _) = malicious_peer(Vec::new(), None);
    let older = manifest(&operator, 4, &[("me", &self_url), ("p2", &p2_url)]);
    let (p1_url_b, _) = malicious_peer(Vec::new(), Some(older));
    let rogue = manifest(
        &Signer25519::from_seed(&[4u8; 32]),
        9,
        &[("me", &self_url), ("p2", &p2_url)],
    );
    let (rogue_url, _) = malicious_peer(Vec::new(), Some(rogue));
    // A higher seq signed by the operator, served by the last peer.
    let newer = manifest(&operator, 6, &[("me", &self_url), ("p2", &p2_url)]);
    let (good_url, good_seen) = malicious_peer(Vec::new(), Some(newer.clone()));
    let file = manifest(
        &operator,
        5,
        &[
            ("me", &self_url),
            ("p1", &p1_url_b),
            ("rogue", &rogue_url),
            ("good", &good_url),
        ],
    );
    std::fs::write(dir.path().join("n/cluster.json"), &file).unwrap();
    let node = start_node(
        &dir.path().join("n"),
        port,
        &[("DMP_SYNC_OPERATOR_SPK", spk), ("DMP_NODE_ID", "me".into())],
    );
    // The file's manifest is published at start and served (the base
    // domain comes from the file).
    wait_for(LIMIT, || {
        let (code, body) = request(
            node.addr,
            "GET",
            "/v1/sync/cluster-manifest",
            Some(TOKEN),
            "",
        );
        code == 200 && body.contains("\"seq\": 5")
    });

    wait_for(LIMIT, || {
        status(node.addr)["installed_manifest_seq"].as_u64() == Some(6)
    });
    let st = status(node.addr);
    assert_eq!(st["manifests_adopted"].as_u64(), Some(1), "{st}");
    let peers: Vec<&str> = st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(peers, ["p2"], "{st}");
    assert_eq!(values(node.addr, "cluster.mesh.test").len(), 2);
    let (_, body) = request(
        node.addr,
        "GET",
        "/v1/sync/cluster-manifest",
        Some(TOKEN),
        "",
    );
    assert!(body.contains(&newer), "{body}");
    assert!(
        good_seen
            .lock()
            .unwrap()
            .iter()
            .any(|t| t == "/v1/sync/cluster-manifest")
    );
}

fn dmp_cluster(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dmp-cluster"))
        .args(args)
        .output()
        .expect("run dmp-cluster");
    assert!(
        out.status.success(),
        "dmp-cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The operator flow of docs/FEDERATION.md (and docker-compose.cluster.yml)
/// with real processes: key, signed manifest as every node's cluster file,
/// peers taken from it, the pinned operator key, and a bootstrap record.
#[test]
fn a_cluster_built_with_dmp_cluster_syncs_from_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("operator.key");
    let spk = dmp_cluster(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(spk.len(), 64);
    assert_eq!(
        dmp_cluster(&["pubkey", "--key", key.to_str().unwrap()]),
        spk
    );
    // keygen never overwrites a key.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_dmp-cluster"))
        .args(["keygen", "--out", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());

    let ports = free_ports::<3>();
    let ids = ["n1", "n2", "n3"];
    let specs: Vec<String> = ids
        .iter()
        .zip(ports)
        .map(|(id, p)| format!("{id}=http://127.0.0.1:{p}"))
        .collect();
    let manifest_file = dir.path().join("cluster.json");
    let mut args = vec![
        "manifest",
        "--key",
        key.to_str().unwrap(),
        "--cluster",
        "mesh.test",
        "--seq",
        "1",
        "--out",
        manifest_file.to_str().unwrap(),
    ];
    for s in &specs {
        args.extend(["--node", s.as_str()]);
    }
    let wire = dmp_cluster(&args);
    assert!(wire.starts_with("v=dmp1;t=cluster;"));
    let summary = dmp_cluster(&[
        "verify",
        "--spk",
        &spk,
        "--cluster",
        "mesh.test",
        &format!("@{}", manifest_file.display()),
    ]);
    assert!(
        summary.contains("seq 1") && summary.contains("3 nodes"),
        "{summary}"
    );

    let nodes: Vec<Node> = ids
        .iter()
        .zip(ports)
        .map(|(id, port)| {
            let d = dir.path().join(id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(&manifest_file, d.join("cluster.json")).unwrap();
            start_node(
                &d,
                port,
                &[
                    ("DMP_NODE_ID", id.to_string()),
                    ("DMP_SYNC_OPERATOR_SPK", spk.clone()),
                ],
            )
        })
        .collect();
    publish(nodes[0].addr, "hello.mesh.test", "from n1");
    wait_for(LIMIT, || {
        nodes
            .iter()
            .all(|n| values(n.addr, "hello.mesh.test") == ["from n1"])
    });
    for n in &nodes {
        assert_eq!(
            values(n.addr, "cluster.mesh.test"),
            std::slice::from_ref(&wire)
        );
        let st = status(n.addr);
        assert_eq!(st["peers"].as_array().unwrap().len(), 2, "{st}");
        assert_eq!(st["installed_manifest_seq"].as_u64(), Some(1), "{st}");
    }

    // The zone operator's bootstrap record pointing at this cluster.
    let zone_key = dir.path().join("zone.key");
    let zone_spk = dmp_cluster(&["keygen", "--out", zone_key.to_str().unwrap()]);
    let boot = dmp_cluster(&[
        "bootstrap",
        "--key",
        zone_key.to_str().unwrap(),
        "--domain",
        "example.test",
        "--seq",
        "1",
        "--entry",
        &format!("10=mesh.test={spk}"),
    ]);
    let zone_spk: [u8; 32] = dmp_node::sync::decode_hex32(&zone_spk).unwrap();
    let (entry, view) = dmp_core::client::cluster::resolve_bootstrap(
        &[boot.as_str()],
        &zone_spk,
        "example.test",
        |name| {
            assert_eq!(name, "cluster.mesh.test");
            vec![wire.as_str()]
        },
        now(),
    )
    .unwrap();
    assert_eq!(entry.cluster_base_domain, "mesh.test");
    assert_eq!(view.nodes().len(), 3);
}

/// Heartbeat (§9): each node signs its heartbeat into its own zone, and a
/// node seeded with another's zone harvests it over real DNS (from that
/// node's DNS listener) into `_dnsmesh-seen.<own zone>`.
#[test]
fn heartbeats_are_published_and_harvested_over_dns() {
    use dmp_core::records::heartbeat::HeartbeatRecord;
    let dir = tempfile::tempdir().unwrap();
    let key_b = dir.path().join("b.key");
    let key_a = dir.path().join("a.key");
    let spk_b = dmp_cluster(&["keygen", "--out", key_b.to_str().unwrap()]);
    dmp_cluster(&["keygen", "--out", key_a.to_str().unwrap()]);
    let hb = |zone: &str, key: &std::path::Path, host: &str| {
        vec![
            ("DMP_SERVED_ZONE", zone.to_string()),
            ("DMP_HEARTBEAT_ENABLED", "1".to_string()),
            ("DMP_HEARTBEAT_SELF_ENDPOINT", format!("https://{host}")),
            (
                "DMP_HEARTBEAT_OPERATOR_KEY_PATH",
                key.to_str().unwrap().to_string(),
            ),
            ("DMP_HEARTBEAT_INTERVAL_SECONDS", "1".to_string()),
        ]
    };
    let b = start_node(
        &dir.path().join("b"),
        free_port(),
        &hb("b.test", &key_b, "node.b.example"),
    );
    let mut a_env = hb("a.test", &key_a, "node.a.example");
    a_env.push(("DMP_HEARTBEAT_SEEDS", "b.test".into()));
    a_env.push(("DMP_HEARTBEAT_DNS_RESOLVERS", b.dns.to_string()));
    let a = start_node(&dir.path().join("a"), free_port(), &a_env);

    wait_for(LIMIT, || {
        !values(b.addr, "_dnsmesh-heartbeat.b.test").is_empty()
    });
    let wires = values(b.addr, "_dnsmesh-heartbeat.b.test");
    assert_eq!(wires.len(), 1, "{wires:?}");
    let rec = HeartbeatRecord::parse_and_verify(&wires[0], now()).unwrap();
    assert_eq!(rec.endpoint, "https://node.b.example");
    assert_eq!(hex(&rec.operator_spk), spk_b);

    // A sees B's heartbeat through B's DNS and republishes it.
    wait_for(LIMIT, || {
        values(a.addr, "_dnsmesh-seen.a.test").iter().any(|w| {
            HeartbeatRecord::parse_and_verify(w, now())
                .is_ok_and(|r| r.endpoint == "https://node.b.example")
        })
    });
    // Later ticks replace the node's own wire instead of piling up.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(values(b.addr, "_dnsmesh-heartbeat.b.test").len(), 1);
    assert_eq!(values(a.addr, "_dnsmesh-heartbeat.a.test").len(), 1);
    assert_eq!(values(a.addr, "_dnsmesh-seen.a.test").len(), 1);
}

/// More rows than one digest page (1000) and one pull (256 names): the
/// worker pages through and batches its pulls, and ends with everything.
#[test]
fn a_large_backlog_is_paged_and_batched() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    {
        let store = dmp_node::store::Store::open(a_dir.join("dmp.db")).unwrap();
        let rows: Vec<(String, String)> = (0..1300)
            .map(|i| (format!("bulk-{i}.mesh.test"), format!("v{i}")))
            .collect();
        // Some names with several values, to cross batch edges mid-RRset.
        let extra: Vec<(String, String)> = (0..40)
            .map(|i| (format!("bulk-{}.mesh.test", i * 7), format!("w{i}")))
            .collect();
        let ops: Vec<dmp_node::store::Op<'_>> = rows
            .iter()
            .chain(&extra)
            .map(|(n, v)| dmp_node::store::Op::Publish {
                name: n,
                value: v,
                ttl: 3600,
            })
            .collect();
        store.apply(&ops, dmp_node::store::unix_now_ms()).unwrap();
    }
    let [pa, pb] = free_ports::<2>();
    let a = start_node(&a_dir, pa, &[]);
    let b = start_node(&dir.path().join("b"), pb, &[("DMP_SYNC_PEERS", a.url())]);
    wait_for(Duration::from_secs(60), || {
        status(b.addr)["records_written"].as_u64() == Some(1340)
    });
    let st = status(b.addr);
    assert_eq!(st["peers"][0]["entries_seen"].as_u64(), Some(1340), "{st}");
    assert!(st["digests_fetched"].as_u64().unwrap() >= 2, "{st}");
    assert_eq!(values(b.addr, "bulk-1299.mesh.test"), ["v1299"]);
    assert_eq!(values(b.addr, "bulk-273.mesh.test").len(), 2);
    let (_, stats) = request(b.addr, "GET", "/stats", None, "");
    assert_eq!(stats, "{\"records\": 1340}");
}

/// A TLS front for `backend` on 127.0.0.1 (certificate for `localhost`
/// signed by the test CA in tests/data/sync_tls). Returns its port; the
/// proxy lives as long as the test process.
fn tls_proxy(backend: std::net::SocketAddr) -> u16 {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{self, ServerConfig};
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sync_tls");
    let certs = CertificateDer::pem_file_iter(data.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(data.join("server.key")).unwrap();
    let cfg =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    });
    port
}

#[test]
fn https_peers_are_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(&dir.path().join("a"), free_port(), &[]);
    publish(a.addr, "tls.mesh.test", "over tls");
    let port = tls_proxy(a.addr);
    let peer = format!("https://localhost:{port}");
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sync_tls/ca.pem");
    let b = start_node(
        &dir.path().join("b"),
        free_port(),
        &[
            ("DMP_SYNC_PEERS", peer.clone()),
            ("DMP_SYNC_CA_FILE", ca.to_str().unwrap().to_string()),
        ],
    );
    // Without the CA the peer's certificate is refused and nothing syncs.
    let c = start_node(
        &dir.path().join("c"),
        free_port(),
        &[("DMP_SYNC_PEERS", peer)],
    );
    wait_for(LIMIT, || values(b.addr, "tls.mesh.test") == ["over tls"]);
    wait_for(LIMIT, || {
        status(c.addr)["peers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("TLS") && e.contains("certificate"))
    });
    assert!(values(c.addr, "tls.mesh.test").is_empty());
    assert_eq!(status(c.addr)["records_written"].as_u64(), Some(0));
}
