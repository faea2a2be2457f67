//! Group commit: concurrent HTTP publishes share transactions, yet each is
//! stored once, acknowledged once and only after its commit, and the
//! per-name cap holds however many publishes race for the same name.
//! Also [`Store::apply_each`] directly: one bad op never fails the others.

mod node_harness;

use dmp_core::node::publish::Limits;
use dmp_core::node::ratelimit::Rate;
use dmp_node::Config;
use dmp_node::store::{Cursor, Op, Outcome, Store, StoreError, WriteError, unix_now_ms};
use node_harness::*;
use std::collections::HashSet;

fn unlimited(max_values_per_name: usize) -> Config {
    Config {
        http_rate: Rate::new(0.0, 0.0),
        limits: Limits {
            max_values_per_name,
            ..Limits::default()
        },
        ..Config::default()
    }
}

async fn post(node: &TestNode, name: &str, value: &str) -> Resp {
    let body = format!(r#"{{"value": "{value}", "ttl": 3600}}"#);
    http(
        node.http,
        "POST",
        &format!("/v1/records/{name}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_are_all_stored_and_acknowledged_once() {
    let node = TestNode::start(zone_config(), unlimited(64)).await;
    let node = std::sync::Arc::new(node);
    // 96 distinct names plus 32 values on one shared name, all at once.
    let mut writes: Vec<(String, String)> = (0..96)
        .map(|i| (format!("gc-{i}.{ZONE}"), format!("v=gc;i={i}")))
        .collect();
    writes.extend((0..32).map(|i| (format!("shared.{ZONE}"), format!("v=shared;i={i}"))));
    let tasks: Vec<_> = writes
        .iter()
        .cloned()
        .map(|(name, value)| {
            let node = std::sync::Arc::clone(&node);
            tokio::spawn(async move { post(&node, &name, &value).await })
        })
        .collect();
    for (task, (name, _)) in tasks.into_iter().zip(&writes) {
        let r = task.await.expect("request task");
        assert_eq!(r.status, 201, "{name}: {}", r.text());
        assert_eq!(r.text(), r#"{"ok": true}"#);
    }

    // Every acknowledged write is readable at once…
    for (name, value) in &writes {
        let r = node.get(&format!("/v1/records/{name}")).await;
        assert_eq!(r.status, 200, "{name}");
        assert!(r.text().contains(value), "{name}: {}", r.text());
    }
    assert_eq!(
        node.get("/stats").await.text(),
        format!(r#"{{"records": {}}}"#, writes.len())
    );
    // …and committed: a fresh store over the same file holds each once,
    // with its own stored_ts.
    let reopened = Store::open(node.store.path()).expect("reopen");
    let page = reopened
        .digest_page(&Cursor::default(), 1000, unix_now_ms())
        .expect("digest");
    assert_eq!(page.records.len(), writes.len());
    let stored: HashSet<(String, String)> = page
        .records
        .iter()
        .map(|r| (r.name.clone(), r.value.to_string()))
        .collect();
    let want: HashSet<(String, String)> = writes.iter().cloned().collect();
    assert_eq!(stored, want);
    let ts: HashSet<u64> = page.records.iter().map(|r| r.stored_ts).collect();
    assert_eq!(ts.len(), writes.len(), "every row has its own stored_ts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_never_exceed_the_per_name_cap() {
    let node = std::sync::Arc::new(TestNode::start(zone_config(), unlimited(4)).await);
    let name = format!("capped.{ZONE}");
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let node = std::sync::Arc::clone(&node);
            let name = name.clone();
            tokio::spawn(async move { post(&node, &name, &format!("v=cap;i={i}")).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let r = task.await.expect("request task");
        match r.status {
            201 => created += 1,
            413 => assert_eq!(
                r.text(),
                format!(r#"{{"error": "RRset at {name} already holds 4 values"}}"#)
            ),
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert_eq!(created, 4, "exactly the cap is accepted");
    assert_eq!(node.store.get(&name, unix_now_ms()).len(), 4);
    // A value already stored may still be refreshed; a delete makes room.
    let kept = node.store.get(&name, unix_now_ms());
    let first = kept.first().expect("a stored value").to_string();
    assert_eq!(post(&node, &name, &first).await.status, 201);
    assert_eq!(post(&node, &name, "v=cap;new").await.status, 413);
    let del = http(
        node.http,
        "DELETE",
        &format!("/v1/records/{name}"),
        &[("Content-Type", "application/json")],
        format!(r#"{{"value": "{first}"}}"#).as_bytes(),
    )
    .await;
    assert_eq!(del.status, 204);
    assert_eq!(post(&node, &name, "v=cap;new").await.status, 201);
}

fn tmp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("s.db")).expect("open");
    (dir, store)
}

#[test]
fn apply_each_isolates_a_failing_op() {
    let (_d, store) = tmp_store();
    let now = unix_now_ms();
    // The empty name makes the shared transaction fail; the others must
    // still be committed, each in its own.
    let ops = [
        Op::Publish {
            name: "a.z",
            value: "1",
            ttl: 60,
        },
        Op::Publish {
            name: "",
            value: "bad",
            ttl: 60,
        },
        Op::Publish {
            name: "b.z",
            value: "2",
            ttl: 60,
        },
        Op::DeleteValue {
            name: "a.z",
            value: "absent",
        },
    ];
    let out = store.apply_each(&ops, now, 0);
    assert_eq!(out.len(), 4);
    assert!(matches!(out[0], Ok(Outcome::Published { .. })), "{out:?}");
    assert!(
        matches!(out[1], Err(WriteError::Store(StoreError::EmptyName))),
        "{out:?}"
    );
    assert!(matches!(out[2], Ok(Outcome::Published { .. })), "{out:?}");
    assert!(matches!(out[3], Ok(Outcome::Deleted(0))), "{out:?}");
    assert_eq!(store.get("a.z", now).len(), 1);
    assert_eq!(store.get("b.z", now).len(), 1);
}

#[test]
fn apply_each_counts_earlier_ops_of_the_batch_against_the_cap() {
    let (_d, store) = tmp_store();
    let now = unix_now_ms();
    let p = |value| Op::Publish {
        name: "N.z",
        value,
        ttl: 60,
    };
    let ops = [
        p("1"),
        p("2"),
        p("3"), // over the cap of 2
        p("1"), // a refresh is always allowed
        Op::DeleteValue {
            name: "n.z",
            value: "2",
        },
        p("3"), // room again
    ];
    let out = store.apply_each(&ops, now, 2);
    assert!(matches!(out[0], Ok(Outcome::Published { .. })), "{out:?}");
    assert!(matches!(out[1], Ok(Outcome::Published { .. })), "{out:?}");
    assert!(
        matches!(out[2], Err(WriteError::RrsetFull { cap: 2 })),
        "{out:?}"
    );
    assert!(matches!(out[3], Ok(Outcome::Published { .. })), "{out:?}");
    assert!(matches!(out[4], Ok(Outcome::Deleted(1))), "{out:?}");
    assert!(matches!(out[5], Ok(Outcome::Published { .. })), "{out:?}");
    let mut live: Vec<String> = store
        .get("n.z", now)
        .iter()
        .map(|v| v.to_string())
        .collect();
    live.sort();
    assert_eq!(live, ["1", "3"]);
    // Rows already stored count too (seeded from the index).
    let out = store.apply_each(&[p("4")], now, 2);
    assert!(
        matches!(out[0], Err(WriteError::RrsetFull { cap: 2 })),
        "{out:?}"
    );
}
