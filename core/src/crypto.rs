//! DMP cryptography (PROTOCOL.md §4): identity derivation, Ed25519 with the
//! low-order key blocklist, and X25519 + HKDF-SHA256 + ChaCha20-Poly1305
//! sealing of message payloads.

use alloc::vec::Vec;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::{Error, Result};

/// Domain string appended to the raw X25519 secret to derive the Ed25519 seed.
pub const ED25519_SEED_DOMAIN: &[u8] = b"DMP-v1-Ed25519-signing-key";
/// Salt used when a caller supplies none.
pub const DEFAULT_KDF_SALT: &[u8] = b"DMP-default-v2-argon2id";
/// Argon2id parameters of the reference: t=2, m=32 MiB, p=2, 32-byte output.
pub const ARGON2_T_COST: u32 = 2;
pub const ARGON2_M_COST_KIB: u32 = 32 * 1024;
pub const ARGON2_P_COST: u32 = 2;
/// Salts shorter than this are refused (the reference's rule).
pub const MIN_SALT_LEN: usize = 8;
/// HKDF salt and info of message encryption.
pub const HKDF_SALT: &[u8] = b"DMP-v1";
pub const HKDF_INFO: &[u8] = b"DMP-Message-Encryption";

pub const SIGNATURE_LEN: usize = 64;
pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 over several parts, without concatenating them first.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Lowercase hex of `data`.
pub fn hex(data: &[u8]) -> alloc::string::String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = alloc::string::String::with_capacity(data.len() * 2);
    for b in data {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The 14 Ed25519 public-key encodings of small-order points that
/// verification refuses outright (PROTOCOL.md §4.6).
pub fn is_low_order_ed25519(key: &[u8; 32]) -> bool {
    const fn fill(first: u8, filler: u8, last: u8) -> [u8; 32] {
        let mut k = [filler; 32];
        k[0] = first;
        k[31] = last;
        k
    }
    const C7: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    const E8: [u8; 32] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    const fn last(mut k: [u8; 32], b: u8) -> [u8; 32] {
        k[31] = b;
        k
    }
    const BLOCKED: [[u8; 32]; 14] = [
        fill(0x01, 0x00, 0x00),
        C7,
        fill(0x00, 0x00, 0x80),
        E8,
        fill(0xec, 0xff, 0x7f),
        last(E8, 0x85),
        fill(0x00, 0x00, 0x00),
        last(C7, 0xfa),
        fill(0x01, 0x00, 0x80),
        fill(0xee, 0xff, 0x7f),
        fill(0xee, 0xff, 0xff),
        fill(0xed, 0xff, 0x7f),
        fill(0xed, 0xff, 0xff),
        fill(0xec, 0xff, 0xff),
    ];
    BLOCKED.iter().any(|b| b == key)
}

/// Verify an Ed25519 signature over `body` with the 32-byte public key `spk`.
/// Low-order keys are refused before the (cofactorless) check.
pub fn verify(spk: &[u8; 32], body: &[u8], sig: &[u8; 64]) -> Result<()> {
    if is_low_order_ed25519(spk) {
        return Err(Error::BadSignature);
    }
    let key = VerifyingKey::from_bytes(spk).map_err(|_| Error::BadSignature)?;
    key.verify(body, &Signature::from_bytes(sig))
        .map_err(|_| Error::BadSignature)
}

/// Split a decoded blob into `(body, trailing 64-byte signature)`.
pub fn split_signature(blob: &[u8]) -> Result<(&[u8], [u8; 64])> {
    if blob.len() < SIGNATURE_LEN {
        return Err(Error::Malformed("shorter than a signature"));
    }
    let (body, sig) = blob.split_at(blob.len() - SIGNATURE_LEN);
    let mut s = [0u8; 64];
    s.copy_from_slice(sig);
    Ok((body, s))
}

/// An Ed25519 signing key (the identity's, a cluster operator's, ...).
#[derive(Clone)]
pub struct Signer25519 {
    key: SigningKey,
}

impl Signer25519 {
    /// The RFC 8032 key from a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Signer25519 {
            key: SigningKey::from_bytes(seed),
        }
    }
    /// The protocol's derivation from a raw X25519 secret:
    /// `seed = SHA256(x25519_raw ‖ "DMP-v1-Ed25519-signing-key")`.
    pub fn from_x25519_secret(x25519_raw: &[u8; 32]) -> Self {
        Self::from_seed(&sha256_parts(&[x25519_raw, ED25519_SEED_DOMAIN]))
    }
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
    pub fn sign(&self, body: &[u8]) -> [u8; 64] {
        self.key.sign(body).to_bytes()
    }
}

