//! End-to-end tests of the sans-IO client over an in-memory "DNS": a map
//! from owner name to TXT values with append semantics, driven through the
//! same query/answer loop a front end runs.

mod support;

use std::collections::HashMap;

use dmp_core::client::{
    Contact, DropReason, Event, IdentityChoice, IntroState, PrekeyStore, Publish, ReceiveParams,
    ReceiveSession, ReplayCache, SendInput, SentMessage, TxtAnswers, build_message,
    identity_fetch_names, identity_publish, select_identity, send_queries,
};
use dmp_core::crypto::Keypair;
use dmp_core::error::Error;
use dmp_core::records::manifest::SlotManifest;
use proptest::prelude::*;

const NOW: u64 = 1_900_000_000;

use support::det_rng::DetRng as TestRng;

/// The in-memory DNS.
#[derive(Default, Clone)]
struct Dns {
    map: HashMap<String, Vec<String>>,
}

impl Dns {
    fn publish(&mut self, p: &Publish) {
        let rr = self.map.entry(p.name.clone()).or_default();
        if !rr.contains(&p.value) {
            rr.push(p.value.clone());
        }
    }
    fn publish_all(&mut self, ps: &[Publish]) {
        for p in ps {
            self.publish(p);
        }
    }
    fn delete(&mut self, name: &str, value: &str) {
        if let Some(rr) = self.map.get_mut(name) {
            rr.retain(|v| v != value);
        }
    }
    fn get(&self, name: &str) -> Vec<String> {
        self.map.get(name).cloned().unwrap_or_default()
    }
    fn answers_for(&self, names: &[String]) -> TxtAnswers {
        names.iter().map(|n| (n.clone(), self.get(n))).collect()
    }
}

/// A user: keys, names and persistent client state.
struct User {
    keys: Keypair,
    username: String,
    domain: String,
    identity_domain: Option<String>,
    contacts: Vec<Contact>,
    replay: ReplayCache,
    prekeys: PrekeyStore,
    intro: IntroState,
}

impl User {
    fn new(seed: u8, username: &str, domain: &str) -> Self {
        User {
            keys: Keypair::from_x25519_secret([seed; 32]),
            username: username.into(),
            domain: domain.into(),
            identity_domain: None,
            contacts: Vec::new(),
            replay: ReplayCache::new(),
            prekeys: PrekeyStore::new(),
            intro: IntroState::new(),
        }
    }

    /// How `other` would pin this user (explicit zone, both keys).
    fn as_contact(&self) -> Contact {
        Contact {
            username: self.username.clone(),
            domain: self.domain.clone(),
            domain_explicit: true,
            x25519_pub: Some(self.keys.x25519_public()),
            ed25519_spk: Some(self.keys.ed25519_public()),
        }
    }

    fn params(&self, now: u64) -> ReceiveParams {
        ReceiveParams::new(
            self.keys.clone(),
            &self.username,
            &self.domain,
            self.contacts.clone(),
            now,
        )
    }
}

struct Poll {
    events: Vec<Event>,
    /// Every batch of names the session asked for.
    batches: Vec<Vec<String>>,
}

impl Poll {
    fn delivered(&self) -> Vec<(&[u8], Option<&str>, &str)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Delivered {
                    body,
                    sender_label,
                    zone,
                    ..
                } => Some((body.as_slice(), sender_label.as_deref(), zone.as_str())),
                _ => None,
            })
            .collect()
    }
    fn quarantined(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Quarantined { .. }))
            .collect()
    }
    fn drops(&self) -> Vec<&DropReason> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Dropped { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }
    fn has_drop(&self, want: &DropReason) -> bool {
        self.drops().contains(&want)
    }
    fn chunk_queries(&self) -> usize {
        self.batches
            .iter()
            .flatten()
            .filter(|n| n.starts_with("chunk-"))
            .count()
    }
}

/// Run a receive session against `dns`, applying the resulting deletions.
/// With `reverse`, each batch is answered last name first.
fn poll_with(dns: &mut Dns, user: &mut User, params: ReceiveParams, reverse: bool) -> Poll {
    let mut session = ReceiveSession::new(params, &user.replay, &user.prekeys, &user.intro);
    let mut batches = Vec::new();
    for _ in 0..1000 {
        let mut batch = session.queries();
        if batch.is_empty() {
            break;
        }
        batches.push(batch.clone());
        if reverse {
            batch.reverse();
        }
        for name in batch {
            session.answer(&name, dns.get(&name));
        }
    }
    assert!(session.is_done(), "session stalled");
    let events = session.finish(&mut user.replay, &mut user.prekeys, &mut user.intro);
    for e in &events {
        if let Event::DeletePublished { name, value } = e {
            dns.delete(name, value);
        }
    }
    Poll { events, batches }
}

fn poll(dns: &mut Dns, user: &mut User, now: u64) -> Poll {
    let params = user.params(now);
    poll_with(dns, user, params, false)
}

/// `from` sends `text` to `to` (looked up in `from`'s contacts by username).
fn send_with(
    dns: &mut Dns,
    from: &User,
    to: &str,
    text: &[u8],
    providers: &[String],
    seed: u64,
) -> Result<SentMessage, Error> {
    send_at(dns, from, to, text, providers, seed, NOW)
}

fn send_at(
    dns: &mut Dns,
    from: &User,
    to: &str,
    text: &[u8],
    providers: &[String],
    seed: u64,
    now: u64,
) -> Result<SentMessage, Error> {
    let contact = from
        .contacts
        .iter()
        .find(|c| c.username == to)
        .expect("contact")
        .clone();
    let answers = dns.answers_for(&send_queries(&contact, &from.domain));
    let input = SendInput {
        keypair: &from.keys,
        username: &from.username,
        domain: &from.domain,
        identity_domain: from.identity_domain.as_deref(),
        contact: &contact,
        answers: &answers,
        message: text,
        ttl: 300,
        now,
        claim_providers: providers,
    };
    let sent = build_message(&input, &mut TestRng::new(seed))?;
    dns.publish_all(&sent.publishes);
    Ok(sent)
}

fn send(dns: &mut Dns, from: &User, to: &str, text: &[u8]) -> SentMessage {
    send_with(dns, from, to, text, &[], 7).expect("send")
}

