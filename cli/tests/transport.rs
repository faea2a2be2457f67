//! Our CLI against our node over real loopback sockets, no reference
//! needed: lost chunks (erasure coding end to end) and the resolver pool
//! with lying and dead upstreams (PROTOCOL.md §9).

mod support;

use dmp_cli::config::Config;
use dmp_core::crypto::user_id;
use dmp_core::names::{chunk_name, msg_key, slot_name};
use dmp_core::records::manifest::SlotManifest;
use support::*;

/// Alice and bob on `node`, keys published, each pinning the other.
fn pair(node: &Node) -> (User, User) {
    let (alice, bob) = (User::ours("alice"), User::ours("bob"));
    for u in [&alice, &bob] {
        u.init(node, &[]);
        u.ok(&["identity", "publish"]);
    }
    bob.ok(&["identity", "refresh-prekeys", "--count", "5"]);
    alice.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);
    (alice, bob)
}

fn set_resolvers(u: &User, list: &[String]) {
    let path = u.home.join("config.yaml");
    let mut cfg = Config::load(&path).unwrap();
    cfg.dns_resolvers = list.to_vec();
    cfg.save(&path).unwrap();
}

/// The manifest bob finds in his mailbox and the chunk names it points to.
fn manifest_and_chunks(node: &Node, bob: &User, skip: &[[u8; 16]]) -> (SlotManifest, Vec<String>) {
    let pk: [u8; 32] = hex32(&bob.show("public_key"));
    let rid = user_id(&pk);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut found = Vec::new();
    for slot in 0..10 {
        for v in node.txt(&slot_name(&rid, slot, ZONE)) {
            if let Ok(m) = SlotManifest::parse_and_verify(&v, now)
                && !skip.contains(&m.msg_id)
            {
                found.push(m);
            }
        }
    }
    assert_eq!(found.len(), 1, "one new manifest in bob's mailbox");
    let m = found.remove(0);
    let key = msg_key(&m.msg_id, &m.recipient_id, &m.sender_spk);
    let names = (0..m.total_chunks)
        .map(|i| chunk_name(i, &key, ZONE))
        .collect();
    (m, names)
}

fn hex32(s: &str) -> [u8; 32] {
    let b: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    b.try_into().unwrap()
}

#[test]
fn lost_chunks_up_to_n_minus_k_are_recovered() {
    let node = our_node();
    let (alice, bob) = pair(&node);
    let text = "lost chunks test: ".to_string() + &"0123456789abcdef".repeat(40);

    alice.ok(&["send", "bob@mesh.test", &text]);
    let (m, chunks) = manifest_and_chunks(&node, &bob, &[]);
    let (k, n) = (m.data_chunks as usize, m.total_chunks as usize);
    assert!(n > k, "the message must carry parity chunks (k={k}, n={n})");
    // Drop n-k chunks, spread over data and parity positions.
    for name in chunks.iter().rev().take(n - k) {
        for v in node.txt(name) {
            node.delete(name, &v);
        }
    }
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec![text.clone()], "{out}");

    alice.ok(&["send", "bob@mesh.test", "this one loses one chunk too many"]);
    let (m2, chunks) = manifest_and_chunks(&node, &bob, &[m.msg_id]);
    assert_ne!(m2.msg_id, m.msg_id);
    let (k, n) = (m2.data_chunks as usize, m2.total_chunks as usize);
    for name in chunks.iter().take(n - k + 1) {
        for v in node.txt(name) {
            node.delete(name, &v);
        }
    }
    let o = bob.run(&["recv"]);
    assert!(o.status.success(), "{o:?}");
    assert!(bodies(&stdout(&o)).is_empty(), "{}", stdout(&o));
    assert!(stdout(&o).contains("(no new messages)"));
    let err = stderr(&o);
    assert!(
        err.contains("could not be reassembled")
            && err.contains(&format!("only {} valid chunk(s) found, {k} needed", k - 1)),
        "{err}"
    );
}

