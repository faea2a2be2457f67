//! Wire-level helpers shared by every record: the prefix registry, the two
//! base64 modes of the reference, big-endian readers and TXT string splitting.

use alloc::string::String;
use alloc::vec::Vec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};

pub const PREFIX_CHUNK: &str = "v=dmp1;t=chunk;d=";
pub const PREFIX_MANIFEST: &str = "v=dmp1;t=manifest;d=";
pub const PREFIX_IDENTITY: &str = "v=dmp1;t=identity;d=";
pub const PREFIX_PREKEY: &str = "v=dmp1;t=prekey;d=";
pub const PREFIX_CLUSTER: &str = "v=dmp1;t=cluster;";
pub const PREFIX_BOOTSTRAP: &str = "v=dmp1;t=bootstrap;";
pub const PREFIX_ROTATION: &str = "v=dmp1;t=rotation;";
pub const PREFIX_REVOCATION: &str = "v=dmp1;t=revocation;";
pub const PREFIX_CLAIM: &str = "v=dmp1;t=claim;";
pub const PREFIX_HEARTBEAT: &str = "v=dmp1;t=heartbeat;";

/// Wire cap (prefix included) of cluster, bootstrap, rotation, revocation and heartbeat.
pub const SIGNED_RECORD_WIRE_CAP: usize = 1200;
/// Wire cap of a claim record: it must fit one TXT character-string.
pub const CLAIM_WIRE_CAP: usize = 255;
/// Longest TXT character-string (RFC 1035).
pub const TXT_STRING_MAX: usize = 255;

/// Which record a TXT value holds, by its full prefix (never by body magic:
/// claim and cluster share `DMPCL01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Chunk,
    Manifest,
    Identity,
    Prekey,
    Cluster,
    Bootstrap,
    Rotation,
    Revocation,
    Claim,
    Heartbeat,
}

impl RecordKind {
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Chunk,
        RecordKind::Manifest,
        RecordKind::Identity,
        RecordKind::Prekey,
        RecordKind::Cluster,
        RecordKind::Bootstrap,
        RecordKind::Rotation,
        RecordKind::Revocation,
        RecordKind::Claim,
        RecordKind::Heartbeat,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            RecordKind::Chunk => PREFIX_CHUNK,
            RecordKind::Manifest => PREFIX_MANIFEST,
            RecordKind::Identity => PREFIX_IDENTITY,
            RecordKind::Prekey => PREFIX_PREKEY,
            RecordKind::Cluster => PREFIX_CLUSTER,
            RecordKind::Bootstrap => PREFIX_BOOTSTRAP,
            RecordKind::Rotation => PREFIX_ROTATION,
            RecordKind::Revocation => PREFIX_REVOCATION,
            RecordKind::Claim => PREFIX_CLAIM,
            RecordKind::Heartbeat => PREFIX_HEARTBEAT,
        }
    }

    /// Classify a value by its exact prefix; `None` for foreign TXT data (SPF etc.).
    pub fn of(value: &str) -> Option<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|k| value.starts_with(k.prefix()))
    }
}

/// Standard padded base64, as every record is written.
pub fn b64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Strict decode: Python's `b64decode(validate=True)`, which is CPython
/// 3.11's `a2b_base64(strict_mode=True)`. Only alphabet and `=` characters;
/// no leading `=`; no data after padding starts; once a pad completes a
/// quantum nothing may follow; unused low bits are not checked.
pub fn b64_decode_strict(text: &str) -> Result<Vec<u8>> {
    a2b_base64(text, true)
}

/// Lenient decode: Python's `b64decode(s)` without validation (CPython 3.11
/// `a2b_base64`, non-strict). Non-ASCII input fails; bytes outside the
/// alphabet are skipped; an `=` counts as padding only after two or more
/// characters of a quantum, and once the quantum is complete decoding stops,
/// ignoring the rest; leftover bits are not checked; an incomplete final
/// quantum fails.
pub fn b64_decode_lenient(text: &str) -> Result<Vec<u8>> {
    a2b_base64(text, false)
}

