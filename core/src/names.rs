//! DNS names: the shared DNS-name validator (PROTOCOL.md §2.0), the owner
//! name of every record (§6), and the name predicates the client and the
//! node route on (zone membership, the claim-owner shape gate).
//!
//! The owner-name functions are pure string builders. Where the reference
//! validates (cluster, bootstrap, rotation of cluster/bootstrap, claim,
//! heartbeat) they return `Result`; where it uses the input verbatim or
//! only strips trailing dots (slot, chunk, identity, prekey, user rotation)
//! they return `String`, so a Rust publisher writes exactly the names a
//! Python reader queries.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{hex, sha256_parts};
use crate::error::{Error, Result};
use crate::records::rotation::SubjectType;

/// Longest DNS label (RFC 1035).
pub const MAX_DNS_LABEL_LEN: usize = 63;
/// Byte cap of every DNS-name field in a signed record (cluster name, user
/// domain, base domain, cluster/bootstrap rotation subjects), measured on the
/// normalized form without the trailing dot.
pub const MAX_DNS_FIELD_LEN: usize = 64;
/// Number of mailbox slots a message can land in.
pub const SLOT_COUNT: u32 = 10;
/// Highest claim slot (`SLOT_COUNT - 1`).
pub const MAX_CLAIM_SLOT: u8 = 9;

/// Owner-name prefix of a node's own heartbeat.
pub const HEARTBEAT_LABEL: &str = "_dnsmesh-heartbeat";
/// Owner-name prefix of the heartbeats a node has seen and re-exports.
pub const SEEN_LABEL: &str = "_dnsmesh-seen";

// ---------------------------------------------------------------------------
// Validation and comparison
// ---------------------------------------------------------------------------

/// Remove at most one trailing `.` (the reference's FQDN normalization; a
/// second dot is a typo the validator rejects rather than hides).
pub fn strip_one_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// The key form of an owner name, as nodes store and look it up: one
/// trailing dot removed, ASCII lower-cased (DNS names compare
/// case-insensitively; the reference's case-sensitive storage is a bug).
pub fn owner_key(name: &str) -> String {
    strip_one_dot(name).to_ascii_lowercase()
}

/// The shared DNS-name validator of PROTOCOL.md §2.0. Returns the normalized
/// name (one trailing dot removed).
///
/// Rules: non-empty; not ending in `..`; ASCII; labels of 1..63 characters
/// from `[A-Za-z0-9-]` that neither start nor end with `-`. There is no
/// total-length rule here; fields add [`MAX_DNS_FIELD_LEN`] on top
/// ([`validate_dns_name_capped`]).
pub fn validate_dns_name(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::Invalid("DNS name is empty"));
    }
    if name.ends_with("..") {
        return Err(Error::Invalid("DNS name ends with an empty label"));
    }
    let normalized = strip_one_dot(name);
    if normalized.is_empty() {
        return Err(Error::Invalid("DNS name has no label"));
    }
    if !normalized.is_ascii() {
        return Err(Error::Invalid("DNS name is not ASCII"));
    }
    for label in normalized.split('.') {
        if label.is_empty() {
            return Err(Error::Invalid("DNS name has an empty label"));
        }
        if label.len() > MAX_DNS_LABEL_LEN {
            return Err(Error::Invalid("DNS label longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::Invalid("DNS label starts or ends with '-'"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::Invalid(
                "DNS label has a character outside [A-Za-z0-9-]",
            ));
        }
    }
    Ok(String::from(normalized))
}

/// [`validate_dns_name`] plus the 64-byte cap on the normalized form, as
/// every DNS-name field of cluster and bootstrap records needs.
///
/// On parse the reference allows a 65-byte wire field when its last byte is
/// `.`; that is exactly "normalized form ≤ 64 bytes", so sign and parse use
/// this same function.
pub fn validate_dns_name_capped(name: &str) -> Result<String> {
    let normalized = validate_dns_name(name)?;
    if normalized.len() > MAX_DNS_FIELD_LEN {
        return Err(Error::Invalid("DNS name longer than 64 bytes"));
    }
    Ok(normalized)
}

