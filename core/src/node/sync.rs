//! Anti-entropy rules shared by nodes (REFERENCE-NODE.md §6): the JSON
//! shapes of `/v1/sync/digest`, `/v1/sync/pull` and
//! `/v1/sync/cluster-manifest` (byte-identical to the reference's
//! `json.dumps`), cursor encoding, page caps, the checks a puller applies to
//! an untrusted peer's answers, and peer-list helpers.
//!
//! Server side: [`parse_digest_query`], [`digest_body`],
//! [`parse_pull_request`], [`pull_body`], [`served_cluster_manifest`],
//! [`cluster_manifest_body`].
//!
//! Client (worker) side: [`parse_digest_response`], [`needs_pull`],
//! [`next_batch`], [`parse_pull_response`], [`check_pulled`],
//! [`peer_id_from_url`], [`peers_from_urls`], [`peers_from_cluster_file`].
//!
//! One deliberate departure (§13.1 R7): the reference advances its
//! watermark only through the contiguous prefix of stored entries, so a
//! rejected record stalls it until the record expires. Here every entry of a
//! batch whose pull answer arrived counts as handled — stored, already
//! present, or rejected (logged by the caller) — and the watermark moves past
//! it. Only entries not yet pulled (beyond the batch) or a failed request
//! hold it back.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::Write;

use serde_json::Value;

use super::HttpError;
use super::pyjson::{json_str, python_json};
use super::verify::{Reject, verify_for_store};
use crate::crypto::{hex, sha256};
use crate::names::py_strip;
use crate::records::cluster::ClusterManifest;
use crate::wire::{PREFIX_CLUSTER, b64_decode_strict};

/// Digest page size when the request names none.
pub const DIGEST_DEFAULT_LIMIT: usize = 1000;
/// Largest digest page served (larger requests are clamped).
pub const DIGEST_MAX_LIMIT: usize = 10_000;
/// Most names one pull request may carry (more is a 400).
pub const PULL_MAX_NAMES: usize = 256;
/// A record held locally counts as in sync when the peer's remaining TTL
/// is at most this much above ours (clock skew and round trips).
pub const TTL_REFRESH_SLOP_SECS: u64 = 5;
/// How far in the future a peer's `ts` may lie before the entry is dropped.
pub const CLOCK_SKEW_MS: u64 = 60_000;
/// Largest `ttl` a digest entry may carry.
pub const MAX_DIGEST_TTL: u64 = 1 << 31;
/// Largest request body the sync routes read (like the records routes).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A position in the digest order `(stored_ts, name, value_hash)`; rows
/// strictly after it are served. The default `0::` is before every row.
///
/// Ordering compares the fields in that order, strings by code point (the
/// same order SQLite's BINARY collation and Python use).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncCursor {
    /// `stored_ts` in Unix milliseconds.
    pub ts: u64,
    /// Owner name (empty: before every name at `ts`).
    pub name: String,
    /// Lower-case hex SHA-256 of the value (empty: before every value).
    pub hash: String,
}

impl SyncCursor {
    /// The cursor of a row.
    pub fn of(ts: u64, name: &str, hash: &str) -> Self {
        SyncCursor {
            ts,
            name: name.into(),
            hash: hash.into(),
        }
    }

