//! Who may write what (REFERENCE-NODE.md §3.1, §3.6, §4.4): auth modes, the
//! per-user token scope grammar, TSIG suffix scopes and the unsigned claim
//! rule. Pure: the node looks tokens up and passes the row in.

use alloc::string::String;

use super::ct_eq;
use super::publish::{UpdateRcode, normalize_zone};
use crate::crypto::{hex, sha256};
use crate::records::claim::ClaimRecord;

/// Prefix of per-user bearer tokens.
pub const TOKEN_PREFIX: &str = "dmp_v1_";
/// Base32 characters after the prefix (32 random bytes, unpadded).
pub const TOKEN_BODY_LEN: usize = 52;
/// Default lifetime cap of an accepted claim (`DMP_CLAIM_MAX_TTL`).
pub const DEFAULT_CLAIM_MAX_TTL: u64 = 86_400;

/// `DMP_AUTH_MODE` for writes to `/v1/records/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone may write.
    Open,
    /// Operator token only.
    Legacy,
    /// Operator token or a scoped per-user token.
    MultiTenant,
    /// Unrecognised setting: every write is denied.
    Invalid,
}

impl AuthMode {
    /// The mode as the node derives it: an explicit non-empty setting is
    /// taken literally; otherwise `legacy` with an operator token, else
    /// `open`.
    pub fn from_config(setting: Option<&str>, has_operator_token: bool) -> Self {
        match setting {
            Some("open") => AuthMode::Open,
            Some("legacy") => AuthMode::Legacy,
            Some("multi-tenant") => AuthMode::MultiTenant,
            Some(s) if !s.is_empty() => AuthMode::Invalid,
            _ if has_operator_token => AuthMode::Legacy,
            _ => AuthMode::Open,
        }
    }
}

/// A write operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// POST or UPDATE add.
    Publish,
    /// DELETE or UPDATE delete.
    Delete,
}

/// How a record name is governed for per-user tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeClass {
    /// The token's subject must equal `user@domain`.
    Subject(String),
    /// `id-<hash16>.<domain>`: sha256(local part)[:16] and the domain must match.
    IdHash16 {
        /// 16 hex.
        hash: String,
        /// Domain after the hash label.
        domain: String,
    },
    /// `prekeys.id-<hash12>.<domain>`: sha256(local part)[:12] and domain.
    PrekeyPool {
        /// 12 hex.
        hash: String,
        /// Domain after the hash label.
        domain: String,
    },
    /// `pk-<n>.<hash12>.<domain>`: the token row's `subject_hash12`.
    PrekeyHash12(String),
    /// Mailbox slots and chunks: any live token may publish, none delete.
    SharedPool,
    /// Everything else: operator token only.
    OperatorOnly,
    /// Malformed name (empty, bad characters, empty labels, no dot).
    Unknown,
}

fn is_label(l: &str) -> bool {
    let b = l.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(e)) => {
            b.len() <= 63
                && f.is_ascii_alphanumeric()
                && e.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        _ => false,
    }
}