/// CPython 3.11's `binascii.a2b_base64`, both modes.
fn a2b_base64(s: &str, strict: bool) -> Result<Vec<u8>> {
    let bytes = s.as_bytes();
    if !s.is_ascii() || (strict && bytes.first() == Some(&b'=')) {
        return Err(Error::Base64);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 3);
    let mut quad_pos = 0u8;
    let mut pads = 0u8;
    let mut padding_started = false;
    let mut acc = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'=' {
            padding_started = true;
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    if strict && i + 1 < bytes.len() {
                        return Err(Error::Base64);
                    }
                    return Ok(out);
                }
            }
            continue;
        }
        let Some(v) = b64_value(b) else {
            if strict {
                return Err(Error::Base64);
            }
            continue;
        };
        if strict && padding_started {
            return Err(Error::Base64);
        }
        pads = 0;
        match quad_pos {
            0 => {
                acc = v;
                quad_pos = 1;
            }
            1 => {
                out.push((acc << 2) | (v >> 4));
                acc = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((acc << 4) | (v >> 2));
                acc = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((acc << 6) | v);
                quad_pos = 0;
            }
        }
    }
    if quad_pos == 0 {
        Ok(out)
    } else {
        Err(Error::Base64)
    }
}

/// The 6-bit value of a standard base64 character.
fn b64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Strip `prefix` from `value`, or fail with [`Error::Prefix`].
pub fn strip_prefix<'a>(value: &'a str, prefix: &str) -> Result<&'a str> {
    value.strip_prefix(prefix).ok_or(Error::Prefix)
}

/// Split an ASCII TXT value into <character-string>s of at most 255 bytes.
/// Values are ASCII by construction; a non-ASCII value is split on char
/// boundaries so no string is cut inside a UTF-8 sequence.
pub fn split_txt(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while rest.len() > TXT_STRING_MAX {
        let mut cut = TXT_STRING_MAX;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

/// Join the character-strings of one TXT RR with nothing in between;
/// invalid UTF-8 is replaced, as the reference's resolver does.
pub fn join_txt<S: AsRef<[u8]>>(strings: &[S]) -> String {
    let mut bytes = Vec::new();
    for s in strings {
        bytes.extend_from_slice(s.as_ref());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A bounds-checked big-endian cursor over a decoded blob. Every read fails
/// cleanly with [`Error::Malformed`] instead of panicking.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::Malformed("truncated"));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Fail unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Malformed("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_uses_full_prefix() {
        assert_eq!(
            RecordKind::of("v=dmp1;t=claim;AAAA"),
            Some(RecordKind::Claim)
        );
        assert_eq!(
            RecordKind::of("v=dmp1;t=cluster;AAAA"),
            Some(RecordKind::Cluster)
        );
        assert_eq!(RecordKind::of("v=spf1 -all"), None);
    }

    #[test]
    fn lenient_drops_foreign_bytes_but_keeps_padding_rules() {
        assert_eq!(b64_decode_lenient("QU J D").unwrap(), b"ABC");
        assert!(b64_decode_lenient("QQ=").is_err());
        assert!(b64_decode_strict("QU J D").is_err());
        assert!(b64_decode_lenient("QUI").is_err());
        // Python ignores non-zero unused bits and a pad after a full quantum.
        assert_eq!(b64_decode_strict("QR==").unwrap(), b"A");
        assert_eq!(b64_decode_strict("QUJD=").unwrap(), b"ABC");
        assert_eq!(b64_decode_strict("QUJD===").unwrap(), b"ABC");
        assert!(b64_decode_strict("QUI==").is_err());
        assert!(b64_decode_strict("=").is_err());
        assert!(b64_decode_strict("QU=JD").is_err());
        assert!(b64_decode_strict("QUJ\u{e9}").is_err());
    }

    #[test]
    fn python_b64decode_quirks() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("QUJD", Some(b"ABC")),
            ("QQ==QUJD", Some(b"A")),
            ("=QUJD", Some(b"ABC")),
            ("QUJD=", Some(b"ABC")),
            ("QR==", Some(b"A")),
            ("Q===", None),
            ("QQ=A=", Some(b"A\x00")),
            ("QUI=QUJD", Some(b"AB")),
            ("QQ=", None),
            ("QU=JD", Some(b"ABC")),
            ("Q=Q==", Some(b"A")),
            ("QUJDQ", None),
            ("QU JD\n", Some(b"ABC")),
            ("", Some(b"")),
            ("QUJ\u{e9}", None),
        ];
        for &(input, want) in cases {
            assert_eq!(b64_decode_lenient(input).ok().as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn txt_split_and_join_round_trip() {
        let v: String = core::iter::repeat_n('a', 600).collect();
        let parts = split_txt(&v);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(join_txt(&parts), v);
        assert_eq!(split_txt(""), [""]);
    }
}