/// Alice (alice.example) and Bob (bob.example), pinned both ways.
fn alice_and_bob() -> (User, User) {
    let mut alice = User::new(1, "alice", "alice.example");
    let mut bob = User::new(2, "bob", "bob.example");
    alice.contacts.push(bob.as_contact());
    bob.contacts.push(alice.as_contact());
    (alice, bob)
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Names of the chunk records of a sent message, in position order.
fn chunk_names(sent: &SentMessage) -> Vec<String> {
    sent.publishes[..sent.total_chunks as usize]
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

fn manifest_publish(sent: &SentMessage) -> &Publish {
    &sent.publishes[sent.total_chunks as usize]
}

#[test]
fn delivers_exact_text_of_several_sizes() {
    for (i, len) in [1usize, 1024, 20 * 1024].into_iter().enumerate() {
        let mut dns = Dns::default();
        let (alice, mut bob) = alice_and_bob();
        let body = text(len);
        let sent = send_with(&mut dns, &alice, "bob", &body, &[], i as u64).unwrap();
        assert_eq!(sent.prekey_id, 0);
        assert!(!sent.dmpv2);
        // Publish order: n chunks, the manifest, then (here) the M10 claim.
        assert_eq!(sent.publishes.len(), sent.total_chunks as usize + 2);
        assert!(manifest_publish(&sent).name.starts_with("slot-"));
        assert_eq!(sent.claims_start, sent.total_chunks as usize + 1);
        assert_eq!(sent.claim_zones, vec!["bob.example".to_string()]);

        let p = poll(&mut dns, &mut bob, NOW + 1);
        assert_eq!(
            p.delivered(),
            vec![(body.as_slice(), None, "alice.example")]
        );
        // Exactly k chunk lookups when every chunk is intact.
        assert_eq!(p.chunk_queries(), sent.data_chunks as usize);
        let delivered = p
            .events
            .iter()
            .find_map(|e| match e {
                Event::Delivered {
                    sender_spk,
                    ts,
                    msg_id,
                    ..
                } => Some((*sender_spk, *ts, *msg_id)),
                _ => None,
            })
            .unwrap();
        assert_eq!(delivered, (alice.keys.ed25519_public(), NOW, sent.msg_id));
        assert!(
            bob.replay
                .has_seen(&alice.keys.ed25519_public(), &sent.msg_id, NOW)
        );
    }
}

#[test]
fn first_batch_holds_every_claim_and_slot_name() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let sent = send(&mut dns, &alice, "bob", b"hi");
    let mut params = bob.params(NOW);
    params.claim_providers = vec!["claims.example".into()];
    let p = poll_with(&mut dns, &mut bob, params, false);
    let first = &p.batches[0];
    // Own-zone claims (pins exist), two zones of slots, one provider.
    assert_eq!(first.len(), 10 + 20 + 10);
    assert!(
        first
            .iter()
            .any(|n| n.starts_with("claim-0.mb-") && n.ends_with(".bob.example"))
    );
    assert!(
        first
            .iter()
            .any(|n| n.starts_with("slot-9.mb-") && n.ends_with(".alice.example"))
    );
    assert!(first.iter().any(|n| n.ends_with(".claims.example")));
    // The claim names the same message, so the claim path delivers it and
    // the slot walk sees a replay.
    assert_eq!(p.delivered().len(), 1);
    assert!(p.has_drop(&DropReason::Replay));
    // Then all k chunk names at once.
    let second = &p.batches[1];
    assert_eq!(second.len(), sent.data_chunks as usize);
    assert!(second.iter().all(|n| n.starts_with("chunk-")));
}

#[test]
fn reverse_answer_order_gives_the_same_events() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    send(&mut dns, &alice, "bob", &text(3000));
    let mut dns2 = dns.clone();
    let mut bob2 = User::new(2, "bob", "bob.example");
    bob2.contacts = bob.contacts.clone();
    let (pa, pb) = (bob.params(NOW), bob2.params(NOW));
    let a = poll_with(&mut dns, &mut bob, pa, false);
    let b = poll_with(&mut dns2, &mut bob2, pb, true);
    assert_eq!(a.events, b.events);
    assert_eq!(a.delivered().len(), 1);
}

#[test]
fn prekey_is_used_once_and_deleted() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let pool = bob
        .prekeys
        .generate_pool(
            bob.keys.signer(),
            "bob",
            "bob.example",
            5,
            86_400,
            NOW - 10,
            &mut TestRng::new(99),
        )
        .unwrap();
    assert_eq!(pool.len(), 5);
    assert!(pool.iter().all(|p| p.value.len() == 162 && p.ttl == 86_400));
    dns.publish_all(&pool);
    let pool_name = pool[0].name.clone();
    assert_eq!(bob.prekeys.keys.len(), 5);
    assert!(!bob.prekeys.keys.contains_key(&0));

    let sent = send(&mut dns, &alice, "bob", b"forward secret");
    assert_ne!(sent.prekey_id, 0);
    assert!(bob.prekeys.keys.contains_key(&sent.prekey_id));

    let p = poll(&mut dns, &mut bob, NOW + 1);
    assert_eq!(
        p.delivered(),
        vec![(&b"forward secret"[..], None, "alice.example")]
    );
    let consumed: Vec<_> = p
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PrekeyConsumed { id } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(consumed, vec![sent.prekey_id]);
    let deletes: Vec<_> = p
        .events
        .iter()
        .filter(|e| matches!(e, Event::DeletePublished { .. }))
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(dns.get(&pool_name).len(), 4);
    assert_eq!(bob.prekeys.keys.len(), 4);
    assert!(!bob.prekeys.keys.contains_key(&sent.prekey_id));

    // The records are all still published: polling again delivers nothing.
    let again = poll(&mut dns, &mut bob, NOW + 2);
    assert!(again.delivered().is_empty());
    assert!(again.has_drop(&DropReason::Replay));
    assert!(
        !again
            .events
            .iter()
            .any(|e| matches!(e, Event::PrekeyConsumed { .. }))
    );
    assert_eq!(bob.prekeys.keys.len(), 4);

    // A second message picks one of the remaining prekeys.
    let sent2 = send_with(&mut dns, &alice, "bob", b"two", &[], 8).unwrap();
    assert!(bob.prekeys.keys.contains_key(&sent2.prekey_id));
}

#[test]
fn prekey_pool_refuses_useless_ttls() {
    let bob = User::new(2, "bob", "bob.example");
    let mut store = PrekeyStore::new();
    for ttl in [0u32, 30 * 86_400 + 1] {
        assert!(
            store
                .generate_pool(
                    bob.keys.signer(),
                    "bob",
                    "bob.example",
                    1,
                    ttl,
                    NOW,
                    &mut TestRng::new(1)
                )
                .is_err()
        );
    }
    assert!(store.keys.is_empty());
}

#[test]
fn erasure_tolerates_n_minus_k_missing_chunks_and_no_more() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let pool = bob
        .prekeys
        .generate_pool(
            bob.keys.signer(),
            "bob",
            "bob.example",
            3,
            86_400,
            NOW,
            &mut TestRng::new(5),
        )
        .unwrap();
    dns.publish_all(&pool);
    let sent = send(&mut dns, &alice, "bob", &text(1024));
    let (k, n) = (sent.data_chunks as usize, sent.total_chunks as usize);
    assert_eq!((k, n), (11, 15));
    let names = chunk_names(&sent);
    let saved: Vec<(String, Vec<String>)> = names.iter().map(|n| (n.clone(), dns.get(n))).collect();

    // Remove n−k+1 RRsets (data and parity mixed): undeliverable.
    for idx in [0usize, 3, 5, 11, 14] {
        dns.map.remove(&names[idx]);
    }
    let p = poll(&mut dns, &mut bob, NOW + 1);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::NotEnoughChunks { have: 10, need: 11 }));
    // Every position was tried once, in order.
    assert_eq!(p.chunk_queries(), n);
    // No broken state: not seen, nothing in flight, prekey kept.
    assert!(
        !bob.replay
            .has_seen(&alice.keys.ed25519_public(), &sent.msg_id, NOW + 1)
    );
    assert!(bob.replay.in_flight.is_empty());
    assert_eq!(bob.prekeys.keys.len(), 3);
    assert!(bob.prekeys.keys.contains_key(&sent.prekey_id));
    assert_eq!(dns.get(&pool[0].name).len(), 3);

    // Restore one: exactly n−k missing now, and the message arrives.
    dns.map.insert(saved[14].0.clone(), saved[14].1.clone());
    let p = poll(&mut dns, &mut bob, NOW + 2);
    assert_eq!(p.delivered().len(), 1);
    assert_eq!(p.delivered()[0].0, text(1024).as_slice());
    assert!(!bob.prekeys.keys.contains_key(&sent.prekey_id));
}

