//! Plain-data client state that the front end persists between polls:
//! contacts, the replay cache, the local prekey secrets and the intro
//! (first-contact quarantine) bookkeeping.
//!
//! Every type here is a bag of `pub` fields with no hidden invariants beyond
//! what its methods document, so a front end can serialize it however it
//! likes and rebuild it field by field.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};

use super::proto;
use super::{Delete, Publish};
use crate::crypto::Signer25519;
use crate::error::{Error, Result};

/// A pinned (or partially pinned) peer.
///
/// `domain` is the peer's mailbox zone. The reference backfills the
/// client's own domain when the user gave none and then clears
/// `domain_explicit`; [`Contact::new`] does the same. An empty `domain` is
/// still tolerated everywhere and treated as the client's own domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The peer's protocol-level username (the one in its identity record).
    /// May be a full `user@host` address; the host part is ignored where a
    /// bare username is needed.
    pub username: String,
    pub domain: String,
    /// True when the user set `domain` explicitly: only then does a send
    /// publish the M10 claim into the peer's zone.
    pub domain_explicit: bool,
    /// X25519 encryption key; required to send to this contact.
    pub x25519_pub: Option<[u8; 32]>,
    /// Pinned Ed25519 key; gates receive and prekey verification.
    pub ed25519_spk: Option<[u8; 32]>,
}

impl Contact {
    /// A contact with the reference's domain backfill: `domain` falls back
    /// to `own_domain`, and only an explicitly given domain counts as
    /// explicit.
    pub fn new(
        username: &str,
        domain: Option<&str>,
        own_domain: &str,
        x25519_pub: Option<[u8; 32]>,
        ed25519_spk: Option<[u8; 32]>,
    ) -> Self {
        let explicit = domain.is_some_and(|d| !d.is_empty());
        Contact {
            username: username.into(),
            domain: if explicit {
                domain.unwrap_or_default().into()
            } else {
                own_domain.into()
            },
            domain_explicit: explicit,
            x25519_pub,
            ed25519_spk,
        }
    }

    /// The mailbox zone, with an empty `domain` meaning the client's own.
    pub fn zone<'a>(&'a self, own_domain: &'a str) -> &'a str {
        if self.domain.is_empty() {
            own_domain
        } else {
            &self.domain
        }
    }

    /// The username without any `@host` suffix.
    pub fn bare_username(&self) -> &str {
        self.username
            .split_once('@')
            .map_or(self.username.as_str(), |(u, _)| u)
    }
}

/// Key of the replay cache: `(sender_spk, msg_id)`.
pub type ReplayKey = ([u8; 32], [u8; 16]);

/// Remembers delivered `(sender_spk, msg_id)` pairs until the manifest's
/// `exp`, so a re-published or re-polled manifest is never delivered twice.
///
/// `in_flight` holds decode attempts that have started but not finished;
/// an entry older than [`ReplayCache::IN_FLIGHT_TTL`] seconds is treated as
/// abandoned (a crashed worker) and reclaimed. [`super::ReceiveSession`]
/// keeps its own in-flight claims private and only ever calls
/// [`ReplayCache::finalize`] here, so a persisted cache normally has an
/// empty `in_flight`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayCache {
    /// Delivered pairs and the `exp` until which they are remembered.
    pub seen: BTreeMap<ReplayKey, u64>,
    /// Pairs being decoded and the time the attempt started.
    pub in_flight: BTreeMap<ReplayKey, u64>,
}

impl ReplayCache {
    /// Seconds after which an unfinished decode attempt is reclaimed.
    pub const IN_FLIGHT_TTL: u64 = 300;

    pub fn new() -> Self {
        Self::default()
    }

    /// True while the pair is remembered as delivered (`now <= exp`).
    pub fn has_seen(&self, sender_spk: &[u8; 32], msg_id: &[u8; 16], now: u64) -> bool {
        self.seen
            .get(&(*sender_spk, *msg_id))
            .is_some_and(|&exp| now <= exp)
    }

    /// Reserve the pair for one decode attempt. False when it was already
    /// delivered or another attempt younger than the in-flight TTL holds it.
    /// On true the caller must later [`finalize`](Self::finalize) or
    /// [`release`](Self::release).
    pub fn claim_for_decode(&mut self, sender_spk: &[u8; 32], msg_id: &[u8; 16], now: u64) -> bool {
        self.prune(now);
        let key = (*sender_spk, *msg_id);
        if self.seen.contains_key(&key) || self.in_flight.contains_key(&key) {
            return false;
        }
        self.in_flight.insert(key, now);
        true
    }

    /// Record the pair as delivered until `exp` and drop any in-flight claim.
    pub fn finalize(&mut self, sender_spk: &[u8; 32], msg_id: &[u8; 16], exp: u64) {
        let key = (*sender_spk, *msg_id);
        self.in_flight.remove(&key);
        self.seen.insert(key, exp);
    }

    /// Give up an in-flight claim without recording delivery, so a later
    /// poll can retry. Idempotent.
    pub fn release(&mut self, sender_spk: &[u8; 32], msg_id: &[u8; 16]) {
        self.in_flight.remove(&(*sender_spk, *msg_id));
    }

    /// Forget delivered pairs past their `exp` and stale in-flight claims.
    pub fn prune(&mut self, now: u64) {
        self.seen.retain(|_, exp| now <= *exp);
        let cutoff = now.saturating_sub(Self::IN_FLIGHT_TTL);
        self.in_flight.retain(|_, claimed_at| *claimed_at >= cutoff);
    }
}

/// One local prekey: the X25519 secret, its public half, expiry, and the
/// exact TXT value published for it (so it can be deleted after use).
#[derive(Clone, PartialEq, Eq)]
pub struct PrekeySecret {
    pub secret: [u8; 32],
    pub public: [u8; 32],
    pub exp: u64,
    pub wire: String,
}

