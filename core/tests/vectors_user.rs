//! Upstream vectors for the user-side records: identity, slot manifest,
//! prekey and the DMPv2 envelope (tests/vectors/README.md).
//!
//! Sign cases must reproduce `expected_wire_hex` byte for byte; parse cases
//! must give the documented field or fail, at `now = 2050000000` unless the
//! case carries `verify_with_now`.

use std::path::PathBuf;

use dmp_core::crypto::Keypair;
use dmp_core::envelope;
use dmp_core::records::identity::IdentityRecord;
use dmp_core::records::manifest::SlotManifest;
use dmp_core::records::prekey::Prekey;
use serde_json::Value;

const DEFAULT_NOW: u64 = 2_050_000_000;

fn load(name: &str) -> Vec<Value> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "vectors", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    let cases = v.as_array().expect("vector file is an array").clone();
    assert!(!cases.is_empty(), "{name} has no cases");
    cases
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    bytes(v).try_into().expect("hex of the right length")
}

fn int(v: &Value) -> u64 {
    v.as_u64().expect("unsigned integer")
}

/// The TXT value a case publishes (hex of its UTF-8 bytes).
fn wire(case: &Value) -> String {
    String::from_utf8(bytes(&case["expected_wire_hex"])).unwrap()
}

fn now_of(case: &Value) -> u64 {
    case.get("verify_with_now").map(int).unwrap_or(DEFAULT_NOW)
}

fn keypair(case: &Value, seed_field: &str) -> Keypair {
    Keypair::from_x25519_secret(arr(&case[seed_field]))
}

fn expects_failure(case: &Value) -> bool {
    match case.get("expected_parse_result") {
        Some(v) => {
            assert_eq!(v, "none", "unknown expected_parse_result");
            true
        }
        None => false,
    }
}

#[test]
fn identity_record_vectors() {
    let cases = load("identity_record.json");
    let (mut signed, mut parsed_ok, mut parsed_fail) = (0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let w = wire(case);
        if let Some(inputs) = case.get("inputs") {
            let kp = keypair(case, "identity_seed_hex");
            assert_eq!(
                kp.x25519_public(),
                arr::<32>(&inputs["x25519_pk_hex"]),
                "case {i}"
            );
            assert_eq!(
                kp.ed25519_public(),
                arr::<32>(&inputs["ed25519_spk_hex"]),
                "case {i}"
            );
            let mut rec = IdentityRecord::new(
                inputs["username"].as_str().unwrap().into(),
                arr(&inputs["x25519_pk_hex"]),
                arr(&inputs["ed25519_spk_hex"]),
                int(&inputs["ts"]),
            );
            if let Some(vs) = inputs.get("versions") {
                rec.versions = vs
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| u8::try_from(int(v)).unwrap())
                    .collect();
            }
            assert_eq!(rec.to_wire(kp.signer()).unwrap(), w, "case {i} sign");
            signed += 1;
        }
        let result = IdentityRecord::parse_and_verify(&w);
        if expects_failure(case) {
            assert!(result.is_err(), "case {i} must fail");
            parsed_fail += 1;
            continue;
        }
        let rec = result.unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(
            rec.username,
            case["expected_parse_username"].as_str().unwrap(),
            "case {i}"
        );
        let want_versions: Vec<u8> = match case.get("expected_parse_versions") {
            Some(vs) => vs
                .as_array()
                .unwrap()
                .iter()
                .map(|v| u8::try_from(int(v)).unwrap())
                .collect(),
            None => vec![1],
        };
        assert_eq!(rec.versions, want_versions, "case {i}");
        assert_eq!(rec.supports_v2(), want_versions.contains(&2), "case {i}");
        if let Some(inputs) = case.get("inputs") {
            assert_eq!(rec.x25519_pk, arr::<32>(&inputs["x25519_pk_hex"]));
            assert_eq!(rec.ed25519_spk, arr::<32>(&inputs["ed25519_spk_hex"]));
            assert_eq!(rec.ts, int(&inputs["ts"]));
        }
        parsed_ok += 1;
    }
    assert_eq!((signed, parsed_ok, parsed_fail), (3, 3, 1));
}

