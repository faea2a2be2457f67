//! Publish validation for `POST`/`DELETE /v1/records/{name}` and for DNS
//! UPDATE adds (REFERENCE-NODE.md §3.3, §4.4, §5).
//!
//! Responses match the reference's, including how `json.loads` types
//! numbers, except for these deliberate departures:
//! * names are lower-cased (ASCII) on every write path (§13.1 R5);
//! * a DELETE whose body is present but not JSON (or over 16 KiB) is a 400,
//!   where the reference silently deletes the whole RRset;
//! * a POST body that is JSON but not an object is a 400, where the
//!   reference drops the connection without a response;
//! * a label with an embedded newline is invalid (the reference's regex `$`
//!   lets `a\n.b` through).

use alloc::string::String;
use alloc::vec::Vec;

use serde_json::Value;

use super::HttpError;

/// Largest request body read; longer ones are an invalid body.
pub const MAX_BODY_BYTES: usize = 16_384;
/// TTL used when a POST body has no `ttl`.
pub const DEFAULT_TTL: u64 = 300;
/// TTL given to an UPDATE add whose RR TTL is 0.
pub const UPDATE_ZERO_TTL: u32 = 60;
/// Longest record name accepted.
pub const MAX_NAME_LEN: usize = 253;

/// Resource caps shared by HTTP publish and UPDATE adds
/// (`DMP_MAX_TTL`, `DMP_MAX_VALUE_BYTES`, `DMP_MAX_VALUES_PER_NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest TTL accepted, seconds.
    pub max_ttl: u64,
    /// Largest value, UTF-8 bytes.
    pub max_value_bytes: usize,
    /// Most distinct values per name; 0 disables the cap.
    pub max_values_per_name: usize,
}

impl Default for Limits {
    /// The reference defaults: 86400 s, 2048 bytes, 64 values.
    fn default() -> Self {
        Limits {
            max_ttl: 86_400,
            max_value_bytes: 2_048,
            max_values_per_name: 64,
        }
    }
}

/// What the store currently holds at a name, for the cardinality cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RrsetState {
    /// Live distinct values at the name.
    pub count: usize,
    /// Whether the value being published is one of them.
    pub contains_value: bool,
}

/// A validated publish: write `(name, value)` with `ttl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Normalized (lower-case) owner name.
    pub name: String,
    /// The TXT value.
    pub value: String,
    /// TTL in seconds, 1..=max_ttl.
    pub ttl: u64,
}

/// A validated delete: the whole RRset (`value == None`) or one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// Normalized (lower-case) owner name.
    pub name: String,
    /// The single value to remove, or `None` for the whole RRset.
    pub value: Option<String>,
}

/// The `{name}` path segment as the reference reads it: percent-decoded
/// (invalid UTF-8 replaced, like Python's `unquote`), whitespace-trimmed and
/// trailing dots removed. Case is kept so error texts echo the name as
/// written; [`validate_publish`] and [`validate_delete`] lower-case it for
/// storage. `None` when the segment is empty or contains `/` (a 404).
pub fn normalize_path_name(segment: &str) -> Option<String> {
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    let decoded = percent_decode(segment);
    let trimmed = decoded.trim_matches(is_py_space).trim_end_matches('.');
    Some(String::from(trimmed))
}

/// The record name of a request target `/v1/records/{name}[/]`, matched
/// literally as the reference does (a query string stays part of the name
/// and later fails the syntax check), then [`normalize_path_name`]. `None`
/// is a 404.
pub fn record_name_from_path(target: &str) -> Option<String> {
    let rest = target.strip_prefix("/v1/records/")?;
    let segment = rest.strip_suffix('/').unwrap_or(rest);
    normalize_path_name(segment)
}