fn is_hex_n(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// At least two labels, each a valid label.
fn is_domain(labels: &[&str]) -> bool {
    labels.len() >= 2 && labels.iter().all(|l| is_label(l))
}

fn join(labels: &[&str]) -> String {
    labels.join(".")
}

/// Classify a record name for per-user token scope (fail-closed, strict
/// shapes; lower-cased, trailing dots removed first).
pub fn classify_name(name: &str) -> ScopeClass {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    if n.is_empty()
        || !n
            .bytes()
            .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
        || n.contains("..")
        || n.starts_with('.')
        || !n.contains('.')
    {
        return ScopeClass::Unknown;
    }
    let labels: alloc::vec::Vec<&str> = n.split('.').collect();
    let l = labels.as_slice();
    match l {
        ["dmp", user, domain @ ..] if is_label(user) && is_domain(domain) => {
            return ScopeClass::Subject(alloc::format!("{user}@{}", join(domain)));
        }
        [first, domain @ ..] if is_domain(domain) => {
            if let Some(h) = first.strip_prefix("id-").filter(|h| is_hex_n(h, 16)) {
                return ScopeClass::IdHash16 {
                    hash: String::from(h),
                    domain: join(domain),
                };
            }
        }
        _ => {}
    }
    if let ["prekeys", id, domain @ ..] = l
        && let Some(h) = id.strip_prefix("id-").filter(|h| is_hex_n(h, 12))
        && is_domain(domain)
    {
        return ScopeClass::PrekeyPool {
            hash: String::from(h),
            domain: join(domain),
        };
    }
    if let ["rotate", "dmp", third, rest @ ..] = l {
        if third.strip_prefix("id-").is_some_and(|h| is_hex_n(h, 12)) && is_domain(rest) {
            return ScopeClass::OperatorOnly;
        }
        if is_label(third) && is_domain(rest) {
            return ScopeClass::Subject(alloc::format!("{third}@{}", join(rest)));
        }
    }
    if let [pk, h, rest @ ..] = l
        && pk.strip_prefix("pk-").is_some_and(is_digits)
        && is_hex_n(h, 12)
        && is_domain(rest)
    {
        return ScopeClass::PrekeyHash12(String::from(*h));
    }
    if let [slot, mb, rest @ ..] = l
        && slot.strip_prefix("slot-").is_some_and(is_digits)
        && mb.strip_prefix("mb-").is_some_and(|h| is_hex_n(h, 12))
        && is_domain(rest)
    {
        return ScopeClass::SharedPool;
    }
    if let [chunk, rest @ ..] = l
        && let Some((n, h)) = chunk
            .strip_prefix("chunk-")
            .and_then(|t| t.rsplit_once('-'))
        && is_digits(n)
        && is_hex_n(h, 12)
        && is_domain(rest)
    {
        return ScopeClass::SharedPool;
    }
    ScopeClass::OperatorOnly
}

/// The fields of a token-store row the write decision needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRow {
    /// Canonical `user@domain`.
    pub subject: String,
    /// Prekey hash scope (`token issue --with-prekey-scope`), if any.
    pub subject_hash12: Option<String>,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<u64>,
    /// Unix seconds of revocation, if revoked.
    pub revoked_at: Option<u64>,
    /// Per-token bucket refill rate.
    pub rate_per_sec: f64,
    /// Per-token bucket size.
    pub rate_burst: u32,
}

impl TokenRow {
    /// Not revoked and not yet expired.
    pub fn is_live(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Fast shape check of a presented per-user token before any lookup.
pub fn token_looks_valid(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|body| {
        body.len() == TOKEN_BODY_LEN
            && body
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && body.bytes().any(|c| c.is_ascii_uppercase())
    })
}

/// The token store key: lower-case hex sha256 of the token text.
pub fn token_hash(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

/// The bearer credential in an `Authorization` header (`""` when absent or
/// not `Bearer `).
pub fn bearer(header: Option<&str>) -> &str {
    header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("")
}

/// A granted write.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteGrant {
    /// Open mode.
    Open,
    /// The operator token.
    Operator,
    /// A per-user token; the node must still spend one unit of the token's
    /// own bucket (429 `per-token rate limit exceeded` when empty).
    User {
        /// Bucket key.
        token_hash: String,
        /// Bucket rate.
        rate_per_sec: f64,
        /// Bucket size.
        rate_burst: u32,
        /// True for mailbox/chunk writes (audit without subject).
        shared_pool: bool,
    },
}

/// Why a write was refused; all are 401 `unauthorized` over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// Legacy mode and not the operator token.
    OperatorOnlyMode,
    /// Unrecognised auth mode.
    InvalidMode,
    /// Multi-tenant without a token store.
    NoTokenStore,
    /// Not `dmp_v1_` + 52 base32.
    MalformedToken,
    /// No such token.
    UnknownToken,
    /// Revoked or expired.
    NotLive,
    /// Name reserved for the operator.
    OperatorNamespace,
    /// Name not classifiable.
    UnclassifiedName,
    /// Token subject does not own the name.
    SubjectMismatch,
    /// Shared-pool names cannot be deleted by user tokens.
    SharedPoolDelete,
}

/// The node's write-auth configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteAuth<'a> {
    /// `DMP_AUTH_MODE` (derived).
    pub mode: AuthMode,
    /// `DMP_OPERATOR_TOKEN`, if set.
    pub operator_token: Option<&'a str>,
    /// Whether a token store is open (multi-tenant fails closed without).
    pub has_token_store: bool,
}

