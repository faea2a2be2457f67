//! Local-state compatibility with the reference `dnsmesh` 0.7.5, run live.
//!
//! Needs DMP_REFERENCE_PYTHON (the reference venv's python; `dnsmesh` is
//! next to it). Without it the tests fail, unless DMP_SKIP_REFERENCE=1.

use dmp_cli::tokens::{TokenRecord, TokenStore};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PASS: &str = "correct horse battery staple";

struct Ref {
    python: PathBuf,
    dnsmesh: PathBuf,
}

fn reference() -> Option<Ref> {
    match std::env::var_os("DMP_REFERENCE_PYTHON") {
        Some(p) if !p.is_empty() => {
            let python = PathBuf::from(p);
            let dnsmesh = python.with_file_name("dnsmesh");
            assert!(
                dnsmesh.exists(),
                "no reference dnsmesh at {}",
                dnsmesh.display()
            );
            Some(Ref { python, dnsmesh })
        }
        _ if std::env::var("DMP_SKIP_REFERENCE").as_deref() == Ok("1") => {
            eprintln!("skipped: DMP_SKIP_REFERENCE=1");
            None
        }
        _ => panic!(
            "set DMP_REFERENCE_PYTHON to the reference venv's python \
             (e.g. ~/.cache/dmp/venv-dnsmesh-0.7.5/bin/python), or DMP_SKIP_REFERENCE=1 to skip"
        ),
    }
}

/// Runs `bin --config-home home args` with an isolated environment.
fn run(bin: &Path, home: &Path, pass: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(bin);
    c.arg("--config-home")
        .arg(home)
        .args(args)
        .env_remove("DMP_CONFIG_HOME")
        .env_remove("DMP_TOKENS_HOME")
        .env_remove("DMP_PASSPHRASE_OVERRIDE_VERIFY")
        .env("HOME", home.join("fake-home"))
        .stdin(Stdio::null());
    match pass {
        Some(p) => c.env("DMP_PASSPHRASE", p),
        None => c.env_remove("DMP_PASSPHRASE"),
    };
    c.output().expect("run")
}

fn ours(home: &Path, pass: Option<&str>, args: &[&str]) -> Output {
    run(Path::new(env!("CARGO_BIN_EXE_dnsmesh")), home, pass, args)
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap()
}

/// Reference python one-liner with `sys.argv[1]` = `arg`.
fn py(r: &Ref, code: &str, arg: &Path, env: &[(&str, &Path)]) -> String {
    let mut c = Command::new(&r.python);
    c.arg("-c").arg(code).arg(arg);
    for (k, v) in env {
        c.env(k, v);
    }
    ok(c.output().unwrap())
}

const INIT: &[&str] = &[
    "init",
    "carol@mesh.test",
    "--endpoint",
    "node.example.com/",
    "--http-token",
    "tok-1",
    "--dns-resolvers",
    "127.0.0.1:15353, [::1]:53",
    "--dns-port",
    "15353",
    "--identity-domain",
    " carol.example ",
    "--allow-tofu",
    "--no-probe-local-dns",
];

#[test]
fn reference_config_is_read_by_ours() {
    let Some(r) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("alice");
    ok(run(&r.dnsmesh, &home, Some(PASS), INIT));
    // Ours first: it stores verify_pubkey, which the reference then checks.
    let mine = ok(ours(&home, Some(PASS), &["identity", "show"]));
    let theirs = ok(run(&r.dnsmesh, &home, Some(PASS), &["identity", "show"]));
    assert_eq!(mine, theirs);
    assert!(
        mine.starts_with("username: carol\ndomain: mesh.test\npublic_key: "),
        "{mine}"
    );
    let mine = ok(ours(&home, Some(PASS), &["identity", "show", "--json"]));
    let theirs = ok(run(
        &r.dnsmesh,
        &home,
        Some(PASS),
        &["identity", "show", "--json"],
    ));
    assert_eq!(mine, theirs);
    // A wrong passphrase is a mismatch (exit 1) on both.
    for o in [
        ours(&home, Some("typo"), &["identity", "show"]),
        run(&r.dnsmesh, &home, Some("typo"), &["identity", "show"]),
    ] {
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("passphrase mismatch"));
    }
}

