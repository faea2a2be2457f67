//! The query-answering path: every rule of REFERENCE-NODE.md §4.2 that we
//! keep, the R3/R12 fixes, EDNS/TC, DoH JSON and the client helpers.
//! Queries are built and responses read with hickory-proto.
#![cfg(feature = "dns")]

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use dmp_core::dns::client::{build_txt_query, parse_txt_response};
use dmp_core::dns::{
    Apex, OUR_UDP_PAYLOAD, Soa, Transport, TxtSource, TxtValue, ZoneConfig, answer, answer_json,
    qtype_param, rcode, render_json,
};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use proptest::prelude::*;

#[derive(Default)]
struct Store(BTreeMap<String, Vec<TxtValue>>);

impl Store {
    fn put(mut self, name: &str, value: &str, ttl: u32) -> Self {
        self.0.entry(name.into()).or_default().push(TxtValue {
            value: value.into(),
            ttl,
        });
        self
    }
}

impl TxtSource for Store {
    fn txt(&self, name: &str) -> Vec<TxtValue> {
        assert_eq!(name, name.to_ascii_lowercase(), "lookups are lower case");
        assert!(!name.ends_with('.'), "lookups have no trailing dot");
        self.0.get(name).cloned().unwrap_or_default()
    }
    fn has_names_below(&self, name: &str) -> bool {
        let suffix = format!(".{name}");
        self.0.keys().any(|k| k.ends_with(&suffix))
    }
}

const HASH: &str = "mb-0123456789ab";

fn store() -> Store {
    Store::default()
        .put("alice.mesh.test", "v=dmp1;one", 50)
        .put("alice.mesh.test", "v=dmp1;two", 40)
        .put(&format!("slot-3.{HASH}.mesh.test"), &"b".repeat(600), 30)
        .put("quote.mesh.test", "a\"b\\c", 20)
        .put("elsewhere.test", "not served", 20)
}

fn soa() -> Soa {
    Soa {
        mname: "ns1.mesh.test".into(),
        rname: "hostmaster.mesh.test".into(),
        serial: 2026112801,
        refresh: 3600,
        retry: 600,
        expire: 604800,
        minimum: 60,
        ttl: 300,
    }
}

fn zones() -> Vec<ZoneConfig> {
    vec![ZoneConfig {
        name: "Mesh.Test.".into(),
        soa: Some(soa()),
        apex: Apex {
            ns: vec!["ns1.mesh.test".into()],
            a: vec!["192.0.2.1".parse().unwrap()],
            aaaa: vec![],
            ttl: 3600,
        },
    }]
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(0xBEEF, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(p) = edns {
        let mut e = Edns::new();
        e.set_max_payload(p);
        m.set_edns(e);
    }
    m
}

fn ask(q: &Message, t: Transport) -> (Vec<u8>, Message) {
    let wire = answer(&q.to_vec().unwrap(), &zones(), &store(), t).expect("an answer");
    let m = Message::from_vec(&wire).expect("our answer parses");
    (wire, m)
}

fn txt_lens(m: &Message) -> Vec<Vec<usize>> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::TXT(t) => t.txt_data.iter().map(|s| s.len()).collect(),
            other => panic!("not TXT: {other:?}"),
        })
        .collect()
}

fn code(m: &Message) -> u16 {
    u16::from(m.metadata.response_code)
}