/// Decide a write to `/v1/records/{name}` (§3.1). `presented` is the bearer
/// credential ([`bearer`]); `lookup` maps a token hash to its row (`None`
/// when unknown).
pub fn authorize_record_write(
    cfg: &WriteAuth<'_>,
    presented: &str,
    name: &str,
    op: Op,
    now: u64,
    lookup: impl FnOnce(&str) -> Option<TokenRow>,
) -> Result<WriteGrant, Denied> {
    let WriteAuth {
        mode,
        operator_token,
        has_token_store,
    } = *cfg;
    if mode == AuthMode::Open {
        return Ok(WriteGrant::Open);
    }
    if let Some(op_token) = operator_token.filter(|t| !t.is_empty())
        && ct_eq(presented.as_bytes(), op_token.as_bytes())
    {
        return Ok(WriteGrant::Operator);
    }
    match mode {
        AuthMode::Legacy => return Err(Denied::OperatorOnlyMode),
        AuthMode::Invalid => return Err(Denied::InvalidMode),
        _ => {}
    }
    if !has_token_store {
        return Err(Denied::NoTokenStore);
    }
    if !token_looks_valid(presented) {
        return Err(Denied::MalformedToken);
    }
    let th = token_hash(presented);
    let row = lookup(&th).ok_or(Denied::UnknownToken)?;
    if !row.is_live(now) {
        return Err(Denied::NotLive);
    }
    let shared_pool = match classify_name(name) {
        ScopeClass::OperatorOnly => return Err(Denied::OperatorNamespace),
        ScopeClass::Unknown => return Err(Denied::UnclassifiedName),
        ScopeClass::SharedPool => {
            if op == Op::Delete {
                return Err(Denied::SharedPoolDelete);
            }
            true
        }
        ScopeClass::Subject(s) => {
            if row.subject != s {
                return Err(Denied::SubjectMismatch);
            }
            false
        }
        ScopeClass::IdHash16 { hash, domain } => {
            check_hashed(&row.subject, &hash, &domain, 16)?;
            false
        }
        ScopeClass::PrekeyPool { hash, domain } => {
            check_hashed(&row.subject, &hash, &domain, 12)?;
            false
        }
        ScopeClass::PrekeyHash12(h) => {
            match row.subject_hash12.as_deref() {
                Some(mine) if !mine.is_empty() && mine == h => {}
                _ => return Err(Denied::SubjectMismatch),
            }
            false
        }
    };
    Ok(WriteGrant::User {
        token_hash: th,
        rate_per_sec: row.rate_per_sec,
        rate_burst: row.rate_burst,
        shared_pool,
    })
}

fn check_hashed(subject: &str, want: &str, domain: &str, n: usize) -> Result<(), Denied> {
    let (user, dom) = subject.split_once('@').unwrap_or((subject, ""));
    let got = hex(&sha256(user.as_bytes()));
    if got.get(..n) != Some(want) || dom != domain {
        return Err(Denied::SubjectMismatch);
    }
    Ok(())
}

/// Reads (`GET /v1/records/*`, `/metrics`): the whole `Authorization`
/// header must be `Bearer <operator token>`; open when no token is set.
pub fn authorize_operator_read(operator_token: Option<&str>, header: Option<&str>) -> bool {
    match operator_token.filter(|t| !t.is_empty()) {
        None => true,
        Some(t) => bearer_matches(t, header),
    }
}

/// `/v1/sync/*`: closed (403) when no sync token is configured.
pub fn authorize_sync(sync_token: Option<&str>, header: Option<&str>) -> bool {
    sync_token
        .filter(|t| !t.is_empty())
        .is_some_and(|t| bearer_matches(t, header))
}

fn bearer_matches(token: &str, header: Option<&str>) -> bool {
    let h = header.unwrap_or("");
    let mut expected = String::with_capacity(token.len() + 7);
    expected.push_str("Bearer ");
    expected.push_str(token);
    ct_eq(h.as_bytes(), expected.as_bytes())
}

// ---------------------------------------------------------------- TSIG scope

fn normalize_suffix(s: &str) -> String {
    let s = normalize_zone(s);
    match s.strip_prefix('.') {
        Some(rest) => String::from(rest),
        None => s,
    }
}

