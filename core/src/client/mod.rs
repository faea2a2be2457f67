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

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

pub mod identity;
mod proto;
pub mod receive;
pub mod send;
pub mod state;

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
