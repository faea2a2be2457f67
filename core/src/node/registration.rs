//! Self-service registration (REFERENCE-NODE.md §3.4–3.6), sans-IO: the
//! challenge store, body parsing, the signed-challenge check, the X25519
//! proof of possession, bearer-token minting and the TSIG key plan. The node
//! supplies `now` and the RNG and keeps the token and key stores.
//!
//! Known differences: the reference NFKC-normalises the subject before the
//! ASCII check, so e.g. fullwidth letters are folded to ASCII; without
//! Unicode tables here, any non-ASCII subject is refused (with the
//! reference's "must be ASCII" message). A hex field with non-ASCII
//! characters is a 400 `<field>: not valid hex` here and a 500 in the
//! reference (an uncaught `ValueError`).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use rand_core::CryptoRng;
use serde_json::Value;
use x25519_dalek::{PublicKey, StaticSecret};

use super::authz::TOKEN_PREFIX;
use super::publish::normalize_zone;
use super::{HttpError, ct_eq, json_str, py_float};
use crate::crypto::{hex, sha256, sha256_parts, verify, x25519_shared};

/// Challenge lifetime, seconds.
pub const CHALLENGE_TTL: u64 = 60;
/// Most challenges kept pending.
pub const MAX_PENDING: usize = 10_000;
/// Version byte appended to the signed payload.
pub const PROTOCOL_VERSION: u8 = 1;
/// Default lifetime of bearer tokens and TSIG keys (90 days).
pub const DEFAULT_CREDENTIAL_TTL: u64 = 7_776_000;
/// Longest first label of a TSIG key name.
pub const MAX_KEY_LABEL: usize = 63;

fn reg_err(status: u16, reason: impl Into<String>) -> HttpError {
    HttpError::Registration {
        status,
        reason: reason.into(),
    }
}

/// One issued challenge (single use, lives [`CHALLENGE_TTL`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChallenge {
    /// 64 lower-case hex of the 32-byte nonce.
    pub challenge_hex: String,
    /// `DMP_NODE_HOSTNAME`, signed by the client.
    pub node: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// Ephemeral X25519 secret for the proof of possession.
    pub server_x25519_secret: [u8; 32],
    /// Its public half, sent to the client.
    pub server_x25519_pub: [u8; 32],
}

impl PendingChallenge {
    /// Create a challenge from the RNG.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, node: &str, now: u64) -> Self {
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let public = PublicKey::from(&StaticSecret::from(secret)).to_bytes();
        PendingChallenge {
            challenge_hex: hex(&nonce),
            node: String::from(node),
            expires_at: now.saturating_add(CHALLENGE_TTL),
            server_x25519_secret: secret,
            server_x25519_pub: public,
        }
    }

    /// The 200 body of `GET /v1/registration/challenge`, key order as the
    /// reference writes it.
    pub fn response_json(&self) -> String {
        format!(
            "{{\"challenge\": {}, \"node\": {}, \"expires_at\": {}, \"server_x25519_pub\": {}, \"version\": 1}}",
            json_str(&self.challenge_hex),
            json_str(&self.node),
            self.expires_at,
            json_str(&hex(&self.server_x25519_pub)),
        )
    }
}

/// Pending challenges, keyed by their hex exactly as issued.
#[derive(Clone, Debug, Default)]
pub struct ChallengeStore {
    pending: BTreeMap<String, (u64, PendingChallenge)>,
    seq: u64,
    max_pending: usize,
}

impl ChallengeStore {
    /// An empty store holding at most [`MAX_PENDING`].
    pub fn new() -> Self {
        Self::with_capacity(MAX_PENDING)
    }

    /// An empty store holding at most `max_pending`.
    pub fn with_capacity(max_pending: usize) -> Self {
        ChallengeStore {
            pending: BTreeMap::new(),
            seq: 0,
            max_pending,
        }
    }

