//! Durability: a writer process is SIGKILLed mid-stream; every write it had
//! acknowledged must be in the store when it is reopened.
//!
//! The child is this same test binary, re-run with `--exact crash_child`
//! and `DMP_STORE_CRASH_CHILD=<db>`: it publishes records forever and prints
//! `ack <i>` after each `publish` returns. Without the variable the
//! `crash_child` test does nothing.

use dmp_node::store::{Durability, Options, Store, unix_now_ms};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ENV: &str = "DMP_STORE_CRASH_CHILD";
const ENV_MODE: &str = "DMP_STORE_CRASH_MODE";

fn options(mode: &str) -> Options {
    Options {
        durability: if mode == "normal" {
            Durability::Normal
        } else {
            Durability::Full
        },
    }
}

fn record(i: u64) -> (String, String) {
    (
        format!("slot-{}.mb-{:012x}.mesh.test", i % 10, i / 10),
        format!("v=dmp1;t=chunk;{i:08}-{}", "x".repeat((i % 300) as usize)),
    )
}

#[test]
fn crash_child() {
    let Ok(db) = std::env::var(ENV) else {
        return;
    };
    let mode = std::env::var(ENV_MODE).unwrap_or_default();
    let store = Store::open_with(&db, options(&mode)).unwrap();
    for i in 0u64.. {
        let (name, value) = record(i);
        store.publish(&name, &value, 3600, unix_now_ms()).unwrap();
        // stdout is line-buffered: the ack leaves the process right here.
        println!("ack {i}");
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("dmp-store-crash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Run the child until it has acknowledged `want` writes, SIGKILL it, and
/// return the highest acknowledged index.
fn run_and_kill(db: &Path, mode: &str, want: u64) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(ENV, db)
        .env(ENV_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut last: Option<u64> = None;
    let mut killed = false;
    let mut line = String::new();
    // After the kill, keep reading: acks the child printed before it died
    // are still in the pipe, and they count as acknowledged too.
    while stdout.read_line(&mut line).unwrap() > 0 {
        // A line cut by the kill has no newline and was never an ack.
        if line.ends_with('\n') {
            // libtest prints "test crash_child ... " without a newline first.
            if let Some((_, n)) = line.trim_end().rsplit_once("ack ") {
                let n: u64 = n.parse().unwrap();
                assert_eq!(n, last.map_or(0, |l| l + 1), "acks arrive in order");
                last = Some(n);
                if !killed && n + 1 >= want {
                    // Child::kill is SIGKILL on Unix: no destructors, no
                    // flush, no checkpoint; the child is mid-way through
                    // its next writes.
                    child.kill().unwrap();
                    killed = true;
                }
            }
        }
        line.clear();
    }
    assert!(killed, "child exited on its own");
    child.wait().unwrap();
    last.expect("child acknowledged nothing")
}

fn crash_and_check(mode: &str, want: u64) {
    let dir = tempdir(mode);
    let db = dir.join("records.db");
    let acked = run_and_kill(&db, mode, want);
    assert!(acked + 1 >= want);

    let store = Store::open_with(&db, options(mode)).unwrap();
    let now = unix_now_ms();
    for i in 0..=acked {
        let (name, value) = record(i);
        assert!(
            store.get(&name, now).iter().any(|v| **v == *value),
            "acknowledged record {i} lost ({mode})"
        );
    }
    // Nothing half-written: every stored row is one the child wrote whole
    // (at most one more than acknowledged: committed, then killed before
    // the ack was printed).
    let stats = store.stored_stats();
    assert!(
        stats.records == acked + 1 || stats.records == acked + 2,
        "{} rows for {} acks",
        stats.records,
        acked + 1
    );
    // And the store keeps working.
    store.publish("after.crash", "ok", 60, now).unwrap();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_writes_survive_sigkill_full() {
    crash_and_check("full", 300);
}

#[test]
fn acknowledged_writes_survive_sigkill_normal() {
    crash_and_check("normal", 2000);
}
