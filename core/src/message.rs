//! The DMPHeader, the AEAD AAD and the outer message framing (PROTOCOL.md §3).
//!
//! The header is compact JSON with a fixed key order, so it is written by
//! hand to stay byte-exact with the reference. On receive the JSON is parsed
//! generously (extra keys ignored) and the AAD is rebuilt canonically from
//! the parsed values, never from the raw bytes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::{Map, Value};

use crate::crypto::{self, NONCE_LEN};
use crate::error::{Error, Result};

/// Zero bytes appended after the payload (a never-filled "signature" slot).
pub const TRAILER_LEN: usize = 32;
/// Smallest payload: ephemeral X25519 key plus nonce.
pub const MIN_PAYLOAD_LEN: usize = 32 + NONCE_LEN;
/// Default message TTL in seconds.
pub const DEFAULT_TTL: u64 = 300;

/// `type` values of the header. Senders use [`MessageType::Data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Data,
    Ack,
    Discovery,
    Identity,
    Mailbox,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Data => "DATA",
            MessageType::Ack => "ACK",
            MessageType::Discovery => "DISCOVERY",
            MessageType::Identity => "IDENTITY",
            MessageType::Mailbox => "MAILBOX",
        }
    }

    /// Exact, case-sensitive match, as the reference's enum lookup.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "DATA" => MessageType::Data,
            "ACK" => MessageType::Ack,
            "DISCOVERY" => MessageType::Discovery,
            "IDENTITY" => MessageType::Identity,
            "MAILBOX" => MessageType::Mailbox,
            _ => return None,
        })
    }
}

/// The JSON header carried in front of the encrypted payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageHeader {
    /// Not checked on receive, but bound through the AAD.
    pub v: u64,
    pub msg_type: MessageType,
    /// Same 16 bytes as the manifest's `msg_id`.
    pub msg_id: [u8; 16],
    /// The sender's user_id, `SHA256(sender X25519 pub)` (not an Ed25519 key).
    pub sender: [u8; 32],
    /// The manifest's `recipient_id`.
    pub recipient: [u8; 32],
    /// Placeholders: senders write 1 and 0 and never update them.
    pub total: u64,
    pub chunk: u64,
    pub ts: u64,
    pub ttl: u64,
}

impl MessageHeader {
    /// The header a sender writes: v=1, DATA, total=1, chunk=0.
    pub fn new_data(
        msg_id: [u8; 16],
        sender: [u8; 32],
        recipient: [u8; 32],
        ts: u64,
        ttl: u64,
    ) -> Self {
        MessageHeader {
            v: 1,
            msg_type: MessageType::Data,
            msg_id,
            sender,
            recipient,
            total: 1,
            chunk: 0,
            ts,
            ttl,
        }
    }

    /// Compact JSON in the reference's exact key order:
    /// `{"v":…,"type":"…","msg_id":"…","sender":"…","recipient":"…","total":…,"chunk":…,"ts":…,"ttl":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        self.json_with(self.total, self.chunk)
    }

    fn json_with(&self, total: u64, chunk: u64) -> Vec<u8> {
        let mut s = String::with_capacity(300);
        // Writing into a String cannot fail.
        let _ = write!(
            s,
            "{{\"v\":{},\"type\":\"{}\",\"msg_id\":\"{}\",\"sender\":\"{}\",\"recipient\":\"{}\",\"total\":{},\"chunk\":{},\"ts\":{},\"ttl\":{}}}",
            self.v,
            self.msg_type.as_str(),
            crypto::hex(&self.msg_id),
            crypto::hex(&self.sender),
            crypto::hex(&self.recipient),
            total,
            chunk,
            self.ts,
            self.ttl,
        );
        s.into_bytes()
    }

    /// The AEAD associated data: the header JSON with `total` and `chunk`
    /// forced to 0 (so it does not depend on chunking), then `u32 prekey_id`.
    pub fn aad(&self, prekey_id: u32) -> Vec<u8> {
        let mut out = self.json_with(0, 0);
        out.extend_from_slice(&prekey_id.to_be_bytes());
        out
    }

    /// Dropped on receive once `now > ts + ttl`; a sum beyond u64 never expires.
    pub fn is_expired(&self, now: u64) -> bool {
        match self.ts.checked_add(self.ttl) {
            Some(end) => now > end,
            None => false,
        }
    }

    /// Parse header JSON: an object with all nine keys (extra keys ignored),
    /// integers for the numeric fields, a known `type`, and hex of the exact
    /// length for the id fields (either case). Anything else is an error.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let value: Value =
            serde_json::from_slice(json).map_err(|_| Error::Malformed("header is not JSON"))?;
        let obj = value
            .as_object()
            .ok_or(Error::Malformed("header is not a JSON object"))?;
        let msg_type = MessageType::parse(str_field(obj, "type")?)
            .ok_or(Error::Invalid("unknown message type"))?;
        Ok(MessageHeader {
            v: u64_field(obj, "v")?,
            msg_type,
            msg_id: hex_field(obj, "msg_id")?,
            sender: hex_field(obj, "sender")?,
            recipient: hex_field(obj, "recipient")?,
            total: u64_field(obj, "total")?,
            chunk: u64_field(obj, "chunk")?,
            ts: u64_field(obj, "ts")?,
            ttl: u64_field(obj, "ttl")?,
        })
    }
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    obj.get(key).ok_or(Error::Malformed("header key missing"))
}