/// Lower-case one owner name for storage and comparison (ASCII only; one
/// trailing dot dropped), the normalization every write path applies.
pub fn normalize_owner(name: &str) -> String {
    crate::names::owner_key(name)
}

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                // Both digits are < 16, so this fits a byte.
                out.push(((hi << 4) | lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The record-name syntax of §3.3 step 9: at most 253 characters, labels
/// `_?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?` (one trailing dot allowed).
pub fn is_valid_record_name(name: &str) -> bool {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return false;
    }
    let candidate = crate::names::strip_one_dot(name);
    !candidate.is_empty() && candidate.split('.').all(is_valid_label)
}

fn is_valid_label(label: &str) -> bool {
    let body = label.strip_prefix('_').unwrap_or(label);
    let b = body.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    b.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// §3.3 step 10: no `"`, no control character below 0x20, no 0x7F.
pub fn is_safe_value(value: &str) -> bool {
    !value
        .chars()
        .any(|c| c == '"' || (c as u32) < 0x20 || c == '\u{7f}')
}

/// Parse a request body as the reference reads it: empty is `{}`, longer
/// than [`MAX_BODY_BYTES`] or not UTF-8 JSON is `None`.
fn read_json_body(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return Some(Value::Object(serde_json::Map::new()));
    }
    if body.len() > MAX_BODY_BYTES {
        return None;
    }
    let text = core::str::from_utf8(body).ok()?;
    super::pyjson::python_json(text)
}

/// A JSON value as Python's `isinstance(x, int)` sees it (`bool` is an int).
fn py_int(v: &Value) -> Option<i128> {
    match v {
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// Steps 4–7 of a POST: body shape, `value`/`ttl` types, TTL cap, size cap.
/// Returns `(value, ttl)`.
pub fn parse_publish_body(body: &[u8], limits: &Limits) -> Result<(String, u64), HttpError> {
    let parsed = read_json_body(body).ok_or(HttpError::InvalidBody)?;
    // The reference crashes on a non-object body; a clean 400 instead.
    let obj = parsed.as_object().ok_or(HttpError::InvalidBody)?;
    let value = match obj.get("value") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(HttpError::ValueTtlRequired),
    };
    let ttl = match obj.get("ttl") {
        None => i128::from(DEFAULT_TTL),
        Some(v) => py_int(v).ok_or(HttpError::ValueTtlRequired)?,
    };
    if ttl <= 0 {
        return Err(HttpError::ValueTtlRequired);
    }
    if ttl > i128::from(limits.max_ttl) {
        return Err(HttpError::TtlExceedsCap(limits.max_ttl));
    }
    if value.len() > limits.max_value_bytes {
        return Err(HttpError::ValueExceedsCap(limits.max_value_bytes));
    }
    // 0 < ttl <= max_ttl, so it fits.
    Ok((value, u64::try_from(ttl).unwrap_or(limits.max_ttl)))
}

/// Step 8: refuse a new value at a name already holding the cap.
pub fn check_rrset_cap(name: &str, state: RrsetState, limits: &Limits) -> Result<(), HttpError> {
    if limits.max_values_per_name > 0
        && state.count >= limits.max_values_per_name
        && !state.contains_value
    {
        return Err(HttpError::RrsetFull {
            name: String::from(name),
            cap: limits.max_values_per_name,
        });
    }
    Ok(())
}

/// Steps 4–10 of `POST /v1/records/{name}` in the reference's order, after
/// path, per-IP limit and authorization. `name` is the path name
/// ([`normalize_path_name`]); `rrset` is asked for the current RRset state
/// at the stored (lower-case) name and the value, only when the cardinality
/// cap is on. The result carries the lower-case name to store.
pub fn validate_publish(
    name: &str,
    body: &[u8],
    limits: &Limits,
    rrset: impl FnOnce(&str, &str) -> RrsetState,
) -> Result<Publish, HttpError> {
    let (value, ttl) = parse_publish_body(body, limits)?;
    if limits.max_values_per_name > 0 {
        check_rrset_cap(name, rrset(&normalize_owner(name), &value), limits)?;
    }
    if !is_valid_record_name(name) {
        return Err(HttpError::InvalidName);
    }
    if !is_safe_value(&value) {
        return Err(HttpError::InvalidValue);
    }
    Ok(Publish {
        name: normalize_owner(name),
        value,
        ttl,
    })
}

/// `DELETE /v1/records/{name}` after path, per-IP limit and authorization:
/// name syntax, then the optional `{"value": "..."}` body. A body that is
/// absent, `{}`, not an object, or has `"value": null` deletes the whole
/// RRset; a non-string or unsafe value is a 400.
pub fn validate_delete(name: &str, body: &[u8]) -> Result<Delete, HttpError> {
    if !is_valid_record_name(name) {
        return Err(HttpError::InvalidName);
    }
    let parsed = read_json_body(body).ok_or(HttpError::InvalidBody)?;
    let value = match parsed.as_object().and_then(|o| o.get("value")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_safe_value(s) => Some(s.clone()),
        Some(_) => return Err(HttpError::InvalidValue),
    };
    Ok(Delete {
        name: normalize_owner(name),
        value,
    })
}

/// Lower-case `zone` without trailing dots, as the node compares zones.
pub fn normalize_zone(zone: &str) -> String {
    zone.trim_matches(is_py_space)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The served-zone check of UPDATE (§4.4 step 3): `owner` equals `zone` or is
/// below it, case-insensitively. An empty zone covers nothing.
pub fn in_zone(owner: &str, zone: &str) -> bool {
    let z = normalize_zone(zone);
    let o = normalize_zone(owner);
    if z.is_empty() {
        return false;
    }
    o == z
        || (o.len() > z.len()
            && o.ends_with(z.as_str())
            && o.as_bytes().get(o.len() - z.len() - 1) == Some(&b'.'))
}

/// DNS response codes the UPDATE rules produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateRcode {
    /// 1
    FormErr,
    /// 2
    ServFail,
    /// 5
    Refused,
    /// 9
    NotAuth,
    /// 10
    NotZone,
}

impl UpdateRcode {
    /// The numeric RCODE.
    pub fn code(self) -> u8 {
        match self {
            UpdateRcode::FormErr => 1,
            UpdateRcode::ServFail => 2,
            UpdateRcode::Refused => 5,
            UpdateRcode::NotAuth => 9,
            UpdateRcode::NotZone => 10,
        }
    }
}

/// Caps on one UPDATE add (§4.4 step 4). `ttl` is the RR's TTL (0 becomes
/// [`UPDATE_ZERO_TTL`]); `running_count` is the values already stored at the
/// owner plus every add to that owner in this message up to and including
/// this one (duplicates count, as in the reference). A zero cap disables
/// that check. Returns the TTL to store.
pub fn check_update_add(
    value: &str,
    ttl: u32,
    running_count: usize,
    limits: &Limits,
) -> Result<u32, UpdateRcode> {
    let ttl = if ttl == 0 { UPDATE_ZERO_TTL } else { ttl };
    if (limits.max_value_bytes > 0 && value.len() > limits.max_value_bytes)
        || (limits.max_ttl > 0 && u64::from(ttl) > limits.max_ttl)
        || (limits.max_values_per_name > 0 && running_count > limits.max_values_per_name)
    {
        return Err(UpdateRcode::Refused);
    }
    Ok(ttl)
}

/// The value of one UPDATE TXT RR: its character-strings joined, which must
/// be strict UTF-8 (else FORMERR).
pub fn update_txt_value<S: AsRef<[u8]>>(strings: &[S]) -> Result<String, UpdateRcode> {
    let mut joined = Vec::new();
    for s in strings {
        joined.extend_from_slice(s.as_ref());
    }
    String::from_utf8(joined).map_err(|_| UpdateRcode::FormErr)
}
