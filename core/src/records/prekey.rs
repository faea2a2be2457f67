//! One-time prekey record (PROTOCOL.md §2.4): a signed X25519 public key a
//! sender may encrypt to instead of the recipient's long-term key, giving
//! forward secrecy once the recipient deletes the secret.
//!
//! Nothing in the record names its signer: the caller supplies the
//! recipient's pinned Ed25519 key.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{self, SIGNATURE_LEN, Signer25519};
use crate::error::{Error, Result};
use crate::wire::{self, PREFIX_PREKEY, Reader};

/// `u32 prekey_id ‖ x25519_pub(32) ‖ u64 exp`.
pub const BODY_LEN: usize = 4 + 32 + 8;
/// Decoded size: body plus signature.
pub const BLOB_LEN: usize = BODY_LEN + SIGNATURE_LEN;
/// Far-future cap on `exp` (30 days), bounding what a peer can make a
/// sender's store keep.
pub const MAX_EXP_FUTURE_SECONDS: u64 = 30 * 86_400;

/// A published prekey (public half).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prekey {
    /// 1..=2^32−1; 0 is the manifest's `NO_PREKEY` sentinel and is never valid here.
    pub prekey_id: u32,
    pub public_key: [u8; 32],
    pub exp: u64,
}

impl Prekey {
    /// The signed 44-byte body.
    pub fn body_bytes(&self) -> Result<[u8; BODY_LEN]> {
        // A signed id 0 would be indistinguishable from "no prekey" in the
        // manifest and silently drop forward secrecy.
        if self.prekey_id == 0 {
            return Err(Error::Invalid("prekey_id 0 is reserved"));
        }
        let mut body = [0u8; BODY_LEN];
        body[..4].copy_from_slice(&self.prekey_id.to_be_bytes());
        body[4..36].copy_from_slice(&self.public_key);
        body[36..].copy_from_slice(&self.exp.to_be_bytes());
        Ok(body)
    }

    /// Build and sign the TXT value with the identity's Ed25519 key.
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        let body = self.body_bytes()?;
        let mut blob = Vec::with_capacity(BLOB_LEN);
        blob.extend_from_slice(&body);
        blob.extend_from_slice(&signer.sign(&body));
        let mut out = String::from(PREFIX_PREKEY);
        out.push_str(&wire::b64_encode(&blob));
        Ok(out)
    }

    /// Parse and verify against `signer_spk` (the recipient's pinned key):
    /// prefix, lenient base64, exactly 108 bytes, id ≠ 0, signature, then
    /// the 30-day far-future cap. Expiry is left to the caller
    /// ([`Prekey::is_expired`]).
    pub fn parse_and_verify(wire_value: &str, signer_spk: &[u8; 32], now: u64) -> Result<Self> {
        let b64 = wire::strip_prefix(wire_value, PREFIX_PREKEY)?;
        let blob = wire::b64_decode_lenient(b64)?;
        if blob.len() != BLOB_LEN {
            return Err(Error::Malformed("prekey blob is not 108 bytes"));
        }
        let (body, sig) = crypto::split_signature(&blob)?;
        let mut r = Reader::new(body);
        let prekey_id = r.u32()?;
        let public_key = r.array()?;
        let exp = r.u64()?;
        r.finish()?;
        if prekey_id == 0 {
            return Err(Error::Invalid("prekey_id 0 is reserved"));
        }
        crypto::verify(signer_spk, body, &sig)?;
        if exp.saturating_sub(now) > MAX_EXP_FUTURE_SECONDS {
            return Err(Error::Time("exp more than 30 days in the future"));
        }
        Ok(Prekey {
            prekey_id,
            public_key,
            exp,
        })
    }

    /// Sender side: a fetched prekey is unusable once `now > exp`.
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.exp
    }

    /// Recipient's local store: a stored secret is dead once `exp <= now`
    /// (one second earlier than [`Prekey::is_expired`]), so a message
    /// encrypted to a prekey at exactly `exp` cannot be opened.
    pub fn is_dead_in_store(exp: u64, now: u64) -> bool {
        exp <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use proptest::prelude::*;

    const NOW: u64 = 2_050_000_000;

    fn sample() -> (Keypair, Prekey) {
        let kp = Keypair::from_x25519_secret([3u8; 32]);
        let pk = Prekey {
            prekey_id: 77,
            public_key: [4u8; 32],
            exp: NOW + 86_400,
        };
        (kp, pk)
    }

    #[test]
    fn round_trip_and_exact_size() {
        let (kp, pk) = sample();
        let w = pk.to_wire(kp.signer()).unwrap();
        assert_eq!(w.len(), 162);
        assert_eq!(
            Prekey::parse_and_verify(&w, &kp.ed25519_public(), NOW).unwrap(),
            pk
        );
        let other = Keypair::from_x25519_secret([5u8; 32]);
        assert_eq!(
            Prekey::parse_and_verify(&w, &other.ed25519_public(), NOW),
            Err(Error::BadSignature)
        );
    }

    #[test]
    fn id_zero_refused_both_ways() {
        let (kp, mut pk) = sample();
        pk.prekey_id = 0;
        assert!(pk.to_wire(kp.signer()).is_err());
        let mut blob = [0u8; BLOB_LEN];
        blob[4..36].copy_from_slice(&pk.public_key);
        blob[36..44].copy_from_slice(&pk.exp.to_be_bytes());
        let sig = kp.sign(&blob[..BODY_LEN]);
        blob[BODY_LEN..].copy_from_slice(&sig);
        let w = alloc::format!("{PREFIX_PREKEY}{}", wire::b64_encode(&blob));
        assert!(Prekey::parse_and_verify(&w, &kp.ed25519_public(), NOW).is_err());
    }

    #[test]
    fn time_rules() {
        let (kp, mut pk) = sample();
        pk.exp = NOW + MAX_EXP_FUTURE_SECONDS;
        let w = pk.to_wire(kp.signer()).unwrap();
        assert!(Prekey::parse_and_verify(&w, &kp.ed25519_public(), NOW).is_ok());
        assert!(matches!(
            Prekey::parse_and_verify(&w, &kp.ed25519_public(), NOW - 1),
            Err(Error::Time(_))
        ));
        assert!(!pk.is_expired(pk.exp));
        assert!(pk.is_expired(pk.exp + 1));
        assert!(Prekey::is_dead_in_store(pk.exp, pk.exp));
        assert!(!Prekey::is_dead_in_store(pk.exp, pk.exp - 1));
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".*", now in any::<u64>()) {
            let spk = [9u8; 32];
            let _ = Prekey::parse_and_verify(&s, &spk, now);
            let _ = Prekey::parse_and_verify(&alloc::format!("{PREFIX_PREKEY}{s}"), &spk, now);
        }

        #[test]
        fn mutated_blob_fails_or_round_trips(
            idx in any::<prop::sample::Index>(),
            xor in any::<u8>(),
        ) {
            let (kp, pk) = sample();
            let w = pk.to_wire(kp.signer()).unwrap();
            let mut blob = wire::b64_decode_strict(&w[PREFIX_PREKEY.len()..]).unwrap();
            let i = idx.index(blob.len());
            blob[i] ^= xor;
            let w2 = alloc::format!("{PREFIX_PREKEY}{}", wire::b64_encode(&blob));
            match Prekey::parse_and_verify(&w2, &kp.ed25519_public(), NOW) {
                Ok(p) => { prop_assert_eq!(xor, 0); prop_assert_eq!(p, pk); }
                Err(_) => prop_assert_ne!(xor, 0),
            }
        }
    }
}
