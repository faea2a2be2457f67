//! reedsolo-compatible per-chunk Reed-Solomon (PROTOCOL.md §5.2, §10.2).
//!
//! Python `reedsolo.RSCodec(32)` with its defaults: GF(2⁸)/0x11D, α = 2,
//! fcr = 0, codewords of at most 255 bytes. The `reed-solomon` 0.2 crate
//! implements the same algorithm and was checked to match it byte for byte
//! (§10.2); this module adds reedsolo's chunking of long inputs and keeps the
//! crate away from lengths where it would panic.

use alloc::vec::Vec;

use reed_solomon::{Decoder, Encoder};

use crate::error::{Error, Result};

/// Parity bytes per codeword (`RSCodec(32)`); corrects up to 16 byte errors.
pub const NSYM: usize = 32;
/// Longest codeword (`nsize`): the field has 255 non-zero elements.
pub const NSIZE: usize = 255;
/// Longest message per codeword.
pub const MAX_MESSAGE: usize = NSIZE - NSYM;

/// `RSCodec(32).encode(data)`: the data is cut into pieces of 223 bytes and
/// each piece is followed by its 32 parity bytes. A DMP block (128 bytes) is
/// one piece, giving `block ‖ parity` (160 bytes).
pub fn encode(data: &[u8]) -> Vec<u8> {
    let encoder = Encoder::new(NSYM);
    let pieces = data.len().div_ceil(MAX_MESSAGE);
    let mut out = Vec::with_capacity(data.len() + pieces * NSYM);
    for piece in data.chunks(MAX_MESSAGE) {
        out.extend_from_slice(&encoder.encode(piece));
    }
    out
}

/// `RSCodec(32).decode(codeword)[0]`: the codeword is cut into pieces of 255
/// bytes, each corrected (up to 16 byte errors) and stripped of its parity.
///
/// Fails on too many errors, and on an empty input or a piece of 32 bytes or
/// fewer (no message bytes; reedsolo returns odd results there and no DMP
/// chunk has such a piece). Beyond 16 errors a wrong codeword can rarely be
/// returned, as in reedsolo; DMP's checksum catches it.
pub fn decode(codeword: &[u8]) -> Result<Vec<u8>> {
    if codeword.is_empty() {
        return Err(Error::Decode("empty Reed-Solomon codeword"));
    }
    let decoder = Decoder::new(NSYM);
    let mut out = Vec::with_capacity(codeword.len());
    for piece in codeword.chunks(NSIZE) {
        // The crate asserts `len < 256` and computes `len - 32`: guard both.
        if piece.len() <= NSYM {
            return Err(Error::Decode("Reed-Solomon codeword too short"));
        }
        let fixed = decoder
            .correct(piece, None)
            .map_err(|_| Error::Decode("too many Reed-Solomon errors"))?;
        out.extend_from_slice(fixed.data());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_chunked_like_reedsolo() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let cw = encode(&data);
        assert_eq!(cw.len(), 300 + 2 * NSYM);
        assert_eq!(&cw[..MAX_MESSAGE], &data[..MAX_MESSAGE]);
        assert_eq!(decode(&cw).unwrap(), data);
        assert!(encode(&[]).is_empty());
    }

    #[test]
    fn short_codewords_fail_cleanly() {
        for len in 0..=NSYM {
            assert!(decode(&alloc::vec![0u8; len]).is_err());
        }
        // 255 + 1: the trailing one-byte piece has no message.
        assert!(decode(&alloc::vec![0u8; NSIZE + 1]).is_err());
        assert_eq!(decode(&[0u8; NSYM + 1]).unwrap(), [0]);
    }
}
