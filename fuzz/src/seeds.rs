//! Seed inputs: a few valid inputs per target, built deterministically with
//! the keys of [`crate::world`], so the fuzzer starts past the signature
//! checks. `examples/seeds.rs` writes them to `fuzz/seeds/<target>/` and
//! checks that each one is accepted where it should be.

use std::collections::BTreeMap;

use dmp_core::client::{
    Contact, Publish, SendInput, build_message, identity_publish, send_queries,
};
use dmp_core::crypto::{Keypair, sha256};
use dmp_core::envelope::encode_v2;
use dmp_core::fec::{self, BLOCK_SIZE, zfec};
use dmp_core::message::{MessageHeader, frame_outer};
use dmp_core::records::bootstrap::{BootstrapEntry, BootstrapRecord};
use dmp_core::records::chunk::{chunk_wire, wrap_block};
use dmp_core::records::claim::ClaimRecord;
use dmp_core::records::cluster::{ClusterManifest, ClusterNode};
use dmp_core::records::heartbeat::HeartbeatRecord;
use dmp_core::records::identity::IdentityRecord;
use dmp_core::records::manifest::SlotManifest;
use dmp_core::records::prekey::Prekey;
use dmp_core::records::revocation::{RevocationReason, RevocationRecord};
use dmp_core::records::rotation::{RotationRecord, SubjectType};

use crate::receive::{self, Dns};
use crate::world::*;

/// One seed file: target, file name, contents.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub data: Vec<u8>,
}

fn seed(target: &'static str, name: &str, data: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.into(),
        data,
    }
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = records();
    out.extend(message());
    out.extend(fec());
    out.extend(receive());
    out
}

/// `records`: `NOW` ‖ a valid wire of each kind (the kind's name is the
/// file name; the example checks that exactly that kind accepts it).
pub fn records() -> Vec<Seed> {
    let wire = |name: &str, w: String| {
        let mut d = NOW.to_be_bytes().to_vec();
        d.extend_from_slice(w.as_bytes());
        seed("records", name, d)
    };
    let mut out = Vec::new();

    let block: [u8; BLOCK_SIZE] = core::array::from_fn(|i| sha256(&[(i / 32) as u8])[i % 32]);
    out.push(wire("chunk", chunk_wire(&wrap_block(&block))));

    let sm = signer(S_MANIFEST);
    let m = SlotManifest {
        msg_id: core::array::from_fn(|i| i as u8 * 3),
        sender_spk: sm.public(),
        recipient_id: sha256(b"recipient"),
        total_chunks: 3,
        data_chunks: 2,
        prekey_id: 0,
        ts: NOW - 10,
        exp: NOW + 290,
        chunk_hashes: (0..3u32).map(|i| sha256(&i.to_be_bytes())).collect(),
    };
    out.push(wire("manifest", m.to_wire(&sm).unwrap()));

    let si = signer(S_IDENTITY);
    let mut r = IdentityRecord::new("bob".into(), [0x44; 32], si.public(), NOW - 5000);
    r.versions = vec![1, 2];
    out.push(wire("identity", r.to_wire(&si).unwrap()));

    let sp = signer(S_PREKEY);
    let p = Prekey {
        prekey_id: 77,
        public_key: [0x55; 32],
        exp: NOW + DAY,
    };
    out.push(wire("prekey", p.to_wire(&sp).unwrap()));

    let sc = signer(S_CLUSTER);
    let c = ClusterManifest {
        cluster_name: CLUSTER_NAME.into(),
        operator_spk: sc.public(),
        nodes: vec![
            ClusterNode {
                node_id: "n1".into(),
                http_endpoint: "https://n1.example.com:8053".into(),
                dns_endpoint: Some("203.0.113.10:53".into()),
            },
            ClusterNode {
                node_id: "n2".into(),
                http_endpoint: "http://n2.example.com".into(),
                dns_endpoint: None,
            },
        ],
        seq: 7,
        exp: NOW + 365 * DAY,
    };
    out.push(wire("cluster", c.to_wire(&sc).unwrap()));

    let sb = signer(S_BOOTSTRAP);
    let b = BootstrapRecord {
        user_domain: USER_DOMAIN.into(),
        signer_spk: sb.public(),
        entries: vec![
            BootstrapEntry {
                priority: 20,
                cluster_base_domain: "b.mesh.example.org".into(),
                operator_spk: [0x61; 32],
            },
            BootstrapEntry {
                priority: 10,
                cluster_base_domain: "a.mesh.example.org".into(),
                operator_spk: [0x62; 32],
            },
        ],
        seq: 3,
        exp: NOW + 2 * 365 * DAY,
    };
    out.push(wire("bootstrap", b.to_wire(&sb).unwrap()));

    let (so, sn) = (signer(S_OLD), signer(S_NEW));
    let rot = RotationRecord {
        subject_type: SubjectType::ClusterOperator,
        subject: ROTATION_SUBJECT.into(),
        old_spk: so.public(),
        new_spk: sn.public(),
        seq: 1_700_000_000_000,
        ts: NOW - 100,
        exp: NOW + 90 * DAY,
    };
    out.push(wire("rotation", rot.to_wire(&so, &sn).unwrap()));

    let sr = signer(S_REVOKED);
    let rev = RevocationRecord {
        subject_type: SubjectType::BootstrapSigner,
        subject: REVOCATION_SUBJECT.into(),
        revoked_spk: sr.public(),
        reason: RevocationReason::Routine,
        ts: NOW - 100,
    };
    out.push(wire("revocation", rev.to_wire(&sr).unwrap()));

    let scl = signer(S_CLAIM);
    let cl = ClaimRecord {
        msg_id: [0x77; 16],
        sender_spk: scl.public(),
        sender_mailbox_domain: "mail.example.com".into(),
        slot: 3,
        ts: NOW - 60,
        exp: NOW + 240,
    };
    out.push(wire("claim", cl.to_wire(&scl).unwrap()));

    let sh = signer(S_HEARTBEAT);
    let h = HeartbeatRecord {
        endpoint: "https://node1.example.com:8053".into(),
        operator_spk: sh.public(),
        version: "0.7.5".into(),
        capabilities: 1,
        claim_provider_zone: "claims.example.com".into(),
        ts: NOW,
        exp: NOW + DAY,
    };
    out.push(wire("heartbeat", h.to_wire(&sh).unwrap()));
    out
}

