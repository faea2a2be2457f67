//! Message-path benchmarks, matched to the reference's
//! `scripts/bench/reference_message_path.py` (long-term-key path, v1
//! plaintext, one recipient, clock pinned, records in an in-memory map).
//!
//! * `send/<size>`: resolve the send lookups against an empty map (no
//!   prekeys, no identity, so prekey_id 0 and v1), [`build_message`] (seal,
//!   erasure, per-chunk RS, chunk records, signed manifest, M10 claim) and
//!   publish every record into a fresh map, as the reference publishes into
//!   a fresh `InMemoryDNSStore`.
//! * `receive/<size>`: one whole [`ReceiveSession`] over the map holding
//!   what one send published: claim poll and slot walk, claim and manifest
//!   verification, chunk fetch, hash and RS checks, erasure decode,
//!   decrypt, then `finish`. This is a superset of the reference's
//!   `receive` op and the counterpart of its `receive_poll` op. Replay,
//!   prekey and intro state start empty every iteration.
//!
//! Key derivation and contacts are set up once, outside the timed loops.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dmp_core::client::{
    Contact, Event, IntroState, PrekeyStore, Publish, ReceiveParams, ReceiveSession, ReplayCache,
    SendInput, SentMessage, TxtAnswers, build_message, send_queries,
};
use dmp_core::crypto::Keypair;

/// The reference bench's pinned clock.
const NOW: u64 = 2_000_000_000;
const TTL: u32 = 300;
const SIZES: [usize; 2] = [1024, 20 * 1024];
/// The reference clients' `kdf_salt=bytes(range(16))`.
const KDF_SALT: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

#[path = "../tests/support/det_rng.rs"]
mod det_rng;
use det_rng::DetRng as BenchRng;

/// In-memory DNS: owner name → TXT values, append semantics.
type Dns = HashMap<String, Vec<String>>;

fn publish_all(dns: &mut Dns, publishes: &[Publish]) {
    for p in publishes {
        let rr = dns.entry(p.name.clone()).or_default();
        if !rr.contains(&p.value) {
            rr.push(p.value.clone());
        }
    }
}

fn answers_for(dns: &Dns, names: &[String]) -> TxtAnswers {
    names
        .iter()
        .map(|n| (n.clone(), dns.get(n).cloned().unwrap_or_default()))
        .collect()
}

struct Peer {
    keys: Keypair,
    username: &'static str,
    domain: &'static str,
}

impl Peer {
    fn derive(username: &'static str, passphrase: &str, domain: &'static str) -> Self {
        Peer {
            keys: Keypair::derive(passphrase.as_bytes(), &KDF_SALT).expect("key derivation"),
            username,
            domain,
        }
    }

    /// How the other side pins this peer: explicit zone (so a send also
    /// publishes the M10 claim), both keys.
    fn as_contact(&self) -> Contact {
        Contact::new(
            self.username,
            Some(self.domain),
            "",
            Some(self.keys.x25519_public()),
            Some(self.keys.ed25519_public()),
        )
    }
}

/// The timed send: lookups against `dns`, build, publish into a fresh map.
fn send(alice: &Peer, bob: &Contact, dns: &Dns, text: &[u8], rng: &mut BenchRng) -> Dns {
    let answers = answers_for(dns, &send_queries(bob, alice.domain));
    let input = SendInput {
        keypair: &alice.keys,
        username: alice.username,
        domain: alice.domain,
        identity_domain: None,
        contact: bob,
        answers: &answers,
        message: text,
        ttl: TTL,
        now: NOW,
        claim_providers: &[],
    };
    let sent: SentMessage = build_message(&input, rng).expect("build_message");
    assert_eq!(sent.prekey_id, 0, "bench must take the long-term-key path");
    let mut out = Dns::new();
    publish_all(&mut out, &sent.publishes);
    out
}

/// Client state a receive starts from; fresh (empty) for every iteration so
/// no iteration sees the previous one's delivery as a replay.
type State = (ReplayCache, PrekeyStore, IntroState);

fn fresh_state() -> State {
    (ReplayCache::new(), PrekeyStore::new(), IntroState::new())
}

/// The timed receive: one session to completion; returns the delivered body
/// length.
fn receive(params: ReceiveParams, state: State, dns: &Dns) -> usize {
    let (mut replay, mut prekeys, mut intro) = state;
    let mut session = ReceiveSession::new(params, &replay, &prekeys, &intro);
    while !session.is_done() {
        let batch = session.queries();
        assert!(!batch.is_empty(), "session stalled");
        for name in batch {
            let values = dns.get(&name).cloned().unwrap_or_default();
            session.answer(&name, values);
        }
    }
    let events = session.finish(&mut replay, &mut prekeys, &mut intro);
    let mut delivered = events.iter().filter_map(|e| match e {
        Event::Delivered { body, .. } => Some(body.len()),
        _ => None,
    });
    let len = delivered.next().expect("one delivery");
    assert!(delivered.next().is_none(), "exactly one delivery");
    len
}

fn message_path(c: &mut Criterion) {
    let alice = Peer::derive("alice", "alice passphrase", "a.example");
    let bob = Peer::derive("bob", "bob passphrase", "b.example");
    let bob_contact = bob.as_contact();
    let alice_contact = alice.as_contact();
    let empty = Dns::new();

    let mut group = c.benchmark_group("send");
    for size in SIZES {
        let text = vec![b'a'; size];
        let mut rng = BenchRng::new(size as u64);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &text, |b, text| {
            b.iter(|| send(&alice, &bob_contact, black_box(&empty), text, &mut rng));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("receive");
    for size in SIZES {
        let text = vec![b'a'; size];
        let dns = send(&alice, &bob_contact, &empty, &text, &mut BenchRng::new(1));
        let params = ReceiveParams::new(
            bob.keys.clone(),
            bob.username,
            bob.domain,
            vec![alice_contact.clone()],
            NOW,
        );
        assert_eq!(receive(params.clone(), fresh_state(), &dns), size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &dns, |b, dns| {
            b.iter_batched(
                || (params.clone(), fresh_state()),
                |(p, state)| receive(p, state, black_box(dns)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Bounded run: ~3 s of measurement per bench.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = message_path
}
criterion_main!(benches);
