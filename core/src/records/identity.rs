//! Identity record (PROTOCOL.md §2.3): binds a username to an X25519
//! encryption key and an Ed25519 signing key, signed by that Ed25519 key.
//!
//! An optional `versions` suffix advertises which protocol versions the
//! publisher can receive; it is left out for `[1]` so v1-only records stay
//! byte-identical to the historical format.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::crypto::{self, Signer25519};
use crate::error::{Error, Result};
use crate::wire::{self, PREFIX_IDENTITY, Reader};

/// Longest username, in UTF-8 bytes.
pub const USERNAME_MAX: usize = 64;
/// Shortest body: length byte, 32+32 key bytes, u64 ts, plus one username byte.
const MIN_BODY_LEN: usize = 1 + 32 + 32 + 8 + 1;
/// Shortest decoded blob the reference looks at (a signature plus one byte).
const MIN_BLOB_LEN: usize = crypto::SIGNATURE_LEN + 1;

/// A signed (username, x25519_pk, ed25519_spk) binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    /// 1..=64 UTF-8 bytes.
    pub username: String,
    pub x25519_pk: [u8; 32],
    /// The key that signs this record.
    pub ed25519_spk: [u8; 32],
    pub ts: u64,
    /// Protocol versions the publisher receives. Sorted and deduplicated on
    /// sign; `[1]` when a parsed record has no suffix.
    pub versions: Vec<u8>,
}

/// Sort and deduplicate, refusing an empty list so a record never
/// advertises nothing.
fn normalize_versions(versions: &[u8]) -> Result<Vec<u8>> {
    let mut v = versions.to_vec();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        return Err(Error::Invalid("versions must not be empty"));
    }
    Ok(v)
}

impl IdentityRecord {
    /// A v1-only record (`versions = [1]`), the reference default.
    pub fn new(username: String, x25519_pk: [u8; 32], ed25519_spk: [u8; 32], ts: u64) -> Self {
        IdentityRecord {
            username,
            x25519_pk,
            ed25519_spk,
            ts,
            versions: vec![1],
        }
    }

    /// Clients send the DMPv2 envelope only to peers advertising version 2.
    pub fn supports_v2(&self) -> bool {
        self.versions.contains(&2)
    }

    /// The signed body; the versions suffix is omitted for `[1]`.
    pub fn body_bytes(&self) -> Result<Vec<u8>> {
        let name = self.username.as_bytes();
        if name.is_empty() {
            return Err(Error::Invalid("username must not be empty"));
        }
        if name.len() > USERNAME_MAX {
            return Err(Error::Invalid("username longer than 64 bytes"));
        }
        let versions = normalize_versions(&self.versions)?;
        let mut body = Vec::with_capacity(MIN_BODY_LEN + name.len() + versions.len());
        body.push(name.len() as u8);
        body.extend_from_slice(name);
        body.extend_from_slice(&self.x25519_pk);
        body.extend_from_slice(&self.ed25519_spk);
        body.extend_from_slice(&self.ts.to_be_bytes());
        if versions != [1] {
            // 256 distinct u8 values cannot be counted in one byte.
            let vlen = u8::try_from(versions.len())
                .map_err(|_| Error::Invalid("more than 255 versions"))?;
            body.push(vlen);
            body.extend_from_slice(&versions);
        }
        Ok(body)
    }

