//! TSIG (RFC 8945) with hmac-sha256, on the raw message bytes: the MAC covers
//! the message exactly as transmitted, minus the TSIG RR itself.

use alloc::string::String;
use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::raw::{CLASS_ANY, HEADER_LEN, RawName, TYPE_TSIG, read_name, u16_at, u32_at};

/// The one algorithm supported (what the reference mints and dnspython uses).
pub const HMAC_SHA256: &str = "hmac-sha256";
/// Default fudge (seconds), as dnspython and BIND use.
pub const TSIG_FUDGE: u16 = 300;

/// A TSIG key: its name in key form (lower case, no trailing dot) and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    pub secret: Vec<u8>,
}

/// The secret stays out of logs and panic messages.
impl core::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Key lookup for the server side. `key_name` is in key form.
pub trait TsigKeys {
    fn secret(&self, key_name: &str) -> Option<Vec<u8>>;
}

/// Why a TSIG did not verify. The discriminants are the TSIG error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsigError {
    /// Unknown key or unsupported algorithm (BADKEY, 17).
    BadKey = 17,
    /// MAC mismatch (BADSIG, 16).
    BadSig = 16,
    /// Time signed outside the fudge window (BADTIME, 18).
    BadTime = 18,
    /// The TSIG RR or the message around it is malformed (FORMERR).
    Malformed = 1,
}

