//! Identity publish and fetch (PROTOCOL.md §7.4), and the identity lookups
//! the send path (recipient versions, §4.4) and the receive path (verified
//! DMPv2 sender label) make over pre-fetched TXT answers.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::proto::{self, IdentityRecord};
use super::{Publish, TxtAnswers};
use crate::crypto::{Keypair, hex, sha256_parts};
use crate::error::{Error, Result};

/// DNS TTL the reference CLI publishes identity records with.
pub const DEFAULT_IDENTITY_TTL: u32 = 86_400;

/// Sign an identity record (`ts = now`) and say where to publish it:
/// `dmp.<identity_domain>` when the user has a zone of their own, otherwise
/// `id-<h16(username)>.<domain>`. `versions` is `[1]` by default, `[1, 2]`
/// to advertise the DMPv2 envelope.
pub fn identity_publish(
    keypair: &Keypair,
    username: &str,
    domain: &str,
    identity_domain: Option<&str>,
    versions: &[u8],
    ttl: u32,
    now: u64,
) -> Result<Publish> {
    let value = proto::identity_wire(keypair, username, versions, now)?;
    let name = match identity_domain.filter(|d| !d.is_empty()) {
        Some(zone) => proto::identity_zone_name(zone),
        None => proto::identity_hashed_name(username, domain),
    };
    Ok(Publish { name, value, ttl })
}

/// What to look up to fetch someone's identity, from an address typed by
/// the user (`alice@example.com`, or a bare `alice` on `default_domain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityQuery {
    /// The username half (trimmed).
    pub user: String,
    /// The zone the record lives under (host, or `default_domain`).
    pub host: String,
    /// True for the `user@host` form, whose record must carry `user`.
    pub address_form: bool,
    /// Names in priority order: the first one with any values is used.
    pub names: Vec<String>,
}

/// The names to query for `address` (§7.4): `dmp.<host>` then
/// `id-<h16(user)>.<host>` for `user@host`; `id-<h16(user)>.<default_domain>`
/// for a bare username. Query all of them at once, then call
/// [`select_identity`].
pub fn identity_fetch_names(address: &str, default_domain: &str) -> Result<IdentityQuery> {
    if let Some((user, host)) = address.split_once('@') {
        let user = user.trim();
        let host = host.trim().trim_end_matches('.');
        if user.is_empty() || host.is_empty() {
            return Err(Error::Invalid("identity address must be user@host"));
        }
        Ok(IdentityQuery {
            user: user.into(),
            host: host.into(),
            address_form: true,
            names: alloc::vec![
                proto::identity_zone_name(host),
                proto::identity_hashed_name(user, host),
            ],
        })
    } else {
        if address.is_empty() || default_domain.is_empty() {
            return Err(Error::Invalid("identity address is empty"));
        }
        Ok(IdentityQuery {
            user: address.into(),
            host: default_domain.trim_end_matches('.').into(),
            address_form: false,
            names: alloc::vec![proto::identity_hashed_name(address, default_domain)],
        })
    }
}

/// One verified identity record offered to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityCandidate {
    pub record: IdentityRecord,
    /// `hex(SHA256(x25519_pk ‖ ed25519_spk))[:16]`, the reference's
    /// fingerprint for out-of-band comparison.
    pub fingerprint: String,
}

impl IdentityCandidate {
    fn new(record: IdentityRecord) -> Self {
        let fingerprint = identity_fingerprint(&record.x25519_pk, &record.ed25519_spk);
        IdentityCandidate {
            record,
            fingerprint,
        }
    }
}

/// The 16-hex fingerprint over both public keys.
pub fn identity_fingerprint(x25519_pk: &[u8; 32], ed25519_spk: &[u8; 32]) -> String {
    let mut fp = hex(&sha256_parts(&[x25519_pk, ed25519_spk]));
    fp.truncate(16);
    fp
}

/// Outcome of an identity fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityChoice {
    /// Exactly one key pair verified: a TOFU pin candidate.
    Candidate {
        name: String,
        candidate: IdentityCandidate,
    },
    /// Several different key pairs verified at the same name (a squatter or
    /// an unfinished rotation): the user must pick a fingerprint verified
    /// out of band.
    Ambiguous {
        name: String,
        candidates: Vec<IdentityCandidate>,
    },
    /// No name had any value.
    NotFound,
    /// Values were found at `name` but none verified as an identity record.
    NoneVerified { name: String },
}