    /// The wire form `<ts>:<name>:<hash>` (sent unescaped in the query
    /// string, as the reference does; names and hashes never need it).
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", self.ts, self.name, self.hash)
    }

    /// Parse a cursor a client sent (`<ts>:<name>:<hash>` or the older
    /// `<ts>:<name>`): `ts` a non-negative integer in Python's `int()`
    /// syntax (clamped to `u64`), name at most 253 characters, hash empty
    /// or 64 lower-case hex.
    pub fn parse_request(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, ':');
        let ts = parts.next()?;
        let name = parts.next()?;
        let hash = parts.next().unwrap_or("");
        let ts = py_int(ts)?;
        if ts < 0 || name.chars().count() > 253 {
            return None;
        }
        if !hash.is_empty() && !is_hash(hash) {
            return None;
        }
        Some(SyncCursor {
            ts: u64::try_from(ts).unwrap_or(u64::MAX),
            name: name.into(),
            hash: hash.into(),
        })
    }

    /// Parse a peer's `next_cursor` (client side): like
    /// [`SyncCursor::parse_request`], and `ts` no more than
    /// [`CLOCK_SKEW_MS`] past `now_ms`.
    pub fn parse_peer(raw: &str, now_ms: u64) -> Option<Self> {
        let c = Self::parse_request(raw)?;
        (c.ts <= now_ms.saturating_add(CLOCK_SKEW_MS)).then_some(c)
    }
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Python's `int(text)` for decimal text: surrounding whitespace, one sign,
/// digits with single underscores between them. `None` when Python would
/// raise. Values beyond `i128` saturate.
pub fn py_int(text: &str) -> Option<i128> {
    let t = py_strip(text);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut v: i128 = 0;
    for b in digits.bytes().filter(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i128::from(b - b'0'));
    }
    Some(if neg { -v } else { v })
}

// ---------------------------------------------------------------- server side

/// A parsed `GET /v1/sync/digest` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestRequest {
    /// Serve rows strictly after this position.
    pub after: SyncCursor,
    /// Page size (1..=[`DIGEST_MAX_LIMIT`]).
    pub limit: usize,
    /// `next_cursor` of an empty page: the input cursor as the reference
    /// echoes it (for `?since=` that is its internal sentinel form).
    pub echo: String,
    /// The request used the legacy `?since=<ms>` form.
    pub legacy_since: bool,
}

