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
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
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
    let (pa, pb) = (free_port(), free_port());
    let a = start_node(&dir.path().join("a"), pa, &[]);
    let b_env = [("DMP_SYNC_PEERS", a.url())];
    let mut b = start_node(&dir.path().join("b"), pb, &b_env);

    for i in 0..50 {
        publish(a.addr, &format!("r{i}.mesh.test"), &format!("value {i}"));
    }
    wait_for(LIMIT, || values(b.addr, "r49.mesh.test") == ["value 49"]);
    wait_for(LIMIT, || {
        status(b.addr)["peers"][0]["entries_seen"].as_u64() == Some(50)
    });
    let before = status(b.addr);
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
fn malicious_peer(offers: Vec<Offer>) -> (String, Arc<Mutex<Vec<String>>>) {
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
            } else {
                String::new()
            };
            let status = if target.starts_with("/v1/sync/digest") || target == "/v1/sync/pull" {
                "200 OK"
            } else {
                "204 No Content"
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
    let (peer_url, seen) = malicious_peer(offers);
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
