//! Differential: our Argon2id → X25519 → Ed25519 derivation against the
//! reference's, for several passphrases and salts (PROTOCOL.md §4.1).

mod support;

use dmp_core::crypto::{DEFAULT_KDF_SALT, Keypair};
use serde_json::json;
use support::{Oracle, hex, reference_skipped};

#[test]
fn derivation_matches_the_reference() {
    if reference_skipped() {
        return;
    }
    let mut oracle = Oracle::start();
    let cases: [(&str, Option<&[u8]>); 4] = [
        ("correct horse battery staple", Some(&[0x11; 32])),
        ("", Some(b"12345678")),
        ("pässwörd ✓", Some(&[0xa5; 16])),
        ("fallback salt", None),
    ];
    for (passphrase, salt) in cases {
        let reply = oracle.ok(
            "derive",
            json!({"passphrase": passphrase, "salt_hex": salt.map(hex)}),
        );
        let ours = Keypair::derive(passphrase.as_bytes(), salt.unwrap_or(DEFAULT_KDF_SALT))
            .expect("derivation");
        assert_eq!(
            reply["x25519_priv_hex"],
            hex(ours.x25519_secret()),
            "{passphrase}"
        );
        assert_eq!(
            reply["x25519_pub_hex"],
            hex(&ours.x25519_public()),
            "{passphrase}"
        );
        assert_eq!(
            reply["ed25519_pub_hex"],
            hex(&ours.ed25519_public()),
            "{passphrase}"
        );
        assert_eq!(reply["user_id_hex"], hex(&ours.user_id()), "{passphrase}");
    }
}

#[test]
fn short_salt_is_refused_like_the_reference() {
    assert!(Keypair::derive(b"x", b"1234567").is_err());
    if reference_skipped() {
        return;
    }
    let mut oracle = Oracle::start();
    let reply = oracle.call(
        "derive",
        json!({"passphrase": "x", "salt_hex": hex(b"1234567")}),
    );
    assert!(
        reply.get("error").is_some(),
        "reference accepted a 7-byte salt: {reply}"
    );
}