    /// Issue and remember a fresh challenge.
    pub fn issue<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        node: &str,
        now: u64,
    ) -> PendingChallenge {
        let pc = PendingChallenge::generate(rng, node, now);
        self.seq = self.seq.wrapping_add(1);
        self.pending
            .insert(pc.challenge_hex.clone(), (self.seq, pc.clone()));
        self.cleanup(now);
        pc
    }

    /// Take a challenge out (single use). Unknown or expired is 400
    /// `challenge expired or unknown`; the challenge is gone either way.
    pub fn consume(
        &mut self,
        challenge_hex: &str,
        now: u64,
    ) -> Result<PendingChallenge, HttpError> {
        let pc = self.pending.remove(challenge_hex);
        self.cleanup(now);
        match pc {
            Some((_, pc)) if pc.expires_at > now => Ok(pc),
            _ => Err(reg_err(400, "challenge expired or unknown")),
        }
    }

    /// Pending challenges.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// None pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn cleanup(&mut self, now: u64) {
        self.pending.retain(|_, (_, pc)| pc.expires_at > now);
        if self.pending.len() > self.max_pending {
            let mut order: Vec<(u64, u64, String)> = self
                .pending
                .iter()
                .map(|(k, (seq, pc))| (pc.expires_at, *seq, k.clone()))
                .collect();
            order.sort();
            let drop = self.pending.len() - self.max_pending;
            for (_, _, k) in order.into_iter().take(drop) {
                self.pending.remove(&k);
            }
        }
    }
}

/// Python-`repr` of a string, as the reference quotes a bad subject.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa1).contains(&(c as u32)) || c == '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_subject_shape(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let lb = local.as_bytes();
    let local_ok = lb
        .first()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && lb.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'+' | b'-')
        });
    let labels: Vec<&str> = domain.split('.').collect();
    local_ok
        && labels.len() >= 2
        && labels.iter().all(|l| {
            let b = l.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            b.first().is_some_and(alnum)
                && b.last().is_some_and(alnum)
                && b.iter().all(|c| alnum(c) || *c == b'-')
        })
}

/// The canonical subject: trimmed, lower-cased ASCII `local@fqdn` (fqdn of
/// at least two labels). Errors carry the reference's text (without the
/// `subject invalid: ` prefix).
pub fn canonicalize_subject(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("subject must be a non-empty string".into());
    }
    let norm: String = raw.trim_matches(is_py_space).to_lowercase();
    if let Some(pos) = norm.chars().position(|c| !c.is_ascii()) {
        return Err(format!(
            "subject must be ASCII; got non-ASCII character at position {pos}"
        ));
    }
    if !is_subject_shape(&norm) {
        return Err(format!(
            "subject does not match <local>@<fqdn> shape: {}",
            py_repr(raw)
        ));
    }
    Ok(norm)
}

fn parse_hex<const N: usize>(value: &str, field: &str) -> Result<[u8; N], HttpError> {
    let b = value.as_bytes();
    if !b.len().is_multiple_of(2) || !b.iter().all(u8::is_ascii_hexdigit) {
        return Err(reg_err(400, format!("{field}: not valid hex")));
    }
    let got = b.len() / 2;
    if got != N {
        return Err(reg_err(
            400,
            format!("{field}: expected {N} bytes, got {got}"),
        ));
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        if let [h, l] = pair {
            let hi = (*h as char).to_digit(16).unwrap_or(0);
            let lo = (*l as char).to_digit(16).unwrap_or(0);
            // Two hex digits always fit a byte.
            *o = ((hi << 4) | lo) as u8;
        }
    }
    Ok(out)
}

/// A parsed confirm / tsig-confirm body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// Canonical subject.
    pub subject: String,
    /// `ed25519_spk` exactly as sent (its lower-case form is stored and
    /// used in TSIG names).
    pub spk_hex: String,
    /// Decoded identity key.
    pub spk: [u8; 32],
    /// Decoded signature.
    pub signature: [u8; 64],
    /// `challenge` exactly as sent (the challenge-store key).
    pub challenge_hex: String,
    /// Decoded challenge.
    pub challenge: [u8; 32],
    /// Optional `x25519_pub` if it was a string (checked only on tsig-confirm).
    pub x25519_pub: Option<String>,
    /// Optional `x25519_pop` if it was a string.
    pub x25519_pop: Option<String>,
}

/// Steps 1–3 of both confirm routes: body, the four fields, canonical
/// subject, hex lengths (spk, signature, challenge in that order).
pub fn parse_confirm(body: &[u8]) -> Result<ConfirmRequest, HttpError> {
    let parsed: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else if body.len() > super::publish::MAX_BODY_BYTES {
        return Err(HttpError::InvalidBody);
    } else {
        core::str::from_utf8(body)
            .ok()
            .and_then(super::pyjson::python_json)
            .ok_or(HttpError::InvalidBody)?
    };
    let obj = parsed.as_object().ok_or(HttpError::InvalidBody)?;
    let field = |name: &str| -> Result<String, HttpError> {
        match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(reg_err(400, format!("missing or non-string field: {name}"))),
        }
    };
    let subject_raw = field("subject")?;
    let spk_hex = field("ed25519_spk")?;
    let challenge_hex = field("challenge")?;
    let signature_hex = field("signature")?;
    let subject = canonicalize_subject(&subject_raw)
        .map_err(|e| reg_err(400, format!("subject invalid: {e}")))?;
    let spk = parse_hex::<32>(&spk_hex, "ed25519_spk")?;
    let signature = parse_hex::<64>(&signature_hex, "signature")?;
    let challenge = parse_hex::<32>(&challenge_hex, "challenge")?;
    let opt = |name: &str| match obj.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(ConfirmRequest {
        subject,
        spk_hex,
        spk,
        signature,
        challenge_hex,
        challenge,
        x25519_pub: opt("x25519_pub"),
        x25519_pop: opt("x25519_pop"),
    })
}

