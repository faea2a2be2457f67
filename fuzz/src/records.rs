//! `records` target: input = `now` (first 8 bytes, big-endian) ‖ bytes that
//! become a (lossy UTF-8) TXT value. The value goes through every record
//! kind's `parse_and_verify` with fixed keys and contexts, and through the
//! wire helpers (`RecordKind::of`, both base64 decoders, TXT splitting).
//!
//! Invariants beyond "no panic":
//! * an accepted record carries its kind's exact prefix;
//! * an accepted record signed by one of our keys, re-signed with `to_wire`
//!   (when the sign side accepts it), verifies again at the same `now`, and
//!   re-signing that is a fixpoint (the canonical form is stable);
//! * strict base64 never accepts what lenient decodes differently, and both
//!   invert `b64_encode`;
//! * `split_txt` cuts into ≤ 255-byte strings that `join_txt` reassembles.

use core::fmt::Debug;

use dmp_core::crypto::Signer25519;
use dmp_core::error::Result;
use dmp_core::fec::BLOCK_SIZE;
use dmp_core::records::bootstrap::BootstrapRecord;
use dmp_core::records::chunk::{chunk_wire, parse_chunk_data, unwrap_block, wrap_block};
use dmp_core::records::claim::ClaimRecord;
use dmp_core::records::cluster::ClusterManifest;
use dmp_core::records::heartbeat::HeartbeatRecord;
use dmp_core::records::identity::IdentityRecord;
use dmp_core::records::manifest::SlotManifest;
use dmp_core::records::prekey::Prekey;
use dmp_core::records::revocation::RevocationRecord;
use dmp_core::records::rotation::RotationRecord;
use dmp_core::wire::{
    self, RecordKind, TXT_STRING_MAX, b64_decode_lenient, b64_decode_strict, b64_encode,
};

use crate::world::*;

/// The signers whose records can be re-signed.
pub struct Keys {
    pub manifest: Signer25519,
    pub identity: Signer25519,
    pub prekey: Signer25519,
    pub cluster: Signer25519,
    pub bootstrap: Signer25519,
    pub old: Signer25519,
    pub new: Signer25519,
    pub revoked: Signer25519,
    pub claim: Signer25519,
    pub heartbeat: Signer25519,
}

impl Keys {
    pub fn new() -> Self {
        Keys {
            manifest: signer(S_MANIFEST),
            identity: signer(S_IDENTITY),
            prekey: signer(S_PREKEY),
            cluster: signer(S_CLUSTER),
            bootstrap: signer(S_BOOTSTRAP),
            old: signer(S_OLD),
            new: signer(S_NEW),
            revoked: signer(S_REVOKED),
            claim: signer(S_CLAIM),
            heartbeat: signer(S_HEARTBEAT),
        }
    }
}

impl Default for Keys {
    fn default() -> Self {
        Self::new()
    }
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(Keys::new)
}

/// Which kinds accepted the value (for the seed generator's self-check).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accepted(pub Vec<&'static str>);

/// The `records` target body.
pub fn run(data: &[u8]) -> Accepted {
    let (now, rest) = take_u64(data);
    let value = String::from_utf8_lossy(rest);
    wire_helpers(rest, &value);
    parse_all(&value, now)
}