#[test]
fn resolver_pool_demotes_liars_and_fails_over() {
    let node = our_node();
    let (alice, bob) = pair(&node);
    let proxy = upstream(Behaviour::Forward(node.dns));

    for (i, liar_kind) in [Behaviour::Nxdomain, Behaviour::WrongTxt]
        .into_iter()
        .enumerate()
    {
        let liar = upstream(liar_kind);
        set_resolvers(&bob, &[liar.addr.to_string(), proxy.addr.to_string()]);
        let text = format!("through a lying resolver #{i}");
        alice.ok(&["send", "bob@mesh.test", &text]);
        let before = proxy.queries.load(std::sync::atomic::Ordering::SeqCst);
        let o = bob.run(&["recv"]);
        assert!(o.status.success(), "{o:?}");
        assert_eq!(bodies(&stdout(&o)), vec![text], "{o:?}");
        let err = stderr(&o);
        assert!(
            err.contains(&format!("resolver {} gave no DMP data", liar.addr))
                && err.contains("demoted"),
            "{liar_kind:?}: {err}"
        );
        let lied = liar.queries.load(std::sync::atomic::Ordering::SeqCst);
        let honest = proxy.queries.load(std::sync::atomic::Ordering::SeqCst) - before;
        // Once demoted, the liar is only asked by lookups already under way.
        assert!(lied < honest, "{liar_kind:?}: liar {lied}, honest {honest}");
    }

    // Every upstream dead: an error (exit 2), not "(no new messages)".
    set_resolvers(&bob, &[dead_addr().to_string()]);
    let o = bob.run(&["recv"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(stderr(&o).contains("no DNS resolver answered"), "{o:?}");

    // A dead first upstream: reads fail over to the live one.
    set_resolvers(&bob, &[dead_addr().to_string(), proxy.addr.to_string()]);
    alice.ok(&["send", "bob@mesh.test", "past a dead resolver"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["past a dead resolver".to_string()]);

    // A silent (blackholed) first upstream costs one timeout, then it is
    // demoted and the poll completes.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    set_resolvers(
        &bob,
        &[
            silent.local_addr().unwrap().to_string(),
            proxy.addr.to_string(),
        ],
    );
    alice.ok(&["send", "bob@mesh.test", "past a silent resolver"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["past a silent resolver".to_string()]);

    // dnssec_required: answers without AD are dropped; validated ones pass.
    let path = bob.home.join("config.yaml");
    let mut cfg = Config::load(&path).unwrap();
    cfg.dnssec_required = true;
    cfg.dns_resolvers = vec![proxy.addr.to_string()];
    cfg.save(&path).unwrap();
    alice.ok(&["send", "bob@mesh.test", "needs validation"]);
    let o = bob.run(&["recv"]);
    assert!(bodies(&stdout(&o)).is_empty(), "{o:?}");
    assert!(stderr(&o).contains("without the DNSSEC AD flag"), "{o:?}");
    let validating = upstream(Behaviour::ForwardValidated(node.dns));
    set_resolvers(&bob, &[validating.addr.to_string()]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["needs validation".to_string()]);
}

#[test]
fn prekeys_are_consumed_and_deleted_between_our_clients() {
    let node = our_node();
    let (alice, bob) = pair(&node);
    let pool = dmp_core::names::prekey_pool_name("bob", ZONE);
    assert_eq!(node.txt(&pool).len(), 5);
    // A signing key given out of band that DNS does not match is refused.
    let o = alice.run(&[
        "contacts",
        "add",
        "bob@mesh.test",
        "--signing-key",
        &"ab".repeat(32),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(stderr(&o).contains("impersonating"), "{o:?}");
    let o = alice.run(&["send", "bob@mesh.test", "forward secret"]);
    assert!(o.status.success(), "{o:?}");
    assert!(!stderr(&o).contains("no forward secrecy"), "{}", stderr(&o));
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["forward secret".to_string()]);
    assert_eq!(node.txt(&pool).len(), 4, "the used prekey left DNS");
    let db = dmp_cli::prekeys::PrekeyStore::open(&bob.home.join("prekeys.db")).unwrap();
    assert_eq!(db.count_live(0).unwrap(), 4, "and the local store");
    assert_eq!(bob.ok(&["recv"]).trim(), "(no new messages)");
}

/// The documented getting-started flow on the TSIG path, both users on
/// DNS UPDATE (the reference CLI cannot send this way, R1): init, tsig
/// register, identity publish, refresh-prekeys, send, recv. Also a bearer
/// token from `register` used for HTTP writes.
#[test]
fn tsig_and_bearer_registration_flows_against_our_node() {
    let node = our_node_multi_tenant();
    let host = node.http.trim_start_matches("http://").to_string();
    let (alice, bob) = (User::ours("alice"), User::ours("bob"));
    for u in [&alice, &bob] {
        u.init(&node, &[]);
        let out = u.ok(&[
            "tsig",
            "register",
            "--node",
            &host,
            "--scheme",
            "http",
            "--dns-server",
            "127.0.0.1",
            "--dns-port",
            &node.dns.port().to_string(),
        ]);
        assert!(out.contains("  TSIG key:  "), "{out}");
        u.ok(&["identity", "publish"]);
        let out = u.ok(&["identity", "refresh-prekeys", "--count", "4"]);
        assert!(out.starts_with("published 4/4 prekeys"), "{out}");
    }
    alice.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);
    alice.ok(&["send", "bob@mesh.test", "over DNS UPDATE both ways"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["over DNS UPDATE both ways".to_string()]);
    assert_eq!(
        node.txt(&dmp_core::names::prekey_pool_name("bob", ZONE))
            .len(),
        3,
        "the used prekey was deleted by UPDATE"
    );
    bob.ok(&["send", "alice@mesh.test", "and back"]);
    assert_eq!(bodies(&alice.ok(&["recv"])), vec!["and back".to_string()]);

    // Bearer self-registration: the token is saved (even for host:port,
    // the reference's R8) and used for HTTP writes.
    let carol = User::ours("carol");
    carol.init(&node, &[]);
    let o = carol.run(&["identity", "publish"]);
    assert_eq!(o.status.code(), Some(2), "no token yet: {o:?}");
    let out = carol.ok(&["register", "--node", &host, "--scheme", "http"]);
    assert!(out.starts_with("registered carol@mesh.test on "), "{out}");
    let out = carol.ok(&["token", "list"]);
    assert!(out.contains("carol@mesh.test"), "{out}");
    let out = carol.ok(&["identity", "publish"]);
    assert!(out.starts_with("published identity to id-"), "{out}");
}

/// `recv --watch` keeps polling and prints a message sent after it started;
/// `doctor` passes on a healthy setup.
#[test]
fn watch_picks_up_new_messages_and_doctor_is_green() {
    use std::io::BufRead;
    let node = our_node();
    let (alice, bob) = pair(&node);
    let out = bob.ok(&["doctor"]);
    assert!(out.contains("[ok]   identity published"), "{out}");
    assert!(out.contains("[ok]   write path"), "{out}");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dnsmesh"))
        .arg("--config-home")
        .arg(&bob.home)
        .args(["recv", "--watch", "--interval", "1"])
        .env("DMP_TOKENS_HOME", bob.home.join("tokens"))
        .env("DMP_PASSPHRASE", "passphrase of bob")
        .env("HOME", bob.home.join("fake-home"))
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for text in ["first while watching", "second while watching"] {
        alice.ok(&["send", "bob@mesh.test", text]);
        let want = format!("  {text}");
        let got = loop {
            match rx.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(l) if l == want => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        assert!(got, "`recv --watch` never printed {text:?}");
    }
}

/// Cluster and bootstrap pins: records signed by test operator keys are
/// fetched over DNS from our node and verified; wrong keys are refused.
#[test]
fn cluster_and_bootstrap_commands_verify_signed_records() {
    use dmp_core::crypto::Signer25519;
    use dmp_core::records::bootstrap::{BootstrapEntry, BootstrapRecord};
    use dmp_core::records::cluster::{ClusterManifest, ClusterNode};
    let node = our_node();
    let user = User::ours("ursula");
    user.init(&node, &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let operator = Signer25519::from_seed(&[7; 32]);
    let zone_op = Signer25519::from_seed(&[9; 32]);
    let manifest = ClusterManifest {
        cluster_name: ZONE.into(),
        operator_spk: operator.public(),
        nodes: vec![ClusterNode {
            node_id: "n1".into(),
            http_endpoint: node.http.clone(),
            dns_endpoint: Some(node.dns.to_string()),
        }],
        seq: 3,
        exp: now + 3600,
    }
    .to_wire(&operator)
    .unwrap();
    let boot = BootstrapRecord {
        user_domain: ZONE.into(),
        signer_spk: zone_op.public(),
        entries: vec![BootstrapEntry {
            priority: 10,
            cluster_base_domain: ZONE.into(),
            operator_spk: operator.public(),
        }],
        seq: 1,
        exp: now + 3600,
    }
    .to_wire(&zone_op)
    .unwrap();
    for (name, value) in [("cluster.mesh.test", &manifest), ("_dmp.mesh.test", &boot)] {
        let r = dmp_cli::net::http::request(
            "POST",
            &format!("{}/v1/records/{name}", node.http),
            Some(&serde_json::json!({"value": value, "ttl": 3600})),
            None,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let op_hex = dmp_core::crypto::hex(&operator.public());
    let zone_hex = dmp_core::crypto::hex(&zone_op.public());

    // A wrong operator key finds nothing that verifies (exit 2).
    user.ok(&["cluster", "pin", &zone_hex, ZONE]);
    assert_eq!(user.run(&["cluster", "fetch"]).status.code(), Some(2));

    // Bootstrap: pin the zone operator, discover, auto-pin the cluster.
    user.ok(&["bootstrap", "pin", ZONE, &zone_hex]);
    let out = user.ok(&["bootstrap", "fetch"]);
    assert!(out.contains(&format!("operator_spk {op_hex}")), "{out}");
    let out = user.ok(&["bootstrap", "discover", "someone@mesh.test", "--auto-pin"]);
    assert!(out.contains("pinned cluster mesh.test"), "{out}");
    let out = user.ok(&["cluster", "fetch", "--save"]);
    assert!(out.starts_with("cluster: mesh.test\n  seq:   3\n"), "{out}");
    assert_eq!(
        std::fs::read_to_string(user.home.join("cluster_manifest.wire")).unwrap(),
        manifest
    );
    assert!(
        user.ok(&["cluster", "enable"])
            .contains("cluster mode enabled.")
    );
    let out = user.ok(&["cluster", "status"]);
    assert!(out.contains("cluster_enabled: true"), "{out}");
    assert!(out.contains("write quorum: 1 of 1 nodes"), "{out}");
    assert!(
        user.ok(&["cluster", "disable"])
            .contains("cluster mode disabled")
    );

    // identity fetch --via-bootstrap reads through the discovered cluster.
    let zed = User::ours("zed");
    zed.init(&node, &[]);
    zed.ok(&["identity", "publish"]);
    let out = user.ok(&["identity", "fetch", "zed@mesh.test", "--via-bootstrap"]);
    assert!(
        out.contains(&format!("public_key:         {}", zed.show("public_key"))),
        "{out}"
    );
    let o = user.run(&["identity", "fetch", "zed@other.test", "--via-bootstrap"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "no bootstrap pin for other.test: {o:?}"
    );
}

/// Cluster mode end to end over two dmp-nodes: writes fan out to both
/// (quorum 1 of 2), reads of mailbox names are the union of both nodes, so
/// a message survives the loss of its records on one node and a send
/// survives one node being down.
#[test]
fn cluster_mode_fans_out_writes_and_unions_reads() {
    use dmp_core::crypto::Signer25519;
    use dmp_core::records::cluster::{ClusterManifest, ClusterNode};
    let (a, b) = (our_node(), our_node());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let operator = Signer25519::from_seed(&[5; 32]);
    let node = |id: &str, n: &Node| ClusterNode {
        node_id: id.into(),
        http_endpoint: n.http.clone(),
        dns_endpoint: Some(n.dns.to_string()),
    };
    let manifest = ClusterManifest {
        cluster_name: ZONE.into(),
        operator_spk: operator.public(),
        nodes: vec![node("a", &a), node("b", &b)],
        seq: 1,
        exp: now + 3600,
    }
    .to_wire(&operator)
    .unwrap();
    // The manifest is served by node a (the users' bootstrap resolver).
    let r = dmp_cli::net::http::request(
        "POST",
        &format!("{}/v1/records/cluster.mesh.test", a.http),
        Some(&serde_json::json!({"value": manifest, "ttl": 3600})),
        None,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let op_hex = dmp_core::crypto::hex(&operator.public());
    let (alice, bob) = (User::ours("alice"), User::ours("bob"));
    for u in [&alice, &bob] {
        u.init(&a, &[]);
        u.ok(&["cluster", "pin", &op_hex, ZONE]);
        u.ok(&["cluster", "enable"]);
        u.ok(&["identity", "publish"]);
    }
    bob.ok(&["identity", "refresh-prekeys", "--count", "3"]);
    let pool = dmp_core::names::prekey_pool_name("bob", ZONE);
    assert_eq!((a.txt(&pool).len(), b.txt(&pool).len()), (3, 3), "fan-out");
    alice.ok(&["contacts", "add", "bob@mesh.test"]);
    bob.ok(&["contacts", "add", "alice@mesh.test"]);

    alice.ok(&["send", "bob@mesh.test", "via the cluster"]);
    // Lose every record of node b: the union still has them from a.
    let bob_pk: [u8; 32] = {
        let h = bob.show("public_key");
        let v: Vec<u8> = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect();
        v.try_into().unwrap()
    };
    let rid = dmp_core::crypto::user_id(&bob_pk);
    for slot in 0..10 {
        let name = dmp_core::names::slot_name(&rid, slot, ZONE);
        for v in b.txt(&name) {
            b.delete(&name, &v);
        }
    }
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["via the cluster".to_string()]);
    assert_eq!(
        (a.txt(&pool).len(), b.txt(&pool).len()),
        (2, 2),
        "delete fanned out"
    );

    // Node b down: quorum (1 of 2) still reached.
    drop(b);
    alice.ok(&["send", "bob@mesh.test", "one node down"]);
    let out = bob.ok(&["recv"]);
    assert_eq!(bodies(&out), vec!["one node down".to_string()]);
    let out = bob.ok(&["cluster", "status"]);
    assert!(out.contains("write quorum: 1 of 2 nodes"), "{out}");
}

/// `peers ZONE` lists the verified heartbeats of the seen feed and skips
/// values that do not verify.
#[test]
fn peers_lists_verified_heartbeats() {
    use dmp_core::crypto::Signer25519;
    use dmp_core::records::heartbeat::HeartbeatRecord;
    let node = our_node();
    let user = User::ours("pia");
    user.init(&node, &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let op = Signer25519::from_seed(&[3; 32]);
    let hb = HeartbeatRecord {
        endpoint: "https://node1.example.net".into(),
        operator_spk: op.public(),
        version: "0.7.5".into(),
        capabilities: 1,
        claim_provider_zone: "node1.example.net".into(),
        ts: now,
        exp: now + 3600,
    }
    .to_wire(&op)
    .unwrap();
    let mut forged = hb.clone();
    forged.pop();
    forged.push(if hb.ends_with('A') { 'B' } else { 'A' });
    for v in [&hb, &forged] {
        let r = dmp_cli::net::http::request(
            "POST",
            &format!("{}/v1/records/_dnsmesh-seen.mesh.test", node.http),
            Some(&serde_json::json!({"value": v, "ttl": 3600})),
            None,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        assert!(r.status == 201 || r.status == 400, "{}", r.body);
    }
    let out = user.ok(&["peers", ZONE, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0]["endpoint"], "https://node1.example.net");
    assert_eq!(rows[0]["claim_provider"], true);
    let out = user.ok(&["peers", ZONE]);
    assert!(
        out.starts_with("https://node1.example.net  v0.7.5"),
        "{out}"
    );
}
