//! Receiving (PROTOCOL.md §7.2, §7.3) as a sans-IO state machine.
//!
//! The front end loops: take [`ReceiveSession::queries`], resolve every name
//! (in parallel if it likes), hand each result to [`ReceiveSession::answer`]
//! (an empty vector for NXDOMAIN / no data / failure), until
//! [`ReceiveSession::is_done`]; then [`ReceiveSession::finish`] applies the
//! state changes and returns the events.
//!
//! Lookups are batched by dependency, not by message:
//! 1. all claim names (own zone, providers) and all slot names of all polled
//!    zones at once;
//! 2. the slot names of the mailbox zones claims point at (when not already
//!    known);
//! 3. for every accepted manifest the first `k` chunk names; each failed
//!    position asks for the next one, so the positions used are exactly the
//!    reference's (the first `k` valid ones);
//! 4. identity names for DMPv2 `from` labels.
//!
//! Candidates (claim values and manifest values) are judged in the
//! reference's order: own-zone claims, then the slot walk zone by zone, then
//! provider claims. Each is decrypted and committed in that order too, so
//! replay and prekey decisions are exactly those of a sequential poll. A
//! later candidate for the same `(sender_spk, msg_id)` waits for the earlier
//! one's outcome (delivered → replay; failed → it gets its own attempt).
//!
//! State safety: the session works on private copies of the replay cache,
//! prekey store and intro state. Nothing reaches the caller's copies until
//! `finish`, which applies, in one call, exactly the changes matching the
//! events it returns. Dropping a session changes nothing.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use super::identity::{lookup_names, lookup_record, split_canonical};
use super::proto::{self, ClaimRecord, SlotManifest};
use super::state::{Contact, IntroState, PrekeyStore, ReplayCache, ReplayKey};
use super::{SLOT_COUNT, TxtAnswers};
use crate::crypto::{self, Keypair};
use crate::envelope;
use crate::error::Error;
use crate::fec;
use crate::message::parse_outer;

/// Who and what a session polls for.
#[derive(Clone, Debug)]
pub struct ReceiveParams {
    pub keypair: Keypair,
    /// Own username and mailbox zone. The username names the prekey pool
    /// whose consumed values are deleted.
    pub username: String,
    pub domain: String,
    pub contacts: Vec<Contact>,
    /// Deliver from anyone while no contact is pinned (off by default in
    /// the reference, and risky: anyone able to spoof DNS becomes a
    /// contact).
    pub allow_tofu: bool,
    /// M8 claim-provider zones polled after the slot walk.
    pub claim_providers: Vec<String>,
    /// Only the own-zone claim poll (phase 1), no slot walk.
    pub primary_only: bool,
    /// Skip the own-zone claim poll.
    pub skip_primary: bool,
    pub now: u64,
}

impl ReceiveParams {
    /// Defaults of the reference: no TOFU, no providers, both phases.
    pub fn new(
        keypair: Keypair,
        username: &str,
        domain: &str,
        contacts: Vec<Contact>,
        now: u64,
    ) -> Self {
        ReceiveParams {
            keypair,
            username: username.into(),
            domain: domain.into(),
            contacts,
            allow_tofu: false,
            claim_providers: Vec::new(),
            primary_only: false,
            skip_primary: false,
            now,
        }
    }
}

/// Why a value did not lead to a message. Diagnostics only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A provider zone cannot form a claim name (empty).
    BadProviderZone,
    InvalidClaim(Error),
    InvalidManifest(Error),
    WrongRecipient,
    ManifestExpired,
    /// The signer is not pinned for the zone (or nobody is pinned and TOFU
    /// is off).
    UnpinnedSender,
    /// Already delivered, or being decoded by another attempt.
    Replay,
    Denylisted,
    AlreadyPending,
    /// No verifying manifest with the claim's msg_id in the claimed zone.
    ManifestNotFound,
    ManifestSpkMismatch,
    MissingChunkHashes,
    /// Fewer than `need` chunk positions passed the hash and RS checks.
    NotEnoughChunks {
        have: u32,
        need: u32,
    },
    Undecodable(Error),
    MalformedMessage(Error),
    /// The inner header's msg_id or recipient differs from the manifest's.
    HeaderMismatch,
    HeaderExpired,
    /// The manifest names a prekey this client does not hold (used,
    /// expired or never made).
    PrekeyMissing {
        id: u32,
    },
    DecryptFailed(Error),
    /// Delivered to quarantine but the intro queue refused it (blocked or
    /// duplicate); the replay cache still records it, as in the reference.
    IntroRejected,
    /// The session was finished before this candidate completed; nothing
    /// was recorded, a later poll retries.
    Incomplete,
}