/// Parse `value` as every kind at `now`, asserting the invariants above.
pub fn parse_all(value: &str, now: u64) -> Accepted {
    let k = keys();
    let mut acc = Accepted::default();
    let kind = RecordKind::of(value);
    let mut ok = |name: &'static str, want: RecordKind| {
        assert_eq!(kind, Some(want), "{name} accepted without its prefix");
        if !acc.0.contains(&name) {
            acc.0.push(name);
        }
    };
    let mut chunk_ok = false;

    // Chunk: the receive path's per-value steps.
    if let Ok(data) = parse_chunk_data(value) {
        assert_eq!(
            parse_chunk_data(&chunk_wire(&data)).as_deref(),
            Ok(&data[..]),
            "chunk_wire/parse_chunk_data round trip"
        );
        if let Ok(block) = unwrap_block(&data) {
            chunk_ok = true;
            if let Ok(b) = <[u8; BLOCK_SIZE]>::try_from(block.as_slice()) {
                assert_eq!(unwrap_block(&wrap_block(&b)).as_deref(), Ok(&b[..]));
            }
        }
    }

    let r = SlotManifest::parse_and_verify(value, now);
    if r.is_ok() {
        ok("manifest", RecordKind::Manifest);
    }
    resign(
        r,
        |m| (m.sender_spk == k.manifest.public()).then(|| m.to_wire(&k.manifest)),
        |w| SlotManifest::parse_and_verify(w, now),
    );

    let r = IdentityRecord::parse_and_verify(value);
    if r.is_ok() {
        ok("identity", RecordKind::Identity);
    }
    resign(
        r,
        |m| (m.ed25519_spk == k.identity.public()).then(|| m.to_wire(&k.identity)),
        IdentityRecord::parse_and_verify,
    );

    let spk = k.prekey.public();
    let r = Prekey::parse_and_verify(value, &spk, now);
    if r.is_ok() {
        ok("prekey", RecordKind::Prekey);
    }
    resign(
        r,
        |m| Some(m.to_wire(&k.prekey)),
        |w| Prekey::parse_and_verify(w, &spk, now),
    );

    let spk = k.cluster.public();
    for expected in [Some(CLUSTER_NAME), None] {
        let r = ClusterManifest::parse_and_verify(value, &spk, expected, now);
        if r.is_ok() {
            ok("cluster", RecordKind::Cluster);
        }
        resign(
            r,
            |m| (m.operator_spk == spk).then(|| m.to_wire(&k.cluster)),
            |w| ClusterManifest::parse_and_verify(w, &spk, expected, now),
        );
    }

    let spk = k.bootstrap.public();
    for expected in [Some(USER_DOMAIN), None] {
        let r = BootstrapRecord::parse_and_verify(value, &spk, expected, now);
        if r.is_ok() {
            ok("bootstrap", RecordKind::Bootstrap);
        }
        resign(
            r,
            |m| (m.signer_spk == spk).then(|| m.to_wire(&k.bootstrap)),
            |w| BootstrapRecord::parse_and_verify(w, &spk, expected, now),
        );
    }

    let old = k.old.public();
    for (pin, subject) in [(Some(&old), Some(ROTATION_SUBJECT)), (None, None)] {
        let r = RotationRecord::parse_and_verify(value, pin, subject, now);
        if r.is_ok() {
            ok("rotation", RecordKind::Rotation);
        }
        resign(
            r,
            |m| {
                (m.old_spk == old && m.new_spk == k.new.public()).then(|| m.to_wire(&k.old, &k.new))
            },
            |w| RotationRecord::parse_and_verify(w, pin, subject, now),
        );
    }

    let revoked = k.revoked.public();
    for (pin, subject, max_age) in [
        (
            Some(&revoked),
            Some(REVOCATION_SUBJECT),
            Some(REVOCATION_MAX_AGE),
        ),
        (None, None, None),
    ] {
        let r = RevocationRecord::parse_and_verify(value, pin, subject, max_age, now);
        if r.is_ok() {
            ok("revocation", RecordKind::Revocation);
        }
        resign(
            r,
            |m| (m.revoked_spk == revoked).then(|| m.to_wire(&k.revoked)),
            |w| RevocationRecord::parse_and_verify(w, pin, subject, max_age, now),
        );
    }

    for skew in [None, Some(NARROW_SKEW), Some(u64::MAX)] {
        let parse = |w: &str| match skew {
            Some(s) => ClaimRecord::parse_and_verify_with_skew(w, now, s),
            None => ClaimRecord::parse_and_verify(w, now),
        };
        let r = parse(value);
        if r.is_ok() {
            ok("claim", RecordKind::Claim);
        }
        resign(
            r,
            |m| (m.sender_spk == k.claim.public()).then(|| m.to_wire(&k.claim)),
            parse,
        );

        let parse = |w: &str| match skew {
            Some(s) => HeartbeatRecord::parse_and_verify_with_skew(w, s, now),
            None => HeartbeatRecord::parse_and_verify(w, now),
        };
        let r = parse(value);
        if r.is_ok() {
            ok("heartbeat", RecordKind::Heartbeat);
        }
        resign(
            r,
            |m| (m.operator_spk == k.heartbeat.public()).then(|| m.to_wire(&k.heartbeat)),
            parse,
        );
    }
    if chunk_ok {
        acc.0.insert(0, "chunk");
    }
    acc
}

/// If `parsed` is a record we can sign (`sign` gives `Some`) and the sign
/// side accepts it, its new wire must verify, and re-signing the result
/// must give the same wire.
fn resign<R: Debug>(
    parsed: Result<R>,
    sign: impl Fn(&R) -> Option<Result<String>>,
    parse: impl Fn(&str) -> Result<R>,
) {
    let Ok(record) = parsed else { return };
    let Some(Ok(w2)) = sign(&record) else { return };
    let again = match parse(&w2) {
        Ok(r) => r,
        Err(e) => panic!("re-signed {record:?} does not verify: {e:?}\nwire: {w2}"),
    };
    match sign(&again) {
        Some(Ok(w3)) => assert_eq!(w3, w2, "re-signing is not a fixpoint for {again:?}"),
        other => panic!("re-parsed {again:?} cannot be re-signed: {other:?}"),
    }
}

/// `RecordKind::of`, base64 and TXT splitting.
fn wire_helpers(raw: &[u8], value: &str) {
    if let Some(kind) = RecordKind::of(value) {
        assert!(value.starts_with(kind.prefix()));
        assert_eq!(
            wire::strip_prefix(value, kind.prefix()).ok(),
            value.get(kind.prefix().len()..)
        );
    }

    let strict = b64_decode_strict(value);
    let lenient = b64_decode_lenient(value);
    if let Ok(s) = &strict {
        assert_eq!(
            lenient.as_ref(),
            Ok(s),
            "strict accepts what lenient decodes otherwise"
        );
    }
    let enc = b64_encode(raw);
    assert_eq!(
        b64_decode_strict(&enc).as_deref(),
        Ok(raw),
        "strict ∘ encode"
    );
    assert_eq!(
        b64_decode_lenient(&enc).as_deref(),
        Ok(raw),
        "lenient ∘ encode"
    );

    let parts = wire::split_txt(value);
    assert!(!parts.is_empty());
    for p in &parts {
        assert!(p.len() <= TXT_STRING_MAX, "TXT string longer than 255");
        assert!(value.is_empty() || !p.is_empty(), "empty TXT string");
    }
    assert_eq!(parts.concat(), value);
    assert_eq!(wire::join_txt(&parts), value, "join_txt ∘ split_txt");
    // join_txt over raw (possibly invalid UTF-8) strings equals the lossy
    // conversion of their concatenation.
    let halves: [&[u8]; 2] = [&raw[..raw.len() / 2], &raw[raw.len() / 2..]];
    assert_eq!(wire::join_txt(&halves), value);
}
