//! Sending (PROTOCOL.md §7.1) as two pure steps: [`send_queries`] names the
//! TXT RRsets to look up, [`build_message`] turns their answers plus the
//! message into the records to publish. The front end does all I/O.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use super::identity::{lookup_names, lookup_record, split_canonical};
use super::proto;
use super::state::Contact;
use super::{Publish, TxtAnswers};
use crate::crypto::{self, Keypair};
use crate::envelope::encode_v2;
use crate::error::{Error, Result};
use crate::fec;
use crate::message::{MessageHeader, frame_outer};

/// Everything [`build_message`] needs. `answers` holds the values found at
/// the names [`send_queries`] returned (a missing or empty entry means no
/// data); `claim_providers` are the M8 provider zones chosen by the caller.
#[derive(Clone, Copy, Debug)]
pub struct SendInput<'a> {
    pub keypair: &'a Keypair,
    /// Own username and mailbox zone (chunks and manifest go there).
    pub username: &'a str,
    pub domain: &'a str,
    /// Zone where the sender's identity is published (`dmp.<zone>`), if
    /// any; it decides the DMPv2 `from` address.
    pub identity_domain: Option<&'a str>,
    pub contact: &'a Contact,
    pub answers: &'a TxtAnswers,
    /// The message body (UTF-8 text in the reference).
    pub message: &'a [u8],
    /// Record lifetime in seconds; [`super::DEFAULT_TTL_SECONDS`] normally.
    pub ttl: u32,
    pub now: u64,
    pub claim_providers: &'a [String],
}

/// The records of one message and what was chosen while building them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// In publish order: chunks, then the manifest, then claims. A failed
    /// chunk or manifest publish should abort the send; claim publishes are
    /// best-effort.
    pub publishes: Vec<Publish>,
    /// Index in `publishes` of the first claim record.
    pub claims_start: usize,
    /// Zone each claim is addressed to, aligned with
    /// `publishes[claims_start..]` (claims travel as un-TSIG'd UPDATEs to
    /// that zone's server).
    pub claim_zones: Vec<String>,
    /// Claims that could not be built (zone, reason); never fatal.
    pub skipped_claims: Vec<(String, Error)>,
    pub msg_id: [u8; 16],
    pub recipient_id: [u8; 32],
    /// 0 when the recipient's long-term key was used.
    pub prekey_id: u32,
    pub slot: u8,
    pub data_chunks: u32,
    pub total_chunks: u32,
    /// True when the plaintext was wrapped in the DMPv2 envelope.
    pub dmpv2: bool,
}

/// The names to resolve before [`build_message`]: the contact's prekey pool
/// (only when its Ed25519 key is pinned, since prekeys are verified with
/// it) and the identity names that tell whether it accepts DMPv2.
/// `own_domain` stands in for an empty contact domain.
pub fn send_queries(contact: &Contact, own_domain: &str) -> Vec<String> {
    let mut names = Vec::new();
    if contact.ed25519_spk.is_some() {
        names.push(proto::prekey_pool_name(
            &contact.username,
            contact.zone(own_domain),
        ));
    }
    if let Some((_, lookup)) = versions_lookup(contact, own_domain) {
        names.extend(lookup);
    }
    names
}

/// The canonical `user` and the identity names to query for a contact's
/// advertised versions, or None when its address does not canonicalize
/// (then only v1 is ever sent).
fn versions_lookup(contact: &Contact, own_domain: &str) -> Option<(String, Vec<String>)> {
    let raw_user = contact.bare_username();
    let addr = proto::canonicalize_address(&format!("{raw_user}@{}", contact.zone(own_domain)))?;
    let (user, host) = split_canonical(&addr)?;
    let names = lookup_names(&user, &host, &[raw_user]);
    Some((user, names))
}

/// Whether the contact's verified identity advertises version 2. The record
/// counts only if it matches the pin: the Ed25519 key when pinned, else the
/// X25519 key (§4.4); anything else means v1.
pub fn recipient_accepts_v2(contact: &Contact, own_domain: &str, answers: &TxtAnswers) -> bool {
    let Some((user, names)) = versions_lookup(contact, own_domain) else {
        return false;
    };
    let expected_x = if contact.ed25519_spk.is_none() {
        contact.x25519_pub.as_ref()
    } else {
        None
    };
    let Some(record) = lookup_record(
        &names,
        answers,
        &user,
        contact.ed25519_spk.as_ref(),
        expected_x,
    ) else {
        return false;
    };
    let pinned_match = match (&contact.ed25519_spk, &contact.x25519_pub) {
        (Some(spk), _) => record.ed25519_spk == *spk,
        (None, Some(x)) => record.x25519_pk == *x,
        (None, None) => true,
    };
    pinned_match && record.versions.contains(&2)
}

/// Choose the recipient prekey (§4.3): only with a pinned Ed25519 key;
/// among values at the pool name that verify with it and are not expired
/// (`now <= exp`), uniformly at random. None means the long-term key.
fn pick_prekey<R: CryptoRng + ?Sized>(
    input: &SendInput<'_>,
    rng: &mut R,
) -> Option<(u32, [u8; 32])> {
    let spk = input.contact.ed25519_spk.as_ref()?;
    let name = proto::prekey_pool_name(&input.contact.username, input.contact.zone(input.domain));
    let values = input.answers.get(&name)?;
    let live: Vec<(u32, [u8; 32])> = values
        .iter()
        .filter_map(|v| proto::parse_prekey(v, spk, input.now).ok())
        .filter(|p| input.now <= p.exp)
        .map(|p| (p.prekey_id, p.public_key))
        .collect();
    if live.is_empty() {
        return None;
    }
    live.get(uniform_index(rng, live.len())).copied()
}

