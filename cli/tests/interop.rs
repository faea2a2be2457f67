//! Our CLI and the reference CLI (dnsmesh 0.7.5) exchange messages through
//! the reference node and through our dmp-node: exact text both ways,
//! prekeys consumed and deleted from DNS, the DMPv2 sender address, first
//! contact through a claim and the intro queue, the TSIG write path, and a
//! config directory made by the reference CLI.
//!
//! Needs DMP_REFERENCE_PYTHON (the reference venv's python); without it the
//! tests fail unless DMP_SKIP_REFERENCE=1.

mod support;

use dmp_core::names::prekey_pool_name;
use support::*;

#[test]
fn through_the_reference_node() {
    let Some(py) = reference_python() else { return };
    let node = reference_node(&py);
    let tok = node.token.clone().unwrap();

    // bob: ours, on the documented TSIG path (UPDATE values > 255 bytes).
    let bob = User::ours("bob");
    bob.init(&node, &[]);
    let reg = bob.ok(&[
        "tsig",
        "register",
        "--node",
        node.http.trim_start_matches("http://"),
        "--scheme",
        "http",
        "--dns-server",
        "127.0.0.1",
        "--dns-port",
        &node.dns.port().to_string(),
    ]);
    assert!(reg.starts_with("registered bob@mesh.test on "), "{reg}");
    assert!(reg.contains("  algorithm: hmac-sha256\n"), "{reg}");
    let out = bob.ok(&["identity", "publish", "--advertise-v2"]);
    assert!(out.starts_with("published identity to id-"), "{out}");
    let out = bob.ok(&["identity", "refresh-prekeys"]);
    assert!(
        out.starts_with("published 25/25 prekeys to prekeys.id-"),
        "{out}"
    );

    // alice: the reference CLI, writing over HTTP with the operator token.
    let alice = User::reference("alice", &py);
    alice.init(&node, &["--http-token", &tok]);
    alice.ok(&["identity", "publish", "--advertise-v2"]);
    alice.ok(&["identity", "refresh-prekeys"]);
    alice.ok(&["identity", "fetch", "bob@mesh.test", "--add"]);
    let out = bob.ok(&["contacts", "add", "alice@mesh.test"]);
    assert!(out.contains("fingerprint:"), "{out}");
    assert!(out.contains("added contact alice@mesh.test (pinned signing key)"));

    // ours → reference, with alice's prekey (forward secrecy, R2 fixed).
    let alice_pool = prekey_pool_name("alice", ZONE);
    assert_eq!(node.txt(&alice_pool).len(), 25);
    let o = bob.run(&["send", "alice@mesh.test", "hi alice, from rust ✓"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).starts_with("sent → alice@mesh.test"), "{o:?}");
    assert!(!stderr(&o).contains("forward secrecy"), "{}", stderr(&o));
    let out = alice.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["hi alice, from rust ✓".to_string()]);
    assert!(out.starts_with(&format!(
        "from {}...",
        &bob.show("signing_public_key")[..16]
    )));
    assert_eq!(node.txt(&alice_pool).len(), 24, "consumed prekey deleted");

    // reference → ours: DMPv2 envelope, the verified sender address shown.
    alice.ok(&["send", "bob@mesh.test", "hi bob, from python"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["hi bob, from python".to_string()]);
    assert!(
        out.contains("  sender: alice@mesh.test (verified)\n"),
        "{out}"
    );
    assert_eq!(bob.ok(&["recv"]).trim(), "(no new messages)");

    // ours → ours on this node: bob's prekey consumed and deleted via TSIG.
    let carol = User::ours("carol");
    carol.init(&node, &["--http-token", &tok]);
    carol.ok(&["identity", "publish"]);
    carol.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&["contacts", "add", "carol@mesh.test"]);
    let bob_pool = prekey_pool_name("bob", ZONE);
    assert_eq!(node.txt(&bob_pool).len(), 25);
    carol.ok(&["send", "bob@mesh.test", "carol here"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["carol here".to_string()]);
    assert_eq!(node.txt(&bob_pool).len(), 24, "deleted over DNS UPDATE");

    // First contact: dave (reference) is not pinned by bob; his claim
    // lands in bob's zone and the message waits in the intro queue.
    let dave = User::reference("dave", &py);
    dave.init(&node, &["--http-token", &tok]);
    dave.ok(&["identity", "publish"]);
    dave.ok(&["identity", "fetch", "bob@mesh.test", "--add"]);
    dave.ok(&["send", "bob@mesh.test", "hello stranger"]);
    let out = bob.ok(&["recv"]);
    assert!(bodies(&out).is_empty(), "{out}");
    assert!(out.contains("1 new intro(s)"), "{out}");
    let list = bob.ok(&["intro", "list"]);
    assert!(list.contains("  message:    hello stranger\n"), "{list}");
    let id = list
        .split_whitespace()
        .next()
        .and_then(|t| t.strip_prefix('#'))
        .unwrap()
        .to_string();
    let out = bob.ok(&["intro", "trust", &id, "--username", "dave"]);
    assert!(out.contains("hello stranger"), "{out}");
    bob.ok(&["identity", "fetch", "dave@mesh.test", "--add"]);
    bob.ok(&["send", "dave@mesh.test", "welcome, dave"]);
    let out = dave.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["welcome, dave".to_string()]);
    // Bearer self-registration against the reference node (host:port
    // works here, unlike the reference's own `register`, R8).
    let frank = User::ours("frank");
    frank.init(&node, &[]);
    let host = node.http.trim_start_matches("http://").to_string();
    let out = frank.ok(&["register", "--node", &host, "--scheme", "http"]);
    assert!(out.starts_with("registered frank@mesh.test on "), "{out}");
    let out = frank.ok(&["identity", "publish"]);
    assert!(out.starts_with("published identity to id-"), "{out}");

    // EXPERIMENTAL rotation: the reference verifies both records we write.
    let newpass = bob.home.join("new.pass");
    std::fs::write(&newpass, "bob's next passphrase\n").unwrap();
    let old_spk = bob.show("signing_public_key");
    let o = bob.run(&[
        "identity",
        "rotate",
        "--experimental",
        "--yes",
        "--reason",
        "compromise",
        "--new-passphrase-file",
        newpass.to_str().unwrap(),
    ]);
    // Exit 3: DMP_PASSPHRASE (set by the harness) still names the old key.
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let rrset = dmp_core::names::rotation_name_user("bob", ZONE);
    let values = node.txt(&rrset);
    assert_eq!(values.len(), 2, "{values:?}");
    let script = r#"