/// Whether TSIG scope `suffix` covers `owner`: equal, or a subdomain; `*`
/// matches any run of characters (possibly empty, as in the reference's
/// code) within one label, labels right-aligned.
pub fn suffix_covers(owner: &str, suffix: &str) -> bool {
    if suffix.is_empty() {
        return false;
    }
    let s = normalize_suffix(suffix);
    let o = normalize_zone(owner);
    if !s.contains('*') {
        return o == s
            || (o.len() > s.len()
                && o.ends_with(s.as_str())
                && o.as_bytes().get(o.len() - s.len() - 1) == Some(&b'.'));
    }
    let pl: alloc::vec::Vec<&str> = s.split('.').collect();
    let ol: alloc::vec::Vec<&str> = o.split('.').collect();
    if ol.len() < pl.len() {
        return false;
    }
    let aligned = ol.get(ol.len() - pl.len()..).unwrap_or(&[]);
    pl.iter().zip(aligned).all(|(p, o)| label_glob(p, o))
}

/// One label against a pattern with `*` wildcards, as the reference's
/// matcher does it (prefix, ordered middle parts, suffix).
fn label_glob(pattern: &str, label: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == label;
    }
    let parts: alloc::vec::Vec<&str> = pattern.split('*').collect();
    let last = parts.len() - 1;
    let mut pos = 0usize;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !label.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == last {
            if !label.ends_with(part) || pos > label.len() - part.len() {
                return false;
            }
        } else {
            match label.get(pos..).and_then(|rest| rest.find(part)) {
                Some(idx) => pos += idx + part.len(),
                None => return false,
            }
        }
    }
    true
}

/// Whether a TSIG key with these suffixes may do `op` at `owner`; deletes
/// only through wildcard-free suffixes.
pub fn tsig_allows<S: AsRef<str>>(suffixes: &[S], owner: &str, op: Op) -> bool {
    suffixes.iter().any(|s| {
        let s = s.as_ref();
        suffix_covers(owner, s) && !(op == Op::Delete && s.contains('*'))
    })
}

// ---------------------------------------------------------------- claims

/// The recipient hash12 of an unsigned-claim owner
/// `claim-<digits>.mb-<12 hex>.<zone>`, or `None` for any other shape.
pub fn claim_owner_hash12(owner: &str, zone: &str) -> Option<String> {
    let n = normalize_zone(owner);
    let z = normalize_zone(zone);
    if z.is_empty() {
        return None;
    }
    let rel = n.strip_suffix(z.as_str())?.strip_suffix('.')?;
    let (slot, mb) = rel.split_once('.')?;
    if !slot.strip_prefix("claim-").is_some_and(is_digits) {
        return None;
    }
    let h = mb.strip_prefix("mb-").filter(|h| is_hex_n(h, 12))?;
    Some(String::from(h))
}

/// An unsigned UPDATE add the node may accept as a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedClaim {
    /// Recipient hash12: the per-recipient rate-limit key.
    pub hash12: String,
    /// TTL to store: the RR TTL (0 → 60) clamped to the claim cap.
    pub ttl: u64,
}

/// How a node accepts unsigned claim UPDATEs.
#[derive(Clone, Copy)]
pub struct ClaimPolicy<'a> {
    /// The served zone.
    pub zone: &'a str,
    /// `DMP_CLAIM_MAX_TTL`; 0 disables the lifetime cap and the TTL clamp.
    pub max_ttl: u64,
    /// Receiver-only mode: only these recipient hash12s are accepted.
    pub registered: Option<&'a dyn Fn(&str) -> bool>,
}