/// What a poll produced, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message for the inbox.
    Delivered {
        sender_spk: [u8; 32],
        body: Vec<u8>,
        ts: u64,
        msg_id: [u8; 16],
        /// The DMPv2 `from` address, only when an identity record at that
        /// address verifies and carries `sender_spk`.
        sender_label: Option<String>,
        /// Zone the manifest and chunks were read from.
        zone: String,
    },
    /// A claim-discovered message from a sender not pinned for its zone:
    /// decrypted, held for the user to accept, trust or block.
    Quarantined {
        sender_spk: [u8; 32],
        msg_id: [u8; 16],
        body: Vec<u8>,
        ts: u64,
        sender_mailbox_domain: String,
        exp: u64,
        sender_label: Option<String>,
    },
    /// Delete this published TXT value (a consumed prekey).
    DeletePublished { name: String, value: String },
    /// This prekey secret was used and removed from the store.
    PrekeyConsumed { id: u32 },
    /// A verifying claim was found at `name`.
    ClaimSeen {
        name: String,
        sender_spk: [u8; 32],
        msg_id: [u8; 16],
        sender_mailbox_domain: String,
        slot: u8,
        exp: u64,
    },
    /// A value at `name` led nowhere.
    Dropped { name: String, reason: DropReason },
}

/// What an outstanding name is needed for.
#[derive(Clone, Copy, Debug)]
enum Waiter {
    Discover,
    ClaimSlots,
    Chunk { cand: usize, pos: u32 },
    Label { outcome: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Discover,
    ClaimSlots,
    Run,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A claim in the own zone (phase 1, M10).
    OwnClaim,
    /// A manifest value found by the slot walk of a zone.
    Slot,
    /// A claim at an M8 provider.
    ProviderClaim,
}

#[derive(Debug)]
struct Fetch {
    /// Next chunk position not yet asked for.
    next_pos: u32,
    /// Positions asked for and not yet answered.
    outstanding: u32,
    /// Valid 128-byte blocks by position.
    shares: BTreeMap<u32, Vec<u8>>,
    /// Set when the attempt can no longer succeed.
    failure: Option<DropReason>,
}

#[derive(Debug)]
enum CandState {
    Pending,
    /// Waiting for an earlier candidate with the same replay key.
    Deferred,
    Fetching(Fetch),
    Finished,
}

#[derive(Debug)]
struct Candidate {
    origin: Origin,
    /// RRset the value came from.
    name: String,
    value: String,
    /// Parsed claim (claim origins), kept from discovery.
    claim: Option<Result<ClaimRecord, Error>>,
    /// Zone holding the manifest and chunks, once known.
    zone: String,
    manifest: Option<SlotManifest>,
    /// Chunk-name label of the accepted manifest, derived once.
    msg_key: String,
    state: CandState,
}

#[derive(Debug)]
struct Outcome {
    /// RRset the manifest or claim came from.
    name: String,
    quarantine: bool,
    sender_spk: [u8; 32],
    msg_id: [u8; 16],
    body: Vec<u8>,
    ts: u64,
    exp: u64,
    zone: String,
    prekey: Option<(u32, String)>,
    /// Canonical `from` and the names holding its identity.
    label_query: Option<(String, Vec<String>)>,
    label: Option<String>,
    label_wait: usize,
}

#[derive(Debug)]
enum Entry {
    Event(Event),
    Outcome(usize),
}

/// One poll of the mailbox. See the module documentation.
#[derive(Debug)]
pub struct ReceiveSession {
    params: ReceiveParams,
    user_id: [u8; 32],
    pins: BTreeSet<[u8; 32]>,
    replay: ReplayCache,
    prekeys: PrekeyStore,
    intro: IntroState,

    stage: Stage,
    answers: TxtAnswers,
    waiting: BTreeMap<String, Vec<Waiter>>,
    to_ask: Vec<String>,
    discover_left: usize,
    claim_slots_left: usize,

    /// Discovery layout: (origin, names) in processing order.
    own_claim_names: Vec<String>,
    slot_walk: Vec<(String, Vec<String>)>,
    provider_claim_names: Vec<String>,

