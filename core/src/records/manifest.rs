//! Slot manifest (PROTOCOL.md §2.2): the signed pointer a sender publishes at
//! `slot-N.mb-<h12>.<zone>` saying "message `msg_id` for `recipient_id` waits
//! in `total_chunks` chunks, any `data_chunks` of which rebuild it".
//!
//! The record authenticates itself: the signature is checked against the
//! embedded `sender_spk`. Whether that key is trusted is the receiver's call.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{self, SIGNATURE_LEN, Signer25519};
use crate::error::{Error, Result};
use crate::wire::{self, PREFIX_MANIFEST, Reader};

/// Protocol cap on `total_chunks`: without it a signed manifest could make a
/// receiver query ~2^32 chunk names.
pub const MAX_TOTAL_CHUNKS: u32 = 1024;
/// Far-future cap on `exp` (30 days): bounds how long receivers must
/// remember a manifest in their replay cache.
pub const MAX_EXP_FUTURE_SECONDS: u64 = 30 * 86_400;
/// `prekey_id` meaning "encrypted to the long-term X25519 key" (no forward secrecy).
pub const NO_PREKEY: u32 = 0;
/// Fixed header: msg_id, sender_spk, recipient_id, n, k, prekey_id, ts, exp.
pub const HEADER_LEN: usize = 16 + 32 + 32 + 4 + 4 + 4 + 8 + 8;
/// Decoded size of a manifest without chunk hashes (header + signature).
pub const LEGACY_BLOB_LEN: usize = HEADER_LEN + SIGNATURE_LEN;
const CHUNK_HASH_LEN: usize = 32;

/// A slot manifest. `chunk_hashes` is empty for the legacy form; otherwise it
/// holds `H(chunk data)` for each of the `total_chunks` chunks, and receivers
/// require it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotManifest {
    pub msg_id: [u8; 16],
    /// Ed25519 key of the sender; the signature is verified with it.
    pub sender_spk: [u8; 32],
    /// `SHA256(recipient X25519 public key)`.
    pub recipient_id: [u8; 32],
    /// n: chunks published.
    pub total_chunks: u32,
    /// k: chunks needed to reconstruct.
    pub data_chunks: u32,
    /// Recipient prekey used for ECDH, or [`NO_PREKEY`].
    pub prekey_id: u32,
    pub ts: u64,
    pub exp: u64,
    pub chunk_hashes: Vec<[u8; 32]>,
}

/// `1 ≤ k ≤ n ≤ 1024`, shared by sign and parse.
fn check_counts(total: u32, data: u32) -> Result<()> {
    if data == 0 || data > total {
        return Err(Error::Invalid("data_chunks must be in 1..=total_chunks"));
    }
    if total > MAX_TOTAL_CHUNKS {
        return Err(Error::Invalid("total_chunks above 1024"));
    }
    Ok(())
}

impl SlotManifest {
    /// The signed body: fixed header, then the chunk hashes (if any).
    pub fn body_bytes(&self) -> Result<Vec<u8>> {
        check_counts(self.total_chunks, self.data_chunks)?;
        // A partial hash list would leave gaps a receiver could not tell
        // from poisoning, so it is all or nothing.
        if !self.chunk_hashes.is_empty() && self.chunk_hashes.len() != self.total_chunks as usize {
            return Err(Error::Invalid(
                "chunk_hashes must be empty or have total_chunks entries",
            ));
        }
        let mut body = Vec::with_capacity(HEADER_LEN + CHUNK_HASH_LEN * self.chunk_hashes.len());
        body.extend_from_slice(&self.msg_id);
        body.extend_from_slice(&self.sender_spk);
        body.extend_from_slice(&self.recipient_id);
        body.extend_from_slice(&self.total_chunks.to_be_bytes());
        body.extend_from_slice(&self.data_chunks.to_be_bytes());
        body.extend_from_slice(&self.prekey_id.to_be_bytes());
        body.extend_from_slice(&self.ts.to_be_bytes());
        body.extend_from_slice(&self.exp.to_be_bytes());
        for h in &self.chunk_hashes {
            body.extend_from_slice(h);
        }
        Ok(body)
    }