/// §4.4 step 6 for one operation of an unsigned UPDATE (the node has
/// already checked that claim acceptance is on): it must be an add to
/// `claim-<digits>.mb-<hash12>.<zone>` whose value verifies as a claim with
/// `exp - now <= max_ttl`. The node then spends the hash12 bucket (SERVFAIL
/// when empty).
pub fn accept_unsigned_claim(
    policy: &ClaimPolicy<'_>,
    op: Op,
    owner: &str,
    value: &str,
    rr_ttl: u32,
    now: u64,
) -> Result<AcceptedClaim, UpdateRcode> {
    let ClaimPolicy {
        zone,
        max_ttl: claim_max_ttl,
        registered,
    } = *policy;
    if op != Op::Publish {
        return Err(UpdateRcode::Refused);
    }
    let hash12 = claim_owner_hash12(owner, zone).ok_or(UpdateRcode::Refused)?;
    if registered.is_some_and(|f| !f(&hash12)) {
        return Err(UpdateRcode::Refused);
    }
    let claim = ClaimRecord::parse_and_verify(value, now).map_err(|_| UpdateRcode::Refused)?;
    if claim_max_ttl > 0 && claim.exp.saturating_sub(now) > claim_max_ttl {
        return Err(UpdateRcode::Refused);
    }
    let ttl = if rr_ttl == 0 { 60 } else { u64::from(rr_ttl) };
    let ttl = if claim_max_ttl > 0 {
        ttl.min(claim_max_ttl)
    } else {
        ttl
    };
    Ok(AcceptedClaim { hash12, ttl })
}

/// The mailbox hash12s a TSIG key makes its owner a registered recipient
/// for under `zone` (receiver-only claim mode): the hash of the proven
/// X25519 key when the scope authorizes mailbox writes in the zone (the
/// zone itself, `mb-*`, `slot-*.mb-*`, `claim-*.mb-*`), plus every literal
/// `mb-<12 hex>.<zone>` suffix.
pub fn key_recipient_hashes<S: AsRef<str>>(
    suffixes: &[S],
    x25519_pub_hex: &str,
    zone: &str,
) -> alloc::vec::Vec<String> {
    let z = normalize_zone(zone);
    let mut out = alloc::vec::Vec::new();
    if z.is_empty() {
        return out;
    }
    let heads: alloc::vec::Vec<String> = suffixes
        .iter()
        .filter_map(|s| {
            let n = normalize_zone(s.as_ref());
            if n == z {
                return Some(String::new());
            }
            n.strip_suffix(z.as_str())
                .and_then(|h| h.strip_suffix('.'))
                .map(String::from)
        })
        .collect();
    let mailbox_scope = heads.iter().any(|h| {
        h.is_empty()
            || (!h.contains('.') && h.starts_with("mb-"))
            || h.split_once('.').is_some_and(|(l, r)| {
                !r.contains('.')
                    && r.starts_with("mb-")
                    && (l.starts_with("slot-") || l.starts_with("claim-"))
            })
    });
    let x = x25519_pub_hex.trim().to_ascii_lowercase();
    if mailbox_scope && x.len() == 64 && x.bytes().all(|c| c.is_ascii_hexdigit()) {
        let mut raw = [0u8; 32];
        for (o, pair) in raw.iter_mut().zip(x.as_bytes().chunks_exact(2)) {
            if let [a, b] = pair {
                let hi = (*a as char).to_digit(16).unwrap_or(0);
                let lo = (*b as char).to_digit(16).unwrap_or(0);
                // Two hex digits always fit a byte.
                *o = ((hi << 4) | lo) as u8;
            }
        }
        let h = hex(&sha256(&sha256(&raw)));
        out.push(String::from(&h[..12]));
    }
    for h in &heads {
        if let Some(m) = h.strip_prefix("mb-").filter(|m| is_hex_n(m, 12)) {
            out.push(String::from(m));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn recipient_hashes_of_a_key() {
        let x = "11".repeat(32);
        let expected = {
            let h = hex(&sha256(&sha256(&[0x11; 32])));
            String::from(&h[..12])
        };
        // A default scope: the wildcard slot suffix admits the proven key.
        let s = vec!["slot-*.mb-*.mesh.test", "id-abc.mesh.test"];
        assert_eq!(
            key_recipient_hashes(&s, &x, "mesh.test"),
            vec![expected.clone()]
        );
        // Loose scope (the zone) too; identity-only scope does not.
        assert_eq!(
            key_recipient_hashes(&["mesh.test"], &x, "mesh.test"),
            vec![expected]
        );
        assert!(key_recipient_hashes(&["id-abc.mesh.test"], &x, "mesh.test").is_empty());
        // Literal mailbox suffixes count without a key; other zones do not.
        let lit = ["mb-0123456789ab.mesh.test"];
        assert_eq!(
            key_recipient_hashes(&lit, "", "mesh.test"),
            vec![String::from("0123456789ab")]
        );
        assert!(key_recipient_hashes(&lit, "", "other.test").is_empty());
    }
}
