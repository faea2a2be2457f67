//! DNS UPDATE (RFC 2136) parsing with TSIG (RFC 8945) verification.
//!
//! The parser returns typed operations; authorization (key scopes, claim
//! rules), caps and storage belong to the node. Deliberate differences from
//! the reference (REFERENCE-NODE.md §4.4, §13.1): owners are lower-cased
//! (R5); TSIG failures get the RFC 8945 error response (NOTAUTH carrying a
//! TSIG RR with BADKEY/BADSIG, or a signed BADTIME) instead of a bare
//! header; prerequisites are REFUSED instead of silently ignored; adds of
//! non-TXT types are REFUSED instead of silently ignored.

use alloc::string::String;
use alloc::vec::Vec;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::answer::stub_response;
use super::raw::{HEADER_LEN, find_tsig, u16_at};
use super::tsig::{ParsedTsig, append_tsig, check, name_wire, parse_tsig};
use super::{TSIG_FUDGE, TsigError, TsigKey, TsigKeys, in_zone, normalize_name, rcode};

/// One operation of the update section, in message order. Names are in key
/// form (lower case, no trailing dot); values are the joined TXT strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOp {
    /// Class IN: add one TXT value (TTL as sent; 0 is the node's to map).
    Add {
        name: String,
        value: String,
        ttl: u32,
    },
    /// Class NONE: delete one TXT value.
    DeleteValue { name: String, value: String },
    /// Class ANY, type TXT: delete the TXT RRset.
    DeleteRrset { name: String },
    /// Class ANY, type ANY: delete every RRset at the name.
    DeleteName { name: String },
}

/// A parsed, TSIG-verified (or unsigned) UPDATE.
#[derive(Clone, Debug)]
pub struct UpdateRequest {
    pub id: u16,
    /// The zone section, in key form; one of the served zones.
    pub zone: String,
    pub ops: Vec<UpdateOp>,
    /// The key that signed the request; `None` for an unsigned request.
    pub key: Option<TsigKey>,
    zone_name: Name,
    request_mac: Vec<u8>,
}

/// The outcome of [`parse_update`].
#[derive(Clone, Debug)]
pub enum UpdateParse {
    /// Not answerable: shorter than a header, or a response.
    Drop,
    /// A complete error response to send as is (signed when the request's
    /// TSIG verified).
    Reply(Vec<u8>),
    /// A well-formed UPDATE for the node to authorize and apply; answer it
    /// with [`UpdateRequest::respond`].
    Request(UpdateRequest),
}

impl UpdateRequest {
    /// The response with rcode `rc` and the zone section echoed, TSIG-signed
    /// with the request's key and its MAC chained (RFC 8945 §5.3) when the
    /// request was signed.
    pub fn respond(&self, rc: u8, now: u64) -> Vec<u8> {
        respond_with(
            self.id,
            Some(&self.zone_name),
            rc,
            self.key.as_ref().map(|k| (k, self.request_mac.as_slice())),
            now,
        )
    }
}

fn respond_with(
    id: u16,
    zone: Option<&Name>,
    rc: u8,
    signer: Option<(&TsigKey, &[u8])>,
    now: u64,
) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Update);
    m.metadata.response_code = ResponseCode::from_low(rc);
    if let Some(z) = zone {
        m.add_query(hickory_proto::op::Query::query(z.clone(), RecordType::SOA));
    }
    let mut wire = m.to_vec().unwrap_or_else(|_| header_only(id, rc));
    if let Some((key, mac)) = signer
        && let Some(kw) = name_wire(&key.name)
    {
        let _ = append_tsig(
            &mut wire,
            &kw,
            Some(&key.secret),
            Some(mac),
            now,
            TSIG_FUDGE,
            0,
            &[],
        );
    }
    wire
}

fn header_only(id: u16, rc: u8) -> Vec<u8> {
    let mut out = alloc::vec![0u8; HEADER_LEN];
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out[2] = 0x80 | (5 << 3);
    out[3] = rc & 0x0F;
    out
}

