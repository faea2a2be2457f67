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
}

#[test]
fn prekeys_are_consumed_and_deleted_between_our_clients() {
    let node = our_node();
    let (alice, bob) = pair(&node);
    let pool = dmp_core::names::prekey_pool_name("bob", ZONE);
    assert_eq!(node.txt(&pool).len(), 5);
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
