//! The sans-IO DMP client: what to look up, what to publish, and how to
//! judge what came back (PROTOCOL.md §4.3, §4.4, §7).
//!
//! Nothing here performs I/O or reads a clock. The front end resolves TXT
//! names, publishes and deletes records, keeps the plain-data state of
//! [`state`] between runs, and passes `now` and an RNG in.
//!
//! * Sending: [`send_queries`] → look the names up → [`build_message`] →
//!   publish [`SentMessage::publishes`] in order.
//! * Receiving: [`ReceiveSession`] yields batches of names to resolve and
//!   consumes the answers; [`ReceiveSession::finish`] applies the state
//!   changes and returns [`Event`]s.
//! * Prekeys: [`PrekeyStore::generate_pool`]; identities:
//!   [`identity_publish`], [`identity_fetch_names`], [`select_identity`].
//!
//! A receive loop (here against a map standing in for DNS; a real front
//! end resolves each batch concurrently and may `await` between calls):
//!
//! ```
//! use dmp_core::client::*;
//! use dmp_core::crypto::Keypair;
//! # use std::collections::HashMap;
//! let dns: HashMap<String, Vec<String>> = HashMap::new();
//! let me = Keypair::from_x25519_secret([2; 32]);
//! let (mut replay, mut prekeys, mut intro) =
//!     (ReplayCache::new(), PrekeyStore::new(), IntroState::new());
//! let params = ReceiveParams::new(me, "bob", "bob.example", Vec::new(), 1_900_000_000);
//! let mut session = ReceiveSession::new(params, &replay, &prekeys, &intro);
//! while !session.is_done() {
//!     for name in session.queries() {
//!         let values = dns.get(&name).cloned().unwrap_or_default();
//!         session.answer(&name, values);
//!     }
//! }
//! for event in session.finish(&mut replay, &mut prekeys, &mut intro) {
//!     if let Event::Delivered { body, .. } = event {
//!         // show `body`; on `DeletePublished` delete that TXT value
//!     }
//! }
//! ```

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

pub mod cluster;
pub mod doh;
pub mod identity;
mod proto;
pub mod receive;
pub mod resolver;
pub mod send;
pub mod state;
pub mod vault;

pub use identity::{
    DEFAULT_IDENTITY_TTL, IdentityCandidate, IdentityChoice, IdentityQuery, identity_fetch_names,
    identity_fingerprint, identity_publish, select_identity,
};
pub use receive::{DropReason, Event, ReceiveParams, ReceiveSession};
pub use send::{SendInput, SentMessage, build_message, recipient_accepts_v2, send_queries};
pub use state::{
    Contact, DEFAULT_PREKEY_COUNT, DEFAULT_PREKEY_TTL, IntroState, MAX_PREKEY_TTL, PrekeySecret,
    PrekeyStore, ReplayCache, ReplayKey,
};
pub use vault::{vault_key, vault_open, vault_seal};

/// Mailbox slots per recipient and zone.
pub const SLOT_COUNT: u8 = 10;
/// Default message lifetime (manifest `exp`, header `ttl`, record TTL).
pub const DEFAULT_TTL_SECONDS: u32 = 300;

/// TXT answers by owner name: every value found at the name, each with its
/// character-strings already joined. A missing or empty entry means no
/// data.
pub type TxtAnswers = BTreeMap<String, Vec<String>>;

/// Add `value` to the RRset at `name` (append semantics) with DNS TTL `ttl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub name: String,
    pub value: String,
    pub ttl: u32,
}

/// Remove exactly `value` from the RRset at `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    pub name: String,
    pub value: String,
}