/// The RFC 8945 §5.3.2 error response for a TSIG that failed: NOTAUTH with
/// a TSIG RR carrying the error; unsigned (empty MAC) except for BADTIME,
/// which is signed and carries our time in Other Data.
fn tsig_error_reply(
    packet: &[u8],
    t: &ParsedTsig,
    err: TsigError,
    secret: Option<&[u8]>,
    now: u64,
) -> Vec<u8> {
    let Some(mut wire) = stub_response(packet, rcode::NOTAUTH) else {
        return Vec::new();
    };
    let key_wire = t.key_name.canonical_wire();
    let (secret, prior, other) = match (err, secret) {
        (TsigError::BadTime, Some(s)) => {
            let mut o = Vec::new();
            o.extend_from_slice(&((now >> 32) as u16).to_be_bytes());
            o.extend_from_slice(&(now as u32).to_be_bytes());
            (Some(s), Some(t.mac.as_slice()), o)
        }
        _ => (None, None, Vec::new()),
    };
    let _ = append_tsig(
        &mut wire, &key_wire, secret, prior, now, t.fudge, err as u16, &other,
    );
    wire
}

/// Parses and verifies an UPDATE packet. `zones` are the served zones (any
/// case); `keys` resolves TSIG key names; `now` is Unix seconds. The rcodes:
/// FORMERR (malformed), NOTAUTH (TSIG failure or a zone we do not serve),
/// NOTZONE (an owner outside the zone), REFUSED (prerequisites, non-TXT
/// adds), NOTIMP (not an UPDATE).
pub fn parse_update(packet: &[u8], zones: &[&str], keys: &dyn TsigKeys, now: u64) -> UpdateParse {
    if packet.len() < HEADER_LEN || packet.get(2).is_some_and(|b| b & 0x80 != 0) {
        return UpdateParse::Drop;
    }
    let reply = |rc| match stub_response(packet, rc) {
        Some(w) => UpdateParse::Reply(w),
        None => UpdateParse::Drop,
    };
    if !super::answer::is_update(packet) {
        return reply(rcode::NOTIMP);
    }
    let Some(tsig_at) = find_tsig(packet) else {
        return reply(rcode::FORMERR);
    };
    let id = u16_at(packet, 0).unwrap_or(0);
    let mut key = None;
    let mut request_mac = Vec::new();
    let body = match tsig_at {
        None => packet.to_vec(),
        Some(start) => {
            let Some(t) = parse_tsig(packet, start) else {
                return reply(rcode::FORMERR);
            };
            let Some(kname) = t.key_name.key() else {
                return UpdateParse::Reply(tsig_error_reply(
                    packet,
                    &t,
                    TsigError::BadKey,
                    None,
                    now,
                ));
            };
            let Some(secret) = keys.secret(&kname) else {
                return UpdateParse::Reply(tsig_error_reply(
                    packet,
                    &t,
                    TsigError::BadKey,
                    None,
                    now,
                ));
            };
            match check(packet, &t, &secret, None, now) {
                Ok(()) => {}
                Err(TsigError::Malformed) => return reply(rcode::FORMERR),
                Err(e) => {
                    return UpdateParse::Reply(tsig_error_reply(packet, &t, e, Some(&secret), now));
                }
            }
            request_mac = t.mac.clone();
            key = Some(TsigKey {
                name: kname,
                secret,
            });
            let mut b = packet.get(..start).unwrap_or_default().to_vec();
            if let Some(ar) = u16_at(&b, 10).and_then(|a| a.checked_sub(1)) {
                b[10..12].copy_from_slice(&ar.to_be_bytes());
            }
            b
        }
    };
    // From here on, every reply is signed when the request was.
    let signed = |rc, zone: Option<&Name>| {
        UpdateParse::Reply(respond_with(
            id,
            zone,
            rc,
            key.as_ref().map(|k| (k, request_mac.as_slice())),
            now,
        ))
    };
    let Ok(msg) = Message::from_vec(&body) else {
        return signed(rcode::FORMERR, None);
    };
    let [zq] = msg.queries.as_slice() else {
        return signed(rcode::FORMERR, None);
    };
    let zone_name = zq.name().clone();
    if zq.query_type() != RecordType::SOA {
        return signed(rcode::FORMERR, Some(&zone_name));
    }
    let zone = match name_key(&zone_name) {
        Some(z) if zones.iter().any(|s| normalize_name(s) == z) => z,
        _ => return signed(rcode::NOTAUTH, Some(&zone_name)),
    };
    if !msg.answers.is_empty() {
        return signed(rcode::REFUSED, Some(&zone_name));
    }
    let mut ops = Vec::new();
    for rr in &msg.authorities {
        let Some(owner) = name_key(&rr.name) else {
            return signed(rcode::FORMERR, Some(&zone_name));
        };
        if !in_zone(&owner, &zone) {
            return signed(rcode::NOTZONE, Some(&zone_name));
        }
        let op = match (rr.dns_class, &rr.data) {
            (DNSClass::IN, RData::TXT(t)) => match joined(&t.txt_data) {
                Some(value) => Some(UpdateOp::Add {
                    name: owner,
                    value,
                    ttl: rr.ttl,
                }),
                None => return signed(rcode::FORMERR, Some(&zone_name)),
            },
            (DNSClass::IN, _) => return signed(rcode::REFUSED, Some(&zone_name)),
            (DNSClass::NONE, RData::TXT(t)) if rr.ttl == 0 => match joined(&t.txt_data) {
                Some(value) => Some(UpdateOp::DeleteValue { name: owner, value }),
                None => return signed(rcode::FORMERR, Some(&zone_name)),
            },
            (DNSClass::NONE, RData::Update0(_)) => return signed(rcode::FORMERR, Some(&zone_name)),
            // Deleting a value of a type we never hold is a no-op.
            (DNSClass::NONE, _) if rr.ttl == 0 => None,
            (DNSClass::ANY, RData::Update0(t)) if rr.ttl == 0 => match *t {
                RecordType::TXT => Some(UpdateOp::DeleteRrset { name: owner }),
                RecordType::ANY => Some(UpdateOp::DeleteName { name: owner }),
                _ => None,
            },
            _ => return signed(rcode::FORMERR, Some(&zone_name)),
        };
        ops.extend(op);
    }
    UpdateParse::Request(UpdateRequest {
        id,
        zone,
        ops,
        key,
        zone_name,
        request_mac,
    })
}

