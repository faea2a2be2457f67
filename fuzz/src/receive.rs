//! `receive` target: a [`ReceiveSession`] for Bob (fixed keys, zone and
//! prekey store, clock [`NOW`]) answered from a fake DNS built from the
//! input.
//!
//! Input: one flags byte, then lossy UTF-8 lines `name\tvalue\tvalue…`
//! (several lines for one name append). A name the session asks for that
//! has no line gets the values of the `*` line, if any, else no data. A
//! line with a name and no tab answers "no data".
//!
//! Flags: bit 0 pins Alice as a contact (else none), bit 1 `allow_tofu`,
//! bit 2 polls the claim provider [`PROVIDER_ZONE`], bit 3
//! `primary_only`, bit 4 `skip_primary`.
//!
//! Invariants beyond "no panic": the session finishes (it never stalls
//! with answers fed to every name it asked), asks each name at most once,
//! and a second poll of the same DNS with the state the first one left
//! delivers nothing the first delivered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use dmp_core::client::{
    Contact, Event, IntroState, PrekeyStore, Publish, ReceiveParams, ReceiveSession, ReplayCache,
};
use dmp_core::crypto::Keypair;

use crate::world::*;

pub const FLAG_PIN_ALICE: u8 = 1;
pub const FLAG_TOFU: u8 = 2;
pub const FLAG_PROVIDER: u8 = 4;
pub const FLAG_PRIMARY_ONLY: u8 = 8;
pub const FLAG_SKIP_PRIMARY: u8 = 16;

/// Upper bound on query rounds; a session needing more is treated as hung.
const MAX_ROUNDS: usize = 10_000;

/// Bob's fixed state: keys and the prekey pool he published.
pub struct Bob {
    pub keys: Keypair,
    pub prekeys: PrekeyStore,
    pub pool: Vec<Publish>,
}

pub fn bob() -> &'static Bob {
    static BOB_STATE: OnceLock<Bob> = OnceLock::new();
    BOB_STATE.get_or_init(|| {
        let keys = Keypair::from_x25519_secret(BOB_SECRET);
        let mut prekeys = PrekeyStore::new();
        let pool = prekeys
            .generate_pool(
                keys.signer(),
                BOB,
                BOB_ZONE,
                PREKEY_COUNT,
                DAY as u32,
                NOW - 10,
                &mut DetRng::new(PREKEY_RNG_SEED),
            )
            .expect("prekey pool");
        Bob {
            keys,
            prekeys,
            pool,
        }
    })
}

/// Alice as Bob pins her: both keys, explicit zone.
pub fn alice_contact() -> Contact {
    let alice = Keypair::from_x25519_secret(ALICE_SECRET);
    Contact {
        username: ALICE.into(),
        domain: ALICE_ZONE.into(),
        domain_explicit: true,
        x25519_pub: Some(alice.x25519_public()),
        ed25519_spk: Some(alice.ed25519_public()),
    }
}

/// The fake DNS of an input.
pub struct Dns {
    pub map: BTreeMap<String, Vec<String>>,
    pub wildcard: Option<Vec<String>>,
}

impl Dns {
    pub fn parse(text: &str) -> Dns {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut wildcard = None;
        for line in text.split('\n') {
            let mut fields = line.split('\t');
            let name = fields.next().unwrap_or_default();
            let values: Vec<String> = fields.map(str::to_owned).collect();
            if name == "*" {
                wildcard.get_or_insert_with(Vec::new).extend(values);
            } else if !name.is_empty() {
                map.entry(name.to_owned()).or_default().extend(values);
            }
        }
        Dns { map, wildcard }
    }

    pub fn get(&self, name: &str) -> Vec<String> {
        match self.map.get(name) {
            Some(v) => v.clone(),
            None => self.wildcard.clone().unwrap_or_default(),
        }
    }

