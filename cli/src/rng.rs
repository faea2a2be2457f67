//! The OS random source as the `rand_core` RNG that dmp-core takes.

use rand_core::{TryCryptoRng, TryRng};
use std::convert::Infallible;

/// Reads the OS CSPRNG (`getrandom`) on every call. A failing OS source is
/// unrecoverable for a crypto client, so it aborts with a clear message
/// instead of producing weak keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRng;

impl TryRng for OsRng {
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
        if let Err(e) = getrandom::fill(dst) {
            eprintln!("dnsmesh: the OS random source failed ({e}); refusing to continue");
            std::process::exit(2);
        }
        Ok(())
    }
}

impl TryCryptoRng for OsRng {}

/// Current Unix time in seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