    cands: Vec<Candidate>,
    /// Candidate holding an in-session decode attempt, by replay key.
    inflight_by: BTreeMap<ReplayKey, usize>,
    deferred: BTreeMap<ReplayKey, Vec<usize>>,
    commit_cursor: usize,
    outcomes: Vec<Outcome>,
    entries: Vec<Entry>,
}

impl ReceiveSession {
    /// Start a poll. The caller's state is only read here (copied); it is
    /// changed by [`finish`](Self::finish).
    pub fn new(
        params: ReceiveParams,
        replay: &ReplayCache,
        prekeys: &PrekeyStore,
        intro: &IntroState,
    ) -> Self {
        let user_id = params.keypair.user_id();
        let pins: BTreeSet<[u8; 32]> = params
            .contacts
            .iter()
            .filter_map(|c| c.ed25519_spk)
            .collect();
        let mut replay = replay.clone();
        replay.prune(params.now);
        let mut s = ReceiveSession {
            user_id,
            pins,
            replay,
            prekeys: prekeys.clone(),
            intro: intro.clone(),
            stage: Stage::Discover,
            answers: TxtAnswers::new(),
            waiting: BTreeMap::new(),
            to_ask: Vec::new(),
            discover_left: 0,
            claim_slots_left: 0,
            own_claim_names: Vec::new(),
            slot_walk: Vec::new(),
            provider_claim_names: Vec::new(),
            cands: Vec::new(),
            inflight_by: BTreeMap::new(),
            deferred: BTreeMap::new(),
            commit_cursor: 0,
            outcomes: Vec::new(),
            entries: Vec::new(),
            params,
        };
        s.plan_discovery();
        s.advance();
        s
    }

    /// The next names to look up. Every name is returned once; an empty
    /// result while not [`is_done`](Self::is_done) means answers are still
    /// awaited.
    pub fn queries(&mut self) -> Vec<String> {
        core::mem::take(&mut self.to_ask)
    }

    /// Feed the TXT values found at `name` (each value with its strings
    /// already joined); an empty vector for no data or a failed lookup.
    /// Names not asked for, or already answered, are ignored.
    pub fn answer(&mut self, name: &str, values: Vec<String>) {
        let Some(waiters) = self.waiting.remove(name) else {
            return;
        };
        self.answers.insert(name.into(), values);
        for w in waiters {
            self.notify(w, name);
        }
        self.advance();
    }

    /// True when nothing is outstanding and every candidate is settled.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Run
            && self.waiting.is_empty()
            && self.to_ask.is_empty()
            && self.commit_cursor >= self.cands.len()
            && self.outcomes.iter().all(|o| o.label_wait == 0)
    }

    /// Apply the poll's state changes to the caller's stores and return its
    /// events. Candidates that had not finished are reported as
    /// [`DropReason::Incomplete`] and leave no trace. A message that another
    /// session recorded meanwhile is reported as a replay, not delivered
    /// twice.
    pub fn finish(
        self,
        replay: &mut ReplayCache,
        prekeys: &mut PrekeyStore,
        intro: &mut IntroState,
    ) -> Vec<Event> {
        let now = self.params.now;
        replay.prune(now);
        let pool_name = proto::prekey_pool_name(&self.params.username, &self.params.domain);
        let mut events = Vec::with_capacity(self.entries.len());
        let mut outcomes: Vec<Option<Outcome>> = self.outcomes.into_iter().map(Some).collect();
        for entry in self.entries {
            let o = match entry {
                Entry::Event(e) => {
                    events.push(e);
                    continue;
                }
                Entry::Outcome(i) => match outcomes.get_mut(i).and_then(Option::take) {
                    Some(o) => o,
                    None => continue,
                },
            };
            if replay.has_seen(&o.sender_spk, &o.msg_id, now) {
                events.push(Event::Dropped {
                    name: o.name,
                    reason: DropReason::Replay,
                });
                continue;
            }
            replay.finalize(&o.sender_spk, &o.msg_id, o.exp);
            if let Some((id, wire)) = o.prekey
                && prekeys.consume(id).is_some()
            {
                events.push(Event::PrekeyConsumed { id });
                if !wire.is_empty() {
                    events.push(Event::DeletePublished {
                        name: pool_name.clone(),
                        value: wire,
                    });
                }
            }
            if o.quarantine {
                if intro.add_pending(&o.sender_spk, &o.msg_id) {
                    events.push(Event::Quarantined {
                        sender_spk: o.sender_spk,
                        msg_id: o.msg_id,
                        body: o.body,
                        ts: o.ts,
                        sender_mailbox_domain: o.zone,
                        exp: o.exp,
                        sender_label: o.label,
                    });
                } else {
                    events.push(Event::Dropped {
                        name: o.name,
                        reason: DropReason::IntroRejected,
                    });
                }
            } else {
                events.push(Event::Delivered {
                    sender_spk: o.sender_spk,
                    body: o.body,
                    ts: o.ts,
                    msg_id: o.msg_id,
                    sender_label: o.label,
                    zone: o.zone,
                });
            }
        }
        for c in self.cands {
            if matches!(
                c.state,
                CandState::Fetching(_) | CandState::Deferred | CandState::Pending
            ) {
                events.push(Event::Dropped {
                    name: c.name,
                    reason: DropReason::Incomplete,
                });
            }
        }
        events
    }