/// `message`: an outer message, a header, a DMPv2 plaintext, an address.
pub fn message() -> Vec<Seed> {
    let header = MessageHeader::new_data(
        core::array::from_fn(|i| i as u8),
        [0xab; 32],
        [0x5c; 32],
        NOW,
        300,
    );
    let payload: Vec<u8> = (0..80u8).collect();
    vec![
        seed("message", "outer", frame_outer(&header, &payload)),
        seed("message", "header", header.to_json()),
        seed(
            "message",
            "envelope",
            encode_v2(b"hello bob", Some("alice@alice.example")),
        ),
        seed(
            "message",
            "address",
            b" Alice.B@Mail.Example.COM.\n".to_vec(),
        ),
    ]
}

/// `fec`: one seed per mode.
pub fn fec() -> Vec<Seed> {
    let outer: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
    let (k, n, shares) = fec::encode_message(&outer).unwrap();
    assert!(k >= 2);

    // Mode 0 with real 128-byte shares: the last data share missing.
    let mut m0 = vec![0, k as u8];
    m0.extend_from_slice(&(n as u16).to_be_bytes());
    m0.push(BLOCK_SIZE as u8);
    for id in (0..n).rev().filter(|&i| i != k - 1) {
        m0.extend_from_slice(&(id as u16).to_be_bytes());
        m0.extend_from_slice(&shares[id]);
    }

    // Mode 0 with short shares (zfec only): k = 3 of n = 5, ids 4, 1, 3.
    let data: [&[u8]; 3] = [b"abcdefgh", b"ijklmnop", b"qrstuvwx"];
    let small = zfec::encode(3, 5, &data).unwrap();
    let mut m0s = vec![0, 3, 0, 5, 8];
    for id in [4usize, 1, 3] {
        m0s.extend_from_slice(&(id as u16).to_be_bytes());
        m0s.extend_from_slice(&small[id]);
    }

    let mut m1 = vec![1];
    m1.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
    m1.extend_from_slice(&outer);

    let mut m2 = vec![2, 16];
    m2.extend_from_slice(&42u64.to_be_bytes());
    m2.extend((0..300u32).map(|i| (i * 13) as u8));

    let mut m3 = vec![3];
    m3.extend_from_slice(chunk_wire(&wrap_block(&shares[0])).as_bytes());

    vec![
        seed("fec", "erasure-raw", m0),
        seed("fec", "erasure-raw-short", m0s),
        seed("fec", "erasure-round-trip", m1),
        seed("fec", "reed-solomon", m2),
        seed("fec", "chunk", m3),
    ]
}

/// An in-memory DNS with append semantics (as the seeds need it).
#[derive(Default)]
struct Zone(BTreeMap<String, Vec<String>>);

impl Zone {
    fn publish(&mut self, p: &Publish) {
        let rr = self.0.entry(p.name.clone()).or_default();
        if !rr.contains(&p.value) {
            rr.push(p.value.clone());
        }
    }
    fn publish_all(&mut self, ps: &[Publish]) {
        ps.iter().for_each(|p| self.publish(p));
    }
}