/// Decode one `application/x-www-form-urlencoded` component like Python's
/// `unquote_plus` (`+` is a space, bad UTF-8 becomes U+FFFD).
fn unquote_plus(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                let hexval = |c: u8| (c as char).to_digit(16);
                match (hexval(b[i + 1]), hexval(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Python's `parse_qs(qs)` (blank values dropped), first value per key.
fn query_param(query: &str, key: &str) -> Option<String> {
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        if unquote_plus(k) == key {
            return Some(unquote_plus(v));
        }
    }
    None
}

/// Parse the digest query string (without `?`) with the reference's checks
/// and error texts, in its order: `cursor` (else legacy `since`, else from
/// the start), then `limit` (default 1000, clamped to 10 000, ≤ 0 is 400).
pub fn parse_digest_query(query: &str) -> Result<DigestRequest, HttpError> {
    let (after, echo, legacy_since) = if let Some(raw) = query_param(query, "cursor") {
        let c = SyncCursor::parse_request(&raw).ok_or_else(|| {
            HttpError::BadRequest("cursor must be '<ts>:<name>:<value_hash>'".into())
        })?;
        let echo = c.encode();
        (c, echo, false)
    } else if let Some(raw) = query_param(query, "since") {
        let since =
            py_int(&raw).ok_or_else(|| HttpError::BadRequest("since must be an integer".into()))?;
        if since < 0 {
            return Err(HttpError::BadRequest("since must be >= 0".into()));
        }
        let since = u64::try_from(since).unwrap_or(u64::MAX);
        // Strictly after `since`: no row has an empty name, so
        // `(since + 1, "", "")` is exact.
        let after = SyncCursor {
            ts: since.saturating_add(1),
            ..SyncCursor::default()
        };
        (after, format!("{since}:\u{ff}:g"), true)
    } else {
        (SyncCursor::default(), "0::".into(), false)
    };
    let limit = match query_param(query, "limit") {
        None => DIGEST_DEFAULT_LIMIT as i128,
        Some(raw) => {
            py_int(&raw).ok_or_else(|| HttpError::BadRequest("limit must be an integer".into()))?
        }
    };
    if limit <= 0 {
        return Err(HttpError::BadRequest("limit must be > 0".into()));
    }
    let limit = usize::try_from(limit.min(DIGEST_MAX_LIMIT as i128)).unwrap_or(DIGEST_MAX_LIMIT);
    Ok(DigestRequest {
        after,
        limit,
        echo,
        legacy_since,
    })
}

/// One row of a digest page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestEntry {
    pub name: String,
    /// Lower-case hex SHA-256 of the value.
    pub hash: String,
    /// `stored_ts` (ms) on the serving node.
    pub ts: u64,
    /// Seconds left on the serving node (≥ 1 when served).
    pub ttl: u64,
}

impl DigestEntry {
    /// The cursor just at this entry.
    pub fn cursor(&self) -> SyncCursor {
        SyncCursor::of(self.ts, &self.name, &self.hash)
    }
}

/// The digest response body, byte-identical to the reference's:
/// `{"records": [{"name", "hash", "ts", "ttl"}], "has_more", "next_cursor"}`
/// where `next_cursor` is the last entry's cursor or, on an empty page,
/// `echo`. `ttl` is written as at least 1.
pub fn digest_body(entries: &[DigestEntry], has_more: bool, echo: &str) -> String {
    let mut out = String::from("{\"records\": [");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{{\"name\": {}, \"hash\": {}, \"ts\": {}, \"ttl\": {}}}",
            json_str(&e.name),
            json_str(&e.hash),
            e.ts,
            e.ttl.max(1)
        );
    }
    let next = entries
        .last()
        .map_or_else(|| echo.to_string(), |e| e.cursor().encode());
    let _ = write!(
        out,
        "], \"has_more\": {}, \"next_cursor\": {}}}",
        if has_more { "true" } else { "false" },
        json_str(&next)
    );
    out
}

/// Parse a `POST /v1/sync/pull` body (`None`: longer than
/// [`MAX_BODY_BYTES`]) into the names asked for, with the reference's
/// errors: unreadable JSON `invalid body`; no list `names must be a list`;
/// over 256 `at most 256 names per request`; a non-string
/// `names must be strings`. An empty body reads as `{}`. Each name is
/// stripped of whitespace and trailing dots.
pub fn parse_pull_request(body: Option<&[u8]>) -> Result<Vec<String>, HttpError> {
    let body = body.ok_or(HttpError::InvalidBody)?;
    let doc = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        let text = core::str::from_utf8(body).map_err(|_| HttpError::InvalidBody)?;
        python_json(text).ok_or(HttpError::InvalidBody)?
    };
    let Some(Value::Array(names)) = doc.as_object().and_then(|o| o.get("names")) else {
        return Err(HttpError::BadRequest("names must be a list".into()));
    };
    if names.len() > PULL_MAX_NAMES {
        return Err(HttpError::BadRequest(format!(
            "at most {PULL_MAX_NAMES} names per request"
        )));
    }
    names
        .iter()
        .map(|n| match n {
            Value::String(s) => Ok(py_strip(s).trim_end_matches('.').to_string()),
            _ => Err(HttpError::BadRequest("names must be strings".into())),
        })
        .collect()
}

/// One value returned by a pull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRecord {
    pub name: String,
    pub value: String,
    /// Seconds left (≥ 1 when served).
    pub ttl: u64,
}

/// The pull response body `{"records": [{"name", "value", "ttl"}]}`,
/// byte-identical to the reference's (callers order the rows by
/// `(stored_ts, name, value_hash)` as it does).
pub fn pull_body(records: &[PullRecord]) -> String {
    let mut out = String::from("{\"records\": [");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{{\"name\": {}, \"value\": {}, \"ttl\": {}}}",
            json_str(&r.name),
            json_str(&r.value),
            r.ttl.max(1)
        );
    }
    out.push_str("]}");
    out
}

/// The manifest a node offers on `/v1/sync/cluster-manifest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedManifest {
    pub wire: String,
    pub seq: u64,
    pub exp: u64,
    /// As written in the body, trailing dots removed.
    pub cluster_name: String,
}