    // ---- plumbing ---------------------------------------------------------

    fn now(&self) -> u64 {
        self.params.now
    }

    fn own_domain(&self) -> &str {
        &self.params.domain
    }

    /// Ask for `name` on behalf of `w`. Returns false when the answer is
    /// already known (the caller handles it at once).
    fn request(&mut self, name: String, w: Waiter) -> bool {
        if self.answers.contains_key(&name) {
            return false;
        }
        match self.waiting.get_mut(&name) {
            Some(ws) => ws.push(w),
            None => {
                self.to_ask.push(name.clone());
                self.waiting.insert(name, alloc::vec![w]);
            }
        }
        true
    }

    fn values(&self, name: &str) -> &[String] {
        self.answers.get(name).map_or(&[], Vec::as_slice)
    }

    fn drop_event(&mut self, name: String, reason: DropReason) {
        self.entries
            .push(Entry::Event(Event::Dropped { name, reason }));
    }

    fn notify(&mut self, w: Waiter, name: &str) {
        match w {
            Waiter::Discover => self.discover_left = self.discover_left.saturating_sub(1),
            Waiter::ClaimSlots => self.claim_slots_left = self.claim_slots_left.saturating_sub(1),
            Waiter::Chunk { cand, pos } => self.chunk_answered(cand, pos, name),
            Waiter::Label { outcome } => {
                if let Some(o) = self.outcomes.get_mut(outcome) {
                    o.label_wait = o.label_wait.saturating_sub(1);
                }
                self.try_resolve_label(outcome);
            }
        }
    }

    /// Move between stages and commit whatever is ready.
    fn advance(&mut self) {
        if self.stage == Stage::Discover && self.discover_left == 0 {
            self.enumerate_candidates();
            self.stage = Stage::ClaimSlots;
        }
        if self.stage == Stage::ClaimSlots && self.claim_slots_left == 0 {
            self.stage = Stage::Run;
            for i in 0..self.cands.len() {
                if matches!(self.cands[i].state, CandState::Pending) {
                    self.evaluate(i);
                }
            }
        }
        if self.stage == Stage::Run {
            self.pump_commits();
        }
    }

    // ---- discovery ----------------------------------------------------------

    /// Zones of the slot walk: each contact's zone in insertion order, then
    /// the own zone, without repeats.
    fn zones_to_poll(&self) -> Vec<String> {
        let own = self.own_domain();
        let mut zones: Vec<String> = Vec::new();
        for c in &self.params.contacts {
            let z = c.zone(own);
            if !z.is_empty() && !zones.iter().any(|x| x == z) {
                zones.push(z.into());
            }
        }
        if !own.is_empty() && !zones.iter().any(|x| x == own) {
            zones.push(own.into());
        }
        zones
    }

    fn plan_discovery(&mut self) {
        let uid = self.user_id;
        let own = self.params.domain.clone();
        let phase1 =
            !self.params.skip_primary && (!self.pins.is_empty() || self.params.primary_only);
        if phase1 && !own.is_empty() {
            self.own_claim_names = (0..SLOT_COUNT)
                .filter_map(|s| proto::claim_name(&uid, s, &own).ok())
                .collect();
        }
        if !self.params.primary_only {
            self.slot_walk = self
                .zones_to_poll()
                .into_iter()
                .map(|z| {
                    let names = (0..SLOT_COUNT)
                        .map(|s| proto::slot_name(&uid, s, &z))
                        .collect();
                    (z, names)
                })
                .collect();
        }
        let providers = self.params.claim_providers.clone();
        for zone in providers {
            for s in 0..SLOT_COUNT {
                match proto::claim_name(&uid, s, &zone) {
                    Ok(name) => self.provider_claim_names.push(name),
                    Err(_) => {
                        self.drop_event(zone.clone(), DropReason::BadProviderZone);
                        break;
                    }
                }
            }
        }
        let mut all: Vec<String> = self.own_claim_names.clone();
        for (_, names) in &self.slot_walk {
            all.extend(names.iter().cloned());
        }
        all.extend(self.provider_claim_names.iter().cloned());
        for name in all {
            if self.request(name, Waiter::Discover) {
                self.discover_left += 1;
            }
        }
    }

