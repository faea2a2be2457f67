//! DNS UPDATE with TSIG over real UDP and TCP sockets against the spawned
//! `dmp-node`: a key minted through `/v1/registration/tsig-confirm`, then
//! good and bad UPDATEs; every refusal must leave the store untouched and
//! every accepted write must be served by DNS right after.

mod auth_support;

use auth_support::*;
use dmp_core::crypto::Keypair;
use dmp_core::dns::client::{build_txt_query, build_update, parse_txt_response, response_rcode};
use dmp_core::dns::{TsigKey, UpdateOp, rcode};
use dmp_core::records::claim::ClaimRecord;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn udp(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.send_to(msg, addr).unwrap();
    let mut buf = vec![0u8; 65_535];
    let n = s.recv(&mut buf).expect("a DNS answer over UDP");
    buf.truncate(n);
    buf
}

fn tcp(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).expect("a DNS answer over TCP");
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// TXT values at `name` over TCP (no truncation).
fn txt(dns: SocketAddr, name: &str) -> Vec<String> {
    let q = build_txt_query(7, name, false, None).unwrap();
    parse_txt_response(&tcp(dns, &q)).unwrap().values
}

struct Env {
    _dir: tempfile::TempDir,
    node: Node,
    key: TsigKey,
    bob: User,
}

