//! Local encryption at rest for front ends that keep client state (prekey
//! secrets, contacts, history) in untrusted storage such as a browser's
//! IndexedDB. Not part of the wire protocol: the key is derived from the
//! identity's X25519 secret, so whoever can unlock the identity can read the
//! vault and nobody else can, and a wrong passphrase shows up as a failed
//! [`vault_open`] rather than garbage.

use alloc::vec::Vec;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::crypto::{Keypair, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};

/// HKDF info separating the vault key from every protocol key.
const VAULT_INFO: &[u8] = b"dmp-rs local vault v1";
/// Format byte in front of every sealed blob, so a later format can be told apart.
const VAULT_VERSION: u8 = 1;

/// The 32-byte vault key of an identity: HKDF-SHA256 over its X25519 secret.
pub fn vault_key(keypair: &Keypair) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(b"dmp-rs-vault"), keypair.x25519_secret());
    let mut key = [0u8; 32];
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(VAULT_INFO, &mut key);
    key
}

/// Seal `plaintext` under `key`, bound to `label` (what the blob is, so
/// blobs cannot be swapped between slots): `version ‖ nonce ‖ ct‖tag`. The
/// caller supplies a fresh random nonce.
pub fn vault_seal(
    key: &[u8; 32],
    label: &str,
    plaintext: &[u8],
    nonce: &[u8; 12],
) -> Result<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    // Fails only for inputs beyond the cipher's 256 GiB limit.
    let ct = cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| Error::Invalid("vault plaintext too large"))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(VAULT_VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a blob made by [`vault_seal`] with the same key and label.
/// [`Error::Decrypt`] means the wrong key (passphrase) or a tampered blob.
pub fn vault_open(key: &[u8; 32], label: &str, blob: &[u8]) -> Result<Vec<u8>> {
    let (version, rest) = blob
        .split_first()
        .ok_or(Error::Malformed("vault blob is empty"))?;
    if *version != VAULT_VERSION {
        return Err(Error::Malformed("unknown vault format"));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Malformed("vault blob too short"));
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    ChaCha20Poly1305::new(&(*key).into())
        .decrypt(
            &Nonce::from(n),
            Payload {
                msg: ct,
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key_or_label_refused() {
        let a = vault_key(&Keypair::from_x25519_secret([1; 32]));
        let b = vault_key(&Keypair::from_x25519_secret([2; 32]));
        assert_ne!(a, b);
        let blob = vault_seal(&a, "state", b"secret", &[9; 12]).unwrap();
        assert_eq!(vault_open(&a, "state", &blob).unwrap(), b"secret");
        assert_eq!(vault_open(&b, "state", &blob), Err(Error::Decrypt));
        assert_eq!(vault_open(&a, "other", &blob), Err(Error::Decrypt));
        assert!(vault_open(&a, "state", &blob[..5]).is_err());
        assert!(vault_open(&a, "state", &[]).is_err());
    }
}
