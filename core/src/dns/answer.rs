//! The query-answering path shared by UDP, TCP and DoH (wire and JSON).
//!
//! Differences from the reference node, all deliberate (REFERENCE-NODE.md
//! §13.1 R3, R12): NXDOMAIN only for a name with no records and no names
//! below it (RFC 8020), NODATA otherwise and for every other type; the zone
//! SOA in AUTHORITY of negative answers (RFC 2308); QCLASS other than IN/ANY
//! is REFUSED; names outside the served zones are REFUSED; TCP answers are
//! never capped by the query's EDNS payload.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde_json::{Value, json};

use super::raw::HEADER_LEN;
use super::{in_zone, normalize_name, rcode};
use crate::wire::split_txt;

/// The UDP payload size we advertise in OPT (the DNS flag day 2020 value).
pub const OUR_UDP_PAYLOAD: u16 = 1232;
/// UDP limit for a query without EDNS (RFC 1035).
const CLASSIC_UDP: usize = 512;
/// Largest message that fits the TCP 2-byte length prefix.
const TCP_MAX: usize = 65_535;

/// One stored TXT value (the full joined string) and its remaining TTL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtValue {
    pub value: String,
    pub ttl: u32,
}

/// The record store as the DNS side sees it. Names are in key form: ASCII
/// lower case, no trailing dot.
pub trait TxtSource {
    /// Live TXT values at exactly `name`, in answer order (empty: none).
    fn txt(&self, name: &str) -> Vec<TxtValue>;
    /// True when some name strictly below `name` holds records, so `name` is
    /// an empty non-terminal (NODATA, not NXDOMAIN).
    fn has_names_below(&self, name: &str) -> bool;
}

/// SOA fields of a served zone (RFC 1035 §3.3.13). `ttl` is the SOA RR's
/// own TTL; negative answers use `min(ttl, minimum)` (RFC 2308 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Soa {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
    pub ttl: u32,
}

/// Optional records at the zone apex, so resolvers can follow a delegation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Apex {
    pub ns: Vec<String>,
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
    pub ttl: u32,
}

/// One served zone: its name (any case, optional trailing dot), SOA, apex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    pub name: String,
    pub soa: Option<Soa>,
    pub apex: Apex,
}

/// How the query arrived: UDP answers are truncated (TC) to the client's
/// limit, TCP and DoH answers are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A header-only response (ID and opcode copied, QR set) for a packet whose
/// body could not be used; `None` if the packet has no full header or is
/// itself a response.
pub fn stub_response(packet: &[u8], rc: u8) -> Option<Vec<u8>> {
    let h = packet.get(..HEADER_LEN)?;
    if h[2] & 0x80 != 0 {
        return None;
    }
    let mut out = alloc::vec![0u8; HEADER_LEN];
    out[0] = h[0];
    out[1] = h[1];
    out[2] = 0x80 | (h[2] & 0x78) | (h[2] & 0x01);
    out[3] = rc & 0x0F;
    Some(out)
}

/// True when `packet` is a request with opcode UPDATE (5): the caller routes
/// it to [`super::parse_update`] (or answers REFUSED when UPDATE is off).
pub fn is_update(packet: &[u8]) -> bool {
    matches!(packet.get(2), Some(b) if b & 0x80 == 0 && (b >> 3) & 0x0F == 5)
}

/// Answers one DNS query packet. `None` means drop silently (a response, or
/// fewer than 12 bytes); malformed queries with a header get FORMERR, other
/// opcodes NOTIMP. Only the first question is answered.
pub fn answer(
    query: &[u8],
    zones: &[ZoneConfig],
    source: &dyn TxtSource,
    transport: Transport,
) -> Option<Vec<u8>> {
    if query.len() < HEADER_LEN || query.get(2).is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    let msg = match Message::from_vec(query) {
        Ok(m) => m,
        Err(_) => return stub_response(query, rcode::FORMERR),
    };
    if msg.metadata.op_code != OpCode::Query {
        return stub_response(query, rcode::NOTIMP);
    }
    let resp = respond(&msg, zones, source);
    let limit = match transport {
        Transport::Udp => match &msg.edns {
            Some(e) => usize::from(e.max_payload()).max(CLASSIC_UDP),
            None => CLASSIC_UDP,
        },
        Transport::Tcp => TCP_MAX,
    };
    fit(resp, limit, transport).or_else(|| stub_response(query, rcode::SERVFAIL))
}