impl core::fmt::Debug for PrekeySecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret half.
        f.debug_struct("PrekeySecret")
            .field("public", &crate::crypto::hex(&self.public))
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// The receiver's one-time prekey secrets, by `prekey_id` (never 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrekeyStore {
    pub keys: BTreeMap<u32, PrekeySecret>,
}

/// Default pool size and lifetime of the reference's `refresh_prekeys`.
pub const DEFAULT_PREKEY_COUNT: usize = 50;
pub const DEFAULT_PREKEY_TTL: u32 = 86_400;
/// Senders reject prekeys whose `exp` lies more than 30 days ahead, so a
/// longer lifetime would publish keys nobody can use.
pub const MAX_PREKEY_TTL: u32 = 30 * 86_400;

impl PrekeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Generate `count` prekeys with random, unique, non-zero ids, keep
    /// their secrets, and return the TXT values to publish at
    /// `prekeys.id-<h12(username)>.<domain>` (DNS TTL = `ttl`).
    ///
    /// The store is only modified when every record was built, so an error
    /// leaves it untouched.
    #[allow(clippy::too_many_arguments)] // the reference's inputs, all needed
    pub fn generate_pool<R: CryptoRng + ?Sized>(
        &mut self,
        signer: &Signer25519,
        username: &str,
        domain: &str,
        count: usize,
        ttl: u32,
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<Publish>> {
        if ttl == 0 || ttl > MAX_PREKEY_TTL {
            return Err(Error::Invalid("prekey ttl must be 1..=30 days"));
        }
        let exp = now
            .checked_add(u64::from(ttl))
            .ok_or(Error::Time("prekey expiry overflows"))?;
        let name = proto::prekey_pool_name(username, domain);
        let mut fresh: BTreeMap<u32, PrekeySecret> = BTreeMap::new();
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.fresh_id(&fresh, rng)?;
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            let public = PublicKey::from(&StaticSecret::from(secret)).to_bytes();
            let wire = proto::prekey_wire(id, &public, exp, signer)?;
            out.push(Publish {
                name: name.clone(),
                value: wire.clone(),
                ttl,
            });
            fresh.insert(
                id,
                PrekeySecret {
                    secret,
                    public,
                    exp,
                    wire,
                },
            );
        }
        self.keys.append(&mut fresh);
        Ok(out)
    }

    /// A random id that is non-zero and unused here and in `pending`. The
    /// attempt cap turns a broken RNG into an error instead of a hang.
    fn fresh_id<R: CryptoRng + ?Sized>(
        &self,
        pending: &BTreeMap<u32, PrekeySecret>,
        rng: &mut R,
    ) -> Result<u32> {
        for _ in 0..64 {
            let id = rng.next_u32();
            if id != 0 && !self.keys.contains_key(&id) && !pending.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(Error::Invalid("could not allocate a unique prekey id"))
    }

    /// The live secret for `id`: present, `id != 0` and `exp > now`.
    pub fn get(&self, id: u32, now: u64) -> Option<&PrekeySecret> {
        if id == 0 {
            return None;
        }
        self.keys.get(&id).filter(|k| k.exp > now)
    }

    /// Remove the secret after a successful decrypt; returns it (with the
    /// wire to delete from DNS).
    pub fn consume(&mut self, id: u32) -> Option<PrekeySecret> {
        self.keys.remove(&id)
    }

    /// Number of live prekeys (a front end refreshes the pool when low).
    pub fn live_count(&self, now: u64) -> usize {
        self.keys.values().filter(|k| k.exp > now).count()
    }

    /// Drop expired secrets (`exp <= now`) and return the deletions of
    /// their published values from the pool of `username` at `domain`.
    pub fn prune(&mut self, username: &str, domain: &str, now: u64) -> Vec<Delete> {
        let name = proto::prekey_pool_name(username, domain);
        let mut dead = Vec::new();
        self.keys.retain(|_, k| {
            let live = k.exp > now;
            if !live && !k.wire.is_empty() {
                dead.push(Delete {
                    name: name.clone(),
                    value: core::mem::take(&mut k.wire),
                });
            }
            live
        });
        dead
    }
}

/// First-contact bookkeeping the claim path consults: senders the user
/// blocked, and `(sender_spk, msg_id)` pairs already waiting in the intro
/// queue (so the same claim is not fetched and decrypted again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntroState {
    pub blocked: BTreeSet<[u8; 32]>,
    pub pending: BTreeSet<ReplayKey>,
}

impl IntroState {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_blocked(&self, spk: &[u8; 32]) -> bool {
        self.blocked.contains(spk)
    }

    pub fn has_pending(&self, spk: &[u8; 32], msg_id: &[u8; 16]) -> bool {
        self.pending.contains(&(*spk, *msg_id))
    }

    /// Queue an intro; false (nothing added) when the sender is blocked or
    /// the pair is already pending, as the reference's `add_intro`.
    pub fn add_pending(&mut self, spk: &[u8; 32], msg_id: &[u8; 16]) -> bool {
        if self.is_blocked(spk) {
            return false;
        }
        self.pending.insert((*spk, *msg_id))
    }

    /// The user accepted or dismissed the intro.
    pub fn remove_pending(&mut self, spk: &[u8; 32], msg_id: &[u8; 16]) -> bool {
        self.pending.remove(&(*spk, *msg_id))
    }

    /// Block a sender and drop its pending intros.
    pub fn block(&mut self, spk: &[u8; 32]) {
        self.blocked.insert(*spk);
        self.pending.retain(|(s, _)| s != spk);
    }
}