#[test]
fn missing_first_chunk_asks_for_one_more_position() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let sent = send(&mut dns, &alice, "bob", &text(500));
    let names = chunk_names(&sent);
    dns.map.remove(&names[0]);
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(p.delivered().len(), 1);
    assert_eq!(p.chunk_queries(), sent.data_chunks as usize + 1);
    // The extra position is asked for in a later batch than the first k.
    let chunk_batches: Vec<usize> = p
        .batches
        .iter()
        .map(|b| b.iter().filter(|n| n.starts_with("chunk-")).count())
        .filter(|&c| c > 0)
        .collect();
    assert_eq!(chunk_batches, vec![sent.data_chunks as usize, 1]);
}

/// A syntactically valid chunk value carrying the wrong block.
fn forged_chunk_value() -> String {
    let block = [0x5au8; 128];
    let data = dmp_core::records::chunk::wrap_block(&block);
    dmp_core::records::chunk::chunk_wire(&data)
}

#[test]
fn tampered_chunk_values_are_skipped() {
    // Replaced value: that position is skipped and one more is fetched.
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let body = text(900);
    let sent = send(&mut dns, &alice, "bob", &body);
    let names = chunk_names(&sent);
    dns.map.insert(names[2].clone(), vec![forged_chunk_value()]);
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(
        p.delivered(),
        vec![(body.as_slice(), None, "alice.example")]
    );
    assert_eq!(p.chunk_queries(), sent.data_chunks as usize + 1);

    // A poisoned copy in front of the good one: the good copy is used and
    // no extra position is needed. Garbage and other records are skipped.
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let sent = send(&mut dns, &alice, "bob", &body);
    let names = chunk_names(&sent);
    for name in &names {
        let good = dns.get(name);
        let mut rr = vec![
            forged_chunk_value(),
            "v=spf1 -all".to_string(),
            "v=dmp1;t=chunk;d=!!!".to_string(),
        ];
        rr.extend(good);
        dns.map.insert(name.clone(), rr);
    }
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(
        p.delivered(),
        vec![(body.as_slice(), None, "alice.example")]
    );
    assert_eq!(p.chunk_queries(), sent.data_chunks as usize);
}

/// Re-sign the manifest of `sent` after `edit`, replacing it in DNS.
fn replace_manifest(
    dns: &mut Dns,
    sent: &SentMessage,
    signer: &Keypair,
    edit: impl Fn(&mut SlotManifest),
) {
    let mp = manifest_publish(sent);
    let mut m = SlotManifest::parse_and_verify(&mp.value, NOW).unwrap();
    edit(&mut m);
    let wire = m.to_wire(signer.signer()).unwrap();
    dns.map.insert(mp.name.clone(), vec![wire]);
}

#[test]
fn forged_and_misaddressed_manifests_are_not_delivered() {
    // Bad signature.
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let sent = send(&mut dns, &alice, "bob", b"x");
    let mp = manifest_publish(&sent).clone();
    let mut bytes = mp.value.clone().into_bytes();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    dns.map
        .insert(mp.name.clone(), vec![String::from_utf8(bytes).unwrap()]);
    let p = poll(&mut dns, &mut bob, NOW);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::InvalidManifest(Error::BadSignature)));
    assert_eq!(p.chunk_queries(), 0);

    // Signed by someone not pinned for the zone (Mallory re-signs Alice's
    // manifest with her own key and keeps Alice's chunks).
    let mallory = Keypair::from_x25519_secret([9; 32]);
    let mut dns = Dns::default();
    let sent = send(&mut dns, &alice, "bob", b"x");
    replace_manifest(&mut dns, &sent, &mallory, |m| {
        m.sender_spk = mallory.ed25519_public()
    });
    let p = poll(&mut dns, &mut bob, NOW);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::UnpinnedSender));

    // Wrong recipient: a manifest for Carol placed at Bob's slot.
    let carol = User::new(3, "carol", "carol.example");
    let mut alice2 = User::new(1, "alice", "alice.example");
    alice2.contacts.push(carol.as_contact());
    let mut dns = Dns::default();
    let to_carol = send(&mut dns, &alice2, "carol", b"for carol");
    let bob_slot = dmp_core::names::slot_name(&bob.keys.user_id(), to_carol.slot, "alice.example");
    dns.map
        .insert(bob_slot, vec![manifest_publish(&to_carol).value.clone()]);
    let p = poll(&mut dns, &mut bob, NOW);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::WrongRecipient));
}

#[test]
fn expired_manifest_and_expired_header_are_dropped() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    send(&mut dns, &alice, "bob", b"late");
    // exp = NOW + 300 is still live; one second later it is not.
    let p = poll(&mut dns, &mut bob.clone_state(), NOW + 300);
    assert_eq!(p.delivered().len(), 1);
    let p = poll(&mut dns, &mut bob, NOW + 301);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::ManifestExpired));
    assert!(bob.replay.in_flight.is_empty());

    // The manifest lives longer than the header's ts + ttl.
    let mut dns = Dns::default();
    let sent = send(&mut dns, &alice, "bob", b"late");
    replace_manifest(&mut dns, &sent, &alice.keys, |m| m.exp = NOW + 3600);
    let p = poll(&mut dns, &mut bob, NOW + 301);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::HeaderExpired));
    assert!(
        !bob.replay
            .has_seen(&alice.keys.ed25519_public(), &sent.msg_id, NOW + 301)
    );
}

impl User {
    /// A copy of the user with the same keys, contacts and state.
    fn clone_state(&self) -> User {
        User {
            keys: self.keys.clone(),
            username: self.username.clone(),
            domain: self.domain.clone(),
            identity_domain: self.identity_domain.clone(),
            contacts: self.contacts.clone(),
            replay: self.replay.clone(),
            prekeys: self.prekeys.clone(),
            intro: self.intro.clone(),
        }
    }
}

#[test]
fn prekey_is_kept_when_decryption_fails() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let pool = bob
        .prekeys
        .generate_pool(
            bob.keys.signer(),
            "bob",
            "bob.example",
            2,
            86_400,
            NOW,
            &mut TestRng::new(3),
        )
        .unwrap();
    dns.publish_all(&pool);
    let sent = send(&mut dns, &alice, "bob", b"secret");
    let other = *bob
        .prekeys
        .keys
        .keys()
        .find(|&&id| id != sent.prekey_id)
        .unwrap();
    let original = manifest_publish(&sent).value.clone();
    // The manifest names the other prekey: both key and AAD disagree.
    replace_manifest(&mut dns, &sent, &alice.keys, |m| m.prekey_id = other);
    let p = poll(&mut dns, &mut bob, NOW);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::DecryptFailed(Error::Decrypt)));
    assert_eq!(bob.prekeys.keys.len(), 2);
    assert_eq!(dns.get(&pool[0].name).len(), 2);
    assert!(
        !p.events
            .iter()
            .any(|e| matches!(e, Event::DeletePublished { .. }))
    );
    assert!(bob.replay.in_flight.is_empty());

    // A manifest naming a prekey Bob never made.
    replace_manifest(&mut dns, &sent, &alice.keys, |m| m.prekey_id = 424242);
    let p = poll(&mut dns, &mut bob, NOW);
    assert!(p.has_drop(&DropReason::PrekeyMissing { id: 424242 }));

    // The honest manifest still works afterwards.
    dns.map
        .insert(manifest_publish(&sent).name.clone(), vec![original]);
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(p.delivered().len(), 1);
    assert_eq!(bob.prekeys.keys.len(), 1);
    assert_eq!(dns.get(&pool[0].name).len(), 1);
}