/// Python's `str.casefold()` for comparisons of DNS names.
///
/// Exact whenever the result is compared against an ASCII string (every
/// validated name is ASCII): ASCII letters fold to lowercase and the eleven
/// non-ASCII characters whose case folding is ASCII (`ß`, `ſ`, `K` (Kelvin), the
/// `ﬀ`…`ﬆ` ligatures, `ẞ`) fold as Python folds them. Other non-ASCII
/// characters use Unicode lowercase mapping, which can differ from
/// full case folding but never yields an ASCII-only result.
pub fn casefold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let folded = match c {
            '\u{df}' | '\u{1e9e}' => "ss",
            '\u{17f}' => "s",
            '\u{212a}' => "k",
            '\u{fb00}' => "ff",
            '\u{fb01}' => "fi",
            '\u{fb02}' => "fl",
            '\u{fb03}' => "ffi",
            '\u{fb04}' => "ffl",
            '\u{fb05}' | '\u{fb06}' => "st",
            _ => {
                out.extend(c.to_lowercase());
                continue;
            }
        };
        out.push_str(folded);
    }
    out
}

/// Compare a stored DNS name with an expected one as the records bind names:
/// one trailing `.` removed from each side, then case-folded equality.
pub fn dns_name_eq(name: &str, expected: &str) -> bool {
    casefold(strip_one_dot(name)) == casefold(strip_one_dot(expected))
}

/// Python's `str.isspace()` set: Unicode `White_Space` plus U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument (the reference trims user and
/// host halves of addresses this way).
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Whether `name` is `zone` or lies under it: case-insensitive, every
/// trailing dot ignored, on a label boundary (so `mesh.example.comxyz` is
/// not under `mesh.example.com`). An empty zone contains nothing.
pub fn is_under_zone(name: &str, zone: &str) -> bool {
    let zone = casefold(zone);
    let zone = zone.trim_end_matches('.');
    if zone.is_empty() {
        return false;
    }
    let name = casefold(name);
    let name = name.trim_end_matches('.');
    match name.strip_suffix(zone) {
        Some("") => true,
        Some(rest) => rest.ends_with('.'),
        None => false,
    }
}

// ---------------------------------------------------------------------------
// Hash labels
// ---------------------------------------------------------------------------

/// The first `n` lowercase hex digits of SHA-256 over `parts`.
fn hash_hex(parts: &[&[u8]], n: usize) -> String {
    let mut h = hex(&sha256_parts(parts));
    h.truncate(n);
    h
}

/// `H(recipient_id).hex[:12]`: the `mb-` label of slot and claim names.
pub fn mailbox_hash12(recipient_id: &[u8; 32]) -> String {
    hash_hex(&[recipient_id], 12)
}

/// The mailbox slot of a message: `u32(msg_id[0:4]) mod 10`.
pub fn slot_for_msg_id(msg_id: &[u8; 16]) -> u8 {
    let head = u32::from_be_bytes([msg_id[0], msg_id[1], msg_id[2], msg_id[3]]);
    // The remainder is below 10, so it fits a u8.
    (head % SLOT_COUNT) as u8
}

/// `H(msg_id ‖ recipient_id ‖ sender_spk).hex[:12]`: the per-message label
/// of chunk names.
pub fn msg_key(msg_id: &[u8; 16], recipient_id: &[u8; 32], sender_spk: &[u8; 32]) -> String {
    hash_hex(&[msg_id, recipient_id, sender_spk], 12)
}

/// `H(utf8(username)).hex[:16]`: the identity and user-rotation label.
fn username_hash16(username: &str) -> String {
    hash_hex(&[username.as_bytes()], 16)
}

// ---------------------------------------------------------------------------
// Owner names (PROTOCOL.md §6)
// ---------------------------------------------------------------------------

/// Slot manifest: `slot-{slot}.mb-{h12}.{zone}`, zone verbatim.
pub fn slot_name(recipient_id: &[u8; 32], slot: u8, zone: &str) -> String {
    format!("slot-{slot}.mb-{}.{zone}", mailbox_hash12(recipient_id))
}