/// Encodes `resp` within `limit` bytes. Over UDP an oversized answer becomes
/// TC with empty sections (the client retries over TCP); over TCP (only past
/// 64 KiB) trailing answer RRs are dropped and TC set, never SERVFAIL.
fn fit(mut resp: Message, limit: usize, transport: Transport) -> Option<Vec<u8>> {
    let wire = resp.to_vec().ok()?;
    if wire.len() <= limit {
        return Some(wire);
    }
    resp.metadata.truncation = true;
    resp.authorities.clear();
    resp.additionals.clear();
    if transport == Transport::Udp {
        resp.answers.clear();
        return resp.to_vec().ok();
    }
    while resp.answers.pop().is_some() {
        let w = resp.to_vec().ok()?;
        if w.len() <= limit {
            return Some(w);
        }
    }
    resp.to_vec().ok()
}

/// Answers a DoH JSON query (`?name=&type=`) through the same path and
/// renders it as `application/dns-json`. `cd` is the request's CD flag; TC
/// is never set (no size limit applies).
pub fn answer_json(
    name: &str,
    qtype: u16,
    cd: bool,
    zones: &[ZoneConfig],
    source: &dyn TxtSource,
) -> String {
    let mut q = Message::new(0, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.metadata.checking_disabled = cd;
    let fq = if name.ends_with('.') {
        name.to_string()
    } else {
        let mut s = name.to_string();
        s.push('.');
        s
    };
    match Name::from_ascii(&fq) {
        Ok(n) => {
            q.add_query(Query::query(n, RecordType::from(qtype)));
            let resp = respond(&q, zones, source);
            json_of(&resp).to_string()
        }
        Err(_) => json!({
            "Status": rcode::FORMERR, "TC": false, "RD": true, "RA": false,
            "AD": false, "CD": cd, "Question": [{"name": name, "type": qtype}],
        })
        .to_string(),
    }
}

/// The DoH JSON `type` parameter: a number (`16`) or a mnemonic (`TXT`,
/// any case); absent means A, as public resolvers do.
pub fn qtype_param(param: Option<&str>) -> Option<u16> {
    let Some(p) = param else {
        return Some(1);
    };
    if let Ok(n) = p.parse::<u16>() {
        return Some(n);
    }
    p.to_ascii_uppercase()
        .parse::<RecordType>()
        .ok()
        .map(u16::from)
        .filter(|&n| !matches!(RecordType::from(n), RecordType::Unknown(_)))
}

/// Renders a response message (wire) as DoH JSON; `None` if it does not parse.
pub fn render_json(response: &[u8]) -> Option<String> {
    Message::from_vec(response)
        .ok()
        .map(|m| json_of(&m).to_string())
}

/// The lookup key of a wire name: lower case, dot-joined; `None` when a
/// label is not UTF-8 or contains a dot (no stored name can match it).
fn name_key(name: &Name) -> Option<String> {
    let mut out = String::new();
    for (i, l) in name.iter().enumerate() {
        let s = core::str::from_utf8(l).ok()?;
        if s.contains('.') {
            return None;
        }
        if i > 0 {
            out.push('.');
        }
        out.push_str(&s.to_ascii_lowercase());
    }
    Some(out)
}

fn fqdn(s: &str) -> Option<Name> {
    let mut n = Name::from_ascii(s).ok()?;
    n.set_fqdn(true);
    Some(n)
}

fn soa_record(zone: &ZoneConfig, negative: bool) -> Option<Record> {
    let s = zone.soa.as_ref()?;
    let owner = fqdn(&normalize_name(&zone.name))?;
    let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let rdata = SOA::new(
        fqdn(&s.mname)?,
        fqdn(&s.rname)?,
        s.serial,
        clamp(s.refresh),
        clamp(s.retry),
        clamp(s.expire),
        s.minimum,
    );
    let ttl = if negative {
        s.ttl.min(s.minimum)
    } else {
        s.ttl
    };
    Some(Record::from_rdata(owner, ttl, RData::SOA(rdata)))
}

/// Builds the full (untruncated) response to the first question of `q`.
fn respond(q: &Message, zones: &[ZoneConfig], source: &dyn TxtSource) -> Message {
    let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.checking_disabled = q.metadata.checking_disabled;
    if let Some(e) = &q.edns {
        let mut out = Edns::new();
        out.set_max_payload(OUR_UDP_PAYLOAD);
        out.set_dnssec_ok(e.flags().dnssec_ok);
        r.set_edns(out);
        if e.version() != 0 {
            // RFC 6891 §6.1.3: only version 0 is known.
            r.metadata.response_code = ResponseCode::BADVERS;
            return r;
        }
    }
    let Some(question) = q.queries.first() else {
        r.metadata.response_code = ResponseCode::FormErr;
        return r;
    };
    r.add_query(question.clone());
    let qname = question.name().clone();
    let qtype = question.query_type();
    if !matches!(question.query_class(), DNSClass::IN | DNSClass::ANY) {
        r.metadata.response_code = ResponseCode::Refused;
        return r;
    }
    let key = name_key(&qname);
    // The longest served zone containing the name; with no zones configured
    // every name is served (the reference's zone-less mode), without SOA.
    let zone = match (&key, zones.is_empty()) {
        (_, true) => None,
        (Some(k), false) => {
            let found = zones
                .iter()
                .filter(|z| in_zone(k, &normalize_name(&z.name)))
                .max_by_key(|z| z.name.len());
            match found {
                Some(z) => Some(z),
                None => {
                    r.metadata.response_code = ResponseCode::Refused;
                    return r;
                }
            }
        }
        (None, false) => {
            r.metadata.response_code = ResponseCode::Refused;
            return r;
        }
    };
    r.metadata.authoritative = true;
    let is_apex = match (zone, &key) {
        (Some(z), Some(k)) => *k == normalize_name(&z.name),
        _ => false,
    };
    let values = match &key {
        Some(k) => source.txt(k),
        None => Vec::new(),
    };
    let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
    let mut answers = Vec::new();
    if wants(RecordType::TXT) {
        for v in &values {
            let strings = split_txt(&v.value).into_iter().map(String::from).collect();
            // RFC 2181 §8: TTLs are 31-bit.
            let ttl = v.ttl.min(i32::MAX as u32);
            let rec = Record::from_rdata(qname.clone(), ttl, RData::TXT(TXT::new(strings)));
            answers.push(rec);
        }
    }
    if let (true, Some(z)) = (is_apex, zone) {
        if wants(RecordType::SOA) {
            answers.extend(soa_record(z, false));
        }
        let ttl = z.apex.ttl;
        if wants(RecordType::NS) {
            for ns in &z.apex.ns {
                if let Some(n) = fqdn(ns) {
                    answers.push(Record::from_rdata(qname.clone(), ttl, RData::NS(NS(n))));
                }
            }
        }
        if wants(RecordType::A) {
            for a in &z.apex.a {
                answers.push(Record::from_rdata(qname.clone(), ttl, RData::A(A(*a))));
            }
        }
        if wants(RecordType::AAAA) {
            for a in &z.apex.aaaa {
                answers.push(Record::from_rdata(
                    qname.clone(),
                    ttl,
                    RData::AAAA(AAAA(*a)),
                ));
            }
        }
    }
    if !answers.is_empty() {
        r.insert_answers(answers);
        return r;
    }
    let exists =
        !values.is_empty() || is_apex || key.as_deref().is_some_and(|k| source.has_names_below(k));
    if !exists {
        r.metadata.response_code = ResponseCode::NXDomain;
    }
    if let Some(soa) = zone.and_then(|z| soa_record(z, true)) {
        r.add_authority(soa);
    }
    r
}

/// Presentation form of one character-string, quoted as public resolvers do.
fn quote(s: &[u8], out: &mut String) {
    out.push('"');
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7E => out.push(b as char),
            _ => {
                out.push('\\');
                out.push((b'0' + b / 100) as char);
                out.push((b'0' + (b / 10) % 10) as char);
                out.push((b'0' + b % 10) as char);
            }
        }
    }
    out.push('"');
}