#[test]
fn unpinned_sender_needs_tofu() {
    // Shared mesh zone: both publish and poll mesh.example.
    let mut dns = Dns::default();
    let mut alice = User::new(1, "alice", "mesh.example");
    let mut bob = User::new(2, "bob", "mesh.example");
    alice.contacts.push(Contact::new(
        "bob",
        None,
        "mesh.example",
        Some(bob.keys.x25519_public()),
        None,
    ));
    let sent = send(&mut dns, &alice, "bob", b"hello stranger");
    assert_eq!(sent.claims_start, sent.publishes.len()); // no explicit zone, no M10 claim

    let p = poll(&mut dns, &mut bob.clone_state(), NOW);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::UnpinnedSender));

    let mut params = bob.params(NOW);
    params.allow_tofu = true;
    let p = poll_with(&mut dns, &mut bob.clone_state(), params, false);
    assert_eq!(
        p.delivered(),
        vec![(&b"hello stranger"[..], None, "mesh.example")]
    );

    // Any pin anywhere turns TOFU off, even when allowed.
    bob.contacts
        .push(User::new(3, "carol", "mesh.example").as_contact());
    let mut params = bob.params(NOW);
    params.allow_tofu = true;
    let p = poll_with(&mut dns, &mut bob, params, false);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::UnpinnedSender));
}

#[test]
fn pinned_key_only_counts_in_its_own_zone() {
    // Bob pins Alice at alice.example and Carol at carol.example. Alice's
    // manifest copied into Carol's zone must not be accepted there.
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let carol = User::new(3, "carol", "carol.example");
    bob.contacts.push(carol.as_contact());
    let sent = send(&mut dns, &alice, "bob", b"moved");
    for p in &sent.publishes[..=sent.total_chunks as usize] {
        let moved = Publish {
            name: p.name.replace("alice.example", "carol.example"),
            value: p.value.clone(),
            ttl: p.ttl,
        };
        dns.publish(&moved);
        dns.map.remove(&p.name);
    }
    let p = poll(&mut dns, &mut bob, NOW);
    assert!(p.delivered().is_empty());
    assert!(p.has_drop(&DropReason::UnpinnedSender));
}

#[test]
fn failed_copy_releases_its_claim_for_a_later_copy_in_the_same_poll() {
    // Alice's records are copied into Bob's own zone (the cross-zone
    // publishing pattern); in her zone the chunks are gone. The first copy
    // fails, is released, and the second copy (same sender and msg_id)
    // is then tried and delivered within the same poll.
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let sent = send(&mut dns, &alice, "bob", b"second copy");
    for p in &sent.publishes[..=sent.total_chunks as usize] {
        dns.publish(&Publish {
            name: p.name.replace("alice.example", "bob.example"),
            value: p.value.clone(),
            ttl: p.ttl,
        });
    }
    for name in chunk_names(&sent) {
        dns.map.remove(&name);
    }
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(
        p.delivered(),
        vec![(&b"second copy"[..], None, "bob.example")]
    );
    let drops = p.drops();
    let fail = drops
        .iter()
        .position(|r| matches!(r, DropReason::NotEnoughChunks { .. }))
        .expect("first copy fails");
    assert!(!drops[fail..].contains(&&DropReason::Replay));
}

#[test]
fn claims_quarantine_strangers_and_deliver_pins() {
    let providers = vec!["claims.example".to_string()];
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    // Carol is a stranger to Bob; she knows Bob's keys.
    let mut carol = User::new(3, "carol", "carol.example");
    carol.contacts.push(Contact {
        domain_explicit: false,
        ..bob.as_contact()
    });
    let from_carol = send_with(&mut dns, &carol, "bob", b"hi, it's carol", &providers, 11).unwrap();
    assert_eq!(from_carol.claim_zones, providers);
    assert!(
        from_carol.publishes[from_carol.claims_start]
            .name
            .ends_with(".claims.example")
    );

    let mut params = bob.params(NOW);
    params.claim_providers = providers.clone();
    let p = poll_with(&mut dns, &mut bob, params.clone(), false);
    assert!(p.delivered().is_empty());
    let q = p.quarantined();
    assert_eq!(q.len(), 1);
    match q[0] {
        Event::Quarantined {
            sender_spk,
            msg_id,
            body,
            sender_mailbox_domain,
            exp,
            ..
        } => {
            assert_eq!(*sender_spk, carol.keys.ed25519_public());
            assert_eq!(*msg_id, from_carol.msg_id);
            assert_eq!(body, b"hi, it's carol");
            assert_eq!(sender_mailbox_domain, "carol.example");
            assert_eq!(*exp, NOW + 300);
        }
        _ => unreachable!(),
    }
    assert!(
        p.events
            .iter()
            .any(|e| matches!(e, Event::ClaimSeen { .. }))
    );
    assert!(
        bob.intro
            .has_pending(&carol.keys.ed25519_public(), &from_carol.msg_id)
    );
    // Seen now: the next poll skips the claim without fetching.
    let p = poll_with(&mut dns, &mut bob, params.clone(), false);
    assert!(p.quarantined().is_empty());
    assert!(p.has_drop(&DropReason::Replay));
    assert_eq!(p.chunk_queries(), 0);

    // A blocked stranger's new message is not even fetched.
    bob.intro.block(&carol.keys.ed25519_public());
    send_with(&mut dns, &carol, "bob", b"again", &providers, 12).unwrap();
    let p = poll_with(&mut dns, &mut bob, params.clone(), false);
    assert!(p.has_drop(&DropReason::Denylisted));
    assert!(p.quarantined().is_empty());

    // Alice (pinned) with an M10 claim in Bob's zone: delivered through the
    // claim path alone.
    let sent = send(&mut dns, &alice, "bob", b"via claim");
    let mut params = bob.params(NOW);
    params.primary_only = true;
    let p = poll_with(&mut dns, &mut bob, params, false);
    assert_eq!(
        p.delivered(),
        vec![(&b"via claim"[..], None, "alice.example")]
    );
    assert!(!p.batches[0].iter().any(|n| n.starts_with("slot-")));
    assert!(
        bob.replay
            .has_seen(&alice.keys.ed25519_public(), &sent.msg_id, NOW)
    );
}

#[test]
fn claim_pointing_at_a_forged_manifest_is_refused() {
    // Mallory publishes a claim (signed by her) pointing at Alice's real
    // message: the manifest's signer differs from the claim's.
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let sent = send(&mut dns, &alice, "bob", b"x");
    let mallory = Keypair::from_x25519_secret([9; 32]);
    let claim = dmp_core::records::claim::ClaimRecord {
        msg_id: sent.msg_id,
        sender_spk: mallory.ed25519_public(),
        sender_mailbox_domain: "alice.example".into(),
        slot: sent.slot,
        ts: NOW,
        exp: NOW + 300,
    };
    let name = dmp_core::names::claim_name(&bob.keys.user_id(), 0, "claims.example").unwrap();
    dns.map
        .insert(name, vec![claim.to_wire(mallory.signer()).unwrap()]);
    let mut params = bob.params(NOW);
    params.claim_providers = vec!["claims.example".into()];
    params.skip_primary = true;
    let p = poll_with(&mut dns, &mut bob, params, false);
    assert!(p.has_drop(&DropReason::ManifestSpkMismatch));
    // The slot walk still delivers the genuine message once.
    assert_eq!(p.delivered().len(), 1);
}

