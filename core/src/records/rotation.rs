//! Rotation record (DRAFT, `v=dmp1;t=rotation;`, PROTOCOL.md §2.7): "the
//! holder of `old_spk` hands `subject` over to `new_spk`", co-signed by both
//! keys so that neither a stolen old key nor a fresh new key alone can
//! forge it. Also home of the subject rules shared with revocation.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{SIGNATURE_LEN, Signer25519, verify};
use crate::error::{Error, Result};
use crate::names::{casefold, py_strip, strip_one_dot, validate_dns_name};
use crate::records::cluster::{check_exp_window, decode_capped_wire, encode_capped_wire};
use crate::wire::{PREFIX_ROTATION, Reader};

pub const MAGIC: &[u8; 7] = b"DMPROT1";
/// Subject cap of user-identity subjects (`user@host`): the whole `u8` range.
pub const MAX_USER_SUBJECT_LEN: usize = 255;
/// Subject cap of DNS-name subjects (cluster operator, bootstrap signer).
pub const MAX_DNS_SUBJECT_LEN: usize = 64;
/// Fixed bytes after the subject: old_spk, new_spk, seq, ts, exp.
const TAIL_LEN: usize = 32 + 32 + 8 + 8 + 8;
const MIN_BLOB: usize = MAGIC.len() + 2 * SIGNATURE_LEN;

/// Whose key a rotation or revocation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectType {
    /// A user identity; subject `user@host`.
    UserIdentity = 1,
    /// A cluster operator; subject the cluster base domain.
    ClusterOperator = 2,
    /// A bootstrap signer; subject the user domain.
    BootstrapSigner = 3,
}

impl SubjectType {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(SubjectType::UserIdentity),
            2 => Some(SubjectType::ClusterOperator),
            3 => Some(SubjectType::BootstrapSigner),
            _ => None,
        }
    }

    /// Byte cap of the subject, applied to the raw subject (dots included).
    pub fn subject_cap(self) -> usize {
        match self {
            SubjectType::UserIdentity => MAX_USER_SUBJECT_LEN,
            _ => MAX_DNS_SUBJECT_LEN,
        }
    }
}

/// Check a subject against its type, on sign and on parse.
///
/// User subjects split at the first `@`; both halves, whitespace-trimmed,
/// must be non-empty, and the host minus one trailing dot must pass the DNS
/// validator. DNS subjects lose one trailing dot and must then pass it. The
/// validator itself allows one more trailing dot, so (as in the reference)
/// `example.com..` is an acceptable subject.
pub fn validate_subject(subject_type: SubjectType, subject: &str) -> Result<()> {
    if subject.is_empty() {
        return Err(Error::Invalid("subject is empty"));
    }
    if subject.len() > subject_type.subject_cap() {
        return Err(Error::Invalid("subject too long"));
    }
    let dns_part = match subject_type {
        SubjectType::UserIdentity => {
            let (user, host) = subject
                .split_once('@')
                .ok_or(Error::Invalid("user subject must be user@host"))?;
            let (user, host) = (py_strip(user), py_strip(host));
            if user.is_empty() || host.is_empty() {
                return Err(Error::Invalid("user subject needs a user and a host"));
            }
            strip_one_dot(host)
        }
        _ => strip_one_dot(subject),
    };
    if dns_part.is_empty() {
        return Err(Error::Invalid("subject has no label"));
    }
    validate_dns_name(dns_part).map(|_| ())
}

/// The comparison form of a subject: DNS subjects lose one trailing dot and
/// are case-folded; user subjects keep the (trimmed) user part as written
/// and trim, undot and case-fold the host. A user subject without `@` is
/// returned unchanged.
pub fn normalize_subject(subject_type: SubjectType, subject: &str) -> String {
    match subject_type {
        SubjectType::UserIdentity => match subject.split_once('@') {
            None => String::from(subject),
            Some((user, host)) => format!(
                "{}@{}",
                py_strip(user),
                casefold(strip_one_dot(py_strip(host)))
            ),
        },
        _ => casefold(strip_one_dot(subject)),
    }
}

/// Read `u8 subject_type ‖ u8 subject_len ‖ subject` (type known, length
/// within the type's cap, UTF-8). The subject rules run later, as in the
/// reference, after the fixed tail has been checked.
pub(crate) fn read_subject(r: &mut Reader<'_>) -> Result<(SubjectType, String)> {
    let subject_type =
        SubjectType::from_code(r.u8()?).ok_or(Error::Malformed("unknown subject_type"))?;
    let len = usize::from(r.u8()?);
    if len == 0 || len > subject_type.subject_cap() {
        return Err(Error::Malformed("subject length out of range"));
    }
    let subject = core::str::from_utf8(r.bytes(len)?)
        .map_err(|_| Error::Malformed("subject is not UTF-8"))?;
    Ok((subject_type, String::from(subject)))
}