/// Chunk: `chunk-{index:04}-{msg_key}.{zone}`, zone verbatim.
pub fn chunk_name(index: u32, msg_key: &str, zone: &str) -> String {
    format!("chunk-{index:04}-{msg_key}.{zone}")
}

/// Identity, hashed form: `id-{H(username)[:16]}.{domain}` with every
/// trailing dot of the domain removed.
pub fn identity_name(username: &str, domain: &str) -> String {
    format!(
        "id-{}.{}",
        username_hash16(username),
        domain.trim_end_matches('.')
    )
}

/// Identity, zone-anchored form: `dmp.{identity_domain}` without trailing dots.
pub fn zone_anchored_identity_name(identity_domain: &str) -> String {
    format!("dmp.{}", identity_domain.trim_end_matches('.'))
}

/// Prekey pool: `prekeys.id-{H(username)[:12]}.{domain}` (12 hex digits,
/// unlike identity's 16), without trailing dots.
pub fn prekey_pool_name(username: &str, domain: &str) -> String {
    format!(
        "prekeys.id-{}.{}",
        hash_hex(&[username.as_bytes()], 12),
        domain.trim_end_matches('.')
    )
}

/// Cluster manifest: `cluster.{cluster_name}`; the name is validated
/// (§2.0, no length cap) and one trailing dot removed.
pub fn cluster_manifest_name(cluster_name: &str) -> Result<String> {
    Ok(format!("cluster.{}", validate_dns_name(cluster_name)?))
}

/// Bootstrap record: `_dmp.{user_domain}`, validated, one trailing dot removed.
pub fn bootstrap_name(user_domain: &str) -> Result<String> {
    Ok(format!("_dmp.{}", validate_dns_name(user_domain)?))
}

/// User rotation/revocation RRset, hashed form:
/// `rotate.id-{H(username)[:16]}.{host}` without trailing dots.
pub fn rotation_name_user(username: &str, host: &str) -> String {
    format!("rotate.{}", identity_name(username, host))
}

/// User rotation/revocation RRset, zone-anchored form: `rotate.dmp.{host}`
/// without trailing dots.
pub fn rotation_name_user_zone_anchored(host: &str) -> String {
    format!("rotate.dmp.{}", host.trim_end_matches('.'))
}

/// Cluster-operator rotation/revocation RRset: `rotate.cluster.{base}`,
/// validated, one trailing dot removed.
pub fn rotation_name_cluster(cluster_base_domain: &str) -> Result<String> {
    Ok(format!(
        "rotate.cluster.{}",
        validate_dns_name(cluster_base_domain)?
    ))
}

/// Bootstrap-signer rotation/revocation RRset: `rotate._dmp.{user_domain}`,
/// validated, one trailing dot removed.
pub fn rotation_name_bootstrap(user_domain: &str) -> Result<String> {
    Ok(format!("rotate._dmp.{}", validate_dns_name(user_domain)?))
}

/// Every RRset a rotation walker queries for `(subject_type, subject)`, in
/// the reference's order: for a user `user@host`, the zone-anchored name
/// first, then the hashed one (user and host trimmed of whitespace); for
/// cluster and bootstrap subjects the single validated name. An unusable
/// subject gives an empty list.
pub fn rotation_names_for_subject(subject_type: SubjectType, subject: &str) -> Vec<String> {
    match subject_type {
        SubjectType::UserIdentity => {
            let Some((user, host)) = subject.split_once('@') else {
                return Vec::new();
            };
            let (user, host) = (py_strip(user), py_strip(host));
            if user.is_empty() || host.is_empty() {
                return Vec::new();
            }
            let mut out = alloc::vec![rotation_name_user_zone_anchored(host)];
            let hashed = rotation_name_user(user, host);
            if !out.contains(&hashed) {
                out.push(hashed);
            }
            out
        }
        SubjectType::ClusterOperator => rotation_name_cluster(subject).into_iter().collect(),
        SubjectType::BootstrapSigner => rotation_name_bootstrap(subject).into_iter().collect(),
    }
}