fn assert_soa_authority(m: &Message) {
    assert_eq!(m.authorities.len(), 1, "{m:?}");
    let a = &m.authorities[0];
    assert_eq!(a.name.to_ascii(), "mesh.test.");
    assert_eq!(a.ttl, 60, "negative TTL = min(SOA TTL, minimum)");
    match &a.data {
        RData::SOA(s) => {
            assert_eq!(s.mname.to_ascii(), "ns1.mesh.test.");
            assert_eq!(s.rname.to_ascii(), "hostmaster.mesh.test.");
            assert_eq!(s.serial, 2026112801);
            assert_eq!(
                (s.refresh, s.retry, s.expire, s.minimum),
                (3600, 600, 604800, 60)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn txt_existing_name() {
    let (_, m) = ask(
        &query("alice.mesh.test.", RecordType::TXT, None),
        Transport::Udp,
    );
    assert_eq!(m.metadata.id, 0xBEEF);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.metadata.authoritative && m.metadata.recursion_desired);
    assert!(!m.metadata.recursion_available && !m.metadata.truncation);
    assert_eq!(code(&m), 0);
    assert!(m.edns.is_none(), "no OPT without EDNS in the query");
    assert_eq!(m.queries.len(), 1);
    let got: Vec<(String, u32)> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::TXT(t) => (String::from_utf8(t.txt_data.concat()).unwrap(), r.ttl),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        got,
        [
            ("v=dmp1;one".to_string(), 50),
            ("v=dmp1;two".to_string(), 40)
        ]
    );
    assert!(m.authorities.is_empty());
}

#[test]
fn names_are_case_insensitive_and_echoed() {
    let (_, m) = ask(
        &query("ALICE.Mesh.TEST.", RecordType::TXT, None),
        Transport::Udp,
    );
    assert_eq!(m.answers.len(), 2);
    assert_eq!(m.answers[0].name.to_ascii(), "ALICE.Mesh.TEST.");
    assert_eq!(m.queries[0].name().to_ascii(), "ALICE.Mesh.TEST.");
}

#[test]
fn long_value_udp_edns_tcp() {
    let name = format!("slot-3.{HASH}.mesh.test.");
    // UDP, no EDNS: 512-byte limit, so TC with empty sections.
    let (wire, m) = ask(&query(&name, RecordType::TXT, None), Transport::Udp);
    assert!(m.metadata.truncation && wire.len() <= 512);
    assert!(m.answers.is_empty() && m.authorities.is_empty());
    assert_eq!(code(&m), 0);
    // UDP, EDNS 1232: fits, strings 255/255/90, OPT advertises 1232.
    let (_, m) = ask(&query(&name, RecordType::TXT, Some(1232)), Transport::Udp);
    assert!(!m.metadata.truncation);
    assert_eq!(txt_lens(&m), [[255, 255, 90]]);
    assert_eq!(m.answers[0].ttl, 30);
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), OUR_UDP_PAYLOAD);
    // EDNS below 512 counts as 512 (RFC 6891): still truncated.
    let (_, m) = ask(&query(&name, RecordType::TXT, Some(100)), Transport::Udp);
    assert!(m.metadata.truncation && m.edns.is_some());
    // TCP without EDNS, and TCP with a small EDNS (R3: no SERVFAIL).
    for e in [None, Some(512)] {
        let (_, m) = ask(&query(&name, RecordType::TXT, e), Transport::Tcp);
        assert_eq!(code(&m), 0);
        assert!(!m.metadata.truncation);
        assert_eq!(txt_lens(&m), [[255, 255, 90]]);
    }
}