import sys
from dmp.core.rotation import RotationRecord, RevocationRecord
old = bytes.fromhex(sys.argv[1])
kinds = []
for w in sys.argv[2:]:
    if w.startswith('v=dmp1;t=rotation;'):
        r = RotationRecord.parse_and_verify(w, expected_old_spk=old, expected_subject='bob@mesh.test')
        assert r is not None
        kinds.append('rotation')
    else:
        r = RevocationRecord.parse_and_verify(w, expected_revoked_spk=old, expected_subject='bob@mesh.test')
        assert r is not None
        kinds.append('revocation')
print(','.join(sorted(kinds)))
"#;
    let out = std::process::Command::new(&py)
        .arg("-c")
        .arg(script)
        .arg(&old_spk)
        .args(&values)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "revocation,rotation"
    );
}

#[test]
fn through_our_node_and_a_reference_made_config() {
    let Some(py) = reference_python() else { return };
    let node = our_node();

    let alice = User::reference("alice", &py);
    let bob = User::ours("bob");
    for u in [&alice, &bob] {
        u.init(&node, &[]);
        u.ok(&["identity", "publish"]);
        u.ok(&["identity", "refresh-prekeys"]);
    }
    alice.ok(&["identity", "fetch", "bob@mesh.test", "--add"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);

    let alice_pool = prekey_pool_name("alice", ZONE);
    bob.ok(&["send", "alice@mesh.test", "rust → python via dmp-node"]);
    let out = alice.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["rust → python via dmp-node".to_string()]);
    assert_eq!(node.txt(&alice_pool).len(), 24, "consumed prekey deleted");

    alice.ok(&["send", "bob@mesh.test", "python → rust via dmp-node"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["python → rust via dmp-node".to_string()]);

    // Erin's config dir, keys and prekeys are made by the reference CLI;
    // our CLI reads them, decrypts with a reference-made prekey and
    // consumes it.
    let erin = User::reference("erin", &py);
    erin.init(&node, &[]);
    erin.ok(&["identity", "publish"]);
    erin.ok(&["identity", "refresh-prekeys", "--count", "3"]);
    bob.ok(&["contacts", "add", "erin@mesh.test"]);
    let ours_erin = erin.with_bin(env!("CARGO_BIN_EXE_dnsmesh").into());
    ours_erin.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&[
        "send",
        "erin@mesh.test",
        "read by rust from a python config",
    ]);
    let out = ours_erin.ok(&["recv"]);
    assert_eq!(
        bodies(&out),
        vec!["read by rust from a python config".to_string()]
    );
    assert_eq!(node.txt(&prekey_pool_name("erin", ZONE)).len(), 2);
    // And the reference still reads the same directory afterwards.
    assert_eq!(erin.ok(&["recv"]).trim(), "(no new messages)");

    // Reads over DoH (RFC 8484) from our node reach the same mailbox.
    alice.ok(&["send", "bob@mesh.test", "read over DoH"]);
    let doh = format!("{}/dns-query", node.http);
    let o = bob.run_env(&["recv"], &[("DMP_DOH_URL", &doh)]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(bodies(&stdout(&o)), vec!["read over DoH".to_string()]);
}

/// First contact through dmp-node in both directions: an un-pinned sender's
/// claim (an unsigned UPDATE into the recipient's zone) puts the message in
/// the recipient's intro queue, for our CLI and for the reference CLI.
#[test]
fn first_contact_through_our_node() {
    let Some(py) = reference_python() else { return };
    let node = our_node_multi_tenant();
    let tok = node.token.clone().unwrap();
    let alice = User::reference("alice", &py);
    let bob = User::ours("bob");
    let dave = User::reference("dave", &py);
    let erin = User::ours("erin");
    for u in [&alice, &bob, &dave, &erin] {
        u.init(&node, &["--http-token", &tok]);
        u.ok(&["identity", "publish"]);
    }
    // alice and bob pin each other; dave and erin are strangers to them.
    alice.ok(&["identity", "fetch", "bob@mesh.test", "--add"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);
    dave.ok(&["identity", "fetch", "bob@mesh.test", "--add"]);
    erin.ok(&["contacts", "add", "alice@mesh.test"]);

    // reference stranger → ours
    dave.ok(&["send", "bob@mesh.test", "dave says hi"]);
    let out = bob.ok(&["recv"]);
    assert!(
        bodies(&out).is_empty() && out.contains("1 new intro(s)"),
        "{out}"
    );
    let list = bob.ok(&["intro", "list"]);
    assert!(list.contains("  message:    dave says hi\n"), "{list}");
    let id = list
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches('#');
    let out = bob.ok(&["intro", "accept", id]);
    assert!(out.contains("dave says hi"), "{out}");
    assert_eq!(bob.ok(&["intro", "list"]).trim(), "(no pending intros)");

    // ours stranger → reference
    let o = erin.run(&["send", "alice@mesh.test", "erin says hi"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("(+ 1/1 claim publishes)"), "{o:?}");
    let out = alice.ok(&["recv"]);
    assert!(out.contains("1 new intro(s)"), "{out}");
    let list = alice.ok(&["intro", "list"]);
    assert!(list.contains("erin says hi"), "{list}");
}