/// Claim: `claim-{slot}.mb-{h12}.{zone}`; slot 0..9 and a non-empty zone,
/// used verbatim.
pub fn claim_name(recipient_id: &[u8; 32], slot: u8, zone: &str) -> Result<String> {
    if slot > MAX_CLAIM_SLOT {
        return Err(Error::Invalid("claim slot must be 0..9"));
    }
    if zone.is_empty() {
        return Err(Error::Invalid("claim zone is empty"));
    }
    Ok(format!(
        "claim-{slot}.mb-{}.{zone}",
        mailbox_hash12(recipient_id)
    ))
}

/// A node's heartbeat: `_dnsmesh-heartbeat.{zone}` (non-empty zone, verbatim).
pub fn heartbeat_name(zone: &str) -> Result<String> {
    if zone.is_empty() {
        return Err(Error::Invalid("heartbeat zone is empty"));
    }
    Ok(format!("{HEARTBEAT_LABEL}.{zone}"))
}

/// The gossip set of seen heartbeats: `_dnsmesh-seen.{zone}`.
pub fn seen_name(zone: &str) -> Result<String> {
    if zone.is_empty() {
        return Err(Error::Invalid("seen zone is empty"));
    }
    Ok(format!("{SEEN_LABEL}.{zone}"))
}

// ---------------------------------------------------------------------------
// Claim-owner shape gate (the node's un-TSIG'd UPDATE path)
// ---------------------------------------------------------------------------

/// The two variable labels of a claim owner name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimOwner {
    /// The slot label's digits as written (the gate accepts any digit
    /// string; the slot itself is only advisory).
    pub slot_digits: String,
    /// The 12 lowercase hex digits of `mb-<h12>`: the per-recipient
    /// rate-limit key.
    pub mailbox_hash12: String,
}

impl ClaimOwner {
    /// The slot as a number, if it fits a `u64`.
    pub fn slot(&self) -> Option<u64> {
        self.slot_digits.parse().ok()
    }
}

/// Python's `(s or "").strip().rstrip(".").lower()` on owner names and zones.
fn normalize_owner(s: &str) -> String {
    py_strip(s).trim_end_matches('.').to_lowercase()
}

