//! Claim record (PROTOCOL.md §2.9): a small signed pointer "message
//! `msg_id` waits at slot N of zone Z", published under
//! `claim-N.mb-<h12>.<zone>` so a recipient need not walk every contact's
//! zone. The recipient is named only by the owner name, not in the body.
//!
//! The body magic `DMPCL01` is the same as the cluster manifest's; only the
//! full prefix tells the two apart.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{self, SIGNATURE_LEN, Signer25519};
use crate::error::{Error, Result};
use crate::wire::{self, CLAIM_WIRE_CAP, PREFIX_CLAIM, Reader};

pub const MAGIC: &[u8; 7] = b"DMPCL01";
/// Longest mailbox domain: what keeps the wire within one 255-byte TXT string.
pub const MAX_MAILBOX_DOMAIN_LEN: usize = 43;
/// Slots are 0..=9 (the mailbox has ten).
pub const MAX_SLOT: u8 = 9;
/// Default tolerance for a `ts` in the future.
pub const DEFAULT_TS_SKEW_SECONDS: u64 = 300;
/// Far-future cap on `exp` (30 days).
pub const MAX_EXP_FUTURE_SECONDS: u64 = 30 * 86_400;
/// Smallest body: magic, msg_id, spk, length byte, one domain byte, slot, ts, exp.
const MIN_BODY_LEN: usize = 7 + 16 + 32 + 1 + 1 + 1 + 16;
/// Largest value `ts` and `exp` may take (they are non-negative int64 in the reference).
const I64_LIMIT: u64 = 1 << 63;

/// A signed claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRecord {
    pub msg_id: [u8; 16],
    /// Ed25519 key of the sender; it signs the claim.
    pub sender_spk: [u8; 32],
    /// Zone holding the sender's manifest and chunks (1..=43 bytes, no
    /// whitespace or control characters).
    pub sender_mailbox_domain: String,
    /// Advisory slot 0..=9; receivers walk all ten.
    pub slot: u8,
    pub ts: u64,
    pub exp: u64,
}

/// Field rules shared by sign and parse (the reference re-runs them on parse).
fn validate(c: &ClaimRecord) -> Result<()> {
    let d = &c.sender_mailbox_domain;
    if d.is_empty() {
        return Err(Error::Invalid("sender_mailbox_domain is empty"));
    }
    // The reference counts characters on sign and bytes on parse; counting
    // bytes on both refuses only records its own parser would reject.
    if d.len() > MAX_MAILBOX_DOMAIN_LEN {
        return Err(Error::Invalid("sender_mailbox_domain longer than 43 bytes"));
    }
    // Whitespace or controls could smuggle extra labels into the DNS name
    // the recipient builds from this field.
    if d.chars().any(|ch| ch < '\u{21}' || ch == '\u{7f}') {
        return Err(Error::Invalid(
            "sender_mailbox_domain has whitespace or control characters",
        ));
    }
    if c.slot > MAX_SLOT {
        return Err(Error::Invalid("slot not in 0..=9"));
    }
    if c.ts >= I64_LIMIT || c.exp >= I64_LIMIT {
        return Err(Error::Invalid("ts and exp must be below 2^63"));
    }
    if c.exp <= c.ts {
        return Err(Error::Invalid("exp must be greater than ts"));
    }
    Ok(())
}