impl IdentityChoice {
    /// Resolve an ambiguous choice with the fingerprint the user confirmed.
    pub fn pick(&self, fingerprint: &str) -> Option<&IdentityCandidate> {
        match self {
            IdentityChoice::Candidate { candidate, .. } => {
                (candidate.fingerprint.eq_ignore_ascii_case(fingerprint)).then_some(candidate)
            }
            IdentityChoice::Ambiguous { candidates, .. } => candidates
                .iter()
                .find(|c| c.fingerprint.eq_ignore_ascii_case(fingerprint)),
            _ => None,
        }
    }
}

/// Choose among the answers to [`IdentityQuery::names`] (§7.4): the first
/// name with any values is used; every value there is verified; records
/// repeating the same key pair count once. For the `user@host` form only
/// records whose username is exactly `user` are candidates; when every
/// verifying record names someone else the result is [`Error::Mismatch`].
pub fn select_identity(query: &IdentityQuery, answers: &TxtAnswers) -> Result<IdentityChoice> {
    let Some((name, values)) = query.names.iter().find_map(|n| {
        answers
            .get(n)
            .filter(|v| !v.is_empty())
            .map(|v| (n.clone(), v))
    }) else {
        return Ok(IdentityChoice::NotFound);
    };
    let mut candidates: Vec<IdentityCandidate> = Vec::new();
    let mut other_user = false;
    for value in values {
        let Ok(record) = proto::parse_identity(value) else {
            continue;
        };
        if query.address_form && record.username != query.user {
            other_user = true;
            continue;
        }
        let duplicate = candidates.iter().any(|c| {
            c.record.x25519_pk == record.x25519_pk && c.record.ed25519_spk == record.ed25519_spk
        });
        if !duplicate {
            candidates.push(IdentityCandidate::new(record));
        }
    }
    if candidates.is_empty() && other_user {
        return Err(Error::Mismatch("identity record names another user"));
    }
    Ok(match candidates.len() {
        0 => IdentityChoice::NoneVerified { name },
        1 => IdentityChoice::Candidate {
            name,
            candidate: candidates.remove(0),
        },
        _ => IdentityChoice::Ambiguous { name, candidates },
    })
}

/// Names tried when resolving `user@host` for versions or a sender label:
/// the zone-anchored name first, then the hashed name for `user` and for
/// each extra spelling (the reference hashes the original-case username
/// too, since the hashed name is case-sensitive).
pub(crate) fn lookup_names(user: &str, host: &str, variants: &[&str]) -> Vec<String> {
    let mut names = alloc::vec![proto::identity_zone_name(host)];
    let mut spellings: Vec<&str> = Vec::new();
    for v in core::iter::once(user).chain(variants.iter().copied()) {
        if !v.is_empty() && !spellings.contains(&v) {
            spellings.push(v);
            names.push(proto::identity_hashed_name(v, host));
        }
    }
    names
}

/// The reference's identity lookup over answers: walk the names in order
/// and every value; keep records that verify and whose username lowercases
/// to `user`; return the first whose key equals an expected key, else the
/// first username match.
pub(crate) fn lookup_record(
    names: &[String],
    answers: &TxtAnswers,
    user: &str,
    expected_spk: Option<&[u8; 32]>,
    expected_x25519: Option<&[u8; 32]>,
) -> Option<IdentityRecord> {
    let mut first: Option<IdentityRecord> = None;
    for name in names {
        let Some(values) = answers.get(name) else {
            continue;
        };
        for value in values {
            let Ok(record) = proto::parse_identity(value) else {
                continue;
            };
            if record.username.to_lowercase() != user {
                continue;
            }
            if expected_spk.is_some_and(|k| *k == record.ed25519_spk)
                || expected_x25519.is_some_and(|k| *k == record.x25519_pk)
            {
                return Some(record);
            }
            if first.is_none() {
                first = Some(record);
            }
        }
    }
    first
}

/// Split a canonical `user@host` (as produced by the envelope
/// canonicalizer) into its halves.
pub(crate) fn split_canonical(addr: &str) -> Option<(String, String)> {
    addr.split_once('@')
        .map(|(u, h)| (u.to_string(), h.to_string()))
}