/// Pick the manifest to serve among the values at `cluster.<base>`: the
/// highest `seq` (first wins a tie) among wires that parse structurally
/// and, when the node pins an operator key, verify under it bound to
/// `base`. `None` means 204.
pub fn served_cluster_manifest<'a, I>(
    values: I,
    operator_spk: Option<&[u8; 32]>,
    base: &str,
    now: u64,
) -> Option<ServedManifest>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<ServedManifest> = None;
    for wire in values {
        let Some(payload) = wire.strip_prefix(PREFIX_CLUSTER) else {
            continue;
        };
        let Ok(blob) = b64_decode_strict(payload) else {
            continue;
        };
        // magic(7) + seq(8) + exp(8) + spk(32) + name_len(1) + signature.
        if blob.len() < 56 + 64 {
            continue;
        }
        let body = &blob[..blob.len() - 64];
        let (Some(seq), Some(exp), Some(&name_len)) = (
            body.get(7..15).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            body.get(15..23).and_then(|b| <[u8; 8]>::try_from(b).ok()),
            body.get(55),
        ) else {
            continue;
        };
        let end = (56 + usize::from(name_len)).min(body.len());
        let Some(Ok(name)) = body.get(56..end).map(core::str::from_utf8) else {
            continue;
        };
        if let Some(spk) = operator_spk
            && ClusterManifest::parse_and_verify(wire, spk, Some(base), now).is_err()
        {
            continue;
        }
        let seq = u64::from_be_bytes(seq);
        if best.as_ref().is_none_or(|b| seq > b.seq) {
            best = Some(ServedManifest {
                wire: wire.into(),
                seq,
                exp: u64::from_be_bytes(exp),
                cluster_name: name.trim_end_matches('.').into(),
            });
        }
    }
    best
}

/// `{"wire", "seq", "exp", "cluster_name"}` as the reference writes it.
pub fn cluster_manifest_body(m: &ServedManifest) -> String {
    format!(
        "{{\"wire\": {}, \"seq\": {}, \"exp\": {}, \"cluster_name\": {}}}",
        json_str(&m.wire),
        m.seq,
        m.exp,
        json_str(&m.cluster_name)
    )
}

// ---------------------------------------------------------------- client side

/// Why a peer's answer is unusable as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// Not JSON, or not the expected object.
    Malformed(&'static str),
}

impl core::fmt::Display for PeerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PeerError::Malformed(what) => write!(f, "malformed peer response: {what}"),
        }
    }
}

/// A peer's digest page after the per-entry checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestResponse {
    /// The entries that passed [`valid_digest_entry`], in the peer's order.
    pub entries: Vec<DigestEntry>,
    /// How many entries were dropped as structurally invalid.
    pub invalid: usize,
    pub has_more: bool,
    /// The peer's `next_cursor`, when well-formed (informational only: it
    /// never moves the watermark).
    pub next_cursor: Option<SyncCursor>,
}

fn is_record_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-')
}

/// The reference's digest-entry checks: name `^[a-zA-Z0-9._-]{1,253}$`,
/// hash 64 lower-case hex, `ts` an integer in `[0, now + 60 s]`, `ttl` an
/// integer in `[0, 2^31]`.
pub fn valid_digest_entry(v: &Value, now_ms: u64) -> Option<DigestEntry> {
    let o = v.as_object()?;
    let name = o.get("name")?.as_str()?;
    if name.is_empty() || name.len() > 253 || !name.bytes().all(is_record_name_char) {
        return None;
    }
    let hash = o.get("hash")?.as_str()?;
    if !is_hash(hash) {
        return None;
    }
    let ts = o.get("ts")?.as_u64()?;
    if ts > now_ms.saturating_add(CLOCK_SKEW_MS) {
        return None;
    }
    let ttl = o.get("ttl")?.as_u64()?;
    if ttl > MAX_DIGEST_TTL {
        return None;
    }
    Some(DigestEntry {
        name: name.into(),
        hash: hash.into(),
        ts,
        ttl,
    })
}

/// Parse a peer's digest response body.
pub fn parse_digest_response(body: &[u8], now_ms: u64) -> Result<DigestResponse, PeerError> {
    let text = core::str::from_utf8(body).map_err(|_| PeerError::Malformed("not UTF-8"))?;
    let doc = python_json(text).ok_or(PeerError::Malformed("not JSON"))?;
    let o = doc
        .as_object()
        .ok_or(PeerError::Malformed("not an object"))?;
    let Some(Value::Array(records)) = o.get("records") else {
        return Err(PeerError::Malformed("records is not a list"));
    };
    let entries: Vec<DigestEntry> = records
        .iter()
        .filter_map(|r| valid_digest_entry(r, now_ms))
        .collect();
    let has_more = match o.get("has_more") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) | None => false,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    };
    let next_cursor = o
        .get("next_cursor")
        .and_then(Value::as_str)
        .and_then(|c| SyncCursor::parse_peer(c, now_ms));
    Ok(DigestResponse {
        invalid: records.len() - entries.len(),
        entries,
        has_more,
        next_cursor,
    })
}