#[test]
fn tcp_answer_over_64k_drops_rrs_not_servfail() {
    let mut s = Store::default();
    for i in 0..40 {
        s = s.put("big.mesh.test", &format!("{i:04}{}", "x".repeat(2044)), 60);
    }
    let q = query("big.mesh.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let wire = answer(&q, &zones(), &s, Transport::Tcp).unwrap();
    assert!(wire.len() <= 65535);
    let m = Message::from_vec(&wire).unwrap();
    assert_eq!(code(&m), 0);
    assert!(m.metadata.truncation);
    assert!(
        m.answers.len() > 20 && m.answers.len() < 40,
        "{}",
        m.answers.len()
    );
}

#[test]
fn nxdomain_only_where_nothing_exists_at_or_below() {
    for t in [RecordType::TXT, RecordType::A, RecordType::AAAA] {
        let (_, m) = ask(&query("missing.mesh.test.", t, None), Transport::Udp);
        assert_eq!(code(&m), 3, "{t}");
        assert!(m.metadata.authoritative);
        assert!(m.answers.is_empty());
        assert_soa_authority(&m);
    }
}

#[test]
fn nodata_for_empty_non_terminals_and_other_types() {
    let ent = format!("{HASH}.mesh.test.");
    for (name, t) in [
        (ent.as_str(), RecordType::TXT),
        (ent.as_str(), RecordType::A),
        ("alice.mesh.test.", RecordType::A),
        ("alice.mesh.test.", RecordType::AAAA),
        ("mesh.test.", RecordType::TXT),
        ("mesh.test.", RecordType::AAAA),
    ] {
        let (_, m) = ask(&query(name, t, None), Transport::Udp);
        assert_eq!(code(&m), 0, "{name} {t}");
        assert!(m.answers.is_empty(), "{name} {t}");
        assert_soa_authority(&m);
    }
}

#[test]
fn apex_records() {
    let (_, m) = ask(&query("mesh.test.", RecordType::SOA, None), Transport::Udp);
    assert_eq!(code(&m), 0);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, 300, "positive SOA keeps its own TTL");
    let (_, m) = ask(&query("mesh.test.", RecordType::NS, None), Transport::Udp);
    match &m.answers[..] {
        [r] => assert_eq!(r.data.to_string(), "ns1.mesh.test."),
        other => panic!("{other:?}"),
    }
    let (_, m) = ask(&query("mesh.test.", RecordType::A, None), Transport::Udp);
    match &m.answers[..] {
        [r] => {
            assert_eq!(r.data.to_string(), "192.0.2.1");
            assert_eq!(r.ttl, 3600);
        }
        other => panic!("{other:?}"),
    }
    // ANY at the apex: SOA, NS and A together.
    let (_, m) = ask(&query("mesh.test.", RecordType::ANY, None), Transport::Tcp);
    assert_eq!(m.answers.len(), 3);
    // ANY at a TXT name returns its TXT RRs.
    let (_, m) = ask(
        &query("alice.mesh.test.", RecordType::ANY, None),
        Transport::Tcp,
    );
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn outside_the_zone_is_refused() {
    // Even a name the store holds: we are not authoritative for it.
    for name in ["elsewhere.test.", "test.", "xmesh.test.", "."] {
        let (_, m) = ask(&query(name, RecordType::TXT, None), Transport::Udp);
        assert_eq!(code(&m), 5, "{name}");
        assert!(!m.metadata.authoritative);
        assert!(m.answers.is_empty() && m.authorities.is_empty());
    }
}

#[test]
fn zoneless_config_serves_every_stored_name() {
    let q = query("elsewhere.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer(&q, &[], &store(), Transport::Udp).unwrap()).unwrap();
    assert_eq!(code(&m), 0);
    assert_eq!(m.answers.len(), 1);
    let q = query("nope.test.", RecordType::TXT, None).to_vec().unwrap();
    let m = Message::from_vec(&answer(&q, &[], &store(), Transport::Udp).unwrap()).unwrap();
    assert_eq!(code(&m), 3);
    assert!(m.authorities.is_empty(), "no SOA without a zone");
}

#[test]
fn zone_without_soa_has_no_authority() {
    let mut z = zones();
    z[0].soa = None;
    let q = query("missing.mesh.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer(&q, &z, &store(), Transport::Udp).unwrap()).unwrap();
    assert_eq!(code(&m), 3);
    assert!(m.authorities.is_empty());
}

#[test]
fn qclass_other_than_in_is_refused() {
    let mut q = query("alice.mesh.test.", RecordType::TXT, None);
    q.queries[0].set_query_class(DNSClass::CH);
    let (_, m) = ask(&q, Transport::Udp);
    assert_eq!(code(&m), 5);
    q.queries[0].set_query_class(DNSClass::ANY);
    let (_, m) = ask(&q, Transport::Udp);
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn only_the_first_question_is_used() {
    let mut q = query("alice.mesh.test.", RecordType::TXT, None);
    q.add_query(Query::query(
        Name::from_ascii("missing.mesh.test.").unwrap(),
        RecordType::TXT,
    ));
    let (_, m) = ask(&q, Transport::Udp);
    assert_eq!(code(&m), 0);
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn header_level_errors() {
    let z = zones();
    let s = store();
    // No question: FORMERR, QR set, ID kept.
    let q = Message::new(7, MessageType::Query, OpCode::Query)
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer(&q, &z, &s, Transport::Udp).unwrap()).unwrap();
    assert_eq!((m.metadata.id, code(&m)), (7, 1));
    assert_eq!(m.metadata.message_type, MessageType::Response);
    // Garbage after a header: a 12-byte FORMERR.
    let mut g = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    g.extend_from_slice(&[0x3F, 1, 2]);
    let w = answer(&g, &z, &s, Transport::Udp).unwrap();
    assert_eq!(
        w,
        [0xAB, 0xCD, 0x81, rcode::FORMERR, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    // Too short for an ID/header, or a response: silence.
    assert_eq!(answer(&g[..11], &z, &s, Transport::Udp), None);
    assert_eq!(answer(&[], &z, &s, Transport::Udp), None);
    let mut r = query("alice.mesh.test.", RecordType::TXT, None);
    r.metadata.message_type = MessageType::Response;
    assert_eq!(answer(&r.to_vec().unwrap(), &z, &s, Transport::Udp), None);
    // Another opcode (STATUS): NOTIMP.
    let mut st = query("alice.mesh.test.", RecordType::TXT, None);
    st.metadata.op_code = OpCode::Status;
    let w = answer(&st.to_vec().unwrap(), &z, &s, Transport::Udp).unwrap();
    assert_eq!(w[3] & 0x0F, rcode::NOTIMP);
    // EDNS version 1: BADVERS (extended rcode 16) with our OPT.
    let mut q = query("alice.mesh.test.", RecordType::TXT, Some(1232));
    q.edns.as_mut().unwrap().set_version(1);
    let (_, m) = ask(&q, Transport::Udp);
    assert_eq!(code(&m), 16);
    assert!(m.answers.is_empty());
}

#[test]
fn edns_do_bit_is_copied() {
    let mut q = query("alice.mesh.test.", RecordType::TXT, Some(4096));
    q.edns.as_mut().unwrap().set_dnssec_ok(true);
    let (_, m) = ask(&q, Transport::Udp);
    let e = m.edns.unwrap();
    assert!(e.flags().dnssec_ok);
    assert_eq!(e.max_payload(), 1232);
}

#[test]
fn doh_json() {
    let z = zones();
    let s = store();
    let v: serde_json::Value = serde_json::from_str(&answer_json(
        &format!("slot-3.{HASH}.mesh.test"),
        16,
        false,
        &z,
        &s,
    ))
    .unwrap();
    let b255 = "b".repeat(255);
    assert_eq!(
        v,
        serde_json::json!({
            "Status": 0, "TC": false, "RD": true, "RA": false, "AD": false, "CD": false,
            "Question": [{"name": format!("slot-3.{HASH}.mesh.test"), "type": 16}],
            "Answer": [{
                "name": format!("slot-3.{HASH}.mesh.test"), "type": 16, "TTL": 30,
                "data": format!("\"{b255}\" \"{b255}\" \"{}\"", "b".repeat(90)),
            }],
        })
    );
    // Quotes and backslashes are escaped inside the character-string.
    let v: serde_json::Value =
        serde_json::from_str(&answer_json("QUOTE.mesh.test.", 16, true, &z, &s)).unwrap();
    assert_eq!(v["Answer"][0]["data"], "\"a\\\"b\\\\c\"");
    assert_eq!(v["Answer"][0]["name"], "QUOTE.mesh.test");
    assert_eq!(v["CD"], true);
    // NXDOMAIN carries the SOA in Authority.
    let v: serde_json::Value =
        serde_json::from_str(&answer_json("missing.mesh.test", 16, false, &z, &s)).unwrap();
    assert_eq!(v["Status"], 3);
    assert!(v.get("Answer").is_none());
    assert_eq!(v["Authority"][0]["type"], 6);
    assert_eq!(v["Authority"][0]["TTL"], 60);
    assert_eq!(
        v["Authority"][0]["data"],
        "ns1.mesh.test. hostmaster.mesh.test. 2026112801 3600 600 604800 60"
    );
    // Out of zone, and an unparsable name.
    let v: serde_json::Value =
        serde_json::from_str(&answer_json("elsewhere.test", 16, false, &z, &s)).unwrap();
    assert_eq!(v["Status"], 5);
    let v: serde_json::Value =
        serde_json::from_str(&answer_json("a..b", 16, false, &z, &s)).unwrap();
    assert_eq!(v["Status"], 1);
    // The wire answer renders to the same JSON (modulo ID-free fields).
    let q = query("alice.mesh.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let wire = answer(&q, &z, &s, Transport::Tcp).unwrap();
    let from_wire: serde_json::Value = serde_json::from_str(&render_json(&wire).unwrap()).unwrap();
    let direct: serde_json::Value =
        serde_json::from_str(&answer_json("alice.mesh.test.", 16, false, &z, &s)).unwrap();
    assert_eq!(from_wire["Answer"], direct["Answer"]);
    assert_eq!(from_wire["Answer"][1]["data"], "\"v=dmp1;two\"");
    assert_eq!(render_json(&[1, 2, 3]), None);
}

#[test]
fn client_query_and_response_helpers() {
    let name = format!("slot-3.{HASH}.mesh.test");
    let q = build_txt_query(0x0102, &name, false, None).unwrap();
    let pq = Message::from_vec(&q).unwrap();
    assert_eq!(pq.metadata.id, 0x0102);
    assert!(!pq.metadata.recursion_desired);
    assert_eq!(pq.queries[0].query_type(), RecordType::TXT);
    assert!(pq.edns.is_none());
    let udp = answer(&q, &zones(), &store(), Transport::Udp).unwrap();
    let r = parse_txt_response(&udp).unwrap();
    assert_eq!((r.id, r.rcode, r.truncated), (0x0102, 0, true));
    assert!(r.values.is_empty());
    let tcp = answer(&q, &zones(), &store(), Transport::Tcp).unwrap();
    let r = parse_txt_response(&tcp).unwrap();
    assert_eq!(r.values, ["b".repeat(600)]);
    let q = build_txt_query(9, "missing.mesh.test", true, Some(1232)).unwrap();
    assert_eq!(Message::from_vec(&q).unwrap().max_payload(), 1232);
    let r = parse_txt_response(&answer(&q, &zones(), &store(), Transport::Udp).unwrap()).unwrap();
    assert_eq!(r.rcode, 3);
    assert!(parse_txt_response(&q).is_err(), "a query is not a response");
    assert!(build_txt_query(1, "a..b", false, None).is_err());
}

#[test]
fn doh_type_parameter() {
    assert_eq!(qtype_param(None), Some(1));
    assert_eq!(qtype_param(Some("16")), Some(16));
    assert_eq!(qtype_param(Some("txt")), Some(16));
    assert_eq!(qtype_param(Some("AAAA")), Some(28));
    assert_eq!(qtype_param(Some("65000")), Some(65000));
    assert_eq!(qtype_param(Some("NOPE")), None);
    assert_eq!(qtype_param(Some("")), None);
}

#[test]
fn ttls_are_31_bit() {
    let s = Store::default().put("t.mesh.test", "v", u32::MAX);
    let q = query("t.mesh.test.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer(&q, &zones(), &s, Transport::Udp).unwrap()).unwrap();
    assert_eq!(m.answers[0].ttl, i32::MAX as u32);
}

/// dnspython (what the reference CLI reads DNS with) parses our answers:
/// prints rcode, flags, the joined TXT values and the authority types.
const PY_READ: &str = r#"
import sys, dns.message, dns.rcode, dns.flags
m = dns.message.from_wire(bytes.fromhex(sys.argv[1]))
vals = [b"".join(r.strings).decode() for rr in m.answer for r in rr]
print(dns.rcode.to_text(m.rcode()), dns.flags.to_text(m.flags), m.edns, len(vals), ",".join(v[:12] for v in vals), [rr.rdtype for rr in m.authority])
"#;

#[test]
fn dnspython_reads_our_answers() {
    if support::reference_skipped() {
        return;
    }
    let py = std::env::var("DMP_REFERENCE_PYTHON").unwrap_or_else(|_| {
        panic!(
            "DMP_REFERENCE_PYTHON is not set: export the reference venv's python (dnspython) \
             or set DMP_SKIP_REFERENCE=1 to skip reference tests"
        )
    });
    let slot = format!("slot-3.{HASH}.mesh.test.");
    let cases = [
        (
            "alice.mesh.test.",
            None,
            Transport::Udp,
            "NOERROR QR AA RD -1 2 v=dmp1;one,v=dmp1;two []",
        ),
        (
            slot.as_str(),
            None,
            Transport::Udp,
            "NOERROR QR AA TC RD -1 0  []",
        ),
        (
            slot.as_str(),
            Some(1232),
            Transport::Udp,
            "NOERROR QR AA RD 0 1 bbbbbbbbbbbb []",
        ),
        (
            slot.as_str(),
            None,
            Transport::Tcp,
            "NOERROR QR AA RD -1 1 bbbbbbbbbbbb []",
        ),
        (
            "missing.mesh.test.",
            None,
            Transport::Udp,
            "NXDOMAIN QR AA RD -1 0  [<RdataType.SOA: 6>]",
        ),
    ];
    for (name, edns, t, want) in cases {
        let (wire, _) = ask(&query(name, RecordType::TXT, edns), t);
        let out = Command::new(&py)
            .args(["-c", PY_READ, &hex::encode(&wire)])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim_end(),
            want,
            "{name} {edns:?} {t:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn answer_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = store();
        for t in [Transport::Udp, Transport::Tcp] {
            if let Some(w) = answer(&bytes, &zones(), &s, t) {
                prop_assert!(w.len() >= 12);
                prop_assert_eq!(&w[..2], &bytes[..2]);
                prop_assert!(w[2] & 0x80 != 0, "always a response");
            }
        }
    }

    #[test]
    fn mutated_queries_never_panic(muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut q = query("alice.mesh.test.", RecordType::TXT, Some(1232)).to_vec().unwrap();
        for (i, b) in muts {
            let n = q.len();
            q[i % n] = b;
        }
        let _ = answer(&q, &zones(), &store(), Transport::Udp);
        let _ = parse_txt_response(&q);
        let _ = render_json(&q);
    }

    #[test]
    fn json_never_panics(name in ".{0,80}", t in any::<u16>()) {
        let out = answer_json(&name, t, false, &zones(), &store());
        prop_assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
    }
}
