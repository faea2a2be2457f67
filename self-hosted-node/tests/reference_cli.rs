//! Interop (REFERENCE-NODE.md §0.3, §12.1): the UNMODIFIED reference CLI
//! (`dnsmesh` 0.7.5 from the venv next to DMP_REFERENCE_PYTHON) uses our
//! node on loopback. Bob registers a TSIG key through
//! `/v1/registration/tsig-confirm` (`dnsmesh tsig register`) and publishes
//! his identity and 25 prekeys by DNS UPDATE; alice writes over HTTP with
//! her own per-user token (`dmp-node token issue`); alice sends to bob with `dnsmesh send`, and
//! `dnsmesh recv` shows bob exactly her text. Alice's send also puts an
//! unsigned claim into our zone by UPDATE (our node is pinned as the
//! users' claim provider, so nothing leaves loopback).
//!
//! Work-around (the reference's bug R1, not ours): its TSIG writer sends a
//! value as one character-string, so it cannot write anything over 255
//! bytes, and every slot manifest is larger. A TSIG user therefore cannot
//! *send* with the reference CLI against any node; the sender here uses
//! the HTTP writer, as the reference's own documented flow does. Every
//! other step runs unchanged.
//!
//! Needs DMP_REFERENCE_PYTHON; fails without it unless DMP_SKIP_REFERENCE=1.

mod auth_support;

use auth_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Cli {
    dnsmesh: PathBuf,
    home: PathBuf,
    common: Vec<String>,
    dns_port: String,
}

impl Cli {
    /// Runs `dnsmesh` as `user` (its own config home and passphrase);
    /// returns stdout + stderr, panicking unless the exit code is 0.
    fn run(&self, user: &str, args: &[&str]) -> String {
        let dir = self.home.join(user);
        std::fs::create_dir_all(&dir).unwrap();
        let o = Command::new(&self.dnsmesh)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .env("DMP_TOKENS_HOME", dir.join("tokens"))
            .env(
                "DMP_PASSPHRASE",
                format!("passphrase of {user} for the interop test"),
            )
            // Claim UPDATEs to the provider go to this port (default 53).
            .env("DMP_PROVIDER_DNS_PORT", &self.dns_port)
            .arg("--config-home")
            .arg(&dir)
            .args(args)
            .output()
            .expect("run dnsmesh");
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success(),
            "dnsmesh {args:?} as {user} failed: {out}"
        );
        out
    }

    /// `dnsmesh init`, then pin the claim provider to our node (the
    /// config has no CLI setter): otherwise `send` would also try the
    /// built-in public provider on the internet.
    fn init(&self, user: &str, extra: &[&str], http: &str) -> String {
        let mut a = vec!["init", user];
        a.extend(self.common.iter().map(String::as_str));
        a.extend_from_slice(extra);
        let out = self.run(user, &a);
        let cfg = self.home.join(user).join("config.yaml");
        let mut text = std::fs::read_to_string(&cfg).expect("config.yaml after init");
        text.push_str(&format!(
            "claim_provider_override: http://{http}\nclaim_provider_zone: {ZONE}\n"
        ));
        std::fs::write(&cfg, text).unwrap();
        out
    }
}

fn dnsmesh_next_to(python: &Path) -> PathBuf {
    let p = python.with_file_name("dnsmesh");
    assert!(p.exists(), "no dnsmesh next to {}", python.display());
    p
}