/// A TSIG RR as read from the wire.
pub(crate) struct ParsedTsig {
    pub start: usize,
    pub key_name: RawName,
    pub alg: RawName,
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub orig_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

/// Parses the TSIG RR at `start` (found by `raw::find_tsig`).
pub(crate) fn parse_tsig(buf: &[u8], start: usize) -> Option<ParsedTsig> {
    let key_name = read_name(buf, start)?;
    let p = key_name.end;
    if u16_at(buf, p)? != TYPE_TSIG || u16_at(buf, p + 2)? != CLASS_ANY || u32_at(buf, p + 4)? != 0
    {
        return None;
    }
    let rdlen = u16_at(buf, p + 8)? as usize;
    let rd = p + 10;
    let rd_end = rd.checked_add(rdlen)?;
    if rd_end != buf.len() {
        return None;
    }
    let alg = read_name(buf, rd)?;
    let q = alg.end;
    let time = (u64::from(u16_at(buf, q)?) << 32) | u64::from(u32_at(buf, q + 2)?);
    let fudge = u16_at(buf, q + 6)?;
    let mac_len = u16_at(buf, q + 8)? as usize;
    let mac = buf.get(q + 10..q + 10 + mac_len)?.to_vec();
    let r = q + 10 + mac_len;
    let orig_id = u16_at(buf, r)?;
    let error = u16_at(buf, r + 2)?;
    let other_len = u16_at(buf, r + 4)? as usize;
    let other = buf.get(r + 6..r + 6 + other_len)?.to_vec();
    if r + 6 + other_len != rd_end {
        return None;
    }
    Some(ParsedTsig {
        start,
        key_name,
        alg,
        time,
        fudge,
        mac,
        orig_id,
        error,
        other,
    })
}

/// Text `name` (key form) to uncompressed lower-case wire; `None` if a label
/// is empty or too long.
pub(crate) fn name_wire(name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let n = name.strip_suffix('.').unwrap_or(name);
    if !n.is_empty() {
        for label in n.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    if out.len() > 255 {
        return None;
    }
    Some(out)
}

/// The message as covered by the MAC: TSIG RR removed, ARCOUNT decremented,
/// ID replaced by the original ID (RFC 8945 §4.3.1).
fn covered(buf: &[u8], t: &ParsedTsig) -> Option<Vec<u8>> {
    let mut m = buf.get(..t.start)?.to_vec();
    if m.len() < HEADER_LEN {
        return None;
    }
    let ar = u16_at(&m, 10)?.checked_sub(1)?;
    m[0..2].copy_from_slice(&t.orig_id.to_be_bytes());
    m[10..12].copy_from_slice(&ar.to_be_bytes());
    Some(m)
}

/// HMAC-SHA256 over (prior MAC) | message | TSIG variables (RFC 8945 §4.3).
#[allow(clippy::too_many_arguments)]
fn compute_mac(
    secret: &[u8],
    prior_mac: Option<&[u8]>,
    msg: &[u8],
    key_wire: &[u8],
    alg_wire: &[u8],
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) -> Option<Hmac<Sha256>> {
    // HMAC accepts keys of any length; the error arm is unreachable.
    let mut h = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    if let Some(prior) = prior_mac {
        h.update(&(prior.len() as u16).to_be_bytes());
        h.update(prior);
    }
    h.update(msg);
    h.update(key_wire);
    h.update(&CLASS_ANY.to_be_bytes());
    h.update(&0u32.to_be_bytes());
    h.update(alg_wire);
    h.update(&((time >> 32) as u16).to_be_bytes());
    h.update(&(time as u32).to_be_bytes());
    h.update(&fudge.to_be_bytes());
    h.update(&error.to_be_bytes());
    h.update(&(other.len() as u16).to_be_bytes());
    h.update(other);
    Some(h)
}

fn alg_wire() -> Vec<u8> {
    name_wire(HMAC_SHA256).unwrap_or_default()
}

/// Checks a parsed TSIG against `secret`: algorithm, MAC, then time (the
/// RFC 8945 §5.2 order). `prior_mac` is the request MAC when checking a
/// response.
pub(crate) fn check(
    buf: &[u8],
    t: &ParsedTsig,
    secret: &[u8],
    prior_mac: Option<&[u8]>,
    now: u64,
) -> Result<(), TsigError> {
    if t.alg.canonical_wire() != alg_wire() {
        return Err(TsigError::BadKey);
    }
    let msg = covered(buf, t).ok_or(TsigError::Malformed)?;
    let h = compute_mac(
        secret,
        prior_mac,
        &msg,
        &t.key_name.canonical_wire(),
        &t.alg.canonical_wire(),
        t.time,
        t.fudge,
        t.error,
        &t.other,
    )
    .ok_or(TsigError::BadKey)?;
    if t.mac.len() != 32 || h.verify_slice(&t.mac).is_err() {
        return Err(TsigError::BadSig);
    }
    if now.abs_diff(t.time) > u64::from(t.fudge) {
        return Err(TsigError::BadTime);
    }
    Ok(())
}

/// Appends a TSIG RR to `msg` (whose ID is the original ID) and bumps
/// ARCOUNT. With `secret = None` the MAC is empty (unsigned BADKEY/BADSIG
/// error responses). Returns the MAC.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_tsig(
    msg: &mut Vec<u8>,
    key_wire: &[u8],
    secret: Option<&[u8]>,
    prior_mac: Option<&[u8]>,
    now: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) -> Option<Vec<u8>> {
    let orig_id = u16_at(msg, 0)?;
    let alg = alg_wire();
    let mac = match secret {
        Some(s) => compute_mac(s, prior_mac, msg, key_wire, &alg, now, fudge, error, other)?
            .finalize()
            .into_bytes()
            .to_vec(),
        None => Vec::new(),
    };
    let ar = u16_at(msg, 10)?.checked_add(1)?;
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
    let mut rdata = Vec::new();
    rdata.extend_from_slice(&alg);
    rdata.extend_from_slice(&((now >> 32) as u16).to_be_bytes());
    rdata.extend_from_slice(&(now as u32).to_be_bytes());
    rdata.extend_from_slice(&fudge.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(&mac);
    rdata.extend_from_slice(&orig_id.to_be_bytes());
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&(other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(other);
    msg.extend_from_slice(key_wire);
    msg.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend_from_slice(&rdata);
    Some(mac)
}