impl ClaimRecord {
    /// The signed body.
    pub fn body_bytes(&self) -> Result<Vec<u8>> {
        validate(self)?;
        let d = self.sender_mailbox_domain.as_bytes();
        let mut body = Vec::with_capacity(MIN_BODY_LEN - 1 + d.len());
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&self.msg_id);
        body.extend_from_slice(&self.sender_spk);
        body.push(d.len() as u8); // ≤ 43, checked by validate
        body.extend_from_slice(d);
        body.push(self.slot);
        body.extend_from_slice(&self.ts.to_be_bytes());
        body.extend_from_slice(&self.exp.to_be_bytes());
        Ok(body)
    }

    /// Build and sign the TXT value. `signer` must hold `sender_spk`; the
    /// result must fit the 255-byte claim cap.
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        if signer.public() != self.sender_spk {
            return Err(Error::Mismatch("signer key differs from sender_spk"));
        }
        let mut blob = self.body_bytes()?;
        let sig = signer.sign(&blob);
        blob.extend_from_slice(&sig);
        let mut out = String::from(PREFIX_CLAIM);
        out.push_str(&wire::b64_encode(&blob));
        if out.len() > CLAIM_WIRE_CAP {
            return Err(Error::TooLong {
                cap: CLAIM_WIRE_CAP,
            });
        }
        Ok(out)
    }

    /// Parse and verify with the default 300 s future-skew tolerance.
    pub fn parse_and_verify(wire_value: &str, now: u64) -> Result<Self> {
        Self::parse_and_verify_with_skew(wire_value, now, DEFAULT_TS_SKEW_SECONDS)
    }

    /// Parse and verify, in the reference's order: prefix, 255-byte cap,
    /// strict base64, body structure and field rules, signature with the
    /// embedded key, then time: `ts` more than `ts_skew` ahead fails (a
    /// past `ts` is fine), `exp <= now` fails, `exp` beyond 30 days fails.
    pub fn parse_and_verify_with_skew(wire_value: &str, now: u64, ts_skew: u64) -> Result<Self> {
        let b64 = wire::strip_prefix(wire_value, PREFIX_CLAIM)?;
        if wire_value.len() > CLAIM_WIRE_CAP {
            return Err(Error::TooLong {
                cap: CLAIM_WIRE_CAP,
            });
        }
        let blob = wire::b64_decode_strict(b64)?;
        if blob.len() < SIGNATURE_LEN + 1 {
            return Err(Error::Malformed("claim blob too short"));
        }
        let (body, sig) = crypto::split_signature(&blob)?;
        let record = Self::from_body(body)?;
        crypto::verify(&record.sender_spk, body, &sig)?;

        if record.ts.saturating_sub(now) > ts_skew {
            return Err(Error::Time("ts too far in the future"));
        }
        if record.exp <= now {
            return Err(Error::Time("claim expired"));
        }
        if record.exp - now > MAX_EXP_FUTURE_SECONDS {
            return Err(Error::Time("exp more than 30 days in the future"));
        }
        Ok(record)
    }

    fn from_body(body: &[u8]) -> Result<Self> {
        if body.len() < MIN_BODY_LEN {
            return Err(Error::Malformed("claim body too short"));
        }
        let mut r = Reader::new(body);
        if r.bytes(MAGIC.len())? != MAGIC {
            return Err(Error::Malformed("bad claim magic"));
        }
        let msg_id = r.array()?;
        let sender_spk = r.array()?;
        let dlen = usize::from(r.u8()?);
        if dlen == 0 || dlen > MAX_MAILBOX_DOMAIN_LEN {
            return Err(Error::Invalid("sender_mailbox_domain length not in 1..=43"));
        }
        let sender_mailbox_domain = core::str::from_utf8(r.bytes(dlen)?)
            .map_err(|_| Error::Invalid("sender_mailbox_domain is not UTF-8"))?
            .into();
        let slot = r.u8()?;
        let ts = r.u64()?;
        let exp = r.u64()?;
        r.finish()?;
        let record = ClaimRecord {
            msg_id,
            sender_spk,
            sender_mailbox_domain,
            slot,
            ts,
            exp,
        };
        validate(&record)?;
        Ok(record)
    }

    /// Whether the claim is dead at `now` (`exp <= now`), the same boundary
    /// the parser applies.
    pub fn is_expired(&self, now: u64) -> bool {
        self.exp <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;
    use proptest::prelude::*;

    const NOW: u64 = 2_050_000_000;

    fn sample(domain: &str) -> (Keypair, ClaimRecord) {
        let kp = Keypair::from_x25519_secret([6u8; 32]);
        let c = ClaimRecord {
            msg_id: [0xab; 16],
            sender_spk: kp.ed25519_public(),
            sender_mailbox_domain: domain.into(),
            slot: 7,
            ts: NOW,
            exp: NOW + 300,
        };
        (kp, c)
    }

    fn resign(kp: &Keypair, body: &[u8]) -> String {
        let mut blob = body.to_vec();
        blob.extend_from_slice(&kp.sign(body));
        alloc::format!("{PREFIX_CLAIM}{}", wire::b64_encode(&blob))
    }

    #[test]
    fn round_trip_and_max_size() {
        let (kp, c) = sample("alice.mesh.example.com");
        let w = c.to_wire(kp.signer()).unwrap();
        assert_eq!(ClaimRecord::parse_and_verify(&w, NOW).unwrap(), c);
        let d43 = "a".repeat(43);
        let (kp, c) = sample(&d43);
        let w = c.to_wire(kp.signer()).unwrap();
        assert_eq!(w.len(), 255);
        assert_eq!(ClaimRecord::parse_and_verify(&w, NOW).unwrap(), c);
        let (kp, c) = sample(&"a".repeat(44));
        assert!(c.to_wire(kp.signer()).is_err());
        // 22 two-byte characters are 22 characters but 44 bytes.
        let (kp, c) = sample(&"é".repeat(22));
        assert!(c.to_wire(kp.signer()).is_err());
        let (kp, c) = sample(&"é".repeat(21));
        let w = c.to_wire(kp.signer()).unwrap();
        assert_eq!(ClaimRecord::parse_and_verify(&w, NOW).unwrap(), c);
    }

    #[test]
    fn sign_side_rules() {
        for bad in ["", "a b", "a\nb", "a\u{7f}", "\u{1}x"] {
            let (kp, c) = sample(bad);
            assert!(c.to_wire(kp.signer()).is_err(), "{bad:?}");
        }
        let (kp, mut c) = sample("x.org");
        c.slot = 10;
        assert!(c.to_wire(kp.signer()).is_err());
        c.slot = 9;
        c.exp = c.ts;
        assert!(c.to_wire(kp.signer()).is_err());
        c.ts = 1 << 63;
        c.exp = u64::MAX;
        assert!(c.to_wire(kp.signer()).is_err());
        let (_, c) = sample("x.org");
        let other = Keypair::from_x25519_secret([1u8; 32]);
        assert!(c.to_wire(other.signer()).is_err());
    }

    #[test]
    fn time_rules() {
        let (kp, mut c) = sample("x.org");
        c.ts = NOW + 300;
        c.exp = NOW + 600;
        let w = c.to_wire(kp.signer()).unwrap();
        assert!(ClaimRecord::parse_and_verify(&w, NOW).is_ok());
        assert!(ClaimRecord::parse_and_verify(&w, NOW - 1).is_err());
        assert!(ClaimRecord::parse_and_verify_with_skew(&w, NOW - 1, 301).is_ok());
        // A past ts is fine while exp lies ahead; exp == now is dead.
        assert!(ClaimRecord::parse_and_verify(&w, NOW + 599).is_ok());
        assert!(ClaimRecord::parse_and_verify(&w, NOW + 600).is_err());
        c.ts = NOW - 1000;
        c.exp = NOW + MAX_EXP_FUTURE_SECONDS;
        let w = c.to_wire(kp.signer()).unwrap();
        assert!(ClaimRecord::parse_and_verify(&w, NOW).is_ok());
        assert!(ClaimRecord::parse_and_verify(&w, NOW - 1).is_err());
    }

    #[test]
    fn parse_side_structure() {
        let (kp, c) = sample("x.org");
        let body = c.body_bytes().unwrap();
        let w = resign(&kp, &body);
        assert!(ClaimRecord::parse_and_verify(&w, NOW).is_ok());
        // Strict base64: a stray space fails.
        let spaced = alloc::format!("{} ", w);
        assert_eq!(
            ClaimRecord::parse_and_verify(&spaced, NOW),
            Err(Error::Base64)
        );
        // Trailing byte, bad magic, bad slot, control character: all refused.
        let mut b = body.clone();
        b.push(0);
        assert!(ClaimRecord::parse_and_verify(&resign(&kp, &b), NOW).is_err());
        let mut b = body.clone();
        b[0] = b'X';
        assert!(ClaimRecord::parse_and_verify(&resign(&kp, &b), NOW).is_err());
        let mut b = body.clone();
        b[56 + 5] = 10;
        assert!(ClaimRecord::parse_and_verify(&resign(&kp, &b), NOW).is_err());
        let mut b = body.clone();
        b[57] = b' ';
        assert!(ClaimRecord::parse_and_verify(&resign(&kp, &b), NOW).is_err());
        // The cluster prefix is not a claim, even with the same magic.
        let cl = w.replacen(PREFIX_CLAIM, crate::wire::PREFIX_CLUSTER, 1);
        assert_eq!(ClaimRecord::parse_and_verify(&cl, NOW), Err(Error::Prefix));
        // Over the cap.
        let long = alloc::format!("{w}{}", "A".repeat(256 - w.len()));
        assert_eq!(
            ClaimRecord::parse_and_verify(&long, NOW),
            Err(Error::TooLong { cap: 255 })
        );
    }

    /// Known answer from the reference (dmp/core/claim.py, dnsmesh 0.7.5):
    /// `ClaimRecord(msg_id=bytes(range(16)), sender_spk=<spk of x25519 seed
    /// 0x42*32>, sender_mailbox_domain="alice.mesh.example.com", slot=3,
    /// ts=1893456000, exp=1893456300).sign(DMPCrypto.from_private_bytes(b"\x42"*32))`.
    #[test]
    fn matches_reference_known_answer() {
        const WIRE: &str = "v=dmp1;t=claim;RE1QQ0wwMQABAgMEBQYHCAkKCwwNDg81b8nLreln5eBTnFXQDfqXa2bfLxqaIFh+iqcu2YUTMRZhbGljZS5tZXNoLmV4YW1wbGUuY29tAwAAAABw29iAAAAAAHDb2awu/32PbqD5BZeglCO344tyld5Zfln71YgjDYl2v2qCE6ZqvA5tVcBz+uUUEdEEQTvMkUWGuIiDj939Xn2UuxoO";
        let kp = Keypair::from_x25519_secret([0x42; 32]);
        let c = ClaimRecord {
            msg_id: core::array::from_fn(|i| i as u8),
            sender_spk: kp.ed25519_public(),
            sender_mailbox_domain: "alice.mesh.example.com".into(),
            slot: 3,
            ts: 1_893_456_000,
            exp: 1_893_456_300,
        };
        assert_eq!(c.to_wire(kp.signer()).unwrap(), WIRE);
        assert_eq!(
            ClaimRecord::parse_and_verify(WIRE, 1_893_456_000).unwrap(),
            c
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in ".*", now in any::<u64>(), skew in any::<u64>()) {
            let _ = ClaimRecord::parse_and_verify_with_skew(&s, now, skew);
            let w = alloc::format!("{PREFIX_CLAIM}{s}");
            let _ = ClaimRecord::parse_and_verify_with_skew(&w, now, skew);
        }

        #[test]
        fn arbitrary_signed_body_never_panics(
            body in proptest::collection::vec(any::<u8>(), 0..120),
            now in any::<u64>(),
        ) {
            let kp = Keypair::from_x25519_secret([6u8; 32]);
            let _ = ClaimRecord::parse_and_verify(&resign(&kp, &body), now);
        }

        #[test]
        fn mutated_blob_fails_or_round_trips(
            idx in any::<prop::sample::Index>(),
            xor in any::<u8>(),
        ) {
            let (kp, c) = sample("mesh.example.org");
            let w = c.to_wire(kp.signer()).unwrap();
            let mut blob = wire::b64_decode_strict(&w[PREFIX_CLAIM.len()..]).unwrap();
            let i = idx.index(blob.len());
            blob[i] ^= xor;
            let w2 = alloc::format!("{PREFIX_CLAIM}{}", wire::b64_encode(&blob));
            match ClaimRecord::parse_and_verify(&w2, NOW) {
                Ok(p) => { prop_assert_eq!(xor, 0); prop_assert_eq!(p, c); }
                Err(_) => prop_assert_ne!(xor, 0),
            }
        }
    }
}