    /// Encode back to the input format (for seeds).
    pub fn to_input(map: &BTreeMap<String, Vec<String>>, flags: u8) -> Vec<u8> {
        let mut out = vec![flags];
        for (name, values) in map {
            out.extend_from_slice(name.as_bytes());
            for v in values {
                out.push(b'\t');
                out.extend_from_slice(v.as_bytes());
            }
            out.push(b'\n');
        }
        out
    }
}

/// What a run produced (for the seed self-check).
#[derive(Debug, Default)]
pub struct Outcome {
    pub delivered: usize,
    pub quarantined: usize,
    pub labelled: usize,
    pub prekeys_used: usize,
    pub queries: usize,
}

pub fn params(flags: u8) -> ReceiveParams {
    let b = bob();
    let contacts = if flags & FLAG_PIN_ALICE != 0 {
        vec![alice_contact()]
    } else {
        Vec::new()
    };
    let mut p = ReceiveParams::new(b.keys.clone(), BOB, BOB_ZONE, contacts, NOW);
    p.allow_tofu = flags & FLAG_TOFU != 0;
    if flags & FLAG_PROVIDER != 0 {
        p.claim_providers = vec![PROVIDER_ZONE.into()];
    }
    p.primary_only = flags & FLAG_PRIMARY_ONLY != 0;
    p.skip_primary = flags & FLAG_SKIP_PRIMARY != 0;
    p
}

/// The `receive` target body.
pub fn run(data: &[u8]) -> Outcome {
    let Some((&flags, rest)) = data.split_first() else {
        return Outcome::default();
    };
    let dns = Dns::parse(&String::from_utf8_lossy(rest));
    let mut replay = ReplayCache::new();
    let mut prekeys = bob().prekeys.clone();
    let mut intro = IntroState::new();

    let (events, queries) = poll(&dns, params(flags), &mut replay, &mut prekeys, &mut intro);
    let mut out = Outcome {
        queries,
        ..Outcome::default()
    };
    let mut got = BTreeSet::new();
    for e in &events {
        match e {
            Event::Delivered {
                sender_spk,
                msg_id,
                sender_label,
                ..
            } => {
                out.delivered += 1;
                out.labelled += usize::from(sender_label.is_some());
                assert!(
                    got.insert((*sender_spk, *msg_id)),
                    "delivered twice in one poll"
                );
            }
            Event::Quarantined {
                sender_spk, msg_id, ..
            } => {
                out.quarantined += 1;
                assert!(
                    got.insert((*sender_spk, *msg_id)),
                    "quarantined twice in one poll"
                );
            }
            Event::PrekeyConsumed { .. } => out.prekeys_used += 1,
            _ => {}
        }
    }

    if !got.is_empty() {
        let (again, _) = poll(&dns, params(flags), &mut replay, &mut prekeys, &mut intro);
        for e in &again {
            if let Event::Delivered {
                sender_spk, msg_id, ..
            }
            | Event::Quarantined {
                sender_spk, msg_id, ..
            } = e
            {
                assert!(
                    !got.contains(&(*sender_spk, *msg_id)),
                    "message delivered again on the next poll"
                );
            }
        }
    }
    out
}

/// One full poll; returns its events and the number of names asked.
fn poll(
    dns: &Dns,
    params: ReceiveParams,
    replay: &mut ReplayCache,
    prekeys: &mut PrekeyStore,
    intro: &mut IntroState,
) -> (Vec<Event>, usize) {
    let mut session = ReceiveSession::new(params, replay, prekeys, intro);
    let mut asked = BTreeSet::new();
    let mut rounds = 0;
    while !session.is_done() {
        rounds += 1;
        assert!(rounds <= MAX_ROUNDS, "receive session does not finish");
        let names = session.queries();
        assert!(
            !names.is_empty(),
            "session not done but asks nothing although every name was answered"
        );
        for name in names {
            assert!(asked.insert(name.clone()), "name {name:?} asked twice");
            session.answer(&name, dns.get(&name));
        }
    }
    assert!(session.queries().is_empty());
    let queries = asked.len();
    (session.finish(replay, prekeys, intro), queries)
}