/// Whether a digest entry must be pulled: the value is not held locally
/// (`local_ttl` `None`), or the peer's copy lives materially longer (a
/// republish this node missed). A `ttl` of 0 never triggers a refresh.
pub fn needs_pull(remote_ttl: u64, local_ttl: Option<u64>) -> bool {
    match local_ttl {
        None => true,
        Some(local) => remote_ttl > 0 && remote_ttl > local.saturating_add(TTL_REFRESH_SLOP_SECS),
    }
}

/// One pull request's worth of a digest page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Index just past the last entry this batch covers.
    pub end: usize,
    /// Unique names to request, in first-seen order (≤ 256).
    pub names: Vec<String>,
    /// name → hashes the digest advertised and this node wants.
    pub expected: BTreeMap<String, BTreeSet<String>>,
}

/// Group `entries[start..]` into the next batch: walk in order, collect the
/// entries `wanted` says to pull, and stop before the entry whose name would
/// be the 257th. Entries not wanted are covered by the batch without being
/// requested. Once the pull answer for this batch has been processed, the
/// watermark may move to `entries[end - 1]`.
pub fn next_batch<F>(entries: &[DigestEntry], start: usize, mut wanted: F) -> Batch
where
    F: FnMut(&DigestEntry) -> bool,
{
    let mut batch = Batch {
        end: start,
        ..Batch::default()
    };
    for e in entries.iter().skip(start) {
        if wanted(e) {
            if !batch.expected.contains_key(&e.name) {
                if batch.names.len() >= PULL_MAX_NAMES {
                    break;
                }
                batch.names.push(e.name.clone());
            }
            batch
                .expected
                .entry(e.name.clone())
                .or_default()
                .insert(e.hash.clone());
        }
        batch.end += 1;
    }
    batch
}

/// The pull request body for `names`.
pub fn pull_request_body<S: AsRef<str>>(names: &[S]) -> String {
    let mut out = String::from("{\"names\": [");
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&json_str(n.as_ref()));
    }
    out.push_str("]}");
    out
}

/// Parse a peer's pull response: the well-shaped records (`name` and
/// `value` strings, `ttl` an integer > 0) and how many were malformed.
pub fn parse_pull_response(body: &[u8]) -> Result<(Vec<PullRecord>, usize), PeerError> {
    let text = core::str::from_utf8(body).map_err(|_| PeerError::Malformed("not UTF-8"))?;
    let doc = python_json(text).ok_or(PeerError::Malformed("not JSON"))?;
    let Some(Value::Array(records)) = doc.as_object().and_then(|o| o.get("records")) else {
        return Err(PeerError::Malformed("records is not a list"));
    };
    let mut out = Vec::with_capacity(records.len());
    let mut bad = 0;
    for r in records {
        let rec = r.as_object().and_then(|o| {
            let ttl = o.get("ttl")?.as_u64().filter(|t| *t > 0)?;
            Some(PullRecord {
                name: o.get("name")?.as_str()?.into(),
                value: o.get("value")?.as_str()?.into(),
                ttl,
            })
        });
        match rec {
            Some(rec) => out.push(rec),
            None => bad += 1,
        }
    }
    Ok((out, bad))
}

/// Why a pulled value is not stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullReject {
    /// A name this node did not ask for.
    Unsolicited,
    /// The value does not hash to any hash the digest advertised for the
    /// name (an unchanged value the node already holds, or a lie).
    NotAdvertised,
    /// The record failed [`verify_for_store`].
    Unverified(Reject),
    /// Name or value this node would never accept on its publish path
    /// (syntax, quote/control characters, size cap).
    Unacceptable(&'static str),
}