    /// Turn the discovery answers into the ordered candidate list, and ask
    /// for the mailbox slots that claims point at.
    fn enumerate_candidates(&mut self) {
        let own_claims = core::mem::take(&mut self.own_claim_names);
        let slot_walk = core::mem::take(&mut self.slot_walk);
        let provider_claims = core::mem::take(&mut self.provider_claim_names);
        for name in &own_claims {
            self.push_claims(Origin::OwnClaim, name);
        }
        for (zone, names) in &slot_walk {
            for name in names {
                for value in self.values(name).to_vec() {
                    self.cands.push(Candidate {
                        origin: Origin::Slot,
                        name: name.clone(),
                        value,
                        claim: None,
                        zone: zone.clone(),
                        manifest: None,
                        msg_key: String::new(),
                        state: CandState::Pending,
                    });
                }
            }
        }
        for name in &provider_claims {
            self.push_claims(Origin::ProviderClaim, name);
        }
    }

    fn push_claims(&mut self, origin: Origin, name: &str) {
        let now = self.now();
        for value in self.values(name).to_vec() {
            let claim = proto::parse_claim(&value, now);
            if let Ok(c) = &claim {
                // Ask for the pointed-to mailbox unless the claim is sure to
                // be skipped (seen, blocked and pending only ever grow).
                let skip = self.replay.has_seen(&c.sender_spk, &c.msg_id, now)
                    || self.intro.is_blocked(&c.sender_spk)
                    || self.intro.has_pending(&c.sender_spk, &c.msg_id);
                if !skip {
                    let zone = c.sender_mailbox_domain.clone();
                    for s in 0..SLOT_COUNT {
                        let slot = proto::slot_name(&self.user_id, s, &zone);
                        if self.request(slot, Waiter::ClaimSlots) {
                            self.claim_slots_left += 1;
                        }
                    }
                }
            }
            self.cands.push(Candidate {
                origin,
                name: name.into(),
                value,
                claim: Some(claim),
                zone: String::new(),
                manifest: None,
                msg_key: String::new(),
                state: CandState::Pending,
            });
        }
    }

    // ---- judging a candidate ------------------------------------------------

    /// Pinned Ed25519 keys that may sign manifests found in `zone`: all pins
    /// for the own zone, else those of contacts whose zone is exactly
    /// `zone`. (A rotation-chain walk, experimental and off in the
    /// reference, would extend this set.)
    fn pinned_for_zone(&self, spk: &[u8; 32], zone: &str) -> bool {
        let own = self.own_domain();
        if zone == own {
            return self.pins.contains(spk);
        }
        self.params
            .contacts
            .iter()
            .any(|c| c.ed25519_spk.as_ref() == Some(spk) && c.zone(own) == zone)
    }

    /// The §7.2 step-4 gate. With pins: the signer must be pinned for the
    /// zone. Without: only with TOFU.
    fn pin_gate(&self, spk: &[u8; 32], zone: &str) -> bool {
        if self.pins.is_empty() {
            return self.params.allow_tofu;
        }
        self.pinned_for_zone(spk, zone)
    }

    /// Judge candidate `i` up to its replay claim; on success start its
    /// chunk fetch. Re-run from scratch for a deferred candidate.
    fn evaluate(&mut self, i: usize) {
        let Some(c) = self.cands.get(i) else { return };
        let name = c.name.clone();
        let result = match c.origin {
            Origin::Slot => self.judge_slot(i),
            Origin::OwnClaim | Origin::ProviderClaim => self.judge_claim(i),
        };
        match result {
            Judged::Drop(reason) => {
                self.drop_event(name, reason);
                self.cands[i].state = CandState::Finished;
            }
            Judged::Defer(key) => {
                self.cands[i].state = CandState::Deferred;
                self.deferred.entry(key).or_default().push(i);
            }
            Judged::Accept(key) => {
                self.inflight_by.insert(key, i);
                self.start_fetch(i);
            }
        }
    }

