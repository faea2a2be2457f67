//! The node conformance suite (crate `dmp-conformance`, the same checks
//! `scripts/test-edge.sh` runs against the edge node under `wrangler dev`)
//! against the real `dmp-node` binary: on a free loopback port, with a real
//! SQLite database in a temp dir, once in open mode and once multi-tenant
//! with an operator token and registration.

use dmp_conformance::{Group, Mode, Report, Target};
use dmp_core::node::publish::Limits;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const OP: &str = "conformance-operator-token";

/// Kills the node when the test ends (or panics).
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(db: &Path, args: &[&str], envs: &[(&str, &str)]) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .envs(envs.iter().copied())
        .arg("--db-path")
        .arg(db)
        .args([
            "--http-host",
            "127.0.0.1",
            "--http-port",
            "0",
            "--dns-port",
            "0",
        ])
        // The suite sends ~150 requests from one address.
        .args(["--http-burst", "10000"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dmp-node");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read first line");
    if first.is_empty() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        panic!("dmp-node did not start: {err}");
    }
    // "dmp-node 0.1.0 listening on http://127.0.0.1:PORT/"
    let url = first.trim().rsplit(' ').next().unwrap_or_default();
    assert!(
        url.starts_with("http://"),
        "unexpected first line {first:?}"
    );
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while stdout.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    Node {
        child,
        base: url.trim_end_matches('/').to_string(),
    }
}

fn assert_conformant(report: &Report) {
    print!("{}", report.render());
    let failed: Vec<String> = report
        .failures()
        .into_iter()
        .map(|r| format!("{}/{}", r.group, r.name))
        .collect();
    assert!(failed.is_empty(), "failed checks: {failed:?}");
    assert!(report.passed() > 0);
}

#[test]
fn open_mode_node_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("dmp.db"), &[], &[]);
    let report = dmp_conformance::run(&Target::open(&node.base), &Group::ALL);
    assert_conformant(&report);
}

#[test]
fn multi_tenant_node_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(
        &dir.path().join("dmp.db"),
        &["--auth-mode", "multi-tenant", "--operator-token", OP],
        &[
            ("DMP_REGISTRATION_ENABLED", "1"),
            ("DMP_NODE_HOSTNAME", "conformance.example"),
            ("DMP_REGISTRATION_ENDPOINT_RATE_BURST", "100"),
        ],
    );
    let target = Target {
        base: node.base.clone(),
        mode: Mode::MultiTenant,
        operator_token: Some(OP.into()),
        registration: true,
        limits: Limits::default(),
    };
    let report = dmp_conformance::run(&target, &Group::ALL);
    assert_conformant(&report);
}