impl core::fmt::Display for PullReject {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PullReject::Unsolicited => f.write_str("name was not requested"),
            PullReject::NotAdvertised => f.write_str("value hash was not advertised"),
            PullReject::Unverified(r) => write!(f, "record does not verify ({r:?})"),
            PullReject::Unacceptable(why) => f.write_str(why),
        }
    }
}

/// Decide whether a pulled record may be stored: the name was requested,
/// the value hashes to an advertised hash, name and value pass the publish
/// path's syntax checks and `max_value_bytes`, and the record passes
/// [`verify_for_store`] (signatures of self-signed types, the pinned
/// operator key for cluster manifests). Returns the value's hash.
pub fn check_pulled(
    rec: &PullRecord,
    expected: &BTreeMap<String, BTreeSet<String>>,
    max_value_bytes: usize,
    cluster_operator_spk: Option<&[u8; 32]>,
    now: u64,
) -> Result<String, PullReject> {
    let hashes = expected.get(&rec.name).ok_or(PullReject::Unsolicited)?;
    let hash = hex(&sha256(rec.value.as_bytes()));
    if !hashes.contains(&hash) {
        return Err(PullReject::NotAdvertised);
    }
    if !super::publish::is_valid_record_name(&rec.name) {
        return Err(PullReject::Unacceptable("invalid record name"));
    }
    if !super::publish::is_safe_value(&rec.value) {
        return Err(PullReject::Unacceptable("invalid record value"));
    }
    if max_value_bytes > 0 && rec.value.len() > max_value_bytes {
        return Err(PullReject::Unacceptable("value exceeds the size cap"));
    }
    verify_for_store(&rec.name, &rec.value, now, cluster_operator_spk)
        .map_err(PullReject::Unverified)?;
    Ok(hash)
}

// ---------------------------------------------------------------- peers

/// One peer of the sync loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Manifest `node_id`, or [`peer_id_from_url`] for a URL peer.
    pub node_id: String,
    /// Base URL; `/v1/sync/*` is appended.
    pub http_endpoint: String,
}

/// The comparable form of an endpoint URL: trimmed, trailing slashes
/// removed, lower case.
pub fn normalize_endpoint(url: &str) -> String {
    py_strip(url).trim_end_matches('/').to_ascii_lowercase()
}

/// Split a URL into (host, port, path) the way Python's `urlparse` sees
/// them for `scheme://[user@]host[:port]/path?query#frag`.
fn url_parts(url: &str) -> Option<(String, Option<u16>, &str)> {
    let (_, rest) = url.split_once("://")?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok()?),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_ascii_lowercase(), port, path))
}

/// The synthetic id the reference gives a URL peer:
/// `<host[:9]>-<sha256("host:port/path")[:6]>` (port empty when absent).
pub fn peer_id_from_url(url: &str) -> String {
    let (host, port, path) = match url_parts(url) {
        Some((h, p, path)) => (h, p, path),
        None => (py_strip(url).to_ascii_lowercase(), None, ""),
    };
    let host = if host.is_empty() {
        "peer".to_string()
    } else {
        host
    };
    let port = port
        .filter(|p| *p != 0)
        .map(|p| p.to_string())
        .unwrap_or_default();
    let key = format!("{host}:{port}{path}");
    let digest = hex(&sha256(key.as_bytes()));
    let prefix: String = host.chars().take(9).collect();
    format!("{prefix}-{}", &digest[..6])
}

fn is_self(peer: &Peer, self_node_id: Option<&str>, self_endpoint: Option<&str>) -> bool {
    self_node_id.is_some_and(|id| !id.is_empty() && peer.node_id == id)
        || self_endpoint.is_some_and(|ep| {
            !ep.is_empty() && normalize_endpoint(&peer.http_endpoint) == normalize_endpoint(ep)
        })
}