impl core::fmt::Debug for Signer25519 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Signer25519({})", hex(&self.public()))
    }
}

/// A user's (or operator's) key material: the raw X25519 secret as derived
/// (unclamped; X25519 clamps internally) and the Ed25519 key derived from it.
#[derive(Clone)]
pub struct Keypair {
    x25519_raw: [u8; 32],
    x25519_pub: [u8; 32],
    signer: Signer25519,
}

impl Keypair {
    /// Keys from a raw 32-byte X25519 private value (a vector `*_seed_hex`).
    pub fn from_x25519_secret(raw: [u8; 32]) -> Self {
        let x25519_pub = PublicKey::from(&StaticSecret::from(raw)).to_bytes();
        Keypair {
            x25519_raw: raw,
            x25519_pub,
            signer: Signer25519::from_x25519_secret(&raw),
        }
    }

    /// Argon2id(passphrase, salt) with the reference's exact parameters.
    /// Slow on purpose (32 MiB, two passes): front ends should show progress.
    pub fn derive(passphrase: &[u8], salt: &[u8]) -> Result<Self> {
        Ok(Self::from_x25519_secret(argon2_x25519_secret(
            passphrase, salt,
        )?))
    }

    /// A fresh random keypair (operators' keys, tests).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut raw = [0u8; 32];
        rng.fill_bytes(&mut raw);
        Self::from_x25519_secret(raw)
    }

    pub fn x25519_secret(&self) -> &[u8; 32] {
        &self.x25519_raw
    }
    pub fn x25519_public(&self) -> [u8; 32] {
        self.x25519_pub
    }
    pub fn ed25519_public(&self) -> [u8; 32] {
        self.signer.public()
    }
    pub fn signer(&self) -> &Signer25519 {
        &self.signer
    }
    pub fn sign(&self, body: &[u8]) -> [u8; 64] {
        self.signer.sign(body)
    }
    /// `user_id = SHA256(x25519_pub)`.
    pub fn user_id(&self) -> [u8; 32] {
        user_id(&self.x25519_pub)
    }
}

impl core::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Keypair(x25519_pub={})", hex(&self.x25519_pub))
    }
}

/// `user_id = SHA256(x25519_pub)`: the manifest's `recipient_id` and the
/// header's `sender`/`recipient`.
pub fn user_id(x25519_pub: &[u8; 32]) -> [u8; 32] {
    sha256(x25519_pub)
}

/// Raw Argon2id output used as the X25519 secret (PROTOCOL.md §4.1).
pub fn argon2_x25519_secret(passphrase: &[u8], salt: &[u8]) -> Result<[u8; 32]> {
    if salt.len() < MIN_SALT_LEN {
        return Err(Error::Kdf("salt shorter than 8 bytes"));
    }
    let params = argon2::Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, Some(32))
        .map_err(|_| Error::Kdf("argon2 parameters"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(passphrase, salt, &mut out)
        .map_err(|_| Error::Kdf("argon2 failed"))?;
    Ok(out)
}

/// X25519 that refuses non-contributory (low-order) results.
pub fn x25519_shared(secret_raw: &[u8; 32], their_public: &[u8; 32]) -> Result<[u8; 32]> {
    let shared = StaticSecret::from(*secret_raw).diffie_hellman(&PublicKey::from(*their_public));
    if !shared.was_contributory() {
        return Err(Error::NonContributory);
    }
    Ok(shared.to_bytes())
}

fn message_key(shared: &[u8; 32]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), shared);
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    hk.expand(HKDF_INFO, &mut key)
        .expect("32-byte HKDF output is always valid");
    key
}

