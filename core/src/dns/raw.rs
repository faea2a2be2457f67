//! Minimal bounds-checked walking of raw DNS messages: enough to find the
//! TSIG RR, which must be handled on the bytes as transmitted.

use alloc::vec::Vec;

/// Header length (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// TSIG RR type (RFC 8945).
pub const TYPE_TSIG: u16 = 250;
/// Class ANY.
pub const CLASS_ANY: u16 = 255;

pub fn u16_at(buf: &[u8], pos: usize) -> Option<u16> {
    let b = buf.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

pub fn u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    let b = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A domain name read from the wire: its labels and the offset just past it
/// in the original position (compression pointers followed, not consumed).
pub struct RawName {
    pub labels: Vec<Vec<u8>>,
    pub end: usize,
}

impl RawName {
    /// Canonical wire form (RFC 4034 §6.2): uncompressed, ASCII lower case.
    pub fn canonical_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for l in &self.labels {
            out.push(l.len() as u8);
            out.extend(l.iter().map(|b| b.to_ascii_lowercase()));
        }
        out.push(0);
        out
    }

    /// Key form: lower-case labels joined with dots, no trailing dot; `None`
    /// when a label is not UTF-8 or contains a dot (it could not be stored).
    pub fn key(&self) -> Option<alloc::string::String> {
        let mut out = alloc::string::String::new();
        for (i, l) in self.labels.iter().enumerate() {
            let s = core::str::from_utf8(l).ok()?;
            if s.contains('.') {
                return None;
            }
            if i > 0 {
                out.push('.');
            }
            out.push_str(&s.to_ascii_lowercase());
        }
        Some(out)
    }
}

/// Reads a possibly compressed name at `pos` (RFC 1035 §4.1.4), with a hop
/// limit and the 255-octet name limit so hostile pointers cannot loop.
pub fn read_name(buf: &[u8], pos: usize) -> Option<RawName> {
    let mut labels = Vec::new();
    let mut p = pos;
    let mut end = None;
    let mut hops = 0u32;
    let mut total = 1usize;
    loop {
        let len = *buf.get(p)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Some(RawName {
                        labels,
                        end: end.unwrap_or(p + 1),
                    });
                }
                let l = buf.get(p + 1..p + 1 + len as usize)?;
                total += 1 + len as usize;
                if total > 255 {
                    return None;
                }
                labels.push(l.to_vec());
                p += 1 + len as usize;
            }
            0xC0 => {
                let target = (u16_at(buf, p)? & 0x3FFF) as usize;
                if end.is_none() {
                    end = Some(p + 2);
                }
                hops += 1;
                if hops > 64 || target >= p {
                    return None;
                }
                p = target;
            }
            _ => return None,
        }
    }
}

/// Skips one RR at `pos`; returns (owner end, type, class, rdata start, rdata end).
pub fn rr_at(buf: &[u8], pos: usize) -> Option<(RawName, u16, u16, usize, usize)> {
    let name = read_name(buf, pos)?;
    let p = name.end;
    let rtype = u16_at(buf, p)?;
    let class = u16_at(buf, p + 2)?;
    let rdlen = u16_at(buf, p + 8)? as usize;
    let start = p + 10;
    let end = start.checked_add(rdlen)?;
    if end > buf.len() {
        return None;
    }
    Some((name, rtype, class, start, end))
}

/// Offset of the last additional RR if it is a TSIG, after checking the
/// whole message walks cleanly and has no trailing bytes.
pub fn find_tsig(buf: &[u8]) -> Option<Option<usize>> {
    let qd = u16_at(buf, 4)?;
    let an = u16_at(buf, 6)? as u32;
    let ns = u16_at(buf, 8)? as u32;
    let ar = u16_at(buf, 10)? as u32;
    let mut p = HEADER_LEN;
    for _ in 0..qd {
        let n = read_name(buf, p)?;
        p = n.end + 4;
        if p > buf.len() {
            return None;
        }
    }
    let total = an + ns + ar;
    let mut last = None;
    for i in 0..total {
        let (_, rtype, _, _, end) = rr_at(buf, p)?;
        if rtype == TYPE_TSIG {
            if i + 1 != total || ar == 0 {
                // RFC 8945 §5.1: only as the last additional record.
                return None;
            }
            last = Some(p);
        }
        p = end;
    }
    if p != buf.len() {
        return None;
    }
    Some(last)
}