#[test]
fn dmpv2_label_only_when_identity_matches() {
    let mut dns = Dns::default();
    let (mut alice, mut bob) = alice_and_bob();
    alice.identity_domain = Some("alice.example".into());
    bob.identity_domain = Some("bob.example".into());
    // Bob advertises v2 at dmp.bob.example; Alice publishes her identity.
    dns.publish(
        &identity_publish(
            &bob.keys,
            "bob",
            "bob.example",
            Some("bob.example"),
            &[1, 2],
            86_400,
            NOW,
        )
        .unwrap(),
    );
    let alice_id = identity_publish(
        &alice.keys,
        "alice",
        "alice.example",
        Some("alice.example"),
        &[1],
        86_400,
        NOW,
    )
    .unwrap();
    assert_eq!(alice_id.name, "dmp.alice.example");
    dns.publish(&alice_id);

    let sent = send(&mut dns, &alice, "bob", b"signed, alice");
    assert!(sent.dmpv2);
    let p = poll(&mut dns, &mut bob.clone_state(), NOW);
    assert_eq!(
        p.delivered(),
        vec![(
            &b"signed, alice"[..],
            Some("alice@alice.example"),
            "alice.example"
        )]
    );

    // Alice's identity replaced by a record with Mallory's key: the body
    // still arrives (envelope stripped), without a label.
    let mallory = Keypair::from_x25519_secret([9; 32]);
    let fake = identity_publish(
        &mallory,
        "alice",
        "x",
        Some("alice.example"),
        &[1],
        86_400,
        NOW,
    )
    .unwrap();
    dns.map.insert("dmp.alice.example".into(), vec![fake.value]);
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(
        p.delivered(),
        vec![(&b"signed, alice"[..], None, "alice.example")]
    );
    // The label lookups came after the chunks, in their own batch.
    let last = p.batches.last().unwrap();
    assert!(last.contains(&"dmp.alice.example".to_string()));

    // Bob's record signed by another key than Alice pinned: v1 only.
    let fake_bob = identity_publish(
        &mallory,
        "bob",
        "x",
        Some("bob.example"),
        &[1, 2],
        86_400,
        NOW,
    )
    .unwrap();
    dns.map
        .insert("dmp.bob.example".into(), vec![fake_bob.value]);
    let sent = send_with(&mut dns, &alice, "bob", b"v1 now", &[], 21).unwrap();
    assert!(!sent.dmpv2);
    // And a v1-only record: v1.
    dns.map.insert(
        "dmp.bob.example".into(),
        vec![
            identity_publish(
                &bob.keys,
                "bob",
                "x",
                Some("bob.example"),
                &[1],
                86_400,
                NOW,
            )
            .unwrap()
            .value,
        ],
    );
    let sent = send_with(&mut dns, &alice, "bob", b"v1 again", &[], 22).unwrap();
    assert!(!sent.dmpv2);
}

#[test]
fn plaintext_over_the_erasure_limit_is_refused() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    let err = send_with(&mut dns, &alice, "bob", &text(24_725), &[], 1).unwrap_err();
    assert_eq!(
        err,
        Error::MessageTooLarge {
            len: 24_725,
            max: 24_724
        }
    );
    assert!(dns.map.is_empty());
    // The largest body fits, and arrives.
    let sent = send_with(&mut dns, &alice, "bob", &text(24_724), &[], 1).unwrap();
    assert_eq!((sent.data_chunks, sent.total_chunks), (196, 255));
    let p = poll(&mut dns, &mut bob, NOW);
    assert_eq!(p.delivered().len(), 1);
    assert_eq!(p.delivered()[0].0, text(24_724).as_slice());
}

#[test]
fn contact_without_x25519_key_cannot_be_sent_to() {
    let mut dns = Dns::default();
    let mut alice = User::new(1, "alice", "alice.example");
    alice.contacts.push(Contact {
        x25519_pub: None,
        ..User::new(2, "bob", "bob.example").as_contact()
    });
    let err = send_with(&mut dns, &alice, "bob", b"x", &[], 1).unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
}

#[test]
fn identity_fetch_and_selection() {
    let bob = User::new(2, "bob", "bob.example");
    let mallory = Keypair::from_x25519_secret([9; 32]);
    let q = identity_fetch_names("bob@bob.example.", "mesh.example").unwrap();
    assert_eq!(q.names[0], "dmp.bob.example");
    assert!(q.names[1].starts_with("id-") && q.names[1].ends_with(".bob.example"));
    let mut dns = Dns::default();
    assert_eq!(
        select_identity(&q, &dns.answers_for(&q.names)).unwrap(),
        IdentityChoice::NotFound
    );

    // Only the hashed name has a record: it is used.
    let hashed =
        identity_publish(&bob.keys, "bob", "bob.example", None, &[1], 86_400, NOW).unwrap();
    assert_eq!(hashed.name, q.names[1]);
    dns.publish(&hashed);
    match select_identity(&q, &dns.answers_for(&q.names)).unwrap() {
        IdentityChoice::Candidate { name, candidate } => {
            assert_eq!(name, q.names[1]);
            assert_eq!(candidate.record.ed25519_spk, bob.keys.ed25519_public());
            assert_eq!(candidate.fingerprint.len(), 16);
        }
        other => panic!("{other:?}"),
    }

    // The zone-anchored name wins once it has values; a republish of the
    // same keys is one candidate, a second key makes it ambiguous.
    let anchored = |k: &Keypair, user: &str, ts| {
        identity_publish(k, user, "x", Some("bob.example"), &[1], 86_400, ts).unwrap()
    };
    dns.publish(&Publish {
        value: "v=spf1 -all".into(),
        ..anchored(&bob.keys, "bob", NOW)
    });
    let choice = select_identity(&q, &dns.answers_for(&q.names)).unwrap();
    assert_eq!(
        choice,
        IdentityChoice::NoneVerified {
            name: "dmp.bob.example".into()
        }
    );
    dns.publish(&anchored(&bob.keys, "bob", NOW));
    dns.publish(&anchored(&bob.keys, "bob", NOW + 5));
    assert!(matches!(
        select_identity(&q, &dns.answers_for(&q.names)).unwrap(),
        IdentityChoice::Candidate { .. }
    ));
    dns.publish(&anchored(&mallory, "bob", NOW));
    let choice = select_identity(&q, &dns.answers_for(&q.names)).unwrap();
    let IdentityChoice::Ambiguous { candidates, .. } = &choice else {
        panic!("{choice:?}");
    };
    assert_eq!(candidates.len(), 2);
    let fp = candidates[1].fingerprint.clone();
    assert_eq!(
        choice.pick(&fp).unwrap().record.ed25519_spk,
        mallory.ed25519_public()
    );

    // A record naming another user at the zone-anchored name is refused.
    let mut dns = Dns::default();
    dns.publish(&anchored(&mallory, "mallory", NOW));
    assert_eq!(
        select_identity(&q, &dns.answers_for(&q.names)),
        Err(Error::Mismatch("identity record names another user"))
    );

    // Bare usernames use the hashed name on the default domain.
    let q = identity_fetch_names("bob", "bob.example").unwrap();
    assert_eq!(q.names, vec![hashed.name.clone()]);
    assert!(identity_fetch_names("@host", "d").is_err());
}

#[test]
fn finish_before_done_changes_nothing() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    send(&mut dns, &alice, "bob", &text(2000));
    let mut s = ReceiveSession::new(bob.params(NOW), &bob.replay, &bob.prekeys, &bob.intro);
    // Answer discovery only, then stop.
    for name in s.queries() {
        s.answer(&name, dns.get(&name));
    }
    assert!(!s.is_done());
    let chunk_batch = s.queries();
    assert!(!chunk_batch.is_empty());
    let events = s.finish(&mut bob.replay, &mut bob.prekeys, &mut bob.intro);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Dropped {
            reason: DropReason::Incomplete,
            ..
        }
    )));
    assert!(bob.replay.seen.is_empty() && bob.replay.in_flight.is_empty());
    // A complete poll afterwards delivers.
    assert_eq!(poll(&mut dns, &mut bob, NOW).delivered().len(), 1);
}