struct Send<'a> {
    text: &'a [u8],
    identity_domain: Option<&'a str>,
    providers: &'a [String],
    rng: u64,
}

/// Alice sends to Bob over `zone` (whatever prekeys/identities it holds).
fn send(zone: &mut Zone, s: &Send<'_>) -> dmp_core::client::SentMessage {
    let alice = Keypair::from_x25519_secret(ALICE_SECRET);
    let b = receive::bob();
    let bob = Contact {
        username: BOB.into(),
        domain: BOB_ZONE.into(),
        domain_explicit: true,
        x25519_pub: Some(b.keys.x25519_public()),
        ed25519_spk: Some(b.keys.ed25519_public()),
    };
    let answers = send_queries(&bob, ALICE_ZONE)
        .into_iter()
        .map(|n| {
            let v = zone.0.get(&n).cloned().unwrap_or_default();
            (n, v)
        })
        .collect();
    let input = SendInput {
        keypair: &alice,
        username: ALICE,
        domain: ALICE_ZONE,
        identity_domain: s.identity_domain,
        contact: &bob,
        answers: &answers,
        message: s.text,
        ttl: 300,
        now: NOW - 5,
        claim_providers: s.providers,
    };
    let sent = build_message(&input, &mut DetRng::new(s.rng)).expect("seed send");
    zone.publish_all(&sent.publishes);
    sent
}

fn plain(text: &[u8], rng: u64) -> Send<'_> {
    Send {
        text,
        identity_domain: None,
        providers: &[],
        rng,
    }
}

/// `receive`: Alice's messages to Bob in various shapes, with the flags
/// under which they are delivered (or quarantined).
pub fn receive() -> Vec<Seed> {
    use receive::{FLAG_PIN_ALICE as PIN, FLAG_PRIMARY_ONLY, FLAG_PROVIDER, FLAG_TOFU};
    let mut out = Vec::new();
    let mut emit = |name: &str, zone: &Zone, flags: u8| {
        out.push(seed("receive", name, Dns::to_input(&zone.0, flags)));
    };

    let mut z = Zone::default();
    send(&mut z, &plain(b"hello bob", 1));
    emit("plain", &z, PIN);
    // Nobody pinned: only the own-zone claim poll finds the message.
    emit("tofu", &z, FLAG_TOFU | FLAG_PRIMARY_ONLY);
    emit("unpinned", &z, FLAG_PRIMARY_ONLY);

    // A prekey from Bob's published pool.
    let mut z = Zone::default();
    z.publish_all(&receive::bob().pool);
    let sent = send(&mut z, &plain(b"forward secret", 2));
    assert_ne!(sent.prekey_id, 0);
    emit("prekey", &z, PIN);

    // DMPv2: Bob advertises v2, Alice's identity lets Bob label her.
    let mut z = Zone::default();
    let b = receive::bob();
    let alice = Keypair::from_x25519_secret(ALICE_SECRET);
    z.publish(
        &identity_publish(&b.keys, BOB, BOB_ZONE, Some(BOB_ZONE), &[1, 2], 86_400, NOW).unwrap(),
    );
    z.publish(
        &identity_publish(
            &alice,
            ALICE,
            ALICE_ZONE,
            Some(ALICE_ZONE),
            &[1],
            86_400,
            NOW,
        )
        .unwrap(),
    );
    let sent = send(
        &mut z,
        &Send {
            text: b"signed, alice",
            identity_domain: Some(ALICE_ZONE),
            providers: &[],
            rng: 3,
        },
    );
    assert!(sent.dmpv2);
    emit("dmpv2", &z, PIN);

    // A claim at the provider zone.
    let mut z = Zone::default();
    let providers = vec![PROVIDER_ZONE.to_string()];
    send(
        &mut z,
        &Send {
            text: b"via provider",
            identity_domain: None,
            providers: &providers,
            rng: 4,
        },
    );
    emit("provider", &z, PIN | FLAG_PROVIDER);

    // Two messages, the longer one with its first chunk damaged (the next
    // position is fetched instead).
    let mut z = Zone::default();
    send(&mut z, &plain(b"short one", 5));
    let long: Vec<u8> = (0..600).map(|i| b'a' + (i % 26) as u8).collect();
    let sent = send(&mut z, &plain(&long, 6));
    let first = &sent.publishes[0];
    let rr = z.0.get_mut(&first.name).expect("chunk published");
    rr[0] = rr[0].replace('A', "B");
    emit("two-messages", &z, PIN);
    out
}
