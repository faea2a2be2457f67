//! Bootstrap record (`v=dmp1;t=bootstrap;`, PROTOCOL.md §2.6): the zone
//! operator's signed pointer from a user domain to its clusters, published
//! at `_dmp.<user_domain>` — DMP's analogue of an MX record.
//!
//! Verified against the caller's pinned signer key before the body is parsed.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{Signer25519, split_signature, verify};
use crate::error::{Error, Result};
use crate::names::{casefold, dns_name_eq, validate_dns_name_capped};
use crate::records::cluster::{
    check_exp_window, decode_capped_wire, encode_capped_wire, read_dns_field,
};
use crate::wire::{PREFIX_BOOTSTRAP, Reader};

pub const MAGIC: &[u8; 7] = b"DMPBS01";
pub const MAX_ENTRY_COUNT: usize = 16;
const MIN_BLOB: usize = MAGIC.len() + 64;

/// One cluster choice. Lower `priority` is preferred, as with MX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapEntry {
    pub priority: u16,
    /// Where `cluster.<X>` lives; normalized (no trailing dot) once signed or parsed.
    pub cluster_base_domain: String,
    /// The key to trust for that cluster's manifest.
    pub operator_spk: [u8; 32],
}

/// A signed bootstrap record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapRecord {
    /// Normalized (no trailing dot) once signed or parsed.
    pub user_domain: String,
    /// The zone operator's key; must equal the signing key.
    pub signer_spk: [u8; 32],
    /// Sorted by priority (stably) on sign and on parse.
    pub entries: Vec<BootstrapEntry>,
    pub seq: u64,
    pub exp: u64,
}

/// Stable sort by priority, then reject a repeated `(priority, casefold(domain))`.
/// Equal priorities with different domains are allowed.
fn sort_and_check_unique(entries: &mut [BootstrapEntry]) -> Result<()> {
    for (i, e) in entries.iter().enumerate() {
        let key = casefold(&e.cluster_base_domain);
        if entries[..i]
            .iter()
            .any(|p| p.priority == e.priority && casefold(&p.cluster_base_domain) == key)
        {
            return Err(Error::Invalid("duplicate (priority, cluster_base_domain)"));
        }
    }
    entries.sort_by_key(|e| e.priority);
    Ok(())
}

impl BootstrapRecord {
    /// The sign-side view: names normalized, entries checked and sorted.
    fn normalized(&self) -> Result<(String, Vec<BootstrapEntry>)> {
        let user_domain = validate_dns_name_capped(&self.user_domain)?;
        if self.entries.is_empty() || self.entries.len() > MAX_ENTRY_COUNT {
            return Err(Error::Invalid("a bootstrap record needs 1..16 entries"));
        }
        let mut entries = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            entries.push(BootstrapEntry {
                priority: e.priority,
                cluster_base_domain: validate_dns_name_capped(&e.cluster_base_domain)?,
                operator_spk: e.operator_spk,
            });
        }
        sort_and_check_unique(&mut entries)?;
        Ok((user_domain, entries))
    }

    fn body(&self) -> Result<Vec<u8>> {
        let (user_domain, entries) = self.normalized()?;
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&self.seq.to_be_bytes());
        body.extend_from_slice(&self.exp.to_be_bytes());
        body.extend_from_slice(&self.signer_spk);
        // Names are ≤ 64 bytes and entries ≤ 16 (checked).
        body.push(user_domain.len() as u8);
        body.extend_from_slice(user_domain.as_bytes());
        body.push(entries.len() as u8);
        for e in &entries {
            body.extend_from_slice(&e.priority.to_be_bytes());
            body.push(e.cluster_base_domain.len() as u8);
            body.extend_from_slice(e.cluster_base_domain.as_bytes());
            body.extend_from_slice(&e.operator_spk);
        }
        Ok(body)
    }

    /// Sign with the zone operator key and return the TXT value. Entries
    /// are written sorted by priority; names without the trailing dot.
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        if signer.public() != self.signer_spk {
            return Err(Error::Mismatch("signing key is not signer_spk"));
        }
        let mut blob = self.body()?;
        let sig = signer.sign(&blob);
        blob.extend_from_slice(&sig);
        encode_capped_wire(PREFIX_BOOTSTRAP, &blob)
    }

    /// Parse and verify against the pinned `signer_spk`: prefix, cap,
    /// strict base64, blob ≥ 71, signature, body, embedded key,
    /// `exp < now`, five-year cap, then the optional case-insensitive bind
    /// of `user_domain` (pass the domain the record was fetched for).
    pub fn parse_and_verify(
        wire: &str,
        signer_spk: &[u8; 32],
        expected_user_domain: Option<&str>,
        now: u64,
    ) -> Result<Self> {
        let blob = decode_capped_wire(wire, PREFIX_BOOTSTRAP)?;
        if blob.len() < MIN_BLOB {
            return Err(Error::Malformed("blob too short"));
        }
        let (body, sig) = split_signature(&blob)?;
        verify(signer_spk, body, &sig)?;
        let record = Self::read_body(body)?;
        if &record.signer_spk != signer_spk {
            return Err(Error::Mismatch("embedded signer_spk"));
        }
        check_exp_window(record.exp, now)?;
        if let Some(expected) = expected_user_domain
            && !dns_name_eq(&record.user_domain, expected)
        {
            return Err(Error::Mismatch("user_domain"));
        }
        Ok(record)
    }

    fn read_body(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        if &r.array::<7>()? != MAGIC {
            return Err(Error::Malformed("bad magic"));
        }
        let seq = r.u64()?;
        let exp = r.u64()?;
        let signer_spk = r.array::<32>()?;
        let user_domain = read_dns_field(&mut r)?;
        let count = usize::from(r.u8()?);
        if count == 0 || count > MAX_ENTRY_COUNT {
            return Err(Error::Malformed("entry_count must be 1..16"));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let priority = r.u16()?;
            let cluster_base_domain = read_dns_field(&mut r)?;
            let operator_spk = r.array::<32>()?;
            entries.push(BootstrapEntry {
                priority,
                cluster_base_domain,
                operator_spk,
            });
        }
        r.finish()?;
        sort_and_check_unique(&mut entries).map_err(|_| Error::Malformed("duplicate entry"))?;
        Ok(BootstrapRecord {
            user_domain,
            signer_spk,
            entries,
            seq,
            exp,
        })
    }

    /// The preferred entry (lowest priority; the earliest on a tie).
    /// Always present on a parsed record.
    pub fn best_entry(&self) -> Option<&BootstrapEntry> {
        self.entries.first()
    }

    /// `now > exp`.
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.exp
    }
}

/// The record to use among all values of a `_dmp.<domain>` RRset: the
/// highest `seq` among those that verify and bind to `expected_user_domain`
/// (the first one wins a tie).
pub fn best_bootstrap_record<'a, I>(
    wires: I,
    signer_spk: &[u8; 32],
    expected_user_domain: Option<&str>,
    now: u64,
) -> Option<BootstrapRecord>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<BootstrapRecord> = None;
    for wire in wires {
        let Ok(rec) =
            BootstrapRecord::parse_and_verify(wire, signer_spk, expected_user_domain, now)
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| rec.seq > b.seq) {
            best = Some(rec);
        }
    }
    best
}