#[test]
fn concurrent_sessions_do_not_deliver_twice() {
    let mut dns = Dns::default();
    let (alice, mut bob) = alice_and_bob();
    send(&mut dns, &alice, "bob", b"once");
    let run = |bob: &User| {
        let mut s = ReceiveSession::new(bob.params(NOW), &bob.replay, &bob.prekeys, &bob.intro);
        loop {
            let q = s.queries();
            if q.is_empty() {
                break;
            }
            for n in q {
                s.answer(&n, dns.get(&n));
            }
        }
        s
    };
    let s1 = run(&bob);
    let s2 = run(&bob);
    let e1 = s1.finish(&mut bob.replay, &mut bob.prekeys, &mut bob.intro);
    let e2 = s2.finish(&mut bob.replay, &mut bob.prekeys, &mut bob.intro);
    let count = |e: &[Event]| {
        e.iter()
            .filter(|e| matches!(e, Event::Delivered { .. }))
            .count()
    };
    assert_eq!(count(&e1), 1);
    assert_eq!(count(&e2), 0);
}

#[test]
fn replay_cache_rules() {
    let mut rc = ReplayCache::new();
    let (spk, id) = ([1u8; 32], [2u8; 16]);
    assert!(rc.claim_for_decode(&spk, &id, 1000));
    assert!(!rc.claim_for_decode(&spk, &id, 1000));
    // A stale in-flight claim is reclaimed after 300 s.
    assert!(!rc.claim_for_decode(&spk, &id, 1300));
    assert!(rc.claim_for_decode(&spk, &id, 1301));
    rc.release(&spk, &id);
    assert!(rc.claim_for_decode(&spk, &id, 1301));
    rc.finalize(&spk, &id, 2000);
    assert!(rc.has_seen(&spk, &id, 2000));
    assert!(!rc.claim_for_decode(&spk, &id, 2000));
    assert!(!rc.has_seen(&spk, &id, 2001));
    rc.prune(2001);
    assert!(rc.seen.is_empty());
}

// ---- robustness -------------------------------------------------------------

/// Poll with every answer replaced by `f(name, real values)`; must not
/// panic, and anything delivered must be exactly what was sent.
fn poll_mangled(
    dns: &Dns,
    bob: &User,
    f: &mut dyn FnMut(&str, Vec<String>) -> Vec<String>,
) -> Vec<Event> {
    let mut s = ReceiveSession::new(bob.params(NOW), &bob.replay, &bob.prekeys, &bob.intro);
    let mut rounds = 0;
    loop {
        let q = s.queries();
        if q.is_empty() || rounds > 600 {
            break;
        }
        rounds += 1;
        for n in q {
            let v = f(&n, dns.get(&n));
            s.answer(&n, v);
        }
    }
    assert!(s.is_done());
    let (mut r, mut p, mut i) = (bob.replay.clone(), bob.prekeys.clone(), bob.intro.clone());
    s.finish(&mut r, &mut p, &mut i)
}

fn fixture() -> (Dns, User, Vec<u8>) {
    let mut dns = Dns::default();
    let (alice, bob) = alice_and_bob();
    let body = text(700);
    send_with(&mut dns, &alice, "bob", &body, &[], 3).unwrap();
    (dns, bob, body)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_answers_never_panic(values in proptest::collection::vec(".{0,300}", 0..4), seed in any::<u64>()) {
        let (dns, bob, _) = fixture();
        let mut n = seed;
        let events = poll_mangled(&dns, &bob, &mut |_, real| {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut out = values.clone();
            if n >> 63 == 1 { out.extend(real); }
            out
        });
        let expected = text(700);
        let bad = events
            .iter()
            .any(|e| matches!(e, Event::Delivered { body, .. } if *body != expected));
        prop_assert!(!bad);
    }

    #[test]
    fn mutated_wires_never_deliver_other_bytes(pos in any::<usize>(), byte in any::<u8>(), which in any::<usize>()) {
        let (dns, bob, body) = fixture();
        let names: Vec<String> = {
            let mut v: Vec<String> = dns.map.keys().cloned().collect();
            v.sort();
            v
        };
        let target = names[which % names.len()].clone();
        let events = poll_mangled(&dns, &bob, &mut |name, mut real| {
            if name == target {
                for v in real.iter_mut() {
                    let mut b = v.clone().into_bytes();
                    if !b.is_empty() {
                        let p = pos % b.len();
                        b[p] = byte;
                    }
                    *v = String::from_utf8_lossy(&b).into_owned();
                }
            }
            real
        });
        for e in &events {
            if let Event::Delivered { body: got, .. } = e {
                prop_assert_eq!(got, &body);
            }
        }
    }

    #[test]
    fn select_identity_never_panics(values in proptest::collection::vec(".{0,400}", 0..4)) {
        let q = identity_fetch_names("bob@bob.example", "x").unwrap();
        let mut answers = TxtAnswers::new();
        answers.insert(q.names[0].clone(), values);
        let _ = select_identity(&q, &answers);
    }
}

// ---- interop with the Python reference (live oracle) -----------------------

mod interop {
    use super::support::{Oracle, hex, reference_skipped, unhex};
    use super::*;
    use serde_json::{Value, json};

    const SALT: [u8; 32] = [0x11; 32];

    /// A user derived from a passphrase exactly as the reference does, with
    /// the oracle's party description.
    fn party(
        pass: &str,
        username: &str,
        domain: &str,
        identity_domain: Option<&str>,
    ) -> (User, Value) {
        let mut u = User::new(0, username, domain);
        u.keys = Keypair::derive(pass.as_bytes(), &SALT).unwrap();
        u.identity_domain = identity_domain.map(Into::into);
        let mut p = json!({"passphrase": pass, "salt_hex": hex(&SALT), "username": username, "domain": domain});
        if let Some(d) = identity_domain {
            p["identity_domain"] = json!(d);
        }
        (u, p)
    }

    fn contact_json(u: &User) -> Value {
        json!({
            "username": u.username, "domain": u.domain, "domain_explicit": true,
            "x25519_pub_hex": hex(&u.keys.x25519_public()),
            "ed25519_pub_hex": hex(&u.keys.ed25519_public()),
        })
    }

    fn records_json(ps: &[Publish]) -> Value {
        Value::Array(
            ps.iter()
                .map(|p| json!({"name": p.name, "value": p.value, "ttl": p.ttl}))
                .collect(),
        )
    }

    fn load(dns: &mut Dns, records: &Value) {
        for r in records.as_array().unwrap() {
            dns.publish(&Publish {
                name: r["name"].as_str().unwrap().into(),
                value: r["value"].as_str().unwrap().into(),
                ttl: r["ttl"].as_u64().unwrap() as u32,
            });
        }
    }