#[test]
fn our_config_is_read_by_reference() {
    let Some(r) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("carol");
    let out = ok(ours(&home, None, INIT));
    assert!(out.starts_with(&format!("wrote config to {}/config.yaml\n", home.display())));
    // The reference runs first here, so it writes verify_pubkey.
    let theirs = ok(run(&r.dnsmesh, &home, Some(PASS), &["identity", "show"]));
    let mine = ok(ours(&home, Some(PASS), &["identity", "show"]));
    assert_eq!(mine, theirs);
    let fields = py(
        &r,
        "import sys, json; from pathlib import Path; from dataclasses import asdict; \
         from dmp.cli import CLIConfig; \
         print(json.dumps(asdict(CLIConfig.load(Path(sys.argv[1]))), sort_keys=True))",
        &home.join("config.yaml"),
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&fields).unwrap();
    assert_eq!(v["username"], "carol");
    assert_eq!(v["domain"], "mesh.test");
    assert_eq!(v["endpoint"], "https://node.example.com");
    assert_eq!(v["http_token"], "tok-1");
    assert_eq!(
        v["dns_resolvers"],
        serde_json::json!(["127.0.0.1:15353", "[::1]:53"])
    );
    assert_eq!(v["dns_port"], 15353);
    assert_eq!(v["dns_host"], serde_json::Value::Null);
    assert_eq!(v["identity_domain"], "carol.example");
    assert_eq!(v["allow_tofu"], true);
    assert_eq!(v["dnssec_required"], false);
    assert_eq!(v["tsig_algorithm"], "hmac-sha256");
    assert_eq!(v["kdf_salt"].as_str().unwrap().len(), 64);
    // init refuses to overwrite on both sides.
    assert_eq!(ours(&home, None, INIT).status.code(), Some(1));
    assert_eq!(run(&r.dnsmesh, &home, None, INIT).status.code(), Some(1));
}

