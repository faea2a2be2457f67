//! The fixed world every target and seed shares: clock, keys, names and
//! deterministic randomness. Changing anything here invalidates the
//! committed seeds (regenerate them with `examples/seeds.rs`).

use dmp_core::crypto::Signer25519;

/// The clock of every seed (2030-03-17), and of every receive session.
pub const NOW: u64 = 1_900_000_000;
pub const DAY: u64 = 86_400;

/// Signing-key seeds of the record kinds (`Signer25519::from_seed([s; 32])`).
pub const S_MANIFEST: u8 = 0x21;
pub const S_IDENTITY: u8 = 0x22;
pub const S_PREKEY: u8 = 0x23;
pub const S_CLUSTER: u8 = 0x24;
pub const S_BOOTSTRAP: u8 = 0x25;
pub const S_OLD: u8 = 0x26;
pub const S_NEW: u8 = 0x27;
pub const S_REVOKED: u8 = 0x28;
pub const S_CLAIM: u8 = 0x29;
pub const S_HEARTBEAT: u8 = 0x2a;

/// Parser contexts of the `records` target.
pub const CLUSTER_NAME: &str = "mesh.example.com";
pub const USER_DOMAIN: &str = "example.org";
pub const ROTATION_SUBJECT: &str = "mesh.example.com";
pub const REVOCATION_SUBJECT: &str = "example.org";
pub const REVOCATION_MAX_AGE: u64 = 30 * DAY;
pub const NARROW_SKEW: u64 = 5;

/// The receiving user of the `receive` target and its peer.
pub const BOB_SECRET: [u8; 32] = [2; 32];
pub const BOB: &str = "bob";
pub const BOB_ZONE: &str = "bob.example";
pub const ALICE_SECRET: [u8; 32] = [1; 32];
pub const ALICE: &str = "alice";
pub const ALICE_ZONE: &str = "alice.example";
/// M8 claim-provider zone polled when the input asks for providers.
pub const PROVIDER_ZONE: &str = "claims.example";
/// Seed of the RNG that makes Bob's prekey pool.
pub const PREKEY_RNG_SEED: u64 = 99;
pub const PREKEY_COUNT: usize = 3;

pub fn signer(seed: u8) -> Signer25519 {
    Signer25519::from_seed(&[seed; 32])
}

#[path = "../../core/tests/support/det_rng.rs"]
mod det_rng;
pub use det_rng::DetRng;

/// SplitMix64: cheap choices (positions, permutations) from an input seed.
pub struct Mix(pub u64);

impl Mix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A big-endian u64 from up to the first 8 bytes (zero-padded), and the rest.
pub fn take_u64(data: &[u8]) -> (u64, &[u8]) {
    let n = data.len().min(8);
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&data[..n]);
    (u64::from_be_bytes(b), &data[n..])
}