fn record_data(rec: &Record) -> String {
    match &rec.data {
        RData::TXT(t) => {
            let mut out = String::new();
            for (i, s) in t.txt_data.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                quote(s, &mut out);
            }
            out
        }
        other => other.to_string(),
    }
}

fn json_name(n: &Name) -> String {
    let s = n.to_ascii();
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => s,
    }
}

fn json_records(recs: &[Record]) -> Value {
    Value::Array(
        recs.iter()
            .map(|r| {
                json!({
                    "name": json_name(&r.name),
                    "type": u16::from(r.record_type()),
                    "TTL": r.ttl,
                    "data": record_data(r),
                })
            })
            .collect(),
    )
}

/// The Google/Cloudflare `application/dns-json` form of a response.
fn json_of(m: &Message) -> Value {
    let md = &m.metadata;
    let mut v = json!({
        "Status": u16::from(md.response_code),
        "TC": md.truncation,
        "RD": md.recursion_desired,
        "RA": md.recursion_available,
        "AD": md.authentic_data,
        "CD": md.checking_disabled,
        "Question": m.queries.iter().map(|q| json!({
            "name": json_name(q.name()),
            "type": u16::from(q.query_type()),
        })).collect::<Vec<_>>(),
    });
    if !m.answers.is_empty() {
        v["Answer"] = json_records(&m.answers);
    }
    if !m.authorities.is_empty() {
        v["Authority"] = json_records(&m.authorities);
    }
    v
}
