//! Chunk record `v=dmp1;t=chunk;d=` (PROTOCOL.md §1, §2.1).
//!
//! Chunk data is `H(block)[0:8] ‖ block ‖ RS parity(32)` (168 bytes for a
//! 128-byte block). Chunks carry no signature: the receiver binds each one to
//! the signed manifest by hashing the decoded data, so [`parse_chunk_data`]
//! must return exactly the bytes the reference would hash.
//!
//! The reference parses chunks with a generic `key=value;` wrapper rather than
//! a prefix match, and its base64 is Python's non-validating `b64decode`.
//! Both are reproduced here, so a value the reference accepts is accepted
//! with the same bytes, and vice versa.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::sha256;
use crate::error::{Error, Result};
use crate::fec::{BLOCK_SIZE, reedsolo};
use crate::wire::{PREFIX_CHUNK, b64_decode_lenient, b64_encode};

/// Length of the truncated SHA-256 checksum in front of the codeword.
pub const CHECKSUM_LEN: usize = 8;
/// Decoded length of a chunk carrying one erasure block.
pub const CHUNK_DATA_LEN: usize = CHECKSUM_LEN + BLOCK_SIZE + reedsolo::NSYM;

/// Chunk data for one erasure share: `H(block)[0:8] ‖ block ‖ parity`.
pub fn wrap_block(block: &[u8; BLOCK_SIZE]) -> Vec<u8> {
    let mut data = Vec::with_capacity(CHUNK_DATA_LEN);
    data.extend_from_slice(&sha256(block)[..CHECKSUM_LEN]);
    data.extend_from_slice(&reedsolo::encode(block));
    data
}

/// The TXT value publishing `data`: `v=dmp1;t=chunk;d=<b64>` (241 characters
/// for 168 bytes of data).
pub fn chunk_wire(data: &[u8]) -> String {
    let mut wire = String::from(PREFIX_CHUNK);
    wire.push_str(&b64_encode(data));
    wire
}

/// The decoded `d` of a chunk value, to be hashed against the manifest's
/// `chunk_hashes[i]` before [`unwrap_block`].
///
/// Mirrors the reference: the value must start with `v=dmp`; it is split on
/// `;`, each part containing `=` is split at its first `=` and both sides are
/// stripped of (Python) whitespace, later keys overriding earlier ones. `v`
/// with every `dmp` removed must be a Python integer; `t` (default `chunk`)
/// must be `chunk`; `d` is decoded like Python's non-validating `b64decode`,
/// and a `d` that does not decode (or is absent) gives empty data, not an
/// error.
pub fn parse_chunk_data(value: &str) -> Result<Vec<u8>> {
    if !value.starts_with("v=dmp") {
        return Err(Error::Prefix);
    }
    let mut version = None;
    let mut kind = None;
    let mut data = None;
    for part in value.split(';') {
        if let Some((key, val)) = part.split_once('=') {
            let val = py_strip(val);
            match py_strip(key) {
                "v" => version = Some(val),
                "t" => kind = Some(val),
                "d" => data = Some(val),
                _ => {}
            }
        }
    }
    let version = version.unwrap_or("dmp1").replace("dmp", "");
    if !is_py_int(&version) {
        return Err(Error::Malformed("chunk version is not an integer"));
    }
    if kind.unwrap_or("chunk") != "chunk" {
        return Err(Error::Prefix);
    }
    Ok(data
        .and_then(|d| b64_decode_lenient(d).ok())
        .unwrap_or_default())
}

/// Recover the block from chunk data: fail if it is 8 bytes or shorter,
/// RS-decode the bytes after the checksum, then require
/// `H(decoded)[0:8] == checksum`. The block length is not checked here; the
/// erasure layer requires [`BLOCK_SIZE`].
pub fn unwrap_block(data: &[u8]) -> Result<Vec<u8>> {
    if data.len() <= CHECKSUM_LEN {
        return Err(Error::Malformed("chunk data too short"));
    }
    let (checksum, codeword) = data.split_at(CHECKSUM_LEN);
    let block = reedsolo::decode(codeword)?;
    if sha256(&block)[..CHECKSUM_LEN] != *checksum {
        return Err(Error::Mismatch("chunk checksum"));
    }
    Ok(block)
}

/// Python's `str.isspace()`: Unicode White_Space plus U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` without arguments.
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Whether Python's `int(s)` accepts `s`: optional surrounding whitespace
/// (here U+001C..U+001F do not count, unlike in `str.strip()`), an optional
/// sign, then digits with single underscores between them. Only ASCII digits
/// are recognized (Python also takes other Unicode digits; no real sender
/// writes them).
fn is_py_int(s: &str) -> bool {
    let s = s.trim_matches(char::is_whitespace);
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    !s.is_empty()
        && s.split('_')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_and_strip() {
        for ok in ["1", " 2 ", "+3", "-0", "1_000", "\u{85}7\u{3000}"] {
            assert!(is_py_int(ok), "{ok:?}");
        }
        for bad in ["", "x", "1_", "_1", "1__0", "+", "1 2", "0x1", "\u{1c}1"] {
            assert!(!is_py_int(bad), "{bad:?}");
        }
        assert_eq!(py_strip("\u{1f} a \u{85}"), "a");
    }

    #[test]
    fn wrapper_rules() {
        assert_eq!(parse_chunk_data("v=dmp1;t=chunk;d=QUJD").unwrap(), b"ABC");
        // t defaults to chunk; keys and values are stripped; later keys win.
        assert_eq!(parse_chunk_data("v=dmp1;d=QUJD").unwrap(), b"ABC");
        assert_eq!(
            parse_chunk_data("v=dmp2 ; t = chunk ;d=QQ==;d= QUJD ;junk").unwrap(),
            b"ABC"
        );
        // A bad or missing d is empty data, not an error.
        assert_eq!(parse_chunk_data("v=dmp1;t=chunk;d=QQ=").unwrap(), b"");
        assert_eq!(parse_chunk_data("v=dmp1;t=chunk").unwrap(), b"");
        assert_eq!(parse_chunk_data("v=dmp1;t=chunk;d=\u{e9}").unwrap(), b"");
        assert_eq!(parse_chunk_data("v=dmp1;t=claim;AAAA"), Err(Error::Prefix));
        assert_eq!(parse_chunk_data(" v=dmp1;t=chunk;d="), Err(Error::Prefix));
        assert!(parse_chunk_data("v=dmpx;t=chunk;d=QUJD").is_err());
        assert!(parse_chunk_data("v=dmp1;t=chunk;v=3x;d=QUJD").is_err());
    }
}