    #[test]
    fn reference_sender_to_rust_receiver() {
        if reference_skipped() {
            return;
        }
        let mut oracle = Oracle::start();
        let (alice, alice_p) = party(
            "alice pass",
            "alice",
            "alice.example",
            Some("alice.example"),
        );
        let (mut bob, _) = party("bob pass", "bob", "bob.example", Some("bob.example"));
        bob.contacts.push(alice.as_contact());
        let mut dns = Dns::default();
        // Rust-made prekeys, consumed by the reference's choice.
        let pool = bob
            .prekeys
            .generate_pool(
                bob.keys.signer(),
                "bob",
                "bob.example",
                4,
                86_400,
                NOW - 5,
                &mut TestRng::new(4),
            )
            .unwrap();
        dns.publish_all(&pool);
        // Alice's identity (Rust-made) for the label check.
        dns.publish(
            &identity_publish(
                &alice.keys,
                "alice",
                "alice.example",
                Some("alice.example"),
                &[1, 2],
                86_400,
                NOW,
            )
            .unwrap(),
        );

        for (i, len) in [5usize, 3000].into_iter().enumerate() {
            let body = text(len);
            let reply = oracle.ok(
                "send",
                json!({
                    "sender": alice_p, "recipient": {
                        "username": "bob", "domain": "bob.example", "domain_explicit": true,
                        "x25519_pub_hex": hex(&bob.keys.x25519_public()),
                        "ed25519_pub_hex": hex(&bob.keys.ed25519_public()),
                        "versions": [1, 2]},
                    "text_hex": hex(&body), "now": NOW + i as u64,
                    // The pool as DNS shows it now (consumed ones deleted).
                    "recipient_prekeys": dns.get(&pool[0].name),
                }),
            );
            assert_eq!(reply["ok"], true);
            assert_eq!(reply["envelope"], "v2");
            let prekey_id = reply["prekey_id"].as_u64().unwrap() as u32;
            assert_ne!(prekey_id, 0);
            load(&mut dns, &reply["records"]);
            let wire = bob.prekeys.keys[&prekey_id].wire.clone();

            let p = poll(&mut dns, &mut bob, NOW + i as u64);
            assert_eq!(
                p.delivered(),
                vec![(
                    body.as_slice(),
                    Some("alice@alice.example"),
                    "alice.example"
                )]
            );
            assert!(p.events.contains(&Event::PrekeyConsumed { id: prekey_id }));
            assert!(p.events.contains(&Event::DeletePublished {
                name: pool[0].name.clone(),
                value: wire
            }));
            assert!(!bob.prekeys.keys.contains_key(&prekey_id));
        }
        assert_eq!(dns.get(&pool[0].name).len(), 2);
    }

    #[test]
    fn rust_sender_to_reference_receiver() {
        if reference_skipped() {
            return;
        }
        let mut oracle = Oracle::start();
        let (mut alice, _) = party(
            "alice pass",
            "alice",
            "alice.example",
            Some("alice.example"),
        );
        let (bob, bob_p) = party("bob pass", "bob", "bob.example", Some("bob.example"));
        alice.contacts.push(bob.as_contact());
        let mut dns = Dns::default();
        // Reference-made prekeys and identity (advertising v2).
        let mut req = bob_p.clone();
        req["now"] = json!(NOW - 5);
        req["count"] = json!(3);
        let made = oracle.ok("make_prekeys", req);
        load(&mut dns, &made["records"]);
        let mut bob_id = bob_p.clone();
        bob_id["now"] = json!(NOW);
        bob_id["advertise_v2"] = json!(true);
        let id = oracle.ok("identity", bob_id);
        load(&mut dns, &json!([id]));
        let alice_id = identity_publish(
            &alice.keys,
            "alice",
            "alice.example",
            Some("alice.example"),
            &[1],
            86_400,
            NOW,
        )
        .unwrap();
        dns.publish(&alice_id);

        let body = text(2500);
        let sent = send(&mut dns, &alice, "bob", &body);
        assert!(sent.dmpv2);
        assert_ne!(sent.prekey_id, 0);
        let secrets = made["secrets"].clone();
        let wire_of_used = secrets
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["prekey_id"].as_u64() == Some(u64::from(sent.prekey_id)))
            .expect("a reference prekey")["wire"]
            .clone();