/// Recognize `claim-<digits>.mb-<12 hex>.<served_zone>` the way the
/// reference node's gate does: both sides trimmed, all trailing dots
/// removed and lowercased first, exactly two labels above the zone.
/// Digits are ASCII (owner names arrive as ASCII presentation text).
pub fn parse_claim_owner(name: &str, served_zone: &str) -> Option<ClaimOwner> {
    let n = normalize_owner(name);
    let z = normalize_owner(served_zone);
    if z.is_empty() {
        return None;
    }
    let relative = n.strip_suffix(z.as_str())?.strip_suffix('.')?;
    let (slot_label, mailbox_label) = relative.split_once('.')?;
    if mailbox_label.contains('.') {
        return None;
    }
    let digits = slot_label.strip_prefix("claim-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h12 = mailbox_label.strip_prefix("mb-")?;
    if h12.len() != 12 || !h12.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Some(ClaimOwner {
        slot_digits: String::from(digits),
        mailbox_hash12: String::from(h12),
    })
}

#[cfg(test)]
mod tests {
    //! Expected strings computed with the Python reference (dnsmesh 0.7.5).
    use super::*;

    fn h32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    /// `sha256(b"recipient-x25519-pub")`, `sha256(b"sender-spk")` and a fixed msg_id.
    const RID: &str = "5a7af21f05798e2b125a372e8c0ee7b3773f6d27686f8d39425497d93ea146c3";
    const SPK: &str = "23d0c1fe7bef07414532973f68dfc12eabac55553f0b35743bc5b9bcd1870c73";
    const MID: [u8; 16] = [
        0x8b, 0xad, 0xf0, 0x0d, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45,
        0x67,
    ];

    #[test]
    fn mailbox_names_match_reference() {
        let rid = h32(RID);
        assert_eq!(slot_for_msg_id(&MID), 5);
        assert_eq!(slot_for_msg_id(&[0xff; 16]), (u32::MAX % 10) as u8);
        assert_eq!(mailbox_hash12(&rid), "a9e298909899");
        assert_eq!(
            slot_name(&rid, 5, "mesh.example.com"),
            "slot-5.mb-a9e298909899.mesh.example.com"
        );
        let key = msg_key(&MID, &rid, &h32(SPK));
        assert_eq!(key, "46cb86d1e713");
        assert_eq!(
            chunk_name(0, &key, "mesh.example.com"),
            "chunk-0000-46cb86d1e713.mesh.example.com"
        );
        assert_eq!(
            chunk_name(1023, &key, "mesh.example.com."),
            "chunk-1023-46cb86d1e713.mesh.example.com."
        );
        assert_eq!(
            claim_name(&rid, 7, "provider.example.").unwrap(),
            "claim-7.mb-a9e298909899.provider.example."
        );
        assert!(claim_name(&rid, 10, "provider.example").is_err());
        assert!(claim_name(&rid, 0, "").is_err());
    }

    #[test]
    fn identity_and_operator_names_match_reference() {
        assert_eq!(
            identity_name("alice", "example.com.."),
            "id-2bd806c97f0e00af.example.com"
        );
        assert_eq!(
            identity_name("Zoë", "Example.COM"),
            "id-c6a12698582fc110.Example.COM"
        );
        assert_eq!(
            zone_anchored_identity_name("alice.example.com..."),
            "dmp.alice.example.com"
        );
        assert_eq!(
            prekey_pool_name("alice", "example.com."),
            "prekeys.id-2bd806c97f0e.example.com"
        );
        assert_eq!(
            cluster_manifest_name("Mesh.Example.com.").unwrap(),
            "cluster.Mesh.Example.com"
        );
        assert!(cluster_manifest_name("mesh..example").is_err());
        assert_eq!(bootstrap_name("example.com.").unwrap(), "_dmp.example.com");
        assert!(bootstrap_name("_dmp.example.com").is_err());
        assert_eq!(
            rotation_name_user("alice", "example.com.."),
            "rotate.id-2bd806c97f0e00af.example.com"
        );
        assert_eq!(
            rotation_name_user_zone_anchored("example.com.."),
            "rotate.dmp.example.com"
        );
        assert_eq!(
            rotation_name_cluster("mesh.example.com.").unwrap(),
            "rotate.cluster.mesh.example.com"
        );
        assert_eq!(
            rotation_name_bootstrap("example.com").unwrap(),
            "rotate._dmp.example.com"
        );
        assert_eq!(
            heartbeat_name("node.example.com").unwrap(),
            "_dnsmesh-heartbeat.node.example.com"
        );
        assert_eq!(
            seen_name("node.example.com.").unwrap(),
            "_dnsmesh-seen.node.example.com."
        );
        assert!(heartbeat_name("").is_err() && seen_name("").is_err());
    }

    #[test]
    fn rotation_walker_names_match_reference() {
        assert_eq!(
            rotation_names_for_subject(SubjectType::UserIdentity, " alice @ Example.com. "),
            [
                "rotate.dmp.Example.com",
                "rotate.id-2bd806c97f0e00af.Example.com"
            ]
        );
        assert_eq!(
            rotation_names_for_subject(SubjectType::ClusterOperator, "mesh.example.com."),
            ["rotate.cluster.mesh.example.com"]
        );
        assert_eq!(
            rotation_names_for_subject(SubjectType::BootstrapSigner, "example.com"),
            ["rotate._dmp.example.com"]
        );
        assert!(rotation_names_for_subject(SubjectType::ClusterOperator, "bad_name").is_empty());
        assert!(rotation_names_for_subject(SubjectType::UserIdentity, "noat").is_empty());
        assert!(rotation_names_for_subject(SubjectType::UserIdentity, " @x").is_empty());
    }

    #[test]
    fn claim_owner_gate_matches_reference() {
        let zone = "zone.example";
        let h = Some("0123456789ab");
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("claim-3.mb-0123456789ab.zone.example", zone, h),
            (
                "CLAIM-03.MB-0123456789AB.Zone.Example.",
                " zone.example.. ",
                h,
            ),
            ("claim-3.mb-0123456789ab.zone.example", "example", None),
            ("claim-3.mb-0123456789ab.xzone.example", zone, None),
            ("claim-.mb-0123456789ab.zone.example", zone, None),
            ("claim-3a.mb-0123456789ab.zone.example", zone, None),
            ("claim-3.mb-0123456789a.zone.example", zone, None),
            ("claim-3.mb-0123456789abc.zone.example", zone, None),
            ("claim-3.mb-0123456789ag.zone.example", zone, None),
            ("x.claim-3.mb-0123456789ab.zone.example", zone, None),
            ("claim-3.mb-0123456789ab.zone.example", "", None),
            ("zone.example", zone, None),
            (
                "claim-99999999999999999999999.mb-0123456789ab.zone.example",
                zone,
                h,
            ),
            ("slot-3.mb-0123456789ab.zone.example", zone, None),
        ];
        for &(owner, zone, want) in cases {
            let got = parse_claim_owner(owner, zone);
            assert_eq!(
                got.as_ref().map(|c| c.mailbox_hash12.as_str()),
                want,
                "{owner:?} under {zone:?}"
            );
        }
        let c =
            parse_claim_owner("CLAIM-03.MB-0123456789AB.Zone.Example.", "zone.example").unwrap();
        assert_eq!((c.slot_digits.as_str(), c.slot()), ("03", Some(3)));
    }

    #[test]
    fn zone_membership_matches_reference() {
        let cases = [
            ("a.mesh.example.com", "mesh.example.com", true),
            ("MESH.example.com..", "mesh.EXAMPLE.com.", true),
            ("mesh.example.comxyz", "mesh.example.com", false),
            ("xmesh.example.com", "mesh.example.com", false),
            ("anything", "", false),
            ("anything", "...", false),
            ("example.com", "a.example.com", false),
            ("me\u{17f}h.example.com", "MESH.example.com", true),
        ];
        for (name, zone, want) in cases {
            assert_eq!(is_under_zone(name, zone), want, "{name:?} under {zone:?}");
        }
    }

    #[test]
    fn dns_validator_matches_reference() {
        let a63 = "a".repeat(63);
        let a64 = "a".repeat(64);
        let ok = [
            "a.b",
            "a.b.",
            "xn--bcher-kva.example",
            "1.2.3.4",
            "A-B.c0m",
            &format!("{a63}.b"),
        ];
        let bad = [
            "a.b..",
            ".a",
            "a..b",
            "",
            ".",
            "-a.b",
            "a-.b",
            "a_b.c",
            "bücher.de",
            &format!("{a64}.b"),
        ];
        for n in ok {
            assert!(validate_dns_name(n).is_ok(), "{n:?}");
        }
        for n in bad {
            assert!(validate_dns_name(n).is_err(), "{n:?}");
        }
        assert_eq!(validate_dns_name("Mesh.Example.").unwrap(), "Mesh.Example");
        // The 64-byte cap is on the normalized form.
        let n64 = format!("{}.{}", "a".repeat(31), "b".repeat(32));
        assert!(validate_dns_name_capped(&n64).is_ok());
        assert!(validate_dns_name_capped(&format!("{n64}.")).is_ok());
        assert!(validate_dns_name_capped(&format!("{n64}b")).is_err());
    }

    #[test]
    fn casefold_comparisons() {
        assert!(dns_name_eq("mesh.example.com", "MESH.Example.COM."));
        assert!(!dns_name_eq("mesh.example.com", "mesh.example.com.."));
        assert!(dns_name_eq("strasse.de", "STRA\u{df}E.de"));
        assert!(dns_name_eq("kk.ffi.st", "\u{212a}K.\u{fb03}.\u{fb06}"));
        assert!(!dns_name_eq("mesh.example.com", "mesh.example.co"));
        assert_eq!(py_strip("\u{1c} a b\u{3000}\n"), "a b");
    }
}