/// Peers from `DMP_SYNC_PEERS` (comma-separated URLs): empty and duplicate
/// entries skipped, this node (by endpoint or id) left out.
pub fn peers_from_urls(
    list: &str,
    self_node_id: Option<&str>,
    self_endpoint: Option<&str>,
) -> Vec<Peer> {
    let mut out: Vec<Peer> = Vec::new();
    for raw in list.split(',') {
        let url = py_strip(raw).trim_end_matches('/');
        if url.is_empty() || out.iter().any(|p| p.http_endpoint == url) {
            continue;
        }
        let peer = Peer {
            node_id: peer_id_from_url(url),
            http_endpoint: url.into(),
        };
        if !is_self(&peer, self_node_id, self_endpoint) {
            out.push(peer);
        }
    }
    out
}

/// Peers of a manifest, this node left out, duplicates (by id) dropped.
pub fn peers_from_manifest(
    m: &ClusterManifest,
    self_node_id: Option<&str>,
    self_endpoint: Option<&str>,
) -> Vec<Peer> {
    let mut out: Vec<Peer> = Vec::new();
    for n in &m.nodes {
        let peer = Peer {
            node_id: n.node_id.clone(),
            http_endpoint: n.http_endpoint.clone(),
        };
        if !is_self(&peer, self_node_id, self_endpoint)
            && !out.iter().any(|p| p.node_id == peer.node_id)
        {
            out.push(peer);
        }
    }
    out
}

/// What a cluster file (`DMP_CLUSTER_FILE`) holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterFile {
    /// A signed manifest wire (raw or as `{"wire": ...}`); not verified.
    Wire {
        wire: String,
        manifest: ClusterManifest,
    },
    /// A plain `{"nodes": [{"node_id", "http_endpoint"}]}` list.
    Nodes(Vec<Peer>),
}

/// Read a cluster file's text: the raw `v=dmp1;t=cluster;` wire,
/// `{"wire": ...}`, or `{"nodes": [...]}` (entries without string
/// `node_id` and `http_endpoint` are skipped). The wire is parsed but not
/// verified here: callers that pin an operator key verify it themselves.
pub fn parse_cluster_file(text: &str) -> Result<ClusterFile, &'static str> {
    let text = py_strip(text);
    if text.is_empty() {
        return Err("cluster file is empty");
    }
    let from_wire = |wire: &str| {
        ClusterManifest::parse_unverified(wire)
            .map(|manifest| ClusterFile::Wire {
                wire: wire.into(),
                manifest,
            })
            .map_err(|_| "cluster manifest wire is malformed")
    };
    if text.starts_with(PREFIX_CLUSTER) {
        return from_wire(text);
    }
    let doc = python_json(text).ok_or("cluster file is neither a manifest wire nor JSON")?;
    let o = doc
        .as_object()
        .ok_or("cluster file JSON is not an object")?;
    if let Some(Value::String(wire)) = o.get("wire") {
        return from_wire(wire);
    }
    if let Some(Value::Array(nodes)) = o.get("nodes") {
        let peers = nodes
            .iter()
            .filter_map(|n| {
                let n = n.as_object()?;
                Some(Peer {
                    node_id: n.get("node_id")?.as_str()?.into(),
                    http_endpoint: n.get("http_endpoint")?.as_str()?.into(),
                })
            })
            .collect();
        return Ok(ClusterFile::Nodes(peers));
    }
    Err("cluster file has neither \"wire\" nor \"nodes\"")
}

/// Peers listed by a cluster file, this node left out.
pub fn peers_from_cluster_file(
    file: &ClusterFile,
    self_node_id: Option<&str>,
    self_endpoint: Option<&str>,
) -> Vec<Peer> {
    match file {
        ClusterFile::Wire { manifest, .. } => {
            peers_from_manifest(manifest, self_node_id, self_endpoint)
        }
        ClusterFile::Nodes(list) => list
            .iter()
            .filter(|p| !is_self(p, self_node_id, self_endpoint))
            .cloned()
            .collect(),
    }
}

