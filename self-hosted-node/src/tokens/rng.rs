//! The node's randomness for challenges, tokens and TSIG secrets: 32 bytes
//! from the OS per [`OsSeeded`], stretched with SHA-256 in counter mode.
//! Drawing the seed is the only step that can fail, so it fails up front
//! (the handler answers 500) and the generator itself is infallible, as
//! `dmp_core`'s `CryptoRng` bound wants.

use core::convert::Infallible;
use dmp_core::crypto::sha256;
use rand_core::{TryCryptoRng, TryRng};

/// A short-lived CSPRNG seeded from the OS.
pub struct OsSeeded {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl OsSeeded {
    /// Seeds from the operating system.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(OsSeeded {
            seed,
            counter: 0,
            buf: [0; 32],
            pos: 32,
        })
    }
}

impl Drop for OsSeeded {
    fn drop(&mut self) {
        self.seed = [0; 32];
        self.buf = [0; 32];
    }
}

impl TryRng for OsSeeded {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            if self.pos >= self.buf.len() {
                let mut input = [0u8; 40];
                input[..32].copy_from_slice(&self.seed);
                input[32..].copy_from_slice(&self.counter.to_be_bytes());
                self.buf = sha256(&input);
                self.counter = self.counter.wrapping_add(1);
                self.pos = 0;
            }
            *d = self.buf.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
        }
        Ok(())
    }
}

impl TryCryptoRng for OsSeeded {}