/// Write `u8 subject_type ‖ u8 subject_len ‖ subject` (already validated).
pub(crate) fn write_subject(out: &mut Vec<u8>, subject_type: SubjectType, subject: &str) {
    out.push(subject_type.code());
    // Validated subjects are at most 255 bytes.
    out.push(subject.len() as u8);
    out.extend_from_slice(subject.as_bytes());
}

/// A co-signed key rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRecord {
    pub subject_type: SubjectType,
    /// Stored as written (not normalized).
    pub subject: String,
    pub old_spk: [u8; 32],
    pub new_spk: [u8; 32],
    /// Strictly increasing along a chain (the reference CLI uses epoch ms).
    pub seq: u64,
    pub ts: u64,
    pub exp: u64,
}

impl RotationRecord {
    fn body(&self) -> Result<Vec<u8>> {
        validate_subject(self.subject_type, &self.subject)?;
        if self.old_spk == self.new_spk {
            return Err(Error::Invalid("old_spk equals new_spk"));
        }
        let mut body = Vec::with_capacity(9 + self.subject.len() + TAIL_LEN);
        body.extend_from_slice(MAGIC);
        write_subject(&mut body, self.subject_type, &self.subject);
        body.extend_from_slice(&self.old_spk);
        body.extend_from_slice(&self.new_spk);
        body.extend_from_slice(&self.seq.to_be_bytes());
        body.extend_from_slice(&self.ts.to_be_bytes());
        body.extend_from_slice(&self.exp.to_be_bytes());
        Ok(body)
    }

    /// Co-sign with the old and the new key (in that order on the wire).
    /// Signing checks no time relation: `exp < ts` is allowed.
    pub fn to_wire(&self, old: &Signer25519, new: &Signer25519) -> Result<String> {
        if old.public() != self.old_spk {
            return Err(Error::Mismatch("old signing key is not old_spk"));
        }
        if new.public() != self.new_spk {
            return Err(Error::Mismatch("new signing key is not new_spk"));
        }
        let mut blob = self.body()?;
        let sig_old = old.sign(&blob);
        let sig_new = new.sign(&blob);
        blob.extend_from_slice(&sig_old);
        blob.extend_from_slice(&sig_new);
        encode_capped_wire(PREFIX_ROTATION, &blob)
    }

    /// Parse and verify: prefix, cap, strict base64, blob ≥ 135, body
    /// (exactly 88 bytes after the subject), subject rules, `old ≠ new`,
    /// both signatures, optional pinned old key, optional expected subject
    /// (compared normalized), `exp < now`, five-year cap.
    pub fn parse_and_verify(
        wire: &str,
        expected_old_spk: Option<&[u8; 32]>,
        expected_subject: Option<&str>,
        now: u64,
    ) -> Result<Self> {
        let blob = decode_capped_wire(wire, PREFIX_ROTATION)?;
        if blob.len() < MIN_BLOB {
            return Err(Error::Malformed("blob too short"));
        }
        let (body, sigs) = blob.split_at(blob.len() - 2 * SIGNATURE_LEN);
        let (sig_old, sig_new) = sigs.split_at(SIGNATURE_LEN);
        let record = Self::read_body(body)?;
        verify(&record.old_spk, body, &sig64(sig_old)?)?;
        verify(&record.new_spk, body, &sig64(sig_new)?)?;
        if let Some(pinned) = expected_old_spk
            && &record.old_spk != pinned
        {
            return Err(Error::Mismatch("old_spk"));
        }
        if let Some(expected) = expected_subject
            && normalize_subject(record.subject_type, &record.subject)
                != normalize_subject(record.subject_type, expected)
        {
            return Err(Error::Mismatch("subject"));
        }
        check_exp_window(record.exp, now)?;
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
        let old_spk = r.array::<32>()?;
        let new_spk = r.array::<32>()?;
        let seq = r.u64()?;
        let ts = r.u64()?;
        let exp = r.u64()?;
        validate_subject(subject_type, &subject)?;
        if old_spk == new_spk {
            return Err(Error::Invalid("old_spk equals new_spk"));
        }
        Ok(RotationRecord {
            subject_type,
            subject,
            old_spk,
            new_spk,
            seq,
            ts,
            exp,
        })
    }

    /// `now > exp`.
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.exp
    }
}

fn sig64(bytes: &[u8]) -> Result<[u8; 64]> {
    bytes
        .try_into()
        .map_err(|_| Error::Malformed("signature length"))
}