        let mut world = sent.publishes.clone();
        world.push(alice_id);
        let reply = oracle.ok(
            "receive",
            json!({
                "recipient": bob_p, "contacts": [contact_json(&alice)],
                "records": records_json(&world), "now": NOW + 1,
                "prekey_secrets": secrets,
            }),
        );
        let delivered = reply["delivered"].as_array().unwrap();
        assert_eq!(delivered.len(), 1);
        assert_eq!(unhex(delivered[0]["text_hex"].as_str().unwrap()), body);
        assert_eq!(delivered[0]["msg_id_hex"], hex(&sent.msg_id));
        assert_eq!(delivered[0]["sender_label"], "alice@alice.example");
        assert_eq!(reply["deleted_records"][0]["value"], wire_of_used);
        assert_eq!(reply["remaining_prekey_ids"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn claims_interoperate_both_ways() {
        if reference_skipped() {
            return;
        }
        let mut oracle = Oracle::start();
        let providers = vec!["claims.example".to_string()];
        let (mut carol, carol_p) = party("carol pass", "carol", "carol.example", None);
        let (mut bob, bob_p) = party("bob pass", "bob", "bob.example", None);
        let (alice, _) = party("alice pass", "alice", "alice.example", None);
        bob.contacts.push(alice.as_contact());

        // Rust stranger → reference receiver with a pin elsewhere: quarantined.
        carol.contacts.push(Contact {
            domain_explicit: false,
            ..bob.as_contact()
        });
        let mut dns = Dns::default();
        let sent = send_with(&mut dns, &carol, "bob", b"hello from rust", &providers, 31).unwrap();
        let reply = oracle.ok(
            "receive",
            json!({
                "recipient": bob_p, "contacts": [contact_json(&alice)],
                "records": records_json(&sent.publishes), "now": NOW,
                "claim_providers": providers,
            }),
        );
        assert_eq!(reply["delivered"].as_array().unwrap().len(), 0);
        let q = reply["quarantined"].as_array().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(
            unhex(q[0]["text_hex"].as_str().unwrap()),
            b"hello from rust"
        );
        assert_eq!(q[0]["sender_mailbox_domain"], "carol.example");

        // Reference stranger → Rust receiver: quarantined too.
        let reply = oracle.ok(
            "send",
            json!({
                "sender": carol_p,
                "recipient": {"username": "bob", "domain": "bob.example", "domain_explicit": false,
                              "x25519_pub_hex": hex(&bob.keys.x25519_public()), "ed25519_pub_hex": ""},
                "text_hex": hex(b"hello from python"), "now": NOW, "claim_providers": providers,
            }),
        );
        assert_eq!(reply["ok"], true);
        let mut dns = Dns::default();
        load(&mut dns, &reply["records"]);
        let mut params = bob.params(NOW);
        params.claim_providers = providers.clone();
        let p = poll_with(&mut dns, &mut bob, params, false);
        assert!(p.delivered().is_empty());
        let q = p.quarantined();
        assert_eq!(q.len(), 1);
        assert!(
            matches!(q[0], Event::Quarantined { body, sender_mailbox_domain, .. }
            if body == b"hello from python" && sender_mailbox_domain == "carol.example")
        );
    }

    /// One messy world, received by both implementations: the delivered
    /// and quarantined messages (in order), the replay cache, the prekeys
    /// left and the records deleted must be the same.
    #[test]
    fn receive_outcomes_match_the_reference() {
        if reference_skipped() {
            return;
        }
        let mut oracle = Oracle::start();
        let providers = vec!["claims.example".to_string()];
        let (mut alice, _) = party(
            "alice pass",
            "alice",
            "alice.example",
            Some("alice.example"),
        );
        let (mut bob, bob_p) = party("bob pass", "bob", "bob.example", None);
        let (eve, _) = party("eve pass", "eve", "eve.example", None);
        let (mut carol, _) = party("carol pass", "carol", "carol.example", None);
        let (mut dave, _) = party("dave pass", "dave", "bob.example", None);
        bob.contacts.push(alice.as_contact());
        bob.contacts.push(eve.as_contact());
        alice.contacts.push(bob.as_contact());
        carol.contacts.push(Contact {
            domain_explicit: false,
            ..bob.as_contact()
        });
        dave.contacts.push(Contact {
            domain_explicit: false,
            ..bob.as_contact()
        });

        let mut dns = Dns::default();
        let pool = bob
            .prekeys
            .generate_pool(
                bob.keys.signer(),
                "bob",
                "bob.example",
                3,
                86_400,
                NOW - 5,
                &mut TestRng::new(40),
            )
            .unwrap();
        dns.publish_all(&pool);
        dns.publish(
            &identity_publish(
                &alice.keys,
                "alice",
                "a",
                Some("alice.example"),
                &[1, 2],
                86_400,
                NOW,
            )
            .unwrap(),
        );
        dns.publish(
            &identity_publish(&bob.keys, "bob", "bob.example", None, &[1, 2], 86_400, NOW).unwrap(),
        );

        // Alice: a normal message, then ones with chunks missing.
        let m1 = send_at(&mut dns, &alice, "bob", b"one", &[], 41, NOW).unwrap();
        assert_ne!(m1.prekey_id, 0);
        // Later sends see no pool (no prekey collisions); it is back for
        // the receivers.
        let pool_values = dns.map.remove(&pool[0].name).unwrap();
        let m2 = send_at(&mut dns, &alice, "bob", &text(1500), &[], 42, NOW).unwrap();
        let names = chunk_names(&m2);
        for n in &names[..(m2.total_chunks - m2.data_chunks) as usize] {
            dns.map.remove(n);
        }
        let m3 = send_at(&mut dns, &alice, "bob", &text(1500), &[], 43, NOW).unwrap();
        for n in &chunk_names(&m3)[..=(m3.total_chunks - m3.data_chunks) as usize] {
            dns.map.remove(n);
        }
        // A message whose records are also copied into Bob's zone, with the
        // chunks in Alice's zone gone: the second copy is delivered.
        let m4 = send_at(&mut dns, &alice, "bob", b"copied", &[], 44, NOW).unwrap();
        for p in &m4.publishes[..=m4.total_chunks as usize] {
            dns.publish(&Publish {
                name: p.name.replace("alice.example", "bob.example"),
                ..p.clone()
            });
        }
        for n in chunk_names(&m4) {
            dns.map.remove(&n);
        }
        // Alice's message copied into Eve's zone (pinned there for Eve only).
        let m5 = send_at(&mut dns, &alice, "bob", b"moved to eve", &[], 45, NOW).unwrap();
        for p in &m5.publishes[..=m5.total_chunks as usize] {
            dns.publish(&Publish {
                name: p.name.replace("alice.example", "eve.example"),
                ..p.clone()
            });
        }
        // Expired, and a manifest naming a prekey whose AEAD fails.
        send_at(&mut dns, &alice, "bob", b"old", &[], 46, NOW - 1000).unwrap();
        let m7 = send_at(&mut dns, &alice, "bob", b"bad prekey", &[], 47, NOW).unwrap();
        let other = pool
            .iter()
            .map(|p| {
                dmp_core::records::prekey::Prekey::parse_and_verify(
                    &p.value,
                    &bob.keys.ed25519_public(),
                    NOW,
                )
                .unwrap()
                .prekey_id
            })
            .find(|&id| id != m1.prekey_id)
            .unwrap();
        replace_manifest(&mut dns, &m7, &alice.keys, |m| m.prekey_id = other);
        // A stranger via a provider claim; an unpinned sender in Bob's zone;
        // a forged copy of Alice's manifest.
        send_at(&mut dns, &carol, "bob", b"stranger", &providers, 48, NOW).unwrap();
        send_at(&mut dns, &dave, "bob", b"unpinned", &[], 49, NOW).unwrap();
        let m10 = send_at(&mut dns, &alice, "bob", b"forged", &[], 50, NOW).unwrap();
        let mp = manifest_publish(&m10);
        let mut forged = mp.value.clone().into_bytes();
        let at = forged.len() - 3;
        forged[at] ^= 1;
        dns.map
            .get_mut(&mp.name)
            .unwrap()
            .insert(0, String::from_utf8(forged).unwrap());

        dns.map.insert(pool[0].name.clone(), pool_values);

        // Both receive the same world.
        let world: Vec<Publish> = {
            let mut v: Vec<(&String, &Vec<String>)> = dns.map.iter().collect();
            v.sort();
            v.into_iter()
                .flat_map(|(n, vals)| {
                    vals.iter().map(|val| Publish {
                        name: n.clone(),
                        value: val.clone(),
                        ttl: 86_400,
                    })
                })
                .collect()
        };
        let secrets: Vec<Value> = bob
            .prekeys
            .keys
            .iter()
            .map(|(id, k)| json!({"prekey_id": id, "x25519_priv_hex": hex(&k.secret), "exp": k.exp, "wire": k.wire}))
            .collect();
        let reply = oracle.ok(
            "receive",
            json!({
                "recipient": bob_p,
                "contacts": [contact_json(&alice), contact_json(&eve)],
                "records": records_json(&world), "now": NOW + 1,
                "prekey_secrets": secrets, "claim_providers": providers,
            }),
        );
        let mut params = bob.params(NOW + 1);
        params.claim_providers = providers.clone();
        let p = poll_with(&mut dns, &mut bob, params, false);

        let ours: Vec<(String, String, String)> = p
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Delivered {
                    body,
                    msg_id,
                    sender_label,
                    ..
                } => Some((
                    hex(msg_id),
                    hex(body),
                    sender_label.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .collect();
        let theirs: Vec<(String, String, String)> = reply["delivered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["msg_id_hex"].as_str().unwrap().into(),
                    d["text_hex"].as_str().unwrap().into(),
                    d["sender_label"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(ours, theirs);
        let delivered_ids: Vec<&str> = ours.iter().map(|d| d.0.as_str()).collect();
        for (m, want) in [
            (&m1, true),
            (&m2, true),
            (&m3, false),
            (&m4, true),
            (&m5, false),
            (&m7, false),
            (&m10, true),
        ] {
            assert_eq!(
                delivered_ids.contains(&hex(&m.msg_id).as_str()),
                want,
                "{} prekey {} drops {:?}",
                hex(&m.msg_id),
                m.prekey_id,
                p.drops()
            );
        }

        let ours_q: Vec<(String, String)> = p
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Quarantined { msg_id, body, .. } => Some((hex(msg_id), hex(body))),
                _ => None,
            })
            .collect();
        let theirs_q: Vec<(String, String)> = reply["quarantined"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["msg_id_hex"].as_str().unwrap().into(),
                    q["text_hex"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(ours_q, theirs_q);
        assert_eq!(ours_q.len(), 1);

        let mut ours_seen: Vec<(String, String, u64)> = bob
            .replay
            .seen
            .iter()
            .map(|((s, m), e)| (hex(s), hex(m), *e))
            .collect();
        ours_seen.sort();
        let theirs_seen: Vec<(String, String, u64)> = reply["replay_seen"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["sender_spk_hex"].as_str().unwrap().into(),
                    r["msg_id_hex"].as_str().unwrap().into(),
                    r["exp"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(ours_seen, theirs_seen);

        let ours_left: Vec<u64> = bob.prekeys.keys.keys().map(|&k| u64::from(k)).collect();
        let theirs_left: Vec<u64> = reply["remaining_prekey_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ours_left, theirs_left);
        let ours_del: Vec<String> = p
            .events
            .iter()
            .filter_map(|e| match e {
                Event::DeletePublished { value, .. } => Some(value.clone()),
                _ => None,
            })
            .collect();
        let theirs_del: Vec<String> = reply["deleted_records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["value"].as_str().unwrap().into())
            .collect();
        assert_eq!(ours_del, theirs_del);
    }
}