/// The bytes the identity key signs: `challenge ‖ subject ‖ node ‖ 0x01`.
pub fn signing_payload(challenge: &[u8; 32], subject: &str, node: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(33 + subject.len() + node.len());
    p.extend_from_slice(challenge);
    p.extend_from_slice(subject.as_bytes());
    p.extend_from_slice(node.as_bytes());
    p.push(PROTOCOL_VERSION);
    p
}

/// Whether the subject's domain is in the allowlist (empty list: any).
pub fn domain_allowed<S: AsRef<str>>(subject: &str, allowlist: &[S]) -> bool {
    let allow: BTreeSet<String> = allowlist
        .iter()
        .map(|a| a.as_ref().trim_matches(is_py_space))
        .filter(|a| !a.is_empty())
        .map(|a| a.to_lowercase().trim_end_matches('.').into())
        .collect();
    if allow.is_empty() {
        return true;
    }
    subject
        .rsplit_once('@')
        .is_some_and(|(_, d)| allow.contains(d))
}

/// Steps 5–6 after the node consumed the challenge: the signature over
/// [`signing_payload`] with the challenge's `node` (401), then the domain
/// allowlist (403). Anti-takeover (409) is the store's job.
pub fn verify_confirm<S: AsRef<str>>(
    req: &ConfirmRequest,
    pending: &PendingChallenge,
    allowlist: &[S],
) -> Result<(), HttpError> {
    let payload = signing_payload(&req.challenge, &req.subject, &pending.node);
    if verify(&req.spk, &payload, &req.signature).is_err() {
        return Err(reg_err(401, "signature verification failed"));
    }
    if !domain_allowed(&req.subject, allowlist) {
        return Err(reg_err(403, "subject not in registration allowlist"));
    }
    Ok(())
}

/// Anti-takeover (step 7): `live_spks` are the registered keys (lower-case
/// hex) of the subject's live self-registered credentials (bearer tokens not
/// revoked and `now < expires_at`, or TSIG keys not revoked and
/// `expires_at == 0 || expires_at > now`); operator-issued credentials have
/// no key and do not lock the subject. Any live key other than `spk_hex`
/// (compared lower-case) is a 409. On success the node revokes the old
/// self-service tokens (or overwrites the TSIG key of the same name) and
/// stores the new credential.
pub fn check_takeover<'a>(
    live_spks: impl IntoIterator<Item = &'a str>,
    spk_hex: &str,
) -> Result<(), HttpError> {
    let mine = spk_hex.to_lowercase();
    if live_spks
        .into_iter()
        .any(|s| !s.is_empty() && s.to_lowercase() != mine)
    {
        return Err(subject_already_owned());
    }
    Ok(())
}

/// Whether a stored TSIG key is usable: not revoked and unexpired
/// (`expires_at == 0` never expires).
pub fn tsig_key_live(expires_at: u64, revoked: bool, now: u64) -> bool {
    !revoked && (expires_at == 0 || expires_at > now)
}

/// The 409 answer when another key already owns the subject.
pub fn subject_already_owned() -> HttpError {
    reg_err(
        409,
        "subject already has a live token; re-registration must be signed with the previously-registered Ed25519 key",
    )
}

fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = sha256_parts(&[&ipad, msg]);
    sha256_parts(&[&opad, &inner])
}

/// The client side of the proof of possession:
/// `HMAC-SHA256(X25519(client, server_pub), challenge ‖ subject ‖ client_pub)`.
pub fn x25519_pop(
    client_secret: &[u8; 32],
    server_pub: &[u8; 32],
    challenge: &[u8; 32],
    subject: &str,
    client_pub: &[u8; 32],
) -> Option<[u8; 32]> {
    let shared = x25519_shared(client_secret, server_pub).ok()?;
    let mut msg = Vec::with_capacity(64 + subject.len());
    msg.extend_from_slice(challenge);
    msg.extend_from_slice(subject.as_bytes());
    msg.extend_from_slice(client_pub);
    Some(hmac_sha256(&shared, &msg))
}

