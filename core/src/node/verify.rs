//! Record checks before a value is stored from an untrusted source
//! (REFERENCE-NODE.md §6; the reference applies them to every record pulled
//! by anti-entropy, and to unsigned claim UPDATEs via
//! [`super::authz::accept_unsigned_claim`]; its HTTP publish path stores
//! values unverified).

use crate::records::chunk::unwrap_block;
use crate::records::claim::ClaimRecord;
use crate::records::cluster::ClusterManifest;
use crate::records::identity::IdentityRecord;
use crate::records::manifest::SlotManifest;
use crate::records::revocation::RevocationRecord;
use crate::records::rotation::RotationRecord;
use crate::wire::{
    PREFIX_BOOTSTRAP, PREFIX_CHUNK, PREFIX_CLAIM, PREFIX_CLUSTER, PREFIX_IDENTITY, PREFIX_MANIFEST,
    PREFIX_PREKEY, PREFIX_REVOCATION, PREFIX_ROTATION, RecordKind, b64_decode_strict,
};

/// What an accepted value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// A DMP record of this type (fully verified where the signer is
    /// self-identifying, structurally checked otherwise).
    Dmp(RecordKind),
    /// Not a DMP record (`v=spf1 …`, DKIM, …) at a non-DMP owner name.
    Foreign,
}

/// Why a value is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Empty value.
    Empty,
    /// A DMP record that failed its parse or signature check.
    BadRecord(RecordKind),
    /// `v=dmp…` of a type this node does not replicate (including
    /// heartbeats, which the reference never syncs).
    UnknownDmp,
    /// Non-DMP text at an owner DMP records use (mailbox alias attack).
    ForeignAtDmpName,
}

/// Whether `name` is an owner DMP records publish under (so non-DMP text
/// must not appear there).
pub fn is_dmp_reserved_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let first = n.split('.').next().unwrap_or("");
    let second = n.split('.').nth(1);
    let has_dot = n.contains('.');
    let hexish =
        |s: &str| !s.is_empty() && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let mb_second = || {
        second
            .and_then(|s| s.strip_prefix("mb-"))
            .is_some_and(hexish)
            && n.split('.').count() > 2
    };
    n.starts_with("_dnsmesh-")
        || (has_dot && matches!(first, "cluster" | "_dmp" | "dmp" | "rotate"))
        || (has_dot && first.strip_prefix("mb-").is_some_and(hexish))
        || (has_dot && first.strip_prefix("id-").is_some_and(hexish))
        || (first == "prekeys"
            && second
                .and_then(|s| s.strip_prefix("id-"))
                .is_some_and(hexish)
            && n.split('.').count() > 2)
        || (first.strip_prefix("slot-").is_some_and(digits) && mb_second())
        || (first.strip_prefix("claim-").is_some_and(digits) && mb_second())
        || (has_dot
            && first
                .strip_prefix("chunk-")
                .and_then(|t| t.split_once('-'))
                .is_some_and(|(a, b)| digits(a) && hexish(b)))
}

/// Base64 of the payload after `prefix` decodes strictly to at least a
/// signature plus one byte: all a node can check without the signer's key.
fn structural(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .and_then(|p| b64_decode_strict(p).ok())
        .is_some_and(|b| b.len() >= 65)
}

/// Decide whether `value` may be stored at `name` (the reference's
/// anti-entropy rules): manifests, identities, claims, rotations and
/// revocations must verify; cluster manifests verify against the pinned
/// operator key when there is one, else structurally, like prekeys and
/// bootstraps; chunks must carry a valid wrapped block; other `v=dmp` text
/// is refused; non-DMP text is allowed except at DMP owner names (pass an
/// empty `name` to skip that check).
pub fn verify_for_store(
    name: &str,
    value: &str,
    now: u64,
    cluster_operator_spk: Option<&[u8; 32]>,
) -> Result<StoreKind, Reject> {
    if value.is_empty() {
        return Err(Reject::Empty);
    }
    let check = |kind: RecordKind, ok: bool| {
        if ok {
            Ok(StoreKind::Dmp(kind))
        } else {
            Err(Reject::BadRecord(kind))
        }
    };
    if value.starts_with(PREFIX_MANIFEST) {
        return check(
            RecordKind::Manifest,
            SlotManifest::parse_and_verify(value, now).is_ok(),
        );
    }
    if value.starts_with(PREFIX_IDENTITY) {
        return check(
            RecordKind::Identity,
            IdentityRecord::parse_and_verify(value).is_ok(),
        );
    }
    if value.starts_with(PREFIX_PREKEY) {
        return check(RecordKind::Prekey, structural(value, PREFIX_PREKEY));
    }
    if value.starts_with(PREFIX_CLUSTER) {
        let ok = match cluster_operator_spk {
            Some(spk) => ClusterManifest::parse_and_verify(value, spk, None, now).is_ok(),
            None => structural(value, PREFIX_CLUSTER),
        };
        return check(RecordKind::Cluster, ok);
    }
    if value.starts_with(PREFIX_BOOTSTRAP) {
        return check(RecordKind::Bootstrap, structural(value, PREFIX_BOOTSTRAP));
    }
    if let Some(payload) = value.strip_prefix(PREFIX_CHUNK) {
        let ok = b64_decode_strict(payload)
            .ok()
            .is_some_and(|raw| unwrap_block(&raw).is_ok());
        return check(RecordKind::Chunk, ok);
    }
    if value.starts_with(PREFIX_CLAIM) {
        return check(
            RecordKind::Claim,
            ClaimRecord::parse_and_verify(value, now).is_ok(),
        );
    }
    if value.starts_with(PREFIX_ROTATION) {
        return check(
            RecordKind::Rotation,
            RotationRecord::parse_and_verify(value, None, None, now).is_ok(),
        );
    }
    if value.starts_with(PREFIX_REVOCATION) {
        return check(
            RecordKind::Revocation,
            RevocationRecord::parse_and_verify(value, None, None, None, now).is_ok(),
        );
    }
    if value.starts_with("v=dmp") {
        return Err(Reject::UnknownDmp);
    }
    if !name.is_empty() && is_dmp_reserved_name(name) {
        return Err(Reject::ForeignAtDmpName);
    }
    Ok(StoreKind::Foreign)
}