/// Joins the character-strings of one TXT RR; `None` unless strict UTF-8.
fn joined(strings: &[alloc::boxed::Box<[u8]>]) -> Option<String> {
    let mut bytes = Vec::new();
    for s in strings {
        bytes.extend_from_slice(s);
    }
    String::from_utf8(bytes).ok()
}

fn name_key(name: &Name) -> Option<String> {
    super::raw::RawName {
        labels: name.iter().map(|l| l.to_vec()).collect(),
        end: 0,
    }
    .key()
}

/// How a node authorizes a parsed UPDATE (REFERENCE-NODE.md §4.4 steps
/// 4–6). The node supplies the state: stored value counts, the signing
/// key's scope and the claim buckets.
pub struct UpdatePolicy<'a> {
    /// `DMP_MAX_TTL`, `DMP_MAX_VALUE_BYTES`, `DMP_MAX_VALUES_PER_NAME`.
    pub limits: &'a crate::node::publish::Limits,
    /// Unsigned claim acceptance; `None` refuses every unsigned UPDATE.
    pub claims: Option<crate::node::authz::ClaimPolicy<'a>>,
}

/// Decides a parsed UPDATE. `scope` is the signing key's allowed suffixes
/// (`None`: the request was unsigned); `stored_count` is the number of
/// live values at a name; `spend_claim` spends one unit of a recipient's
/// bucket (false when empty). Returns the operations to apply, all or
/// nothing, with TTLs mapped (0 → the reference's 60, claims clamped), or
/// the rcode: REFUSED for a cap, a scope miss or a bad claim, SERVFAIL
/// for an exhausted claim bucket.
pub fn authorize_update(
    ops: &[UpdateOp],
    scope: Option<&[String]>,
    policy: &UpdatePolicy<'_>,
    mut stored_count: impl FnMut(&str) -> usize,
    mut spend_claim: impl FnMut(&str) -> bool,
    now: u64,
) -> Result<Vec<UpdateOp>, u8> {
    use crate::node::authz::{Op, accept_unsigned_claim, tsig_allows};
    use crate::node::publish::check_update_add;
    use alloc::collections::BTreeMap;

    // Caps on adds first, whoever signed (the reference's order).
    let mut running: BTreeMap<&str, usize> = BTreeMap::new();
    let mut planned = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            UpdateOp::Add { name, value, ttl } => {
                let count = running
                    .entry(name.as_str())
                    .or_insert_with(|| stored_count(name));
                *count += 1;
                let ttl =
                    check_update_add(value, *ttl, *count, policy.limits).map_err(|rc| rc.code())?;
                planned.push(UpdateOp::Add {
                    name: name.clone(),
                    value: value.clone(),
                    ttl,
                });
            }
            other => planned.push(other.clone()),
        }
    }
    let op_kind = |op: &UpdateOp| match op {
        UpdateOp::Add { .. } => Op::Publish,
        _ => Op::Delete,
    };
    let name_of = |op: &UpdateOp| match op {
        UpdateOp::Add { name, .. }
        | UpdateOp::DeleteValue { name, .. }
        | UpdateOp::DeleteRrset { name }
        | UpdateOp::DeleteName { name } => name.clone(),
    };
    match scope {
        Some(suffixes) => {
            if planned
                .iter()
                .all(|op| tsig_allows(suffixes, &name_of(op), op_kind(op)))
            {
                Ok(planned)
            } else {
                Err(rcode::REFUSED)
            }
        }
        None => {
            let claims = policy.claims.as_ref().ok_or(rcode::REFUSED)?;
            if planned.is_empty() {
                return Err(rcode::REFUSED);
            }
            // Caps passed; the claim rule maps the TTL as sent (0 and clamp).
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                let UpdateOp::Add { name, value, ttl } = op else {
                    return Err(rcode::REFUSED);
                };
                let accepted = accept_unsigned_claim(claims, Op::Publish, name, value, *ttl, now)
                    .map_err(|rc| rc.code())?;
                if !spend_claim(&accepted.hash12) {
                    return Err(rcode::SERVFAIL);
                }
                out.push(UpdateOp::Add {
                    name: name.clone(),
                    value: value.clone(),
                    ttl: u32::try_from(accepted.ttl).unwrap_or(u32::MAX),
                });
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::authz::ClaimPolicy;
    use crate::node::publish::Limits;
    use alloc::string::ToString;
    use alloc::vec;

    const NOW: u64 = 1_800_000_000;

    fn add(name: &str, value: &str, ttl: u32) -> UpdateOp {
        UpdateOp::Add {
            name: name.into(),
            value: value.into(),
            ttl,
        }
    }

    fn scope() -> Vec<String> {
        vec![
            "id-abc.mesh.test".to_string(),
            "slot-*.mb-*.mesh.test".to_string(),
        ]
    }

    fn run(
        ops: &[UpdateOp],
        signed: bool,
        claims: bool,
        stored: usize,
    ) -> Result<Vec<UpdateOp>, u8> {
        let limits = Limits {
            max_ttl: 86_400,
            max_value_bytes: 2048,
            max_values_per_name: 3,
        };
        let policy = UpdatePolicy {
            limits: &limits,
            claims: claims.then_some(ClaimPolicy {
                zone: "mesh.test",
                max_ttl: 86_400,
                registered: None,
            }),
        };
        let s = scope();
        authorize_update(
            ops,
            signed.then_some(s.as_slice()),
            &policy,
            |_| stored,
            |_| true,
            NOW,
        )
    }

    #[test]
    fn signed_updates_follow_caps_then_scope() {
        let ok = run(&[add("id-abc.mesh.test", "v", 0)], true, false, 0).unwrap();
        assert_eq!(
            ok,
            vec![add("id-abc.mesh.test", "v", 60)],
            "TTL 0 becomes 60"
        );
        assert_eq!(
            run(&[add("id-abd.mesh.test", "v", 60)], true, false, 0),
            Err(rcode::REFUSED)
        );
        let big = "v".repeat(2049);
        assert_eq!(
            run(&[add("id-abc.mesh.test", &big, 60)], true, false, 0),
            Err(rcode::REFUSED)
        );
        assert_eq!(
            run(&[add("id-abc.mesh.test", "v", 86_401)], true, false, 0),
            Err(rcode::REFUSED)
        );
        // The per-name cap counts stored values plus this message's adds.
        let two = [
            add("id-abc.mesh.test", "a", 60),
            add("id-abc.mesh.test", "b", 60),
        ];
        assert!(run(&two, true, false, 1).is_ok());
        assert_eq!(run(&two, true, false, 2), Err(rcode::REFUSED));
        // One bad operation refuses the whole message.
        let mixed = [
            add("id-abc.mesh.test", "a", 60),
            add("other.mesh.test", "b", 60),
        ];
        assert_eq!(run(&mixed, true, false, 0), Err(rcode::REFUSED));
        // Deletes only through literal suffixes.
        let del = |n: &str| UpdateOp::DeleteRrset { name: n.into() };
        assert!(run(&[del("id-abc.mesh.test")], true, false, 0).is_ok());
        assert_eq!(
            run(&[del("slot-1.mb-abc.mesh.test")], true, false, 0),
            Err(rcode::REFUSED)
        );
        assert!(run(&[add("slot-1.mb-abc.mesh.test", "c", 60)], true, false, 0).is_ok());
    }

    #[test]
    fn unsigned_updates_need_verified_claims() {
        let owner = "claim-1.mb-0123456789ab.mesh.test";
        assert_eq!(
            run(&[add(owner, "v=x", 60)], false, false, 0),
            Err(rcode::REFUSED)
        );
        assert_eq!(
            run(&[add(owner, "v=x", 60)], false, true, 0),
            Err(rcode::REFUSED)
        );
        assert_eq!(run(&[], false, true, 0), Err(rcode::REFUSED));
        let signer = crate::crypto::Signer25519::from_seed(&[3; 32]);
        let wire = crate::records::claim::ClaimRecord {
            msg_id: [1; 16],
            sender_spk: signer.public(),
            sender_mailbox_domain: "s.test".into(),
            slot: 1,
            ts: NOW,
            exp: NOW + 600,
        }
        .to_wire(&signer)
        .unwrap();
        let got = run(&[add(owner, &wire, 0)], false, true, 0).unwrap();
        assert_eq!(got, vec![add(owner, &wire, 60)]);
        // An exhausted recipient bucket is SERVFAIL.
        let limits = Limits::default();
        let policy = UpdatePolicy {
            limits: &limits,
            claims: Some(ClaimPolicy {
                zone: "mesh.test",
                max_ttl: 86_400,
                registered: None,
            }),
        };
        let r = authorize_update(
            &[add(owner, &wire, 60)],
            None,
            &policy,
            |_| 0,
            |_| false,
            NOW,
        );
        assert_eq!(r, Err(rcode::SERVFAIL));
    }
}
