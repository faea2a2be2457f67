//! `message` target: the raw bytes are an outer message, a header JSON and a
//! decrypted plaintext at once; their lossy UTF-8 form is an address.
//!
//! Invariants beyond "no panic":
//! * a parsed header survives `to_json` → `from_json`, and a parsed outer
//!   message survives `frame_outer` → `parse_outer`;
//! * `envelope::decode` returns a suffix of its input as the body, and a
//!   `from` it returns is canonical and survives `encode_v2` → `decode`;
//! * `canonicalize_address` is idempotent and yields `local@host` in its
//!   documented alphabet.

use dmp_core::envelope::{self, canonicalize_address, encode_v2};
use dmp_core::message::{MIN_PAYLOAD_LEN, MessageHeader, frame_outer, parse_outer};

/// The `message` target body. Returns which parsers accepted the input
/// (outer, header, envelope-v2, address), for the seed self-check.
pub fn run(data: &[u8]) -> [bool; 4] {
    let mut accepted = [false; 4];

    if let Ok((header, payload)) = parse_outer(data) {
        accepted[0] = true;
        assert!(payload.len() >= MIN_PAYLOAD_LEN);
        let framed = frame_outer(&header, payload);
        let (h2, p2) = parse_outer(&framed).expect("framed outer must parse");
        assert_eq!(h2, header);
        assert_eq!(p2, payload);
    }

    if let Ok(header) = MessageHeader::from_json(data) {
        accepted[1] = true;
        let json = header.to_json();
        assert_eq!(
            MessageHeader::from_json(&json).as_ref(),
            Ok(&header),
            "to_json/from_json round trip"
        );
        // The AAD is the canonical JSON with total and chunk zeroed.
        let aad = header.aad(7);
        assert!(aad.ends_with(&7u32.to_be_bytes()));
    }

    let (body, from) = envelope::decode(data);
    assert!(
        data.ends_with(body),
        "body is not a suffix of the plaintext"
    );
    if body.len() != data.len() {
        accepted[2] = true;
    }
    if let Some(addr) = from {
        assert_eq!(canonicalize_address(&addr).as_deref(), Some(addr.as_str()));
        let wrapped = encode_v2(body, Some(&addr));
        let (b2, f2) = envelope::decode(&wrapped);
        assert_eq!(b2, body, "encode_v2/decode body");
        assert_eq!(f2.as_deref(), Some(addr.as_str()), "encode_v2/decode from");
    }

    let text = String::from_utf8_lossy(data);
    if let Some(addr) = canonicalize_address(&text) {
        accepted[3] = true;
        assert_eq!(
            canonicalize_address(&addr).as_deref(),
            Some(addr.as_str()),
            "canonicalize_address is not idempotent"
        );
        let (local, host) = addr.split_once('@').expect("canonical address has an @");
        assert!(!local.is_empty() && !host.is_empty() && !host.contains('@'));
        assert!(
            addr.bytes().all(|b| b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'@' | b'.' | b'-' | b'_')),
            "non-canonical character in {addr:?}"
        );
    }
    accepted
}