#[test]
fn contacts_round_trip_and_unknown_keys_survive() {
    let Some(r) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dave");
    ok(run(
        &r.dnsmesh,
        &home,
        None,
        &["init", "dave", "--no-default-resolvers"],
    ));
    ok(run(
        &r.dnsmesh,
        &home,
        None,
        &["contacts", "add", "erin", &"ee".repeat(32)],
    ));
    // Keys a newer version (or a human) might add, at top level and in a
    // contact. (The reference itself drops them on its next save.)
    let cfg = home.join("config.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("contacts:\n  erin:\n"), "{text}");
    text = text.replace(
        "contacts:\n",
        &format!(
            "contacts:\n  on:\n    pub: {}\n    spk: ''\n    domain: x.test\n    note: keep me\n  legacy: {}\n",
            "aa".repeat(32),
            "bb".repeat(32)
        ),
    );
    text.push_str("future_key:\n  nested: [1, two, null]\n");
    std::fs::write(&cfg, text).unwrap();

    let k1 = "0123456789ABCDEF".repeat(4);
    let s1 = "fe".repeat(32);
    ok(ours(
        &home,
        None,
        &[
            "contacts",
            "add",
            "bob@mesh.test",
            &k1,
            "--signing-key",
            &s1,
        ],
    ));
    let o = ours(&home, None, &["contacts", "add", "zed", &"cd".repeat(32)]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("WARNING"),
        "{o:?}"
    );
    ok(o);

    let mine = ok(ours(&home, None, &["contacts", "list"]));
    let theirs = ok(run(&r.dnsmesh, &home, None, &["contacts", "list"]));
    assert_eq!(mine, theirs);
    assert!(
        mine.contains(&format!("bob@mesh.test  {}  (pinned)", k1.to_lowercase())),
        "{mine}"
    );
    assert!(
        mine.contains(&format!("on             {}  (UNPINNED)", "aa".repeat(32))),
        "{mine}"
    );
    assert!(
        mine.contains("erin  ") && mine.contains("legacy  "),
        "{mine}"
    );

    // Ours kept what the reference does not know about.
    let dump = py(
        &r,
        "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &cfg,
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&dump).unwrap();
    assert_eq!(
        v["future_key"],
        serde_json::json!({"nested": [1, "two", null]})
    );
    assert_eq!(v["contacts"]["on"]["note"], "keep me");
    assert_eq!(v["contacts"]["on"]["domain"], "x.test");
    assert_eq!(v["contacts"]["legacy"]["pub"], "bb".repeat(32));
    assert_eq!(v["contacts"]["zed"]["spk"], "");
    assert_eq!(v["contacts"]["bob@mesh.test"]["spk"], s1);
    assert_eq!(v["dns_resolvers"], serde_json::json!([]));

    // Bad keys: exit 1 on both.
    for o in [
        ours(&home, None, &["contacts", "add", "x", "abcd"]),
        run(&r.dnsmesh, &home, None, &["contacts", "add", "x", "abcd"]),
        ours(
            &home,
            None,
            &[
                "contacts",
                "add",
                "x",
                &"aa".repeat(32),
                "--signing-key",
                "zz",
            ],
        ),
    ] {
        assert_eq!(o.status.code(), Some(1), "{o:?}");
    }
}

#[test]
fn token_files_are_shared() {
    let Some(r) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("erin");
    let tokens = home.join("tokens");
    // Written by the reference's own token module.
    py(
        &r,
        "import sys; from dmp.client.node_tokens import save_token; \
         save_token('Node-A.example', token='dmp_v1_' + 'x' * 40, subject='erin@a.example', \
         expires_at=1795796514, registered_spk='ab' * 32); \
         save_token('b.example', token='short', subject='erin@b.example')",
        &tokens,
        &[("DMP_TOKENS_HOME", &tokens)],
    );
    // Written by ours, read by the reference.
    TokenStore::new(&tokens)
        .save(
            "c.example",
            &TokenRecord::new("c.example", "erin@c.example", "tok\u{e9}", None, None, 5),
        )
        .unwrap();
    let got = py(
        &r,
        "import sys; from dmp.client.node_tokens import load_token, bearer_for_endpoint; \
         print(load_token('c.example')['subject'], bearer_for_endpoint('https://c.example:8443/'))",
        &tokens,
        &[("DMP_TOKENS_HOME", &tokens)],
    );
    assert_eq!(got, "erin@c.example tok\u{e9}\n");

    for args in [&["token", "list"][..], &["token", "list", "--json"][..]] {
        let mine = ok(ours(&home, None, args));
        let theirs = ok(run(&r.dnsmesh, &home, None, args));
        assert_eq!(mine, theirs, "{args:?}");
    }
    let listing = ok(ours(&home, None, &["token", "list"]));
    assert!(listing.contains("2026-11-27T16:21:54Z"), "{listing}");
    assert!(!ok(ours(&home, None, &["token", "list", "--json"])).contains("xxxxxxxxxxxxxxxxxxxx"));

    ok(ours(&home, None, &["token", "forget", "NODE-A.example"]));
    let o = ours(&home, None, &["token", "forget", "node-a.example"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "no saved token for node-a.example\n"
    );
    let o = run(
        &r.dnsmesh,
        &home,
        None,
        &["token", "forget", "node-a.example"],
    );
    assert_eq!(o.status.code(), Some(1));
    let theirs = ok(run(&r.dnsmesh, &home, None, &["token", "list"]));
    assert!(
        !theirs.contains("Node-A") && theirs.contains("b.example"),
        "{theirs}"
    );
}

#[test]
fn replay_cache_is_shared() {
    use dmp_cli::replay::ReplayCache;
    let Some(r) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay_cache.json");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // The reference records two pairs; ours must see them.
    py(
        &r,
        "import sys, time; from dmp.core.manifest import ReplayCache; \
         c = ReplayCache(persist_path=sys.argv[1]); \
         c.record(b'\\x01' * 32, b'\\x02' * 16, int(time.time()) + 600); \
         c.record(b'\\x03' * 32, b'\\x04' * 16)",
        &path,
        &[],
    );
    let mut c = ReplayCache::load(&path, now);
    assert_eq!(c.seen.len(), 2);
    assert!(c.has_seen(&[1; 32], &[2; 16], now));
    assert!(c.has_seen(&[3; 32], &[4; 16], now));
    assert!(!c.has_seen(&[1; 32], &[4; 16], now));
    // Ours adds one; the reference must see all three.
    c.record(&[5; 32], &[6; 16], now + 600);
    c.save(&path).unwrap();
    let got = py(
        &r,
        "import sys; from dmp.core.manifest import ReplayCache; \
         c = ReplayCache(persist_path=sys.argv[1]); \
         print(c.size(), c.has_seen(b'\\x05' * 32, b'\\x06' * 16), c.has_seen(b'\\x01' * 32, b'\\x02' * 16))",
        &path,
        &[],
    );
    assert_eq!(got, "3 True True\n");
}

#[test]
fn prekey_store_is_shared() {
    use dmp_cli::prekeys::PrekeyStore;
    let Some(r) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prekeys.db");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // The reference makes a pool of 3; prints id:private_hex per prekey.
    let made = py(
        &r,
        "import sys; from dmp.core.prekeys import PrekeyStore; \
         from cryptography.hazmat.primitives import serialization as s; \
         st = PrekeyStore(sys.argv[1]); pool = st.generate_pool(3, 600); \
         st.record_wire(pool[0][0].prekey_id, 'wire-0'); \
         print(' '.join('%d:%s' % (p.prekey_id, k.private_bytes(s.Encoding.Raw, \
         s.PrivateFormat.Raw, s.NoEncryption()).hex()) for p, k in pool))",
        &path,
        &[],
    );
    let made: Vec<(u32, String)> = made
        .split_whitespace()
        .map(|e| {
            let (id, k) = e.split_once(':').unwrap();
            (id.parse().unwrap(), k.to_string())
        })
        .collect();
    let store = PrekeyStore::open(&path).unwrap();
    assert_eq!(store.count_live(now).unwrap(), 3);
    let mut ids: Vec<u32> = made.iter().map(|m| m.0).collect();
    ids.sort();
    assert_eq!(store.live_ids(now).unwrap(), ids);
    for (id, k) in &made {
        let sk = store.private_key(*id, now).unwrap().unwrap();
        assert_eq!(&dmp_core::crypto::hex(&sk), k);
    }
    let (sk, wire) = store.claim(made[0].0, now).unwrap().unwrap();
    assert_eq!(dmp_core::crypto::hex(&sk), made[0].1);
    assert_eq!(wire.as_deref(), Some("wire-0"));
    assert!(
        store
            .insert(42, &[9; 32], &[8; 32], now + 600, now)
            .unwrap()
    );
    drop(store);
    let got = py(
        &r,
        "import sys; from dmp.core.prekeys import PrekeyStore; \
         from cryptography.hazmat.primitives import serialization as s; \
         st = PrekeyStore(sys.argv[1]); k = st.get_private_key(42); \
         print(st.count_live(), k.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, \
         s.NoEncryption()).hex())",
        &path,
        &[],
    );
    assert_eq!(got, format!("3 {}\n", "09".repeat(32)));
}