#[test]
fn slot_manifest_vectors() {
    let cases = load("slot_manifest.json");
    let (mut signed, mut parsed_ok, mut parsed_fail) = (0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let w = wire(case);
        let now = now_of(case);
        if let Some(inputs) = case.get("inputs") {
            let kp = keypair(case, "sender_seed_hex");
            assert_eq!(
                kp.ed25519_public(),
                arr::<32>(&inputs["sender_spk_hex"]),
                "case {i}"
            );
            // The vectors are the legacy form: no chunk hashes.
            let m = SlotManifest {
                msg_id: arr(&inputs["msg_id_hex"]),
                sender_spk: arr(&inputs["sender_spk_hex"]),
                recipient_id: arr(&inputs["recipient_id_hex"]),
                total_chunks: int(&inputs["total_chunks"]).try_into().unwrap(),
                data_chunks: int(&inputs["data_chunks"]).try_into().unwrap(),
                prekey_id: int(&inputs["prekey_id"]).try_into().unwrap(),
                ts: int(&inputs["ts"]),
                exp: int(&inputs["exp"]),
                chunk_hashes: Vec::new(),
            };
            assert_eq!(m.to_wire(kp.signer()).unwrap(), w, "case {i} sign");
            signed += 1;
            if !expects_failure(case) {
                assert_eq!(
                    SlotManifest::parse_and_verify(&w, now).unwrap(),
                    m,
                    "case {i}"
                );
            }
        }
        let result = SlotManifest::parse_and_verify(&w, now);
        if expects_failure(case) {
            assert!(result.is_err(), "case {i} must fail");
            parsed_fail += 1;
            continue;
        }
        let m = result.unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(
            u64::from(m.total_chunks),
            int(&case["expected_parse_total_chunks"]),
            "case {i}"
        );
        assert!(!m.has_chunk_hashes());
        assert!(!m.is_expired(now), "case {i}");
        parsed_ok += 1;
    }
    assert_eq!((signed, parsed_ok, parsed_fail), (2, 2, 1));
}

#[test]
fn slot_manifest_far_future_window() {
    // README: the success cases parse only for now ≥ exp − 30 days.
    let cases = load("slot_manifest.json");
    let w = wire(&cases[0]);
    let exp = int(&cases[0]["inputs"]["exp"]);
    assert!(SlotManifest::parse_and_verify(&w, exp - 2_592_000).is_ok());
    assert!(SlotManifest::parse_and_verify(&w, exp - 2_592_001).is_err());
}

#[test]
fn prekey_vectors() {
    let cases = load("prekey.json");
    let (mut signed, mut parsed_ok, mut parsed_fail) = (0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let w = wire(case);
        let now = now_of(case);
        let spk: [u8; 32] = arr(&case["verify_with_signer_spk_hex"]);
        if let Some(inputs) = case.get("inputs") {
            let kp = keypair(case, "signer_seed_hex");
            assert_eq!(kp.ed25519_public(), spk, "case {i}");
            let pk = Prekey {
                prekey_id: int(&inputs["prekey_id"]).try_into().unwrap(),
                public_key: arr(&inputs["public_key_hex"]),
                exp: int(&inputs["exp"]),
            };
            assert_eq!(pk.to_wire(kp.signer()).unwrap(), w, "case {i} sign");
            signed += 1;
        }
        let result = Prekey::parse_and_verify(&w, &spk, now);
        if expects_failure(case) {
            assert!(result.is_err(), "case {i} must fail");
            parsed_fail += 1;
            continue;
        }
        let pk = result.unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(
            u64::from(pk.prekey_id),
            int(&case["expected_parse_prekey_id"]),
            "case {i}"
        );
        if let Some(inputs) = case.get("inputs") {
            assert_eq!(pk.public_key, arr::<32>(&inputs["public_key_hex"]));
            assert_eq!(pk.exp, int(&inputs["exp"]));
        }
        // Case 3 (exp = 100) parses, and the caller sees it expired.
        if pk.exp == 100 {
            assert!(pk.is_expired(101) && pk.is_expired(now), "case {i}");
            assert!(!pk.is_expired(100), "case {i}");
        } else {
            assert!(!pk.is_expired(now), "case {i}");
        }
        parsed_ok += 1;
    }
    assert_eq!((signed, parsed_ok, parsed_fail), (3, 3, 1));
    assert_eq!(cases[3]["inputs"]["exp"], 100);
}

#[test]
fn dmpv2_envelope_vectors() {
    let cases = load("dmpv2_envelope.json");
    let (mut encoded, mut decoded) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let inputs = &case["inputs"];
        let plaintext = match case.get("expected_plaintext_hex") {
            Some(expected) => {
                let body = bytes(&inputs["body_hex"]);
                let addr = inputs["sender_addr"].as_str();
                let out = envelope::encode_v2(&body, addr);
                assert_eq!(
                    hex::encode(&out),
                    expected.as_str().unwrap(),
                    "case {i} encode"
                );
                encoded += 1;
                bytes(expected)
            }
            None => bytes(&inputs["plaintext_hex"]),
        };
        let (body, from) = envelope::decode(&plaintext);
        assert_eq!(
            hex::encode(body),
            case["expected_decode_body_hex"].as_str().unwrap(),
            "case {i} body"
        );
        assert_eq!(
            from.as_deref(),
            case["expected_decode_from"].as_str(),
            "case {i} from"
        );
        decoded += 1;
    }
    assert_eq!((encoded, decoded), (6, 8));
}
