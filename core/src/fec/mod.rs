//! The two coding layers of PROTOCOL.md §5, and the message-level erasure
//! framing of §5.1: `u32 len ‖ outer ‖ zero padding`, cut into 128-byte blocks
//! and zfec-encoded into n shares of which any k recover the message.

pub mod reedsolo;
pub mod zfec;

use alloc::vec::Vec;

use crate::error::{Error, Result};

/// Size of one erasure block, and of the data part of every chunk.
pub const BLOCK_SIZE: usize = 128;

/// Length of the big-endian length prefix in front of `outer`.
const LEN_PREFIX: usize = 4;

/// `(k, n)` from the reference's formula, without the share limit.
/// `ceil(3k/10)` equals Python's `ceil(k * 0.3)` for every k ≤ 1024.
const fn raw_params(outer_len: usize) -> Option<(usize, usize)> {
    let Some(wrapped) = outer_len.checked_add(LEN_PREFIX) else {
        return None;
    };
    let k = wrapped.div_ceil(BLOCK_SIZE);
    let k = if k == 0 { 1 } else { k };
    let parity = (3 * k).div_ceil(10);
    let parity = if parity == 0 { 1 } else { parity };
    Some((k, k + parity))
}

/// Largest k whose n still fits zfec's 256 shares.
const fn max_k() -> usize {
    let mut k: usize = 1;
    while k + 1 + (3 * (k + 1)).div_ceil(10) <= zfec::MAX_SHARES {
        k += 1;
    }
    k
}

/// Longest `outer` (header JSON, ciphertext and trailer; §3) that can be sent:
/// 25 084 bytes (k = 196, n = 255). The reference cannot send more either.
pub const MAX_OUTER_LEN: usize = max_k() * BLOCK_SIZE - LEN_PREFIX;

/// Longest payload when `overhead` bytes of `outer` are not payload; with the
/// usual 360-byte overhead of a DATA message this is 24 724 bytes.
pub const fn max_payload_len(overhead: usize) -> usize {
    MAX_OUTER_LEN.saturating_sub(overhead)
}

/// `(k, n)` for an `outer` of `outer_len` bytes (§5.1). Fails with
/// [`Error::MessageTooLarge`] (limit [`MAX_OUTER_LEN`]) when n would exceed 256.
pub fn params_for_len(outer_len: usize) -> Result<(usize, usize)> {
    match raw_params(outer_len) {
        Some((k, n)) if n <= zfec::MAX_SHARES => Ok((k, n)),
        _ => Err(Error::MessageTooLarge {
            len: outer_len,
            max: MAX_OUTER_LEN,
        }),
    }
}

/// Frame and erasure-code `outer`: returns `(k, n, shares)` with n shares of
/// [`BLOCK_SIZE`] bytes; share i is published as chunk i.
pub fn encode_message(outer: &[u8]) -> Result<(usize, usize, Vec<[u8; BLOCK_SIZE]>)> {
    let (k, n) = params_for_len(outer.len())?;
    // outer.len() ≤ MAX_OUTER_LEN here, so it fits the u32 prefix.
    let len = u32::try_from(outer.len()).map_err(|_| Error::MessageTooLarge {
        len: outer.len(),
        max: MAX_OUTER_LEN,
    })?;
    let mut padded = Vec::with_capacity(k * BLOCK_SIZE);
    padded.extend_from_slice(&len.to_be_bytes());
    padded.extend_from_slice(outer);
    padded.resize(k * BLOCK_SIZE, 0);
    let blocks: Vec<&[u8]> = padded.chunks(BLOCK_SIZE).collect();
    let shares = zfec::encode(k, n, &blocks)?;
    let mut out = Vec::with_capacity(n);
    for share in shares {
        let block: [u8; BLOCK_SIZE] = share
            .as_slice()
            .try_into()
            .map_err(|_| Error::Invalid("erasure share is not one block"))?;
        out.push(block);
    }
    Ok((k, n, out))
}

/// Recover `outer` from `(chunk index, block)` pairs, as the reference's
/// `erasure.decode` does: the k lowest distinct indices are used (each must
/// be [`BLOCK_SIZE`] bytes), then the length prefix L is read and
/// `padded[4 .. 4 + L]` returned. Padding bytes are not checked.
pub fn decode_message(k: usize, n: usize, shares: &[(usize, &[u8])]) -> Result<Vec<u8>> {
    if !zfec::valid_params(k, n) {
        return Err(Error::Decode("erasure parameters need 1 <= k <= n <= 256"));
    }
    let mut chosen: Vec<(usize, &[u8])> = shares.to_vec();
    chosen.sort_by_key(|&(id, _)| id);
    chosen.dedup_by_key(|&mut (id, _)| id);
    if chosen.len() < k {
        return Err(Error::Decode("fewer than k erasure shares"));
    }
    chosen.truncate(k);
    if chosen.iter().any(|&(_, b)| b.len() != BLOCK_SIZE) {
        return Err(Error::Decode("erasure share is not one block"));
    }
    let blocks = zfec::decode(k, n, &chosen)?;
    let padded: Vec<u8> = blocks.concat();
    let (prefix, body) = padded
        .split_first_chunk::<LEN_PREFIX>()
        .ok_or(Error::Decode("erasure data too short"))?;
    let len = usize::try_from(u32::from_be_bytes(*prefix))
        .map_err(|_| Error::Decode("erasure length prefix too large"))?;
    body.get(..len)
        .map(<[u8]>::to_vec)
        .ok_or(Error::Decode("erasure length prefix too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_the_protocol() {
        assert_eq!(MAX_OUTER_LEN, 25_084);
        assert_eq!(max_payload_len(360), 24_724);
        assert_eq!(params_for_len(MAX_OUTER_LEN), Ok((196, 255)));
        assert_eq!(
            params_for_len(MAX_OUTER_LEN + 1),
            Err(Error::MessageTooLarge {
                len: MAX_OUTER_LEN + 1,
                max: MAX_OUTER_LEN
            })
        );
        assert!(params_for_len(usize::MAX).is_err());
        assert_eq!(params_for_len(0), Ok((1, 2)));
        assert_eq!(params_for_len(124), Ok((1, 2)));
        assert_eq!(params_for_len(125), Ok((2, 3)));
        assert_eq!(params_for_len(360), Ok((3, 4)));
        // k = 7 gives n = 10, as in the reference exchange of §0.
        assert_eq!(params_for_len(7 * 128 - 4), Ok((7, 10)));
    }

    #[test]
    fn ceil_matches_float_formula() {
        // ceil(k * 0.3) in f64, as Python computes it, for every k ≤ 1024.
        for k in 1usize..=1024 {
            let float = libm_ceil(k as f64 * 0.3) as usize;
            assert_eq!((3 * k).div_ceil(10), float, "k={k}");
        }
    }

    /// `ceil` without std: exact for the small positive values used above.
    fn libm_ceil(x: f64) -> f64 {
        let t = x as u64 as f64;
        if t < x { t + 1.0 } else { t }
    }
}