/// Unbiased index in `0..n` (rejection sampling over `u32`).
fn uniform_index<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> usize {
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    if n32 <= 1 {
        return 0;
    }
    let zone = u32::MAX - (u32::MAX % n32);
    loop {
        let x = rng.next_u32();
        if x < zone {
            return (x % n32) as usize;
        }
    }
}

/// A random version-4 UUID, as the reference's `uuid4().bytes`.
fn uuid4<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; 16] {
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// Build every record of one message (§7.1). Fails without output when the
/// contact has no X25519 key or the message exceeds the erasure limit
/// ([`Error::MessageTooLarge`] gives the largest body that would fit).
pub fn build_message<R: CryptoRng + ?Sized>(
    input: &SendInput<'_>,
    rng: &mut R,
) -> Result<SentMessage> {
    let contact = input.contact;
    let recipient_pub = contact
        .x25519_pub
        .ok_or(Error::Invalid("contact has no X25519 key"))?;
    let recipient_id = crypto::user_id(&recipient_pub);
    let own_id = input.keypair.user_id();
    let now = input.now;
    let exp = now
        .checked_add(u64::from(input.ttl))
        .ok_or(Error::Time("message expiry overflows"))?;
    let msg_id = uuid4(rng);

    let (prekey_id, target_pub) = match pick_prekey(input, rng) {
        Some((id, public)) => (id, public),
        None => (0, recipient_pub),
    };

    let header = MessageHeader::new_data(msg_id, own_id, recipient_id, now, u64::from(input.ttl));
    let aad = header.aad(prekey_id);

    let own_host = input
        .identity_domain
        .filter(|d| !d.is_empty())
        .unwrap_or(input.domain);
    let sender_addr = if input.username.is_empty() || own_host.is_empty() {
        None
    } else {
        proto::canonicalize_address(&format!("{}@{own_host}", input.username))
    };
    let plaintext = match sender_addr {
        Some(addr) if recipient_accepts_v2(contact, input.domain, input.answers) => {
            encode_v2(input.message, Some(&addr))
        }
        _ => input.message.to_vec(),
    };
    // The wrapper is skipped (v1) when its header would exceed 256 bytes.
    let dmpv2 = plaintext.len() > input.message.len();

    // Refuse before encrypting when the erasure layer cannot carry it.
    let outer_len = proto::outer_len(&header, plaintext.len());
    if outer_len > fec::MAX_OUTER_LEN {
        let overhead = outer_len.saturating_sub(input.message.len());
        return Err(Error::MessageTooLarge {
            len: input.message.len(),
            max: fec::max_payload_len(overhead),
        });
    }

    let payload = crypto::seal(&target_pub, &plaintext, &aad, rng)?;
    let outer = frame_outer(&header, &payload);
    let (k, n, shares) = fec::encode_message(&outer)?;
    let (k, n) = (
        u32::try_from(k).map_err(|_| Error::Invalid("too many chunks"))?,
        u32::try_from(n).map_err(|_| Error::Invalid("too many chunks"))?,
    );

    let sender_spk = input.keypair.ed25519_public();
    let msg_key = proto::msg_key(&msg_id, &recipient_id, &sender_spk);
    let mut publishes = Vec::with_capacity(shares.len() + 2 + input.claim_providers.len());
    let mut chunk_hashes = Vec::with_capacity(shares.len());
    for (i, share) in shares.iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| Error::Invalid("too many chunks"))?;
        let (value, hash) = proto::chunk_value(share);
        chunk_hashes.push(hash);
        publishes.push(Publish {
            name: proto::chunk_name(index, &msg_key, input.domain),
            value,
            ttl: input.ttl,
        });
    }

    let slot = proto::slot_for_msg_id(&msg_id);
    let manifest = proto::SlotManifest {
        msg_id,
        sender_spk,
        recipient_id,
        total_chunks: n,
        data_chunks: k,
        prekey_id,
        ts: now,
        exp,
        chunk_hashes,
    };
    publishes.push(Publish {
        name: proto::slot_name(&recipient_id, slot, input.domain),
        value: manifest.to_wire(input.keypair.signer())?,
        ttl: input.ttl,
    });

    // M8 provider claims, then the M10 claim in the recipient's own zone.
    let claims_start = publishes.len();
    let mut claim_zones = Vec::new();
    let mut skipped_claims = Vec::new();
    let m10 = (contact.domain_explicit && !contact.domain.is_empty()).then_some(&contact.domain);
    let claim = proto::claim_wire(&msg_id, input.keypair, input.domain, slot, now, exp);
    for zone in input.claim_providers.iter().chain(m10) {
        let built = claim
            .clone()
            .and_then(|value| Ok((proto::claim_name(&recipient_id, slot, zone)?, value)));
        match built {
            Ok((name, value)) => {
                publishes.push(Publish {
                    name,
                    value,
                    ttl: input.ttl,
                });
                claim_zones.push(zone.clone());
            }
            Err(e) => skipped_claims.push((zone.clone(), e)),
        }
    }

    Ok(SentMessage {
        publishes,
        claims_start,
        claim_zones,
        skipped_claims,
        msg_id,
        recipient_id,
        prekey_id,
        slot,
        data_chunks: k,
        total_chunks: n,
        dmpv2,
    })
}