fn u64_field(obj: &Map<String, Value>, key: &str) -> Result<u64> {
    field(obj, key)?
        .as_u64()
        .ok_or(Error::Invalid("header field is not a non-negative integer"))
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    field(obj, key)?
        .as_str()
        .ok_or(Error::Invalid("header field is not a string"))
}

fn hex_field<const N: usize>(obj: &Map<String, Value>, key: &str) -> Result<[u8; N]> {
    decode_hex(str_field(obj, key)?.as_bytes()).ok_or(Error::Invalid("bad hex in header"))
}

/// Hex of exactly `N` bytes, upper or lower case.
fn decode_hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Frame the outer message: `u16 header_len ‖ header_json ‖ payload ‖ 32 zero bytes`.
pub fn frame_outer(header: &MessageHeader, payload: &[u8]) -> Vec<u8> {
    let json = header.to_json();
    // Nine keys with u64 values stay far below 65535 bytes.
    let hl = json.len() as u16;
    let mut out = Vec::with_capacity(2 + json.len() + payload.len() + TRAILER_LEN);
    out.extend_from_slice(&hl.to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0u8; TRAILER_LEN]);
    out
}

/// Parse an assembled outer message into its header and payload
/// (`eph_pub ‖ nonce ‖ ciphertext`). The trailer is ignored.
pub fn parse_outer(outer: &[u8]) -> Result<(MessageHeader, &[u8])> {
    if outer.len() < 2 + TRAILER_LEN {
        return Err(Error::Malformed("outer message too short"));
    }
    let hl = usize::from(u16::from_be_bytes([outer[0], outer[1]]));
    let payload_end = outer.len() - TRAILER_LEN;
    if payload_end < 2 + hl {
        return Err(Error::Malformed("outer message shorter than its header"));
    }
    let header = MessageHeader::from_json(&outer[2..2 + hl])?;
    let payload = &outer[2 + hl..payload_end];
    if payload.len() < MIN_PAYLOAD_LEN {
        return Err(Error::Malformed("payload shorter than key and nonce"));
    }
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn fixed() -> MessageHeader {
        let mut msg_id = [0u8; 16];
        for (i, b) in msg_id.iter_mut().enumerate() {
            *b = i as u8;
        }
        MessageHeader::new_data(msg_id, [0xab; 32], [0x5c; 32], 1_893_456_000, 300)
    }

    // Known answers from the reference (dmp/core/message.py, dnsmesh 0.7.5):
    //   h = DMPHeader(version=1, message_type=MessageType.DATA,
    //         message_id=bytes(range(16)), sender_id=b"\xab"*32,
    //         recipient_id=b"\x5c"*32, total_chunks=1, chunk_number=0,
    //         timestamp=1893456000, ttl=300)
    //   HEADER = h.to_bytes()
    //   AAD    = replace(h, total_chunks=0).to_bytes() + (0xdeadbeef).to_bytes(4, "big")
    //   OUTER  = DMPMessage(header=h, payload=bytes(range(60))).to_bytes()
    const HEADER_HEX: &str = "7b2276223a312c2274797065223a2244415441222c226d73675f6964223a223030303130323033303430353036303730383039306130623063306430653066222c2273656e646572223a2261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162222c22726563697069656e74223a2235633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563222c22746f74616c223a312c226368756e6b223a302c227473223a313839333435363030302c2274746c223a3330307d";
    const AAD_HEX: &str = "7b2276223a312c2274797065223a2244415441222c226d73675f6964223a223030303130323033303430353036303730383039306130623063306430653066222c2273656e646572223a2261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162222c22726563697069656e74223a2235633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563222c22746f74616c223a302c226368756e6b223a302c227473223a313839333435363030302c2274746c223a3330307ddeadbeef";
    const OUTER_HEX: &str = "010a7b2276223a312c2274797065223a2244415441222c226d73675f6964223a223030303130323033303430353036303730383039306130623063306430653066222c2273656e646572223a2261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162222c22726563697069656e74223a2235633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563356335633563222c22746f74616c223a312c226368756e6b223a302c227473223a313839333435363030302c2274746c223a3330307d000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b0000000000000000000000000000000000000000000000000000000000000000";

    //   h2 = DMPHeader(version=1, message_type=MessageType.MAILBOX,
    //          message_id=bytes(16), sender_id=bytes(range(32)),
    //          recipient_id=bytes(range(100, 132)), total_chunks=3,
    //          chunk_number=2, timestamp=0, ttl=86400)
    //   HEADER2 = h2.to_bytes()
    //   AAD2    = replace(h2, total_chunks=0, chunk_number=0).to_bytes() + (0).to_bytes(4, "big")
    const HEADER2_HEX: &str = "7b2276223a312c2274797065223a224d41494c424f58222c226d73675f6964223a223030303030303030303030303030303030303030303030303030303030303030222c2273656e646572223a2230303031303230333034303530363037303830393061306230633064306530663130313131323133313431353136313731383139316131623163316431653166222c22726563697069656e74223a2236343635363636373638363936613662366336643665366637303731373237333734373537363737373837393761376237633764376537663830383138323833222c22746f74616c223a332c226368756e6b223a322c227473223a302c2274746c223a38363430307d";
    const AAD2_HEX: &str = "7b2276223a312c2274797065223a224d41494c424f58222c226d73675f6964223a223030303030303030303030303030303030303030303030303030303030303030222c2273656e646572223a2230303031303230333034303530363037303830393061306230633064306530663130313131323133313431353136313731383139316131623163316431653166222c22726563697069656e74223a2236343635363636373638363936613662366336643665366637303731373237333734373537363737373837393761376237633764376537663830383138323833222c22746f74616c223a302c226368756e6b223a302c227473223a302c2274746c223a38363430307d00000000";

    // A non-canonical header (spaces, other key order, mixed-case hex, extra
    // keys, a duplicate "v" where the last one wins) and the AAD the
    // reference rebuilds from it with prekey_id = 1.
    const LOOSE_JSON: &str = r#"{ "ttl" : 60, "extra": [1, {"x": null}], "ts":1700000000, "chunk":5, "total":9, "recipient":"ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB", "sender":"CdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCdCd", "msg_id":"0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F", "type":"ACK", "v": 2, "v": 3}"#;
    const LOOSE_AAD_HEX: &str = "7b2276223a332c2274797065223a2241434b222c226d73675f6964223a223066306630663066306630663066306630663066306630663066306630663066222c2273656e646572223a2263646364636463646364636463646364636463646364636463646364636463646364636463646364636463646364636463646364636463646364636463646364222c22726563697069656e74223a2261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162222c22746f74616c223a302c226368756e6b223a302c227473223a313730303030303030302c2274746c223a36307d00000001";

    #[test]
    fn header_aad_and_outer_match_reference() {
        let h = fixed();
        assert_eq!(h.to_json(), unhex(HEADER_HEX));
        assert_eq!(h.to_json().len(), 266);
        assert_eq!(h.aad(0xdead_beef), unhex(AAD_HEX));
        let payload: Vec<u8> = (0..60).collect();
        let outer = frame_outer(&h, &payload);
        assert_eq!(outer, unhex(OUTER_HEX));
        // len(outer) = len(plaintext) + 360 with a 10-digit ts and ttl=300;
        // this payload carries an empty plaintext (32 + 12 + 16 bytes).
        let plaintext_len = payload.len() - 32 - 12 - 16;
        assert_eq!(outer.len(), plaintext_len + 360);

        let (parsed, p) = parse_outer(&outer).unwrap();
        assert_eq!(parsed, h);
        assert_eq!(p, &payload[..]);

        let h2 = MessageHeader {
            v: 1,
            msg_type: MessageType::Mailbox,
            msg_id: [0; 16],
            sender: core::array::from_fn(|i| i as u8),
            recipient: core::array::from_fn(|i| 100 + i as u8),
            total: 3,
            chunk: 2,
            ts: 0,
            ttl: 86_400,
        };
        assert_eq!(h2.to_json(), unhex(HEADER2_HEX));
        assert_eq!(h2.aad(0), unhex(AAD2_HEX));
    }

    #[test]
    fn loose_header_rebuilds_reference_aad() {
        let h = MessageHeader::from_json(LOOSE_JSON.as_bytes()).unwrap();
        assert_eq!(h.v, 3);
        assert_eq!(h.msg_type, MessageType::Ack);
        assert_eq!((h.total, h.chunk), (9, 5));
        assert_eq!(h.aad(1), unhex(LOOSE_AAD_HEX));
    }

    #[test]
    fn bad_headers_are_errors() {
        let good = String::from_utf8(fixed().to_json()).unwrap();
        assert!(MessageHeader::from_json(good.as_bytes()).is_ok());
        let cases = [
            good.replace("\"ttl\":300", "\"ttx\":300"), // missing key
            good.replace("\"ttl\":300", "\"ttl\":\"300\""), // wrong type
            good.replace("\"ttl\":300", "\"ttl\":300.0"), // float
            good.replace("\"ttl\":300", "\"ttl\":-1"),  // negative
            good.replace("\"ttl\":300", "\"ttl\":18446744073709551616"), // > u64
            good.replace("DATA", "data"),               // unknown type
            good.replace("\"type\":\"DATA\"", "\"type\":1"), // type not a string
            good.replace("\"msg_id\":\"00", "\"msg_id\":\"0g"), // bad hex digit
            good.replace("\"msg_id\":\"00", "\"msg_id\":\""), // short hex
            good.replace("\"msg_id\":\"00", "\"msg_id\":\"00 "), // whitespace
            good.replace("{", "["),                     // not JSON
            String::from("[1,2]"),                      // not an object
            good.clone() + "x",                         // trailing data
        ];
        for c in cases {
            assert!(MessageHeader::from_json(c.as_bytes()).is_err(), "{c}");
        }
        assert!(MessageHeader::from_json(b"{\"v\":1,\xff}").is_err());
    }

    #[test]
    fn outer_length_rules() {
        let h = fixed();
        let json = h.to_json();
        assert!(parse_outer(&[0u8; 33]).is_err());
        // Header length pointing past the trailer.
        let mut bad = frame_outer(&h, &[0u8; 44]);
        bad[0] = 0xff;
        assert!(parse_outer(&bad).is_err());
        // Payload of 43 bytes is too short, 44 is enough.
        assert!(parse_outer(&frame_outer(&h, &[0u8; 43])).is_err());
        let ok = frame_outer(&h, &[0u8; 44]);
        assert_eq!(ok.len(), 2 + json.len() + 44 + 32);
        assert!(parse_outer(&ok).is_ok());
        // The trailer is not checked.
        let mut t = ok.clone();
        *t.last_mut().unwrap() = 1;
        assert!(parse_outer(&t).is_ok());
    }

    #[test]
    fn expiry_is_overflow_safe() {
        let mut h = fixed();
        assert!(!h.is_expired(h.ts + h.ttl));
        assert!(h.is_expired(h.ts + h.ttl + 1));
        h.ts = u64::MAX;
        assert!(!h.is_expired(u64::MAX));
    }

    fn arb_header() -> impl Strategy<Value = MessageHeader> {
        (
            any::<u64>(),
            0usize..5,
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        )
            .prop_map(
                |(v, t, msg_id, sender, recipient, (total, chunk, ts, ttl))| {
                    let msg_type = [
                        MessageType::Data,
                        MessageType::Ack,
                        MessageType::Discovery,
                        MessageType::Identity,
                        MessageType::Mailbox,
                    ][t];
                    MessageHeader {
                        v,
                        msg_type,
                        msg_id,
                        sender,
                        recipient,
                        total,
                        chunk,
                        ts,
                        ttl,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn arbitrary_outer_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_outer(&data);
            let _ = MessageHeader::from_json(&data);
        }

        #[test]
        fn arbitrary_json_text_never_panics(s in "[{}\\[\\]\",:0-9a-z \\-.]{0,200}") {
            let _ = MessageHeader::from_json(s.as_bytes());
        }

        #[test]
        fn json_round_trips_and_agrees_with_serde(h in arb_header()) {
            let json = h.to_json();
            prop_assert_eq!(MessageHeader::from_json(&json).unwrap(), h.clone());
            // Canonical form: serde_json sees exactly the nine values.
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(v["ts"].as_u64(), Some(h.ts));
            prop_assert_eq!(v.as_object().unwrap().len(), 9);
            let aad = h.aad(5);
            prop_assert_eq!(&aad[aad.len() - 4..], &[0, 0, 0, 5]);
        }

        #[test]
        fn mutated_outer_never_panics_and_unchanged_round_trips(
            h in arb_header(),
            idx in any::<prop::sample::Index>(),
            xor in any::<u8>(),
        ) {
            let payload = [7u8; 50];
            let mut outer = frame_outer(&h, &payload);
            let i = idx.index(outer.len());
            outer[i] ^= xor;
            let r = parse_outer(&outer);
            if xor == 0 {
                let (ph, pp) = r.unwrap();
                prop_assert_eq!(ph, h);
                prop_assert_eq!(pp, &payload[..]);
            }
        }
    }
}