/// Seal `plaintext` to `recipient_pub` (PROTOCOL.md §4.2):
/// `eph_pub(32) ‖ nonce(12) ‖ ciphertext‖tag`.
pub fn seal<R: CryptoRng + ?Sized>(
    recipient_pub: &[u8; 32],
    plaintext: &[u8],
    aad: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let mut eph_raw = [0u8; 32];
    rng.fill_bytes(&mut eph_raw);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with(recipient_pub, plaintext, aad, &eph_raw, &nonce)
}

/// [`seal`] with caller-chosen ephemeral secret and nonce (deterministic tests).
pub fn seal_with(
    recipient_pub: &[u8; 32],
    plaintext: &[u8],
    aad: &[u8],
    eph_raw: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>> {
    let eph_pub = PublicKey::from(&StaticSecret::from(*eph_raw)).to_bytes();
    let key = message_key(&x25519_shared(eph_raw, recipient_pub)?);
    let cipher = ChaCha20Poly1305::new(&key.into());
    let ct = cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Decrypt)?;
    let mut out = Vec::with_capacity(32 + NONCE_LEN + ct.len());
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a payload made by [`seal`] with the matching X25519 secret.
pub fn open(secret_raw: &[u8; 32], payload: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    if payload.len() < 32 + NONCE_LEN + TAG_LEN {
        return Err(Error::Malformed(
            "payload shorter than eph key, nonce and tag",
        ));
    }
    let mut eph_pub = [0u8; 32];
    eph_pub.copy_from_slice(&payload[..32]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&payload[32..32 + NONCE_LEN]);
    let key = message_key(&x25519_shared(secret_raw, &eph_pub)?);
    let cipher = ChaCha20Poly1305::new(&key.into());
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &payload[32 + NONCE_LEN..],
                aad,
            },
        )
        .map_err(|_| Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let bob = Keypair::from_x25519_secret([7u8; 32]);
        let sealed =
            seal_with(&bob.x25519_public(), b"hi", b"aad", &[9u8; 32], &[1u8; 12]).unwrap();
        assert_eq!(sealed.len(), 32 + 12 + 2 + 16);
        assert_eq!(open(bob.x25519_secret(), &sealed, b"aad").unwrap(), b"hi");
        assert_eq!(
            open(bob.x25519_secret(), &sealed, b"aae"),
            Err(Error::Decrypt)
        );
    }

    #[test]
    fn low_order_public_key_is_refused() {
        let bob = Keypair::from_x25519_secret([7u8; 32]);
        assert_eq!(
            seal_with(&[0u8; 32], b"x", b"", &[9u8; 32], &[0u8; 12]),
            Err(Error::NonContributory)
        );
        let mut sealed =
            seal_with(&bob.x25519_public(), b"x", b"", &[9u8; 32], &[0u8; 12]).unwrap();
        sealed[..32].copy_from_slice(&[0u8; 32]);
        assert_eq!(
            open(bob.x25519_secret(), &sealed, b""),
            Err(Error::NonContributory)
        );
    }

    #[test]
    fn blocklist_has_fourteen_distinct_keys() {
        let mut zero = [0u8; 32];
        assert!(is_low_order_ed25519(&zero));
        zero[0] = 1;
        assert!(is_low_order_ed25519(&zero));
        let signer = Signer25519::from_seed(&[3u8; 32]);
        assert!(!is_low_order_ed25519(&signer.public()));
        let sig = signer.sign(b"body");
        assert!(verify(&signer.public(), b"body", &sig).is_ok());
        assert!(verify(&signer.public(), b"bodx", &sig).is_err());
    }
}
