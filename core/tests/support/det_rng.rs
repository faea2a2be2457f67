//! A deterministic `CryptoRng` for tests, benches and fuzz targets: SHA-256
//! in counter mode over a seed, so every run is repeatable. Shared by path
//! (`#[path]`) from the benches and the fuzz crate. Never for real keys.

use core::convert::Infallible;

use dmp_core::crypto::sha256;
use rand_core::{TryCryptoRng, TryRng};

pub struct DetRng {
    seed: [u8; 32],
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl DetRng {
    pub fn new(seed: u64) -> Self {
        DetRng {
            seed: sha256(&seed.to_be_bytes()),
            counter: 0,
            buf: [0; 32],
            pos: 32,
        }
    }
}

impl TryRng for DetRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            if self.pos == 32 {
                let mut input = [0u8; 40];
                input[..32].copy_from_slice(&self.seed);
                input[32..].copy_from_slice(&self.counter.to_be_bytes());
                self.buf = sha256(&input);
                self.counter += 1;
                self.pos = 0;
            }
            *d = self.buf[self.pos];
            self.pos += 1;
        }
        Ok(())
    }
}

impl TryCryptoRng for DetRng {}
