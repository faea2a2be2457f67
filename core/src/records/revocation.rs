//! Revocation record (DRAFT, `v=dmp1;t=revocation;`, PROTOCOL.md §2.8):
//! "`revoked_spk` is dead", self-signed by the revoked key. Published in the
//! same RRset as rotations. A revocation is a permanent assertion: it never
//! expires unless the caller asks for a maximum age.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{SIGNATURE_LEN, Signer25519, split_signature, verify};
use crate::error::{Error, Result};
use crate::records::cluster::{decode_capped_wire, encode_capped_wire};
use crate::records::rotation::{
    SubjectType, normalize_subject, read_subject, validate_subject, write_subject,
};
use crate::wire::{PREFIX_REVOCATION, Reader};

pub const MAGIC: &[u8; 7] = b"DMPRV01";
/// Allowed clock skew of a revocation's `ts` into the future.
pub const MAX_FUTURE_SKEW_SECS: u64 = 300;
/// Fixed bytes after the subject: revoked_spk, reason, ts.
const TAIL_LEN: usize = 32 + 1 + 8;
const MIN_BLOB: usize = MAGIC.len() + SIGNATURE_LEN;

/// Why a key was revoked. Other codes are rejected on sign and parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// Assumed compromise: a chain walk stops at once.
    Compromise = 1,
    /// Routine retirement; the replacement is already published.
    Routine = 2,
    LostKey = 3,
    Other = 4,
}

impl RevocationReason {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(RevocationReason::Compromise),
            2 => Some(RevocationReason::Routine),
            3 => Some(RevocationReason::LostKey),
            4 => Some(RevocationReason::Other),
            _ => None,
        }
    }
}

/// A self-signed revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    pub subject_type: SubjectType,
    /// Stored as written (not normalized).
    pub subject: String,
    pub revoked_spk: [u8; 32],
    pub reason: RevocationReason,
    pub ts: u64,
}

impl RevocationRecord {
    fn body(&self) -> Result<Vec<u8>> {
        validate_subject(self.subject_type, &self.subject)?;
        let mut body = Vec::with_capacity(9 + self.subject.len() + TAIL_LEN);
        body.extend_from_slice(MAGIC);
        write_subject(&mut body, self.subject_type, &self.subject);
        body.extend_from_slice(&self.revoked_spk);
        body.push(self.reason.code());
        body.extend_from_slice(&self.ts.to_be_bytes());
        Ok(body)
    }

    /// Self-sign with the revoked key and return the TXT value.
    pub fn to_wire(&self, revoked: &Signer25519) -> Result<String> {
        if revoked.public() != self.revoked_spk {
            return Err(Error::Mismatch("signing key is not revoked_spk"));
        }
        let mut blob = self.body()?;
        let sig = revoked.sign(&blob);
        blob.extend_from_slice(&sig);
        encode_capped_wire(PREFIX_REVOCATION, &blob)
    }

    /// Parse and verify: prefix, cap, strict base64, blob ≥ 71, body
    /// (exactly 41 bytes after the subject, known reason), subject rules,
    /// signature by the embedded key, optional expected key, optional
    /// expected subject (normalized), then time: with `max_age_secs`,
    /// `ts + max_age < now` fails; `ts > now + 300` always fails.
    pub fn parse_and_verify(
        wire: &str,
        expected_revoked_spk: Option<&[u8; 32]>,
        expected_subject: Option<&str>,
        max_age_secs: Option<u64>,
        now: u64,
    ) -> Result<Self> {
        let blob = decode_capped_wire(wire, PREFIX_REVOCATION)?;
        if blob.len() < MIN_BLOB {
            return Err(Error::Malformed("blob too short"));
        }
        let (body, sig) = split_signature(&blob)?;
        let record = Self::read_body(body)?;
        verify(&record.revoked_spk, body, &sig)?;
        if let Some(pinned) = expected_revoked_spk
            && &record.revoked_spk != pinned
        {
            return Err(Error::Mismatch("revoked_spk"));
        }
        if let Some(expected) = expected_subject
            && normalize_subject(record.subject_type, &record.subject)
                != normalize_subject(record.subject_type, expected)
        {
            return Err(Error::Mismatch("subject"));
        }
        // Saturation is exact here: an overflowing sum exceeds any `now`.
        if let Some(max_age) = max_age_secs
            && record.ts.saturating_add(max_age) < now
        {
            return Err(Error::Time("revocation older than max_age"));
        }
        if record.ts > now.saturating_add(MAX_FUTURE_SKEW_SECS) {
            return Err(Error::Time("revocation ts in the future"));
        }
        Ok(record)
    }

    fn read_body(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        if &r.array::<7>()? != MAGIC {
            return Err(Error::Malformed("bad magic"));
        }
        let (subject_type, subject) = read_subject(&mut r)?;
        if r.remaining() != TAIL_LEN {
            return Err(Error::Malformed("wrong length after the subject"));
        }
        let revoked_spk = r.array::<32>()?;
        let reason =
            RevocationReason::from_code(r.u8()?).ok_or(Error::Malformed("unknown reason code"))?;
        let ts = r.u64()?;
        validate_subject(subject_type, &subject)?;
        Ok(RevocationRecord {
            subject_type,
            subject,
            revoked_spk,
            reason,
            ts,
        })
    }
}