/// Manifest gossip: adopt `candidate` (already verified under the pinned
/// operator key and bound to the base domain) only when its `seq` is
/// strictly above everything installed.
pub fn should_adopt(installed_seq: Option<u64>, candidate_seq: u64) -> bool {
    installed_seq.is_none_or(|s| candidate_seq > s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_match_the_reference() {
        // Values computed by the reference's `_peer_id_from_url` (0.7.5).
        for (url, id) in [
            ("http://127.0.0.1:8053", "127.0.0.1-15f105"),
            ("http://dnsmesh-node-b:8053", "dnsmesh-n-69b63b"),
            ("https://Node.Example.com/api", "node.exam-152b55"),
            ("http://[::1]:9000/x", "::1-58923d"),
            ("http://verylonghostname.example.org", "verylongh-8cedba"),
        ] {
            assert_eq!(peer_id_from_url(url), id, "{url}");
        }
    }

    #[test]
    fn python_int_syntax() {
        assert_eq!(py_int(" +1_000 "), Some(1000));
        assert_eq!(py_int("-5"), Some(-5));
        for bad in ["", "1__0", "_1", "1_", "0x10", "1.0", "+"] {
            assert_eq!(py_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_order() {
        let c = SyncCursor::parse_request("12:a.b:").unwrap();
        assert_eq!(c.encode(), "12:a.b:");
        assert_eq!(SyncCursor::parse_request("7:x").unwrap().encode(), "7:x:");
        assert!(SyncCursor::parse_request("7").is_none());
        assert!(SyncCursor::parse_request("7:x:ABC").is_none());
        assert!(SyncCursor::parse_peer("99999999999999:x:", 1_000).is_none());
        assert!(SyncCursor::of(1, "b", "") > SyncCursor::of(1, "a", "f"));
        assert!(SyncCursor::of(2, "", "") > SyncCursor::of(1, "z", "f"));
    }

    #[test]
    fn batches_stop_before_the_257th_name_and_cover_skipped_entries() {
        let entries: Vec<DigestEntry> = (0..300)
            .map(|i| DigestEntry {
                name: format!("n{}.z", i / 2),
                hash: format!("{:064x}", i),
                ts: i,
                ttl: 10,
            })
            .collect();
        let b = next_batch(&entries, 0, |_| true);
        assert_eq!(b.names.len(), 150);
        assert_eq!(b.end, 300);
        let b = next_batch(&entries, 0, |e| e.ts % 3 != 0);
        assert_eq!(b.end, 300);
        let many: Vec<DigestEntry> = (0..600)
            .map(|i| DigestEntry {
                name: format!("n{i}.z"),
                hash: format!("{:064x}", i),
                ts: i,
                ttl: 10,
            })
            .collect();
        let b = next_batch(&many, 0, |_| true);
        assert_eq!((b.names.len(), b.end), (PULL_MAX_NAMES, PULL_MAX_NAMES));
        let b2 = next_batch(&many, b.end, |_| true);
        assert_eq!(b2.names.first().map(String::as_str), Some("n256.z"));
    }

    #[test]
    fn refresh_is_detected_only_beyond_the_slop() {
        assert!(needs_pull(100, None));
        assert!(!needs_pull(105, Some(100)));
        assert!(needs_pull(106, Some(100)));
        assert!(!needs_pull(0, Some(1)));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(text in ".{0,300}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_digest_query(&text);
            let _ = SyncCursor::parse_request(&text);
            let _ = parse_pull_request(Some(&bytes));
            let _ = parse_pull_request(Some(text.as_bytes()));
            let _ = parse_digest_response(&bytes, 1_900_000_000_000);
            let _ = parse_digest_response(text.as_bytes(), 1_900_000_000_000);
            let _ = parse_pull_response(text.as_bytes());
            let _ = parse_cluster_file(&text);
            let _ = peer_id_from_url(&text);
            let _ = peers_from_urls(&text, Some("x"), Some(&text));
            let _ = served_cluster_manifest([text.as_str()], None, "mesh.test", 0);
        }

        #[test]
        fn query_strings_with_cursor_shapes(ts in proptest::num::u64::ANY, name in "[a-z0-9.%+_-]{0,20}", hash in "[0-9a-f]{0,64}", limit in proptest::num::i64::ANY) {
            let q = format!("cursor={ts}:{name}:{hash}&limit={limit}");
            let _ = parse_digest_query(&q);
        }
    }
}