/// Server-side check of a proof of possession (constant time; a
/// low-order client key fails).
pub fn verify_x25519_pop(
    pending: &PendingChallenge,
    subject: &str,
    client_pub: &[u8; 32],
    pop: &[u8; 32],
) -> bool {
    let Some(challenge) = parse_hex::<32>(&pending.challenge_hex, "challenge").ok() else {
        return false;
    };
    let Ok(shared) = x25519_shared(&pending.server_x25519_secret, client_pub) else {
        return false;
    };
    let mut msg = Vec::with_capacity(64 + subject.len());
    msg.extend_from_slice(&challenge);
    msg.extend_from_slice(subject.as_bytes());
    msg.extend_from_slice(client_pub);
    ct_eq(&hmac_sha256(&shared, &msg), pop)
}

/// A fresh bearer token: `dmp_v1_` + base32 (upper, unpadded) of 32 random
/// bytes. Store only [`super::authz::token_hash`] of it.
pub fn mint_token<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut raw = [0u8; 32];
    rng.fill_bytes(&mut raw);
    let mut t = String::from(TOKEN_PREFIX);
    t.push_str(&base32_nopad(&raw));
    t
}

/// RFC 4648 base32, upper case, no padding.
pub fn base32_nopad(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// TSIG scope flavour (`DMP_TSIG_LOOSE_SCOPE` wins over `_TIGHT_SCOPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScopeMode {
    /// Identity, own claim, shared wildcards, own mailbox with a PoP.
    #[default]
    Default,
    /// Default without the four wildcards.
    Tight,
    /// The whole zone.
    Loose,
}

/// The suffixes a minted TSIG key gets, sorted and de-duplicated like the
/// key store keeps them. `x25519_pub` only when its PoP verified. Empty when
/// zone, subject or spk is empty.
pub fn tsig_suffixes(
    subject: &str,
    spk_hex: &str,
    zone: &str,
    mode: ScopeMode,
    x25519_pub: Option<&[u8; 32]>,
) -> Vec<String> {
    let z = normalize_zone(zone);
    let subj = subject.trim_matches(is_py_space).to_lowercase();
    let spk_lower = spk_hex.to_lowercase();
    let spk16: String = spk_lower.chars().take(16).collect();
    if z.is_empty() || subj.is_empty() || spk16.is_empty() {
        return Vec::new();
    }
    let mut set = BTreeSet::new();
    if mode == ScopeMode::Loose {
        set.insert(z);
    } else {
        let local = subj.rsplit_once('@').map_or(subj.as_str(), |(l, _)| l);
        let h = hex(&sha256(local.as_bytes()));
        set.insert(format!("id-{}.{z}", &h[..16]));
        set.insert(format!("id-{}.{z}", &h[..12]));
        set.insert(format!("_dnsmesh-claim-{spk16}.{z}"));
        if mode == ScopeMode::Default {
            set.insert(format!("_dnsmesh-claim-*.{z}"));
            set.insert(format!("slot-*.mb-*.{z}"));
            set.insert(format!("chunk-*-*.{z}"));
            set.insert(format!("claim-*.mb-*.{z}"));
        }
        if let Some(xp) = x25519_pub {
            let mb = hex(&sha256(&sha256(xp)));
            set.insert(format!("mb-{}.{z}", &mb[..12]));
        }
    }
    set.into_iter().collect()
}

/// The key name `<local>-<spk8>-<h(subject)[:6]>.<zone>.`, or `None` when
/// the first label would exceed 63 characters or zone/local part is empty.
pub fn tsig_key_name(subject: &str, spk_hex: &str, zone: &str) -> Option<String> {
    let z = normalize_zone(zone);
    let subj = subject.trim_matches(is_py_space).to_lowercase();
    let local = subj.rsplit_once('@').map_or(subj.as_str(), |(l, _)| l);
    if z.is_empty() || local.is_empty() {
        return None;
    }
    let spk8: String = spk_hex.to_lowercase().chars().take(8).collect();
    let tag = hex(&sha256(subj.as_bytes()));
    let label = format!("{local}-{spk8}-{}", &tag[..6]);
    if label.chars().count() > MAX_KEY_LABEL {
        return None;
    }
    Some(format!("{label}.{z}."))
}

