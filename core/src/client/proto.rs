//! Glue between the client and the record, naming, message and coding
//! modules: the few compositions the client needs in more than one place.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{Keypair, Signer25519, sha256};
use crate::error::{Error, Result};
use crate::fec;
use crate::message::{self, MessageHeader};
use crate::records::chunk;

pub use crate::envelope::canonicalize_address;
pub use crate::names::{
    chunk_name, msg_key, prekey_pool_name, slot_for_msg_id, slot_name,
    zone_anchored_identity_name as identity_zone_name,
};
pub use crate::records::claim::ClaimRecord;
pub use crate::records::identity::IdentityRecord;
pub use crate::records::manifest::SlotManifest;
pub use crate::records::prekey::Prekey;

/// Hashed identity name `id-<h16(username)>.<domain>`.
pub fn identity_hashed_name(username: &str, domain: &str) -> String {
    crate::names::identity_name(username, domain)
}

/// A signed identity record for `keypair` (versions sorted by the record).
pub fn identity_wire(
    keypair: &Keypair,
    username: &str,
    versions: &[u8],
    now: u64,
) -> Result<String> {
    let mut record = IdentityRecord::new(
        username.into(),
        keypair.x25519_public(),
        keypair.ed25519_public(),
        now,
    );
    record.versions = versions.to_vec();
    record.to_wire(keypair.signer())
}

/// Parse and verify an identity TXT value.
pub fn parse_identity(value: &str) -> Result<IdentityRecord> {
    IdentityRecord::parse_and_verify(value)
}

/// A signed prekey record.
pub fn prekey_wire(id: u32, public: &[u8; 32], exp: u64, signer: &Signer25519) -> Result<String> {
    Prekey {
        prekey_id: id,
        public_key: *public,
        exp,
    }
    .to_wire(signer)
}

/// Parse and verify a prekey TXT value with the recipient's pinned key.
pub fn parse_prekey(value: &str, spk: &[u8; 32], now: u64) -> Result<Prekey> {
    Prekey::parse_and_verify(value, spk, now)
}

pub fn parse_manifest(value: &str, now: u64) -> Result<SlotManifest> {
    SlotManifest::parse_and_verify(value, now)
}

pub fn parse_claim(value: &str, now: u64) -> Result<ClaimRecord> {
    ClaimRecord::parse_and_verify(value, now)
}

/// A claim by `keypair` pointing at `msg_id` in `mailbox_zone`.
pub fn claim_wire(
    msg_id: &[u8; 16],
    keypair: &Keypair,
    mailbox_zone: &str,
    slot: u8,
    ts: u64,
    exp: u64,
) -> Result<String> {
    ClaimRecord {
        msg_id: *msg_id,
        sender_spk: keypair.ed25519_public(),
        sender_mailbox_domain: mailbox_zone.into(),
        slot,
        ts,
        exp,
    }
    .to_wire(keypair.signer())
}

/// Claim owner name; the zone must be non-empty.
pub fn claim_name(recipient_id: &[u8; 32], slot: u8, zone: &str) -> Result<String> {
    crate::names::claim_name(recipient_id, slot, zone)
}

/// `len(outer)` for a header and a plaintext of `plaintext_len` bytes,
/// without building either: `2 ‖ json ‖ eph(32) ‖ nonce(12) ‖ ct+tag ‖ 32`.
pub fn outer_len(header: &MessageHeader, plaintext_len: usize) -> usize {
    2usize
        .saturating_add(header.to_json().len())
        .saturating_add(32 + crate::crypto::NONCE_LEN + crate::crypto::TAG_LEN)
        .saturating_add(plaintext_len)
        .saturating_add(message::TRAILER_LEN)
}

/// One chunk record for an erasure share: its TXT value and the hash the
/// manifest binds (`H(chunk data)`).
pub fn chunk_value(share: &[u8; fec::BLOCK_SIZE]) -> (String, [u8; 32]) {
    let data = chunk::wrap_block(share);
    (chunk::chunk_wire(&data), sha256(&data))
}

/// The share carried by a chunk value, if it starts with `v=dmp`, parses,
/// hashes to `expected` (checked before any RS work) and unwraps.
pub fn chunk_share(value: &str, expected: &[u8; 32]) -> Result<Vec<u8>> {
    if !value.starts_with("v=dmp") {
        return Err(Error::Prefix);
    }
    let data = chunk::parse_chunk_data(value)?;
    if sha256(&data) != *expected {
        return Err(Error::Mismatch("chunk hash"));
    }
    // A wrong block length is left for the erasure layer to refuse, as in
    // the reference (the position is then taken, not skipped).
    chunk::unwrap_block(&data)
}

/// Whether the erasure layer can decode `(k, n)` at all (zfec: n ≤ 256).
pub fn erasure_decodable(k: u32, n: u32) -> bool {
    fec::zfec::valid_params(k as usize, n as usize)
}