    /// Build and sign the TXT value. `signer` must hold `ed25519_spk`, or
    /// the record could never verify.
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        if signer.public() != self.ed25519_spk {
            return Err(Error::Mismatch("signer key differs from ed25519_spk"));
        }
        let mut blob = self.body_bytes()?;
        let sig = signer.sign(&blob);
        blob.extend_from_slice(&sig);
        let mut out = String::from(PREFIX_IDENTITY);
        out.push_str(&wire::b64_encode(&blob));
        Ok(out)
    }

    /// Parse and verify: prefix, lenient base64, sizes, username, versions
    /// suffix, then the signature with the embedded key. No time rules.
    pub fn parse_and_verify(wire_value: &str) -> Result<Self> {
        let b64 = wire::strip_prefix(wire_value, PREFIX_IDENTITY)?;
        let blob = wire::b64_decode_lenient(b64)?;
        if blob.len() < MIN_BLOB_LEN {
            return Err(Error::Malformed("identity blob too short"));
        }
        let (body, sig) = crypto::split_signature(&blob)?;
        let record = Self::from_body(body)?;
        crypto::verify(&record.ed25519_spk, body, &sig)?;
        Ok(record)
    }

    fn from_body(body: &[u8]) -> Result<Self> {
        if body.len() < MIN_BODY_LEN {
            return Err(Error::Malformed("identity body too short"));
        }
        let mut r = Reader::new(body);
        let ulen = usize::from(r.u8()?);
        if ulen == 0 || ulen > USERNAME_MAX {
            return Err(Error::Invalid("username length not in 1..=64"));
        }
        let name = r.bytes(ulen)?;
        let username = core::str::from_utf8(name)
            .map_err(|_| Error::Invalid("username is not UTF-8"))?
            .into();
        let x25519_pk = r.array()?;
        let ed25519_spk = r.array()?;
        let ts = r.u64()?;
        let versions = if r.is_empty() {
            vec![1]
        } else {
            let vlen = usize::from(r.u8()?);
            if vlen == 0 {
                return Err(Error::Malformed("empty versions suffix"));
            }
            if r.remaining() != vlen {
                return Err(Error::Malformed("versions suffix length mismatch"));
            }
            let raw = r.bytes(vlen)?;
            if !raw.windows(2).all(|w| w[0] < w[1]) {
                return Err(Error::Invalid("versions must be sorted and unique"));
            }
            raw.to_vec()
        };
        Ok(IdentityRecord {
            username,
            x25519_pk,
            ed25519_spk,
            ts,
            versions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use proptest::prelude::*;

    fn sample(versions: &[u8]) -> (Keypair, IdentityRecord) {
        let kp = Keypair::from_x25519_secret([8u8; 32]);
        let mut rec = IdentityRecord::new(
            "bob".into(),
            kp.x25519_public(),
            kp.ed25519_public(),
            1_893_456_000,
        );
        rec.versions = versions.to_vec();
        (kp, rec)
    }

    fn resign(kp: &Keypair, body: &[u8]) -> String {
        let mut blob = body.to_vec();
        blob.extend_from_slice(&kp.sign(body));
        alloc::format!("{PREFIX_IDENTITY}{}", wire::b64_encode(&blob))
    }

    #[test]
    fn versions_suffix_rules() {
        let (kp, rec) = sample(&[1]);
        let body = rec.body_bytes().unwrap();
        assert_eq!(body.len(), 1 + 3 + 72);
        let parsed = IdentityRecord::parse_and_verify(&rec.to_wire(kp.signer()).unwrap()).unwrap();
        assert_eq!(parsed.versions, [1]);
        assert!(!parsed.supports_v2());

        // Sign normalizes; parse requires strictly ascending.
        let (kp, rec) = sample(&[2, 1, 2]);
        assert!(rec.body_bytes().unwrap().ends_with(&[2, 1, 2]));
        let parsed = IdentityRecord::parse_and_verify(&rec.to_wire(kp.signer()).unwrap()).unwrap();
        assert_eq!(parsed.versions, [1, 2]);
        assert!(parsed.supports_v2());

        // [2] alone is written out (it is not [1]).
        let (_, rec) = sample(&[2]);
        assert!(rec.body_bytes().unwrap().ends_with(&[1, 2]));

        let (_, rec) = sample(&[]);
        assert!(rec.body_bytes().is_err());
        let all: Vec<u8> = (0..=255).collect();
        let (_, rec) = sample(&all);
        assert!(rec.body_bytes().is_err());
        let (kp, rec) = sample(&all[..255]);
        assert!(IdentityRecord::parse_and_verify(&rec.to_wire(kp.signer()).unwrap()).is_ok());

        // Hand-built bodies with bad suffixes fail even when signed.
        let (kp, rec) = sample(&[1]);
        let base = rec.body_bytes().unwrap();
        for suffix in [&[0u8][..], &[2, 2, 1], &[2, 1, 1], &[1, 1, 9], &[2, 1]] {
            let mut b = base.clone();
            b.extend_from_slice(suffix);
            assert!(
                IdentityRecord::parse_and_verify(&resign(&kp, &b)).is_err(),
                "{suffix:?}"
            );
        }
        // An explicit [1] suffix is legal on parse.
        let mut b = base.clone();
        b.extend_from_slice(&[1, 1]);
        assert_eq!(
            IdentityRecord::parse_and_verify(&resign(&kp, &b))
                .unwrap()
                .versions,
            [1]
        );
    }

    #[test]
    fn username_rules() {
        let (kp, mut rec) = sample(&[1]);
        rec.username = "é".repeat(32);
        assert!(IdentityRecord::parse_and_verify(&rec.to_wire(kp.signer()).unwrap()).is_ok());
        rec.username.push('x');
        assert!(rec.to_wire(kp.signer()).is_err());
        rec.username.clear();
        assert!(rec.to_wire(kp.signer()).is_err());

        // Invalid UTF-8 in a signed body is refused.
        let (kp, rec) = sample(&[1]);
        let mut b = rec.body_bytes().unwrap();
        b[1] = 0xff;
        assert!(IdentityRecord::parse_and_verify(&resign(&kp, &b)).is_err());
        let other = Keypair::from_x25519_secret([9u8; 32]);
        assert!(rec.to_wire(other.signer()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".*") {
            let _ = IdentityRecord::parse_and_verify(&s);
            let _ = IdentityRecord::parse_and_verify(&alloc::format!("{PREFIX_IDENTITY}{s}"));
        }

        #[test]
        fn arbitrary_signed_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let kp = Keypair::from_x25519_secret([8u8; 32]);
            let _ = IdentityRecord::parse_and_verify(&resign(&kp, &body));
        }

        #[test]
        fn mutated_blob_fails_or_round_trips(
            v2 in any::<bool>(),
            idx in any::<prop::sample::Index>(),
            xor in any::<u8>(),
        ) {
            let (kp, rec) = sample(if v2 { &[1, 2] } else { &[1] });
            let w = rec.to_wire(kp.signer()).unwrap();
            let mut blob = wire::b64_decode_strict(&w[PREFIX_IDENTITY.len()..]).unwrap();
            let i = idx.index(blob.len());
            blob[i] ^= xor;
            let w2 = alloc::format!("{PREFIX_IDENTITY}{}", wire::b64_encode(&blob));
            match IdentityRecord::parse_and_verify(&w2) {
                Ok(p) => { prop_assert_eq!(xor, 0); prop_assert_eq!(p, rec); }
                Err(_) => prop_assert_ne!(xor, 0),
            }
        }
    }
}
