//! Client side of the DNS paths: TXT queries, response parsing, and signed
//! UPDATEs whose long values are split into 255-byte character-strings
//! (the reference CLI's R1 bug: it cannot send values over 255 bytes).

use alloc::string::String;
use alloc::vec::Vec;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::raw::{HEADER_LEN, find_tsig, u16_at};
use super::tsig::{append_tsig, check, name_wire, parse_tsig};
use super::{TSIG_FUDGE, TsigError, TsigKey, UpdateOp};
use crate::error::{Error, Result};
use crate::wire::{join_txt, split_txt};

fn fqdn(name: &str) -> Result<Name> {
    let mut n = Name::from_ascii(name).map_err(|_| Error::Invalid("DNS name"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// A TXT query for `name`. `edns_payload` adds an OPT RR advertising that
/// size; `rd` sets Recursion Desired (for a recursive resolver).
pub fn build_txt_query(
    id: u16,
    name: &str,
    rd: bool,
    edns_payload: Option<u16>,
) -> Result<Vec<u8>> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.add_query(Query::query(fqdn(name)?, RecordType::TXT));
    if let Some(p) = edns_payload {
        let mut e = Edns::new();
        e.set_max_payload(p);
        m.set_edns(e);
    }
    m.to_vec().map_err(|_| Error::Invalid("DNS query"))
}

/// What a reader needs from a TXT response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtResponse {
    pub id: u16,
    pub rcode: u8,
    /// TC: retry over TCP.
    pub truncated: bool,
    /// Each TXT RR of the answer section with its strings joined (lossy
    /// UTF-8, as the reference readers decode).
    pub values: Vec<String>,
}

/// Parses a response to a TXT query.
pub fn parse_txt_response(packet: &[u8]) -> Result<TxtResponse> {
    let m = Message::from_vec(packet).map_err(|_| Error::Malformed("DNS response"))?;
    if m.metadata.message_type != MessageType::Response {
        return Err(Error::Malformed("DNS response: QR not set"));
    }
    let values = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(join_txt(&t.txt_data)),
            _ => None,
        })
        .collect();
    Ok(TxtResponse {
        id: m.metadata.id,
        rcode: u16::from(m.metadata.response_code).min(255) as u8,
        truncated: m.metadata.truncation,
        values,
    })
}

/// An UPDATE ready to send, remembering what is needed to check the answer.
#[derive(Clone, Debug)]
pub struct UpdateMessage {
    pub wire: Vec<u8>,
    id: u16,
    key: Option<TsigKey>,
    mac: Vec<u8>,
}

/// The verified outcome of an UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateResult {
    pub rcode: u8,
}

/// Builds an UPDATE of `zone` carrying `ops` (values split into ≤ 255-byte
/// character-strings), TSIG-signed with `key` at time `now` when given
/// (unsigned is for claim publishes).
pub fn build_update(
    id: u16,
    zone: &str,
    ops: &[UpdateOp],
    key: Option<&TsigKey>,
    now: u64,
) -> Result<UpdateMessage> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Update);
    m.add_query(Query::query(fqdn(zone)?, RecordType::SOA));
    let txt = |v: &str| {
        RData::TXT(TXT::new(
            split_txt(v).into_iter().map(String::from).collect(),
        ))
    };
    for op in ops {
        let rec = match op {
            UpdateOp::Add { name, value, ttl } => Record::from_rdata(fqdn(name)?, *ttl, txt(value)),
            UpdateOp::DeleteValue { name, value } => {
                let mut r = Record::from_rdata(fqdn(name)?, 0, txt(value));
                r.dns_class = DNSClass::NONE;
                r
            }
            UpdateOp::DeleteRrset { name } => {
                let mut r = Record::update0(fqdn(name)?, 0, RecordType::TXT);
                r.dns_class = DNSClass::ANY;
                r
            }
            UpdateOp::DeleteName { name } => {
                let mut r = Record::update0(fqdn(name)?, 0, RecordType::ANY);
                r.dns_class = DNSClass::ANY;
                r
            }
        };
        m.add_authority(rec);
    }
    let mut wire = m.to_vec().map_err(|_| Error::Invalid("DNS UPDATE"))?;
    let mut mac = Vec::new();
    if let Some(k) = key {
        let kw = name_wire(&k.name).ok_or(Error::Invalid("TSIG key name"))?;
        mac = append_tsig(
            &mut wire,
            &kw,
            Some(&k.secret),
            None,
            now,
            TSIG_FUDGE,
            0,
            &[],
        )
        .ok_or(Error::Invalid("DNS UPDATE"))?;
    }
    Ok(UpdateMessage {
        wire,
        id,
        key: key.cloned(),
        mac,
    })
}

impl UpdateMessage {
    /// Checks the server's answer: same ID, a response; when the request was
    /// signed, a TSIG from the same key over the response with our MAC
    /// chained, within the fudge of `now`. An unsigned answer to a signed
    /// request (e.g. the reference's bare NOTAUTH) is `BadSignature`; use
    /// [`response_rcode`] to report its rcode anyway.
    pub fn verify_response(&self, packet: &[u8], now: u64) -> Result<UpdateResult> {
        let rcode = response_rcode(packet).ok_or(Error::Malformed("DNS response"))?;
        if u16_at(packet, 0) != Some(self.id) {
            return Err(Error::Mismatch("DNS response ID"));
        }
        let Some(key) = &self.key else {
            return Ok(UpdateResult { rcode });
        };
        let start = find_tsig(packet)
            .ok_or(Error::Malformed("DNS response"))?
            .ok_or(Error::BadSignature)?;
        let t = parse_tsig(packet, start).ok_or(Error::Malformed("TSIG"))?;
        if t.key_name.key().as_deref() != Some(key.name.as_str())
            || t.error != 0
            || t.mac.is_empty()
        {
            return Err(Error::BadSignature);
        }
        match check(packet, &t, &key.secret, Some(&self.mac), now) {
            Ok(()) => Ok(UpdateResult { rcode }),
            Err(TsigError::BadTime) => Err(Error::Time("TSIG time outside fudge")),
            Err(TsigError::Malformed) => Err(Error::Malformed("TSIG")),
            Err(_) => Err(Error::BadSignature),
        }
    }
}

/// The rcode of a response packet (header only, unverified); `None` when it
/// is shorter than a header or not a response.
pub fn response_rcode(packet: &[u8]) -> Option<u8> {
    let h = packet.get(..HEADER_LEN)?;
    if h[2] & 0x80 == 0 {
        return None;
    }
    Some(h[3] & 0x0F)
}