/// What the node stores and returns for a successful tsig-confirm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigPlan {
    /// Key name with trailing dot.
    pub key_name: String,
    /// 32 random bytes.
    pub secret: [u8; 32],
    /// Sorted scope.
    pub allowed_suffixes: Vec<String>,
    /// Canonical subject.
    pub subject: String,
    /// Served zone.
    pub zone: String,
    /// Lower-case spk hex to record.
    pub registered_spk: String,
    /// Lower-case x25519 hex when proven, else empty.
    pub registered_x25519_pub: String,
    /// Unix seconds, 0 = never.
    pub expires_at: u64,
}

impl TsigPlan {
    /// The 200 body, key order as the reference writes it.
    pub fn response_json(&self) -> String {
        let suffixes: Vec<String> = self.allowed_suffixes.iter().map(|s| json_str(s)).collect();
        format!(
            "{{\"tsig_key_name\": {}, \"tsig_secret_hex\": {}, \"tsig_algorithm\": \"hmac-sha256\", \"allowed_suffixes\": [{}], \"subject\": {}, \"zone\": {}, \"expires_at\": {}}}",
            json_str(&self.key_name),
            json_str(&hex(&self.secret)),
            suffixes.join(", "),
            json_str(&self.subject),
            json_str(&self.zone),
            self.expires_at,
        )
    }
}

/// The 200 body of `/v1/registration/confirm`, key order as the reference
/// writes it.
pub fn token_response_json(
    token: &str,
    subject: &str,
    expires_at: u64,
    rate_per_sec: f64,
    rate_burst: u32,
) -> String {
    confirm_response_json(token, subject, Some(expires_at), rate_per_sec, rate_burst)
}

/// [`token_response_json`] for a token that may never expire
/// (`expires_at: null` when the node's credential lifetime is 0).
pub fn confirm_response_json(
    token: &str,
    subject: &str,
    expires_at: Option<u64>,
    rate_per_sec: f64,
    rate_burst: u32,
) -> String {
    let expires = match expires_at {
        Some(e) => format!("{e}"),
        None => String::from("null"),
    };
    format!(
        "{{\"token\": {}, \"subject\": {}, \"expires_at\": {expires}, \"rate_per_sec\": {}, \"rate_burst\": {rate_burst}}}",
        json_str(token),
        json_str(subject),
        py_float(rate_per_sec),
    )
}

/// tsig-confirm after [`verify_confirm`]: the optional X25519 claim and its
/// PoP (400 bad hex, 401 bad proof; a key without proof is dropped), the
/// scope (500 when empty), the key name (400 when too long) and a fresh
/// secret. `zone` is the served zone (or the node hostname);
/// `credential_ttl` 0 means the key never expires.
pub fn plan_tsig<R: CryptoRng + ?Sized>(
    req: &ConfirmRequest,
    pending: &PendingChallenge,
    zone: &str,
    mode: ScopeMode,
    credential_ttl: u64,
    now: u64,
    rng: &mut R,
) -> Result<TsigPlan, HttpError> {
    let zone = normalize_zone(zone);
    let x_hex = req
        .x25519_pub
        .as_deref()
        .map(|s| s.trim_matches(is_py_space).to_lowercase())
        .unwrap_or_default();
    let mut proven: Option<[u8; 32]> = None;
    if !x_hex.is_empty() {
        let x_pub = parse_hex::<32>(&x_hex, "x25519_pub")?;
        if let Some(pop_hex) = req.x25519_pop.as_deref().filter(|p| !p.is_empty()) {
            let pop = parse_hex::<32>(pop_hex, "x25519_pop")?;
            if !verify_x25519_pop(pending, &req.subject, &x_pub, &pop) {
                return Err(reg_err(
                    401,
                    "x25519_pop verification failed: registrant did not prove possession of the claimed X25519 key",
                ));
            }
            proven = Some(x_pub);
        }
    }
    let suffixes = tsig_suffixes(&req.subject, &req.spk_hex, &zone, mode, proven.as_ref());
    if suffixes.is_empty() {
        return Err(reg_err(
            500,
            "could not derive TSIG scope from subject + zone",
        ));
    }
    let key_name = tsig_key_name(&req.subject, &req.spk_hex, &zone).ok_or_else(|| {
        reg_err(
            400,
            format!(
                "subject local part too long for TSIG key label (max {} chars)",
                MAX_KEY_LABEL - 9
            ),
        )
    })?;
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    Ok(TsigPlan {
        key_name,
        secret,
        allowed_suffixes: suffixes,
        subject: req.subject.clone(),
        zone,
        registered_spk: req.spk_hex.to_lowercase(),
        registered_x25519_pub: if proven.is_some() {
            x_hex
        } else {
            String::new()
        },
        expires_at: if credential_ttl > 0 {
            now.saturating_add(credential_ttl)
        } else {
            0
        },
    })
}
