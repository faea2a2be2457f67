//! The smallest DNS message code a DNS-over-HTTPS reader needs (RFC 8484
//! wire format): one TXT question out, the TXT values of the answer back.
//! Unlike [`crate::dns::client`] it needs no `dns` feature (hickory-proto),
//! which keeps a browser client's download small.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::wire::{Reader, join_txt};

const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;

/// A TXT query for `name` with ID 0 (RFC 8484 §4.1: cache friendly) and
/// Recursion Desired set.
pub fn txt_query(name: &str) -> Result<Vec<u8>> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(Error::Invalid("DNS name length"));
    }
    let mut q = Vec::with_capacity(name.len() + 18);
    // id 0, flags RD, one question, no other records.
    q.extend_from_slice(&[0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        let len = u8::try_from(label.len()).map_err(|_| Error::Invalid("DNS label length"))?;
        if len == 0 || len > 63 {
            return Err(Error::Invalid("DNS label length"));
        }
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_TXT.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// What came back: the RCODE and every TXT RR of the answer section with
/// its character-strings joined (as [`join_txt`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtAnswer {
    pub rcode: u8,
    pub truncated: bool,
    pub values: Vec<String>,
}

/// Skip a (possibly compressed) owner name.
fn skip_name(r: &mut Reader<'_>) -> Result<()> {
    for _ in 0..128 {
        let len = r.u8()?;
        match len {
            0 => return Ok(()),
            l if l & 0xC0 == 0xC0 => {
                r.u8()?;
                return Ok(());
            }
            l if l & 0xC0 == 0 => {
                r.bytes(usize::from(l))?;
            }
            _ => return Err(Error::Malformed("DNS name label type")),
        }
    }
    Err(Error::Malformed("DNS name too long"))
}

/// Parse a response to [`txt_query`]. Non-TXT answers (a CNAME chain) are
/// skipped; a malformed message is an error, never a panic.
pub fn parse_txt_answer(packet: &[u8]) -> Result<TxtAnswer> {
    let mut r = Reader::new(packet);
    let _id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(Error::Malformed("DNS response: QR not set"));
    }
    let qd = r.u16()?;
    let an = r.u16()?;
    let _ns = r.u16()?;
    let _ar = r.u16()?;
    for _ in 0..qd {
        skip_name(&mut r)?;
        r.u32()?;
    }
    let mut values = Vec::new();
    for _ in 0..an {
        skip_name(&mut r)?;
        let rtype = r.u16()?;
        let _class = r.u16()?;
        let _ttl = r.u32()?;
        let rdlen = r.u16()?;
        let rdata = r.bytes(usize::from(rdlen))?;
        if rtype != TYPE_TXT {
            continue;
        }
        let mut strings: Vec<&[u8]> = Vec::new();
        let mut d = Reader::new(rdata);
        while !d.is_empty() {
            let l = d.u8()?;
            strings.push(d.bytes(usize::from(l))?);
        }
        values.push(join_txt(&strings));
    }
    Ok(TxtAnswer {
        rcode: (flags & 0x000F) as u8,
        truncated: flags & 0x0200 != 0,
        values,
    })
}

/// Parse an `application/dns-json` answer (the Google / Cloudflare JSON
/// form): `Status`, `TC` and the TXT `data` of `Answer`, whose
/// presentation form (quoted character-strings with `\"`, `\\` and `\DDD`
/// escapes, or a bare unquoted string) is decoded and joined.
pub fn parse_txt_json(body: &str) -> Result<TxtAnswer> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|_| Error::Malformed("DNS JSON answer"))?;
    let rcode = v
        .get("Status")
        .and_then(serde_json::Value::as_u64)
        .ok_or(Error::Malformed("DNS JSON answer: no Status"))?;
    let truncated = v
        .get("TC")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut values = Vec::new();
    if let Some(answers) = v.get("Answer").and_then(serde_json::Value::as_array) {
        for a in answers {
            if a.get("type").and_then(serde_json::Value::as_u64) != Some(u64::from(TYPE_TXT)) {
                continue;
            }
            let Some(data) = a.get("data").and_then(serde_json::Value::as_str) else {
                continue;
            };
            values.push(join_txt(&txt_presentation(data)?));
        }
    }
    Ok(TxtAnswer {
        rcode: u8::try_from(rcode).unwrap_or(u8::MAX),
        truncated,
        values,
    })
}

/// The character-strings of a TXT presentation form.
fn txt_presentation(data: &str) -> Result<Vec<Vec<u8>>> {
    let data = data.trim();
    if !data.starts_with('"') {
        return Ok(alloc::vec![data.as_bytes().to_vec()]);
    }
    let bytes = data.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b' ') => i += 1,
            Some(b'"') => {
                i += 1;
                let mut cur = Vec::new();
                loop {
                    match bytes.get(i) {
                        None => return Err(Error::Malformed("DNS JSON TXT: unterminated string")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let d: Vec<u8> = bytes.iter().skip(i + 1).take(3).copied().collect();
                            if d.len() == 3 && d.iter().all(u8::is_ascii_digit) {
                                let n =
                                    d.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
                                cur.push(
                                    u8::try_from(n).map_err(|_| {
                                        Error::Malformed("DNS JSON TXT: bad escape")
                                    })?,
                                );
                                i += 4;
                            } else {
                                let c = bytes
                                    .get(i + 1)
                                    .ok_or(Error::Malformed("DNS JSON TXT: bad escape"))?;
                                cur.push(*c);
                                i += 2;
                            }
                        }
                        Some(c) => {
                            cur.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(cur);
            }
            Some(_) => return Err(Error::Malformed("DNS JSON TXT: text outside quotes")),
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn query_layout_and_bad_names() {
        let q = txt_query("a.bc.").unwrap();
        assert_eq!(
            q,
            [
                0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 16, 0, 1
            ]
        );
        assert!(txt_query("").is_err());
        assert!(txt_query("a..b").is_err());
        assert!(txt_query(&"x".repeat(64)).is_err());
    }

    #[test]
    fn parses_compressed_multi_string_answer_and_survives_garbage() {
        let mut p = vec![0, 0, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        p.extend_from_slice(&[1, b'a', 0, 0, 16, 0, 1]);
        // TXT with two strings, owner is a pointer to offset 12.
        p.extend_from_slice(&[
            0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 6, 2, b'h', b'i', 2, b'y', b'o',
        ]);
        // A record, skipped.
        p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        let a = parse_txt_answer(&p).unwrap();
        assert_eq!(a.values, ["hiyo"]);
        assert_eq!(a.rcode, 0);
        for cut in 0..p.len() {
            let _ = parse_txt_answer(&p[..cut]);
        }
        assert!(parse_txt_answer(&[0; 12]).is_err());
    }

    #[test]
    fn json_form_with_escapes_and_garbage() {
        let body = r#"{"Status":0,"TC":false,"Answer":[
            {"name":"a","type":16,"TTL":60,"data":"\"ab\" \"c\\\"d\\233\""},
            {"name":"a","type":5,"TTL":60,"data":"b."},
            {"name":"a","type":16,"TTL":60,"data":"plain"}]}"#;
        let a = parse_txt_json(body).unwrap();
        assert_eq!(a.values, ["abc\"d\u{FFFD}", "plain"]);
        assert_eq!(parse_txt_json(r#"{"Status":3}"#).unwrap().rcode, 3);
        assert!(parse_txt_json("{").is_err());
        assert!(parse_txt_json(r#"{"Status":0,"Answer":[{"type":16,"data":"\"open"}]}"#).is_err());
    }
}