    fn judge_slot(&mut self, i: usize) -> Judged {
        let now = self.now();
        let c = &self.cands[i];
        let m = match proto::parse_manifest(&c.value, now) {
            Ok(m) => m,
            Err(e) => return Judged::Drop(DropReason::InvalidManifest(e)),
        };
        let key = (m.sender_spk, m.msg_id);
        if self.inflight_by.contains_key(&key) {
            return Judged::Defer(key);
        }
        if m.recipient_id != self.user_id {
            return Judged::Drop(DropReason::WrongRecipient);
        }
        if now > m.exp {
            return Judged::Drop(DropReason::ManifestExpired);
        }
        if !self.pin_gate(&m.sender_spk, &c.zone) {
            return Judged::Drop(DropReason::UnpinnedSender);
        }
        if !self.replay.claim_for_decode(&m.sender_spk, &m.msg_id, now) {
            return Judged::Drop(DropReason::Replay);
        }
        self.cands[i].manifest = Some(m);
        Judged::Accept(key)
    }

    fn judge_claim(&mut self, i: usize) -> Judged {
        let now = self.now();
        let claim = match self.cands[i].claim.clone() {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Judged::Drop(DropReason::InvalidClaim(e)),
            None => return Judged::Drop(DropReason::InvalidClaim(Error::Malformed("no claim"))),
        };
        let key = (claim.sender_spk, claim.msg_id);
        if matches!(self.cands[i].state, CandState::Pending) {
            let seen = Event::ClaimSeen {
                name: self.cands[i].name.clone(),
                sender_spk: claim.sender_spk,
                msg_id: claim.msg_id,
                sender_mailbox_domain: claim.sender_mailbox_domain.clone(),
                slot: claim.slot,
                exp: claim.exp,
            };
            self.entries.push(Entry::Event(seen));
        }
        if self.inflight_by.contains_key(&key) {
            return Judged::Defer(key);
        }
        if self.replay.has_seen(&claim.sender_spk, &claim.msg_id, now) {
            return Judged::Drop(DropReason::Replay);
        }
        if self.intro.is_blocked(&claim.sender_spk) {
            return Judged::Drop(DropReason::Denylisted);
        }
        if self.intro.has_pending(&claim.sender_spk, &claim.msg_id) {
            return Judged::Drop(DropReason::AlreadyPending);
        }
        // Walk all ten slots of the claimed mailbox zone; the claim's own
        // slot number is only advisory.
        let zone = claim.sender_mailbox_domain.clone();
        let mut found: Option<SlotManifest> = None;
        'slots: for s in 0..SLOT_COUNT {
            let slot = proto::slot_name(&self.user_id, s, &zone);
            for v in self.values(&slot) {
                if let Ok(m) = proto::parse_manifest(v, now)
                    && m.msg_id == claim.msg_id
                {
                    found = Some(m);
                    break 'slots;
                }
            }
        }
        let Some(m) = found else {
            return Judged::Drop(DropReason::ManifestNotFound);
        };
        if m.sender_spk != claim.sender_spk {
            return Judged::Drop(DropReason::ManifestSpkMismatch);
        }
        if m.recipient_id != self.user_id {
            return Judged::Drop(DropReason::WrongRecipient);
        }
        if now > m.exp {
            return Judged::Drop(DropReason::ManifestExpired);
        }
        if !self.replay.claim_for_decode(&m.sender_spk, &m.msg_id, now) {
            return Judged::Drop(DropReason::Replay);
        }
        self.cands[i].zone = zone;
        self.cands[i].manifest = Some(m);
        Judged::Accept(key)
    }

    // ---- chunk fetching -----------------------------------------------------

    fn start_fetch(&mut self, i: usize) {
        let Some(m) = self.cands[i].manifest.as_ref() else {
            return;
        };
        let failure = if m.chunk_hashes.is_empty() {
            Some(DropReason::MissingChunkHashes)
        } else if !proto::erasure_decodable(m.data_chunks, m.total_chunks) {
            Some(DropReason::Undecodable(Error::Decode(
                "more than 256 chunks",
            )))
        } else {
            None
        };
        let msg_key = proto::msg_key(&m.msg_id, &m.recipient_id, &m.sender_spk);
        self.cands[i].msg_key = msg_key;
        self.cands[i].state = CandState::Fetching(Fetch {
            next_pos: 0,
            outstanding: 0,
            shares: BTreeMap::new(),
            failure,
        });
        self.fill_fetch(i);
    }

    fn fetch_mut(&mut self, i: usize) -> Option<&mut Fetch> {
        match self.cands.get_mut(i).map(|c| &mut c.state) {
            Some(CandState::Fetching(f)) => Some(f),
            _ => None,
        }
    }

    /// Keep `k` positions valid or in flight for candidate `i`: ask for the
    /// next positions in order, judging at once those already answered, and
    /// record failure when positions run out with too few shares.
    fn fill_fetch(&mut self, i: usize) {
        let Some(m) = self.cands.get(i).and_then(|c| c.manifest.as_ref()) else {
            return;
        };
        let (n, k) = (m.total_chunks, u64::from(m.data_chunks));
        loop {
            let Some(f) = self.fetch_mut(i) else { return };
            let have = f.shares.len() as u64;
            if f.failure.is_some() || have >= k || have + u64::from(f.outstanding) >= k {
                return;
            }
            let pos = f.next_pos;
            if pos >= n {
                if f.outstanding == 0 {
                    f.failure = Some(DropReason::NotEnoughChunks {
                        have: f.shares.len() as u32,
                        need: k as u32,
                    });
                }
                return;
            }
            f.next_pos += 1;
            f.outstanding += 1;
            let c = &self.cands[i];
            let name = proto::chunk_name(pos, &c.msg_key, &c.zone);
            if !self.request(name.clone(), Waiter::Chunk { cand: i, pos }) {
                self.judge_chunk(i, pos, &name);
            }
        }
    }

    /// A chunk answer arrived: judge it, then top the fetch up.
    fn chunk_answered(&mut self, i: usize, pos: u32, name: &str) {
        self.judge_chunk(i, pos, name);
        self.fill_fetch(i);
    }

    /// Judge the values at chunk position `pos` of candidate `i`: the first
    /// that parses, matches the manifest's hash and unwraps is the share.
    fn judge_chunk(&mut self, i: usize, pos: u32, name: &str) {
        let Some(m) = self.cands.get(i).and_then(|c| c.manifest.as_ref()) else {
            return;
        };
        let share = m.chunk_hashes.get(pos as usize).and_then(|expected| {
            self.values(name)
                .iter()
                .find_map(|v| proto::chunk_share(v, expected).ok())
        });
        let Some(f) = self.fetch_mut(i) else { return };
        f.outstanding = f.outstanding.saturating_sub(1);
        if let Some(block) = share {
            f.shares.insert(pos, block);
        }
    }

    /// Whether candidate `i`'s fetch is settled (enough shares or failed).
    fn fetch_settled(&self, i: usize) -> bool {
        match (&self.cands[i].state, &self.cands[i].manifest) {
            (CandState::Fetching(f), Some(m)) => {
                f.failure.is_some() || f.shares.len() as u64 >= u64::from(m.data_chunks)
            }
            _ => true,
        }
    }

    // ---- committing ---------------------------------------------------------

    /// Decrypt and commit settled candidates strictly in order.
    fn pump_commits(&mut self) {
        while self.commit_cursor < self.cands.len() {
            let i = self.commit_cursor;
            match &self.cands[i].state {
                CandState::Finished => {
                    self.commit_cursor += 1;
                }
                CandState::Fetching(_) => {
                    if !self.fetch_settled(i) {
                        return;
                    }
                    self.commit(i);
                    self.commit_cursor += 1;
                }
                // A deferred candidate is resolved when its blocker (earlier
                // in order) commits, so the cursor never waits on one; a
                // pending one only exists before the run stage.
                CandState::Deferred | CandState::Pending => return,
            }
        }
    }

    fn commit(&mut self, i: usize) {
        let state = core::mem::replace(&mut self.cands[i].state, CandState::Finished);
        let CandState::Fetching(fetch) = state else {
            return;
        };
        let Some(m) = self.cands[i].manifest.take() else {
            return;
        };
        let key = (m.sender_spk, m.msg_id);
        let result = match fetch.failure {
            Some(reason) => Err(reason),
            None => self.open(&m, &fetch.shares),
        };
        match result {
            Err(reason) => {
                self.replay.release(&m.sender_spk, &m.msg_id);
                let name = self.cands[i].name.clone();
                self.drop_event(name, reason);
            }
            Ok(opened) => {
                self.replay.finalize(&m.sender_spk, &m.msg_id, m.exp);
                let prekey = if m.prekey_id != 0 {
                    self.prekeys
                        .consume(m.prekey_id)
                        .map(|p| (m.prekey_id, p.wire))
                } else {
                    None
                };
                let quarantine = self.cands[i].origin != Origin::Slot
                    && !self.pinned_for_zone(&m.sender_spk, &self.cands[i].zone);
                if quarantine {
                    // Mirror the intro queue in the session copy so a later
                    // claim for the same message is skipped as pending.
                    self.intro.add_pending(&m.sender_spk, &m.msg_id);
                }
                let label_query = opened.from.as_deref().and_then(|from| {
                    let canonical = proto::canonicalize_address(from)?;
                    let (user, host) = split_canonical(&canonical)?;
                    Some((canonical, lookup_names(&user, &host, &[])))
                });
                let idx = self.outcomes.len();
                self.outcomes.push(Outcome {
                    name: self.cands[i].name.clone(),
                    quarantine,
                    sender_spk: m.sender_spk,
                    msg_id: m.msg_id,
                    body: opened.body,
                    ts: opened.ts,
                    exp: m.exp,
                    zone: self.cands[i].zone.clone(),
                    prekey,
                    label_query,
                    label: None,
                    label_wait: 0,
                });
                self.entries.push(Entry::Outcome(idx));
                self.start_label(idx);
            }
        }
        self.inflight_by.remove(&key);
        if let Some(queue) = self.deferred.remove(&key) {
            for j in queue {
                self.evaluate(j);
            }
        }
    }

    /// §7.2 step 6 after the chunks: erasure decode, outer parse, header
    /// checks, AAD rebuild, key choice, AEAD, envelope.
    fn open(
        &self,
        m: &SlotManifest,
        shares: &BTreeMap<u32, Vec<u8>>,
    ) -> Result<Opened, DropReason> {
        let now = self.now();
        let picked: Vec<(u32, &[u8])> = shares
            .iter()
            .take(m.data_chunks as usize)
            .map(|(p, b)| (*p, b.as_slice()))
            .collect();
        let picked: Vec<(usize, &[u8])> = picked.iter().map(|&(p, b)| (p as usize, b)).collect();
        let outer = fec::decode_message(m.data_chunks as usize, m.total_chunks as usize, &picked)
            .map_err(DropReason::Undecodable)?;
        let (header, payload) = parse_outer(&outer).map_err(DropReason::MalformedMessage)?;
        if header.msg_id != m.msg_id || header.recipient != m.recipient_id {
            return Err(DropReason::HeaderMismatch);
        }
        if header.is_expired(now) {
            return Err(DropReason::HeaderExpired);
        }
        let aad = header.aad(m.prekey_id);
        let secret = if m.prekey_id != 0 {
            match self.prekeys.get(m.prekey_id, now) {
                Some(p) => p.secret,
                None => return Err(DropReason::PrekeyMissing { id: m.prekey_id }),
            }
        } else {
            *self.params.keypair.x25519_secret()
        };
        let plaintext = crypto::open(&secret, payload, &aad).map_err(DropReason::DecryptFailed)?;
        let (body, from) = envelope::decode(&plaintext);
        Ok(Opened {
            body: body.to_vec(),
            ts: header.ts,
            from,
        })
    }

    // ---- sender labels --------------------------------------------------------

    fn start_label(&mut self, idx: usize) {
        let Some(names) = self
            .outcomes
            .get(idx)
            .and_then(|o| o.label_query.as_ref())
            .map(|(_, n)| n.clone())
        else {
            return;
        };
        let mut wait = 0;
        for name in names {
            if self.request(name, Waiter::Label { outcome: idx }) {
                wait += 1;
            }
        }
        if let Some(o) = self.outcomes.get_mut(idx) {
            o.label_wait = wait;
        }
        self.try_resolve_label(idx);
    }

    /// Once every identity name is answered: the label is the canonical
    /// `from` only if a record there verifies, names the same user and
    /// carries the manifest's signer.
    fn try_resolve_label(&mut self, idx: usize) {
        let Some(o) = self.outcomes.get(idx) else {
            return;
        };
        if o.label_wait != 0 {
            return;
        }
        let Some((canonical, names)) = o.label_query.as_ref() else {
            return;
        };
        let Some((user, _)) = split_canonical(canonical) else {
            return;
        };
        let spk = o.sender_spk;
        let verified = lookup_record(names, &self.answers, &user, Some(&spk), None)
            .is_some_and(|r| r.ed25519_spk == spk);
        let label = verified.then(|| canonical.clone());
        if let Some(o) = self.outcomes.get_mut(idx) {
            o.label = label;
        }
    }
}

enum Judged {
    Drop(DropReason),
    Defer(ReplayKey),
    Accept(ReplayKey),
}

struct Opened {
    body: Vec<u8>,
    ts: u64,
    from: Option<String>,
}