fn setup(extra: &[(&'static str, &str)]) -> Env {
    let (dir, db) = tmpdb();
    let mut env = multi_tenant_env();
    env.push(("DMP_DNS_UPDATE_ENABLED", "1".into()));
    for (k, v) in extra {
        env.retain(|(e, _)| e != k);
        env.push((k, v.to_string()));
    }
    let node = Node::start(&db, &env);
    let bob = User::new("bob", 2);
    let r = post_json(
        node.http,
        "/v1/registration/tsig-confirm",
        &bob.confirm_body(node.http, true),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let key = TsigKey {
        name: v["tsig_key_name"]
            .as_str()
            .unwrap()
            .trim_end_matches('.')
            .to_string(),
        secret: unhex(v["tsig_secret_hex"].as_str().unwrap()),
    };
    Env {
        _dir: dir,
        node,
        key,
        bob,
    }
}

fn add(name: &str, value: &str, ttl: u32) -> UpdateOp {
    UpdateOp::Add {
        name: name.into(),
        value: value.into(),
        ttl,
    }
}

/// Send a signed UPDATE over UDP, check the signed answer, return its rcode.
fn signed(e: &Env, ops: &[UpdateOp]) -> u8 {
    let m = build_update(0x4242, ZONE, ops, Some(&e.key), now()).unwrap();
    let resp = udp(e.node.dns, &m.wire);
    m.verify_response(&resp, now())
        .expect("a signed answer")
        .rcode
}

fn bob_id(e: &Env) -> String {
    format!("id-{}.{ZONE}", h(e.bob.local(), 16))
}

#[test]
fn signed_update_is_stored_and_served() {
    let e = setup(&[]);
    let id = bob_id(&e);
    assert_eq!(
        signed(&e, &[add(&id, "v=dmp1;t=identity;x=1", 300)]),
        rcode::NOERROR
    );
    assert_eq!(txt(e.node.dns, &id), vec!["v=dmp1;t=identity;x=1"]);
    // A value over 255 bytes travels as several strings and is joined;
    // over TCP this time, to the prekey pool the scope covers.
    let pool = format!("prekeys.id-{}.{ZONE}", h("bob", 12));
    let long = format!("v=dmp1;t=prekey;{}", "k".repeat(600));
    let m = build_update(9, ZONE, &[add(&pool, &long, 0)], Some(&e.key), now()).unwrap();
    let resp = tcp(e.node.dns, &m.wire);
    assert_eq!(
        m.verify_response(&resp, now()).unwrap().rcode,
        rcode::NOERROR
    );
    assert_eq!(txt(e.node.dns, &pool), vec![long.clone()]);
    // Upper-case owners are stored lower-cased; the HTTP view agrees.
    let upper = id.to_ascii_uppercase();
    assert_eq!(
        signed(&e, &[add(&upper, "v=dmp1;t=identity;x=2", 60)]),
        rcode::NOERROR
    );
    assert_eq!(values(e.node.http, &id).len(), 2);
    // Delete one value, then a value that is not there (NOERROR, RFC 2136).
    let del = UpdateOp::DeleteValue {
        name: id.clone(),
        value: "v=dmp1;t=identity;x=1".into(),
    };
    assert_eq!(signed(&e, std::slice::from_ref(&del)), rcode::NOERROR);
    assert_eq!(signed(&e, &[del]), rcode::NOERROR);
    assert_eq!(txt(e.node.dns, &id), vec!["v=dmp1;t=identity;x=2"]);
    assert_eq!(
        signed(&e, &[UpdateOp::DeleteRrset { name: id.clone() }]),
        rcode::NOERROR
    );
    assert!(txt(e.node.dns, &id).is_empty());
    // TTL 0 is stored as 60 (the reference's default).
    let conn = rusqlite::Connection::open(e._dir.path().join("node/dmp.db")).unwrap();
    let ttl: i64 = conn
        .query_row("SELECT ttl FROM records WHERE name=?1", [&pool], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(ttl, 60);
}

#[test]
fn bad_updates_get_the_right_rcode_and_store_nothing() {
    let e = setup(&[]);
    let id = bob_id(&e);
    let stats = || req(e.node.http, "GET", "/stats", &[], "").body;
    let before = stats();

    // Unknown key and wrong secret: NOTAUTH (BADKEY / BADSIG), unsigned.
    let stranger = TsigKey {
        name: format!("nobody.{ZONE}"),
        secret: vec![7; 32],
    };
    let wrong = TsigKey {
        name: e.key.name.clone(),
        secret: vec![8; 32],
    };
    for k in [&stranger, &wrong] {
        let m = build_update(1, ZONE, &[add(&id, "v=x", 60)], Some(k), now()).unwrap();
        let resp = udp(e.node.dns, &m.wire);
        assert_eq!(response_rcode(&resp), Some(rcode::NOTAUTH));
        assert!(
            m.verify_response(&resp, now()).is_err(),
            "no valid signature"
        );
    }
    // A stale time: NOTAUTH (BADTIME), signed with the real key.
    let m = build_update(2, ZONE, &[add(&id, "v=x", 60)], Some(&e.key), now() - 3600).unwrap();
    let resp = udp(e.node.dns, &m.wire);
    assert_eq!(response_rcode(&resp), Some(rcode::NOTAUTH));
    // Out of scope: alice's identity, and deletes through a wildcard.
    let alice_id = format!("id-{}.{ZONE}", h("alice", 16));
    assert_eq!(signed(&e, &[add(&alice_id, "v=x", 60)]), rcode::REFUSED);
    let slot = format!("slot-1.mb-{}.{ZONE}", h("z", 12));
    assert_eq!(
        signed(&e, &[UpdateOp::DeleteRrset { name: slot.clone() }]),
        rcode::REFUSED
    );
    // Caps: value size, TTL, values per name.
    assert_eq!(
        signed(&e, &[add(&id, &"v".repeat(2049), 60)]),
        rcode::REFUSED
    );
    assert_eq!(signed(&e, &[add(&id, "v=x", 86_401)]), rcode::REFUSED);
    // All or nothing: a good add next to a refused one stores neither.
    assert_eq!(
        signed(&e, &[add(&id, "v=ok", 60), add(&alice_id, "v=x", 60)]),
        rcode::REFUSED
    );
    assert_eq!(
        signed(&e, &[add(&id, "v=ok", 60), add(&id, &"v".repeat(3000), 60)]),
        rcode::REFUSED
    );
    // Owner outside the zone: NOTZONE; a zone we do not serve: NOTAUTH.
    assert_eq!(
        signed(&e, &[add("id-x.other.test", "v=x", 60)]),
        rcode::NOTZONE
    );
    let m = build_update(
        3,
        "other.test",
        &[add("a.other.test", "v=x", 60)],
        Some(&e.key),
        now(),
    )
    .unwrap();
    let resp = udp(e.node.dns, &m.wire);
    assert_eq!(
        m.verify_response(&resp, now()).unwrap().rcode,
        rcode::NOTAUTH
    );
    // Unsigned and not a claim: REFUSED.
    let m = build_update(4, ZONE, &[add(&id, "v=x", 60)], None, now()).unwrap();
    assert_eq!(
        response_rcode(&udp(e.node.dns, &m.wire)),
        Some(rcode::REFUSED)
    );
    // Garbage is FORMERR or ignored, never a crash.
    let mut junk = m.wire.clone();
    junk.truncate(20);
    let r = udp(e.node.dns, &junk);
    assert_eq!(response_rcode(&r), Some(rcode::FORMERR));

    assert!(txt(e.node.dns, &id).is_empty());
    assert!(txt(e.node.dns, &alice_id).is_empty());
    assert_eq!(stats(), before);
    // The node still works afterwards.
    assert_eq!(signed(&e, &[add(&id, "v=fine", 60)]), rcode::NOERROR);
}

#[test]
fn values_per_name_cap_counts_stored_values() {
    let e = setup(&[("DMP_MAX_VALUES_PER_NAME", "3")]);
    let id = bob_id(&e);
    assert_eq!(
        signed(&e, &[add(&id, "v=1", 60), add(&id, "v=2", 60)]),
        rcode::NOERROR
    );
    assert_eq!(
        signed(&e, &[add(&id, "v=3", 60), add(&id, "v=4", 60)]),
        rcode::REFUSED
    );
    assert_eq!(signed(&e, &[add(&id, "v=3", 60)]), rcode::NOERROR);
    assert_eq!(signed(&e, &[add(&id, "v=5", 60)]), rcode::REFUSED);
    assert_eq!(txt(e.node.dns, &id).len(), 3);
    // Every answered UPDATE is counted by outcome.
    let auth = format!("Bearer {OP}");
    let m = req(
        e.node.http,
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        "",
    )
    .body;
    assert!(
        m.contains("dmp_dns_updates_total{outcome=\"noerror\"} 2.0"),
        "{m}"
    );
    assert!(
        m.contains("dmp_dns_updates_total{outcome=\"refused\"} 2.0"),
        "{m}"
    );
}

fn claim(sender: &Keypair, exp_in: u64) -> String {
    let t = now();
    ClaimRecord {
        msg_id: [5; 16],
        sender_spk: sender.ed25519_public(),
        sender_mailbox_domain: "sender.test".into(),
        slot: 1,
        ts: t,
        exp: t + exp_in,
    }
    .to_wire(sender.signer())
    .unwrap()
}

#[test]
fn unsigned_claims_only_when_they_verify() {
    let e = setup(&[
        ("DMP_CLAIM_RATE_BURST", "2"),
        ("DMP_CLAIM_RATE_PER_USER_PER_SEC", "0.001"),
    ]);
    let sender = Keypair::from_x25519_secret([9; 32]);
    let owner = format!("claim-1.mb-{}.{ZONE}", h("recipient", 12));
    let unsigned = |ops: &[UpdateOp]| {
        let m = build_update(5, ZONE, ops, None, now()).unwrap();
        response_rcode(&udp(e.node.dns, &m.wire)).unwrap()
    };
    let good = claim(&sender, 3600);
    assert_eq!(unsigned(&[add(&owner, &good, 0)]), rcode::NOERROR);
    assert_eq!(txt(e.node.dns, &owner), vec![good.clone()]);
    // A forged signature, a far-future claim, a claim at a non-claim name,
    // an unsigned delete.
    // One character of the signature changed.
    let mut forged = good.clone().into_bytes();
    let p = forged.len() - 10;
    forged[p] = if forged[p] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(unsigned(&[add(&owner, &forged, 60)]), rcode::REFUSED);
    assert_eq!(
        unsigned(&[add(&owner, &claim(&sender, 200_000), 60)]),
        rcode::REFUSED
    );
    let slot = format!("slot-1.mb-{}.{ZONE}", h("recipient", 12));
    assert_eq!(unsigned(&[add(&slot, &good, 60)]), rcode::REFUSED);
    assert_eq!(
        unsigned(&[UpdateOp::DeleteRrset {
            name: owner.clone()
        }]),
        rcode::REFUSED
    );
    assert_eq!(txt(e.node.dns, &owner).len(), 1);
    // The recipient's bucket (burst 2, one spent): the third is SERVFAIL.
    let second = claim(&Keypair::from_x25519_secret([10; 32]), 3600);
    assert_eq!(unsigned(&[add(&owner, &second, 60)]), rcode::NOERROR);
    let third = claim(&Keypair::from_x25519_secret([11; 32]), 3600);
    assert_eq!(unsigned(&[add(&owner, &third, 60)]), rcode::SERVFAIL);
    assert_eq!(txt(e.node.dns, &owner).len(), 2);
    drop(e);

    // Claim provider off (and no receiver mode): every unsigned UPDATE is refused.
    let e = setup(&[("DMP_CLAIM_PROVIDER", "0")]);
    let m = build_update(
        6,
        ZONE,
        &[add(&owner, &claim(&sender, 3600), 60)],
        None,
        now(),
    )
    .unwrap();
    assert_eq!(
        response_rcode(&udp(e.node.dns, &m.wire)),
        Some(rcode::REFUSED)
    );
    drop(e);

    // Receiver-only mode: only mailboxes of users registered here.
    let e = setup(&[
        ("DMP_CLAIM_PROVIDER", "0"),
        ("DMP_RECEIVER_CLAIM_NOTIFICATIONS", "1"),
    ]);
    let uid = dmp_core::crypto::sha256(&e.bob.kp.x25519_public());
    let bob_mb = dmp_core::crypto::hex(&dmp_core::crypto::sha256(&uid))[..12].to_string();
    let bob_claim = format!("claim-2.mb-{bob_mb}.{ZONE}");
    for (name, want) in [(&bob_claim, rcode::NOERROR), (&owner, rcode::REFUSED)] {
        let m = build_update(
            7,
            ZONE,
            &[add(name, &claim(&sender, 3600), 60)],
            None,
            now(),
        )
        .unwrap();
        assert_eq!(
            response_rcode(&udp(e.node.dns, &m.wire)),
            Some(want),
            "{name}"
        );
    }
}

#[test]
fn update_disabled_is_refused_and_keys_take_effect_at_once() {
    // Without DMP_DNS_UPDATE_ENABLED every UPDATE is REFUSED.
    let (_d, db) = tmpdb();
    let node = Node::start(&db, &multi_tenant_env());
    let m = build_update(1, ZONE, &[add("a.mesh.test", "v", 60)], None, now()).unwrap();
    assert_eq!(
        response_rcode(&udp(node.dns, &m.wire)),
        Some(rcode::REFUSED)
    );
    drop(node);
    // A re-registration with the same key replaces the secret: the old
    // one stops working, the new one works without a restart.
    let e = setup(&[]);
    let r = post_json(
        e.node.http,
        "/v1/registration/tsig-confirm",
        &e.bob.confirm_body(e.node.http, true),
    );
    assert_eq!(r.status, 200);
    let fresh = TsigKey {
        name: e.key.name.clone(),
        secret: unhex(r.json()["tsig_secret_hex"].as_str().unwrap()),
    };
    let id = bob_id(&e);
    let m = build_update(2, ZONE, &[add(&id, "v=old", 60)], Some(&e.key), now()).unwrap();
    assert_eq!(
        response_rcode(&udp(e.node.dns, &m.wire)),
        Some(rcode::NOTAUTH)
    );
    let m = build_update(3, ZONE, &[add(&id, "v=new", 60)], Some(&fresh), now()).unwrap();
    let resp = udp(e.node.dns, &m.wire);
    assert_eq!(
        m.verify_response(&resp, now()).unwrap().rcode,
        rcode::NOERROR
    );
    assert_eq!(txt(e.node.dns, &id), vec!["v=new"]);
}

/// Registers `user` by tsig-confirm at `http` and returns its key.
fn tsig_key(http: SocketAddr, user: &User) -> TsigKey {
    let r = post_json(
        http,
        "/v1/registration/tsig-confirm",
        &user.confirm_body(http, true),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    TsigKey {
        name: v["tsig_key_name"]
            .as_str()
            .unwrap()
            .trim_end_matches('.')
            .to_string(),
        secret: unhex(v["tsig_secret_hex"].as_str().unwrap()),
    }
}

/// The same UPDATEs to the reference node and to `dmp-node`: the same
/// rcodes, except where the reference has a known bug (R6: deleting an
/// absent value is SERVFAIL there, NOERROR per RFC 2136 here).
#[test]
fn update_rcodes_match_the_reference() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut env = multi_tenant_env();
    env.push(("DMP_DNS_UPDATE_ENABLED", "1".into()));
    let reference = RefNode::start(&python, &dir.path().join("ref"), &env);
    let ours = Node::start(&dir.path().join("ours/dmp.db"), &env);
    let bob = User::new("bob", 2);
    let keys = [tsig_key(reference.http, &bob), tsig_key(ours.http, &bob)];
    let dns = [reference.dns, ours.dns];
    let id = format!("id-{}.{ZONE}", h("bob", 16));
    let alice_id = format!("id-{}.{ZONE}", h("alice", 16));
    let stranger = TsigKey {
        name: format!("nobody.{ZONE}"),
        secret: vec![1; 32],
    };
    let sender = Keypair::from_x25519_secret([9; 32]);
    let claim_owner = format!("claim-3.mb-{}.{ZONE}", h("someone", 12));
    let good_claim = claim(&sender, 3600);
    let long = format!("v=dmp1;t=test;{}", "x".repeat(700));
    // (what, ops, zone, signer: 0 = the node's key, 1 = unknown key, 2 = none, time offset)
    let cases: Vec<(&str, Vec<UpdateOp>, &str, u8, i64)> = vec![
        ("in scope", vec![add(&id, "v=dmp1;t=a", 300)], ZONE, 0, 0),
        ("multi-string value", vec![add(&id, &long, 300)], ZONE, 0, 0),
        ("out of scope", vec![add(&alice_id, "v=x", 300)], ZONE, 0, 0),
        (
            "value over the cap",
            vec![add(&id, &"v".repeat(2049), 300)],
            ZONE,
            0,
            0,
        ),
        (
            "ttl over the cap",
            vec![add(&id, "v=x", 86_401)],
            ZONE,
            0,
            0,
        ),
        (
            "owner outside the zone",
            vec![add("x.other.test", "v=x", 60)],
            ZONE,
            0,
            0,
        ),
        (
            "zone not served",
            vec![add("x.other.test", "v=x", 60)],
            "other.test",
            0,
            0,
        ),
        ("unknown key", vec![add(&id, "v=x", 60)], ZONE, 1, 0),
        ("stale time", vec![add(&id, "v=x", 60)], ZONE, 0, -3600),
        (
            "unsigned, not a claim",
            vec![add(&id, "v=x", 60)],
            ZONE,
            2,
            0,
        ),
        (
            "unsigned claim",
            vec![add(&claim_owner, &good_claim, 60)],
            ZONE,
            2,
            0,
        ),
        (
            "unsigned delete",
            vec![UpdateOp::DeleteRrset {
                name: claim_owner.clone(),
            }],
            ZONE,
            2,
            0,
        ),
        (
            "delete a stored value",
            vec![UpdateOp::DeleteValue {
                name: id.clone(),
                value: "v=dmp1;t=a".into(),
            }],
            ZONE,
            0,
            0,
        ),
    ];
    for (what, ops, zone, signer, skew) in &cases {
        let mut got = [0u8; 2];
        for i in 0..2 {
            let key = match signer {
                0 => Some(&keys[i]),
                1 => Some(&stranger),
                _ => None,
            };
            let t = (now() as i64 + skew) as u64;
            let m = build_update(77, zone, ops, key, t).unwrap();
            let resp = udp(dns[i], &m.wire);
            got[i] = response_rcode(&resp).unwrap();
            if i == 1 && *signer == 0 && *skew == 0 {
                // Ours is always signed once the key verified.
                m.verify_response(&resp, now()).expect("signed answer");
            }
        }
        assert_eq!(got[1], got[0], "{what}: ours vs reference");
    }
    // Both serve the joined multi-string value identically.
    assert_eq!(txt(ours.dns, &id), txt(reference.dns, &id));
    assert_eq!(txt(ours.dns, &id), vec![long.clone()]);
    assert_eq!(
        txt(ours.dns, &claim_owner),
        txt(reference.dns, &claim_owner)
    );
    // R6: deleting a value that is not there.
    let gone = [UpdateOp::DeleteValue {
        name: id.clone(),
        value: "v=never-stored".into(),
    }];
    let rc = |i: usize| {
        let m = build_update(78, ZONE, &gone, Some(&keys[i]), now()).unwrap();
        response_rcode(&udp(dns[i], &m.wire)).unwrap()
    };
    assert_eq!((rc(0), rc(1)), (rcode::SERVFAIL, rcode::NOERROR));
}

/// Mutated and truncated copies of a signed UPDATE: the node answers or
/// drops each one, keeps serving, and nothing but the signed content is
/// ever stored (a flipped message ID still verifies: TSIG covers the
/// original ID).
#[test]
fn mangled_updates_never_write_anything_else() {
    let e = setup(&[]);
    let id = bob_id(&e);
    let m = build_update(
        0x1111,
        ZONE,
        &[add(&id, "v=signed", 60)],
        Some(&e.key),
        now(),
    )
    .unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut answered = 0;
    for i in 0..300 {
        let mut p = m.wire.clone();
        if i % 3 == 0 {
            p.truncate((next() as usize) % p.len());
        } else {
            for _ in 0..1 + (next() % 3) {
                let at = (next() as usize) % p.len();
                p[at] ^= 1 << (next() % 8);
            }
        }
        sock.send_to(&p, e.node.dns).unwrap();
        let mut buf = [0u8; 4096];
        if sock.recv(&mut buf).is_ok() {
            answered += 1;
        }
    }
    assert!(answered > 0);
    for v in txt(e.node.dns, &id) {
        assert_eq!(v, "v=signed");
    }
    assert_eq!(req(e.node.http, "GET", "/stats", &[], "").body.trim(), {
        let n = txt(e.node.dns, &id).len();
        format!("{{\"records\": {n}}}")
    });
    // Still serving UPDATEs.
    assert_eq!(signed(&e, &[add(&id, "v=after", 60)]), rcode::NOERROR);
}