#[test]
fn reference_cli_users_exchange_a_message_through_our_node() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut env = multi_tenant_env();
    env.push(("DMP_DNS_UPDATE_ENABLED", "1".into()));
    let node = Node::start(&dir.path().join("node/dmp.db"), &env);
    let (hp, dp) = (node.http.port().to_string(), node.dns.port().to_string());
    let endpoint = format!("http://127.0.0.1:{hp}");
    let resolver = format!("127.0.0.1:{dp}");
    let cli = Cli {
        dnsmesh: dnsmesh_next_to(&python),
        home: dir.path().join("users"),
        common: [
            "--domain",
            ZONE,
            "--endpoint",
            &endpoint,
            "--dns-resolvers",
            &resolver,
            "--dns-port",
            &dp,
            "--no-probe-local-dns",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        dns_port: dp.clone(),
    };

    // Bob: TSIG key through tsig-confirm, then writes by DNS UPDATE.
    let node_arg = format!("127.0.0.1:{hp}");
    cli.init("bob", &[], &node_arg);
    let out = cli.run(
        "bob",
        &[
            "tsig",
            "register",
            "--node",
            &node_arg,
            "--scheme",
            "http",
            "--dns-server",
            "127.0.0.1",
            "--dns-port",
            &dp,
        ],
    );
    assert!(out.contains("registered bob@mesh.test"), "{out}");
    assert!(out.contains("TSIG key:  bob-"), "{out}");
    let out = cli.run("bob", &["identity", "publish"]);
    let bob_id = format!("id-{}.{ZONE}", h("bob", 16));
    assert!(
        out.contains(&format!("published identity to {bob_id}")),
        "{out}"
    );
    let out = cli.run("bob", &["identity", "refresh-prekeys"]);
    assert!(out.contains("published 25/25 prekeys"), "{out}");
    // Those went through UPDATE: they are in the store.
    assert_eq!(values(node.http, &bob_id).len(), 1);
    assert_eq!(
        values(node.http, &format!("prekeys.id-{}.{ZONE}", h("bob", 12))).len(),
        25
    );

    // Alice: HTTP writes with her own per-user token, issued by the
    // operator with `dmp-node token issue` into the running node's token
    // database (multi-tenant scopes apply to everything the CLI writes).
    let o = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .env("DMP_DB_PATH", dir.path().join("node/dmp.db"))
        .args(["token", "issue", "alice@mesh.test", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let issued: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let alice_token = issued["token"].as_str().unwrap().to_string();
    cli.init("alice", &["--http-token", &alice_token], &node_arg);
    cli.run("alice", &["identity", "publish"]);
    cli.run("alice", &["identity", "refresh-prekeys"]);
    let out = cli.run("alice", &["identity", "fetch", "bob@mesh.test", "--add"]);
    assert!(out.contains("added contact bob@mesh.test"), "{out}");
    let bob_x25519 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("public_key:"))
        .map(|k| unhex(k.trim()))
        .expect("bob's public key in the fetch output");
    let out = cli.run("bob", &["identity", "fetch", "alice@mesh.test", "--add"]);
    assert!(out.contains("added contact alice@mesh.test"), "{out}");

    let text = "hello bob: über DNS, 42 ✓ (from the reference CLI via dmp-node)";
    let out = cli.run("alice", &["send", "bob@mesh.test", text]);
    assert!(
        out.contains("sent → bob@mesh.test (+ 1/1 claim publishes)"),
        "{out}"
    );
    let out = cli.run("bob", &["recv"]);
    assert!(
        out.lines().any(|l| l.trim_end() == format!("  {text}")),
        "bob did not get the exact text: {out}"
    );
    assert!(out.contains("from "), "{out}");
    let out = cli.run("bob", &["recv"]);
    assert!(out.contains("(no new messages)"), "{out}");

    // Alice's send also left an unsigned, verified claim in bob's mailbox
    // namespace of our zone (UPDATE without TSIG).
    let uid = dmp_core::crypto::sha256(&bob_x25519);
    let mb = dmp_core::crypto::hex(&dmp_core::crypto::sha256(&uid))[..12].to_string();
    let claims: Vec<String> = (0..10)
        .flat_map(|slot| values(node.http, &format!("claim-{slot}.mb-{mb}.{ZONE}")))
        .collect();
    assert!(!claims.is_empty());
    assert!(
        claims.iter().all(|c| c.starts_with("v=dmp1;t=claim;")),
        "{claims:?}"
    );
}