    /// Build and sign the TXT value. `signer` must hold the key named in
    /// `sender_spk`, or the record could never verify.
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        if signer.public() != self.sender_spk {
            return Err(Error::Mismatch("signer key differs from sender_spk"));
        }
        let mut blob = self.body_bytes()?;
        let sig = signer.sign(&blob);
        blob.extend_from_slice(&sig);
        let mut out = String::from(PREFIX_MANIFEST);
        out.push_str(&wire::b64_encode(&blob));
        Ok(out)
    }

    /// Parse and verify a TXT value, in the reference's order: prefix,
    /// lenient base64, length (legacy or `172 + 32·n`), counts, signature
    /// with the embedded key, then the 30-day far-future cap. Expiry itself
    /// is not checked here; see [`SlotManifest::is_expired`].
    pub fn parse_and_verify(wire_value: &str, now: u64) -> Result<Self> {
        let b64 = wire::strip_prefix(wire_value, PREFIX_MANIFEST)?;
        let blob = wire::b64_decode_lenient(b64)?;
        if blob.len() < LEGACY_BLOB_LEN {
            return Err(Error::Malformed("manifest shorter than 172 bytes"));
        }
        let mut r = Reader::new(&blob);
        let msg_id = r.array::<16>()?;
        let sender_spk = r.array::<32>()?;
        let recipient_id = r.array::<32>()?;
        let total_chunks = r.u32()?;
        let data_chunks = r.u32()?;
        let prekey_id = r.u32()?;
        let ts = r.u64()?;
        let exp = r.u64()?;

        let hashed_len = (total_chunks as usize)
            .checked_mul(CHUNK_HASH_LEN)
            .and_then(|h| h.checked_add(LEGACY_BLOB_LEN));
        let n_hashes = if blob.len() == LEGACY_BLOB_LEN {
            0
        } else if Some(blob.len()) == hashed_len {
            total_chunks as usize
        } else {
            return Err(Error::Malformed(
                "manifest length is neither legacy nor hashed",
            ));
        };
        check_counts(total_chunks, data_chunks)?;

        let mut chunk_hashes = Vec::with_capacity(n_hashes);
        for _ in 0..n_hashes {
            chunk_hashes.push(r.array::<32>()?);
        }
        let body_len = r.position();
        let sig: [u8; 64] = r.array()?;
        r.finish()?;
        let body = blob.get(..body_len).ok_or(Error::Malformed("truncated"))?;
        crypto::verify(&sender_spk, body, &sig)?;

        if exp.saturating_sub(now) > MAX_EXP_FUTURE_SECONDS {
            return Err(Error::Time("exp more than 30 days in the future"));
        }
        Ok(SlotManifest {
            msg_id,
            sender_spk,
            recipient_id,
            total_chunks,
            data_chunks,
            prekey_id,
            ts,
            exp,
            chunk_hashes,
        })
    }

    /// The receiver drops a manifest when `now > exp` (`exp == now` is live).
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.exp
    }

    /// Receivers deliver only manifests that bind every chunk by hash.
    pub fn has_chunk_hashes(&self) -> bool {
        !self.chunk_hashes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use proptest::prelude::*;

    const NOW: u64 = 2_050_000_000;

    fn sample(n: u32, hashes: bool) -> (Keypair, SlotManifest) {
        let kp = Keypair::from_x25519_secret([5u8; 32]);
        let m = SlotManifest {
            msg_id: [1u8; 16],
            sender_spk: kp.ed25519_public(),
            recipient_id: [2u8; 32],
            total_chunks: n,
            data_chunks: n.div_ceil(2),
            prekey_id: 9,
            ts: NOW - 10,
            exp: NOW + 290,
            chunk_hashes: if hashes {
                (0..n).map(|i| [i as u8; 32]).collect()
            } else {
                Vec::new()
            },
        };
        (kp, m)
    }

    #[test]
    fn round_trip_with_and_without_hashes() {
        for hashes in [false, true] {
            let (kp, m) = sample(10, hashes);
            let w = m.to_wire(kp.signer()).unwrap();
            assert_eq!(SlotManifest::parse_and_verify(&w, NOW).unwrap(), m);
        }
        let (kp, m) = sample(3, true);
        let w = m.to_wire(kp.signer()).unwrap();
        // 108 + 96 + 64 = 268 bytes → 360 base64 characters.
        assert_eq!(w.len(), PREFIX_MANIFEST.len() + 360);
    }

    #[test]
    fn sign_side_checks() {
        let (kp, mut m) = sample(4, true);
        m.chunk_hashes.pop();
        assert!(m.to_wire(kp.signer()).is_err());
        let (kp, mut m) = sample(4, false);
        m.data_chunks = 0;
        assert!(m.to_wire(kp.signer()).is_err());
        m.data_chunks = 5;
        assert!(m.to_wire(kp.signer()).is_err());
        let (kp, mut m) = sample(1025, false);
        assert!(m.to_wire(kp.signer()).is_err());
        m.total_chunks = 1024;
        assert!(m.to_wire(kp.signer()).is_ok());
        let other = Keypair::from_x25519_secret([6u8; 32]);
        assert_eq!(
            m.to_wire(other.signer()),
            Err(Error::Mismatch("signer key differs from sender_spk"))
        );
    }

    #[test]
    fn far_future_cap_and_expiry() {
        let (kp, mut m) = sample(2, true);
        m.exp = NOW + MAX_EXP_FUTURE_SECONDS;
        let w = m.to_wire(kp.signer()).unwrap();
        assert!(SlotManifest::parse_and_verify(&w, NOW).is_ok());
        assert!(matches!(
            SlotManifest::parse_and_verify(&w, NOW - 1),
            Err(Error::Time(_))
        ));
        // The parser does not check expiry; the caller does.
        let p = SlotManifest::parse_and_verify(&w, m.exp + 1000).unwrap();
        assert!(p.is_expired(m.exp + 1));
        assert!(!p.is_expired(m.exp));
    }

    #[test]
    fn wrong_length_and_huge_n_fail_cleanly() {
        let (kp, m) = sample(2, true);
        let w = m.to_wire(kp.signer()).unwrap();
        let mut blob = wire::b64_decode_strict(&w[PREFIX_MANIFEST.len()..]).unwrap();
        blob.push(0);
        let bad = alloc::format!("{PREFIX_MANIFEST}{}", wire::b64_encode(&blob));
        assert!(SlotManifest::parse_and_verify(&bad, NOW).is_err());
        blob.pop();
        blob[80..84].copy_from_slice(&u32::MAX.to_be_bytes());
        let bad = alloc::format!("{PREFIX_MANIFEST}{}", wire::b64_encode(&blob));
        assert!(SlotManifest::parse_and_verify(&bad, NOW).is_err());
    }

    /// Known answer for the hashed form (not covered by the vectors), from
    /// the reference (dmp/core/manifest.py, dnsmesh 0.7.5): signer
    /// `DMPCrypto.from_private_bytes(b"\x42"*32)`, msg_id `bytes(range(16))`,
    /// recipient_id `sha256(b"r")`, n=3, k=2, prekey_id 0xdeadbeef,
    /// ts=1893456000, exp=1893456300, chunk_hashes `sha256(bytes([i]))` for i in 0..3.
    #[test]
    fn hashed_form_matches_reference_known_answer() {
        const WIRE: &str = "v=dmp1;t=manifest;d=AAECAwQFBgcICQoLDA0ODzVvycut6Wfl4FOcVdAN+pdrZt8vGpogWH6Kpy7ZhRMxRUNJ5CLwUpcZHq0T4h09tSDlq+9SBV5JZLgvshP1k6EAAAADAAAAAt6tvu8AAAAAcNvYgAAAAABw29msbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB1L9RIvNEVUxTveLruM0rfj0WAK1jHDhaXXzOI8d4VFmtvBtMkA/+SNV1tdpcY4BAEl9l2w/j4kSUt26phkV9mGFDdei13kjsyClPxcTVpWdFuINFhy6tGtSlTiaZOUw1616S+/M+3YCc0ek/aQhed/d02UqH8X2qdUpsBlD4P2Cg==";
        let kp = Keypair::from_x25519_secret([0x42; 32]);
        let m = SlotManifest {
            msg_id: core::array::from_fn(|i| i as u8),
            sender_spk: kp.ed25519_public(),
            recipient_id: crypto::sha256(b"r"),
            total_chunks: 3,
            data_chunks: 2,
            prekey_id: 0xdead_beef,
            ts: 1_893_456_000,
            exp: 1_893_456_300,
            chunk_hashes: (0u8..3).map(|i| crypto::sha256(&[i])).collect(),
        };
        assert_eq!(m.to_wire(kp.signer()).unwrap(), WIRE);
        assert_eq!(
            SlotManifest::parse_and_verify(WIRE, 1_893_456_000).unwrap(),
            m
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".*", now in any::<u64>()) {
            let _ = SlotManifest::parse_and_verify(&s, now);
            let _ = SlotManifest::parse_and_verify(&alloc::format!("{PREFIX_MANIFEST}{s}"), now);
        }

        #[test]
        fn arbitrary_blob_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..600)) {
            let w = alloc::format!("{PREFIX_MANIFEST}{}", wire::b64_encode(&blob));
            let _ = SlotManifest::parse_and_verify(&w, NOW);
        }

        #[test]
        fn mutated_blob_fails_or_round_trips(
            hashes in any::<bool>(),
            idx in any::<prop::sample::Index>(),
            xor in any::<u8>(),
        ) {
            let (kp, m) = sample(3, hashes);
            let w = m.to_wire(kp.signer()).unwrap();
            let mut blob = wire::b64_decode_strict(&w[PREFIX_MANIFEST.len()..]).unwrap();
            let i = idx.index(blob.len());
            blob[i] ^= xor;
            let w2 = alloc::format!("{PREFIX_MANIFEST}{}", wire::b64_encode(&blob));
            match SlotManifest::parse_and_verify(&w2, NOW) {
                Ok(p) => { prop_assert_eq!(xor, 0); prop_assert_eq!(p, m); }
                Err(_) => prop_assert_ne!(xor, 0),
            }
        }

        #[test]
        fn mutated_wire_text_never_verifies_changed_fields(
            idx in any::<prop::sample::Index>(),
            c in any::<char>(),
        ) {
            let (kp, m) = sample(2, true);
            let w = m.to_wire(kp.signer()).unwrap();
            let mut chars: Vec<char> = w.chars().collect();
            let i = idx.index(chars.len());
            chars[i] = c;
            let w2: String = chars.into_iter().collect();
            // Lenient base64 may skip a foreign character, but anything that
            // still verifies must carry exactly the signed fields.
            if let Ok(p) = SlotManifest::parse_and_verify(&w2, NOW) {
                prop_assert_eq!(p, m);
            }
        }
    }
}
