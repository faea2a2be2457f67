//! DMPv2 plaintext envelope (PROTOCOL.md §4.4): inside the AEAD plaintext,
//! `"DMPV2:" ‖ {"from":"user@host"} ‖ "\n" ‖ body`.
//!
//! The `from` claim is unauthenticated metadata; a receiver shows it only
//! after the identity record at that address verifies with the manifest's
//! `sender_spk` (done by the client, not here).
//!
//! Decoding must decide "is this header valid JSON" exactly as Python's
//! `json.loads` does, since the answer changes which bytes are the body. A
//! small recognizer below accepts Python's grammar, including its
//! `NaN`/`Infinity` literals, lone surrogate escapes and overflowing
//! numbers, which `serde_json` would refuse.

use alloc::string::String;
use alloc::vec::Vec;

/// Marks a v2 plaintext; anything else is a v1 body.
pub const DMPV2_PREFIX: &[u8] = b"DMPV2:";
/// Largest header JSON, in bytes.
pub const MAX_HEADER_BYTES: usize = 256;
const LOCALPART_MAX: usize = 64;
const HOST_MAX: usize = 253;
const LABEL_MAX: usize = 63;

/// Python's `str.strip()` set for ASCII text (it includes `\x1c`..`\x1f`,
/// which Rust's `trim` does not).
fn is_py_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Canonical `user@host`, or `None`.
///
/// ASCII only; surrounding whitespace trimmed; lowercased; exactly one `@`;
/// trailing dots removed from the host; local part `[a-z0-9][a-z0-9_.-]{0,63}`
/// without a leading/trailing dot or `..`; host ≤ 253 characters of labels
/// `[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?`. Unlike the reference's regex, a
/// newline before `@` or inside the host is always rejected.
pub fn canonicalize_address(addr: &str) -> Option<String> {
    if !addr.is_ascii() {
        return None;
    }
    let bytes = addr.as_bytes();
    let start = bytes.iter().position(|&b| !is_py_space(b))?;
    let end = bytes.iter().rposition(|&b| !is_py_space(b))? + 1;
    let lowered = addr.get(start..end)?.to_ascii_lowercase();
    let mut parts = lowered.split('@');
    let (local, host) = match (parts.next(), parts.next(), parts.next()) {
        (Some(l), Some(h), None) => (l, h),
        _ => return None,
    };
    let host = host.trim_end_matches('.');
    if local.is_empty() || host.is_empty() || host.len() > HOST_MAX {
        return None;
    }
    let lb = local.as_bytes();
    if lb.len() > LOCALPART_MAX
        || !lb.first().copied().is_some_and(is_lower_alnum)
        || !lb
            .iter()
            .all(|&b| is_lower_alnum(b) || matches!(b, b'_' | b'-' | b'.'))
        || local.ends_with('.')
        || local.contains("..")
    {
        return None;
    }
    for label in host.split('.') {
        let b = label.as_bytes();
        let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
            return None;
        };
        if b.len() > LABEL_MAX
            || !is_lower_alnum(first)
            || !is_lower_alnum(last)
            || !b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
        {
            return None;
        }
    }
    let mut out = String::with_capacity(local.len() + 1 + host.len());
    out.push_str(local);
    out.push('@');
    out.push_str(host);
    Some(out)
}

/// Wrap `body` with a DMPv2 header naming `sender_addr`. Returns `body`
/// unchanged (the v1 form) when there is no address, it does not
/// canonicalize, or the header would exceed 256 bytes. The caller decides
/// whether the recipient accepts v2 at all (`IdentityRecord::supports_v2`).
pub fn encode_v2(body: &[u8], sender_addr: Option<&str>) -> Vec<u8> {
    let Some(addr) = sender_addr.and_then(canonicalize_address) else {
        return body.to_vec();
    };
    // `json.dumps({"from": addr}, sort_keys=True, separators=(",", ":"),
    // ensure_ascii=True)`: a canonical address is `[a-z0-9_.@-]` only, so no
    // character needs escaping.
    let mut header = Vec::with_capacity(addr.len() + 11);
    header.extend_from_slice(b"{\"from\":\"");
    header.extend_from_slice(addr.as_bytes());
    header.extend_from_slice(b"\"}");
    if header.len() > MAX_HEADER_BYTES {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(DMPV2_PREFIX.len() + header.len() + 1 + body.len());
    out.extend_from_slice(DMPV2_PREFIX);
    out.extend_from_slice(&header);
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// Split a decrypted plaintext into `(body, canonical from)`:
/// 1. no `DMPV2:` prefix → v1, the whole plaintext;
/// 2. no `\n` within 257 bytes after the prefix → the whole plaintext;
/// 3. header not ASCII JSON, or not an object → the whole plaintext;
/// 4. otherwise the body follows the first `\n`, and `from` is kept only if
///    it is a string that canonicalizes.
pub fn decode(plaintext: &[u8]) -> (&[u8], Option<String>) {
    let Some(rest) = plaintext.strip_prefix(DMPV2_PREFIX) else {
        return (plaintext, None);
    };
    let window = &rest[..rest.len().min(MAX_HEADER_BYTES + 1)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return (plaintext, None);
    };
    let (header, body) = (&rest[..nl], &rest[nl + 1..]);
    if !header.is_ascii() {
        return (plaintext, None);
    }
    match json::top_level_from(header) {
        Err(json::NotAnObject) => (plaintext, None),
        Ok(from) => (body, from.as_deref().and_then(canonicalize_address)),
    }
}

/// A recognizer for exactly what Python's `json.loads` accepts, returning
/// only what the envelope needs: whether the text is an object, and the
/// last top-level `"from"` string (duplicate keys: last wins).
mod json {
    use alloc::string::String;

    /// The text is not JSON, or its top-level value is not an object.
    pub struct NotAnObject;

    /// A parsed string: its text, or `None` if it holds a lone surrogate
    /// (valid for Python, but never a usable address).
    type Str = Option<String>;

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    /// `Ok(Some(addr))` when the object has a string `from`, `Ok(None)` when
    /// it has none (or a non-string one).
    pub fn top_level_from(text: &[u8]) -> Result<Option<String>, NotAnObject> {
        let mut p = Parser { s: text, i: 0 };
        p.ws();
        if p.peek() != Some(b'{') {
            return Err(NotAnObject);
        }
        let from = p.object(true)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(NotAnObject);
        }
        Ok(from.flatten())
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }
        fn eat(&mut self, lit: &[u8]) -> bool {
            if self.s.get(self.i..).is_some_and(|r| r.starts_with(lit)) {
                self.i += lit.len();
                true
            } else {
                false
            }
        }

        /// Any value; its text is returned when it is a string.
        fn value(&mut self) -> Result<Option<Str>, NotAnObject> {
            match self.peek().ok_or(NotAnObject)? {
                b'{' => self.object(false).map(|_| None),
                b'[' => self.array().map(|_| None),
                b'"' => self.string().map(Some),
                b'n' if self.eat(b"null") => Ok(None),
                b't' if self.eat(b"true") => Ok(None),
                b'f' if self.eat(b"false") => Ok(None),
                b'N' if self.eat(b"NaN") => Ok(None),
                b'I' if self.eat(b"Infinity") => Ok(None),
                b'-' if self.eat(b"-Infinity") => Ok(None),
                b'-' | b'0'..=b'9' => self.number().map(|_| None),
                _ => Err(NotAnObject),
            }
        }

        /// `{` ws ( string ws `:` ws value ws (`,` ws string …)* )? `}`.
        /// At the top level, remembers the last `"from"` value: `Some(Some(s))`
        /// for a string, `Some(None)` for anything else.
        fn object(&mut self, top: bool) -> Result<Option<Str>, NotAnObject> {
            self.i += 1; // '{'
            let mut from: Option<Str> = None;
            self.ws();
            if self.eat(b"}") {
                return Ok(from);
            }
            loop {
                if self.peek() != Some(b'"') {
                    return Err(NotAnObject);
                }
                let key = self.string()?;
                self.ws();
                if !self.eat(b":") {
                    return Err(NotAnObject);
                }
                self.ws();
                let value = self.value()?;
                if top && key.as_deref() == Some("from") {
                    from = Some(value.flatten());
                }
                self.ws();
                if self.eat(b"}") {
                    return Ok(from);
                }
                if !self.eat(b",") {
                    return Err(NotAnObject);
                }
                self.ws();
            }
        }

        fn array(&mut self) -> Result<(), NotAnObject> {
            self.i += 1; // '['
            self.ws();
            if self.eat(b"]") {
                return Ok(());
            }
            loop {
                self.value()?;
                self.ws();
                if self.eat(b"]") {
                    return Ok(());
                }
                if !self.eat(b",") {
                    return Err(NotAnObject);
                }
                self.ws();
            }
        }

        /// Python's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`.
        /// Overflowing values are accepted (they become inf in Python).
        fn number(&mut self) -> Result<(), NotAnObject> {
            self.eat(b"-");
            match self.peek() {
                Some(b'0') => self.i += 1,
                Some(b'1'..=b'9') => self.digits(),
                _ => return Err(NotAnObject),
            }
            // A fraction or exponent without digits ends the number early;
            // the caller then fails on the leftover `.` or `e`.
            if self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
                self.digits();
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                let mut j = self.i + 1;
                if matches!(self.s.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                if self.s.get(j).is_some_and(u8::is_ascii_digit) {
                    self.i = j;
                    self.digits();
                }
            }
            Ok(())
        }

        fn digits(&mut self) {
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.i += 1;
            }
        }

        fn hex4(&mut self) -> Result<u16, NotAnObject> {
            let h = self.s.get(self.i..self.i + 4).ok_or(NotAnObject)?;
            let mut v = 0u16;
            for &c in h {
                let d = (c as char).to_digit(16).ok_or(NotAnObject)?;
                v = (v << 4) | d as u16;
            }
            self.i += 4;
            Ok(v)
        }

        /// A string with Python's rules: no raw control characters, the
        /// standard escapes, `\uXXXX` with surrogate pairs combined and lone
        /// surrogates allowed.
        fn string(&mut self) -> Result<Str, NotAnObject> {
            self.i += 1; // '"'
            let mut out = String::new();
            let mut lone_surrogate = false;
            loop {
                let c = self.peek().ok_or(NotAnObject)?;
                self.i += 1;
                match c {
                    b'"' => return Ok(if lone_surrogate { None } else { Some(out) }),
                    0..=0x1f => return Err(NotAnObject),
                    b'\\' => {
                        let e = self.peek().ok_or(NotAnObject)?;
                        self.i += 1;
                        let ch = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let lo = if (0xd800..0xdc00).contains(&hi)
                                    && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                                {
                                    let save = self.i;
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xdc00..0xe000).contains(&lo) {
                                        Some(lo)
                                    } else {
                                        // Not a pair: the second escape stands alone.
                                        self.i = save;
                                        None
                                    }
                                } else {
                                    None
                                };
                                let cp = match lo {
                                    Some(lo) => {
                                        0x10000
                                            + ((u32::from(hi) - 0xd800) << 10)
                                            + (u32::from(lo) - 0xdc00)
                                    }
                                    None => u32::from(hi),
                                };
                                match char::from_u32(cp) {
                                    Some(ch) => ch,
                                    None => {
                                        lone_surrogate = true;
                                        continue;
                                    }
                                }
                            }
                            _ => return Err(NotAnObject),
                        };
                        out.push(ch);
                    }
                    // The header is ASCII-checked before parsing.
                    _ => out.push(c as char),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn canonicalization() {
        let ok = [
            ("alice@example.com", "alice@example.com"),
            ("  ALICE@Example.COM...\t", "alice@example.com"),
            ("\x1c a@b\x1f", "a@b"),
            ("a_b-c.d@x-y.z", "a_b-c.d@x-y.z"),
            ("0@localhost", "0@localhost"),
        ];
        for (i, o) in ok {
            assert_eq!(canonicalize_address(i).as_deref(), Some(o), "{i:?}");
        }
        let long_local = alloc::format!("{}@x.com", "a".repeat(64));
        assert!(canonicalize_address(&long_local).is_some());
        let label63 = "b".repeat(63);
        let host253 = alloc::format!("{label63}.{label63}.{label63}.{}", "c".repeat(61));
        assert_eq!(host253.len(), 253);
        assert!(canonicalize_address(&alloc::format!("a@{host253}")).is_some());
        assert!(canonicalize_address(&alloc::format!("a@{host253}x")).is_none());
        let bad = [
            "not-an-address",
            "a@@b",
            "a@b@c",
            "@b",
            "a@",
            "a@...",
            "_a@b",
            ".a@b",
            "a.@b",
            "a..b@c",
            "a@-b",
            "a@b-",
            "a@b..c",
            "a@.b",
            "a b@c",
            "ali\n@x.com",
            "a@x\n.com",
            "ä@x.com",
            "a@b_c",
        ];
        for b in bad {
            assert_eq!(canonicalize_address(b), None, "{b:?}");
        }
        assert!(canonicalize_address(&alloc::format!("{}@x.com", "a".repeat(65))).is_none());
        assert!(canonicalize_address(&alloc::format!("a@{}.com", "b".repeat(64))).is_none());
    }

    #[test]
    fn encode_falls_back_when_header_too_long() {
        let label = "b".repeat(63);
        let host = alloc::format!("{label}.{label}.{label}.{}", "c".repeat(61));
        let addr = alloc::format!("{}@{host}", "a".repeat(64));
        assert!(canonicalize_address(&addr).is_some());
        assert_eq!(encode_v2(b"x", Some(&addr)), b"x");
        // 245 address characters give exactly 256 header bytes: still wrapped.
        let host = alloc::format!("{label}.{label}.{label}.{}", "c".repeat(51));
        let addr = alloc::format!("a@{host}");
        assert_eq!(addr.len(), 245);
        let out = encode_v2(b"x", Some(&addr));
        assert_eq!(out.len(), 6 + 256 + 1 + 1);
        assert_eq!(decode(&out), (&b"x"[..], Some(addr.clone())));
    }

    #[test]
    fn decode_rules() {
        // No newline within 257 bytes → whole plaintext.
        let mut p = b"DMPV2:".to_vec();
        p.extend(core::iter::repeat_n(b' ', 257));
        p.extend_from_slice(b"\nbody");
        assert_eq!(decode(&p), (&p[..], None));
        // Newline as the 257th byte: header of 256 bytes is considered.
        let mut p = b"DMPV2:{".to_vec();
        p.extend(core::iter::repeat_n(b' ', 254));
        p.extend_from_slice(b"}\nbody");
        assert_eq!(decode(&p), (&b"body"[..], None));

        // (plaintext, body if not the whole plaintext, canonical from)
        type Case<'a> = (&'a [u8], Option<&'a [u8]>, Option<&'a str>);
        let cases: &[Case] = &[
            (b"DMPV2:{}\nb", Some(b"b"), None),
            (b"DMPV2:{\"from\":1}\nb", Some(b"b"), None),
            (b"DMPV2:{\"from\":\"x\"}\nb", Some(b"b"), None),
            (
                b"DMPV2:{\"from\":\"A@B.C\",\"from\":\"d@e\"}\nb",
                Some(b"b"),
                Some("d@e"),
            ),
            (
                b"DMPV2:{\"from\":\"d@e\",\"from\":null}\nb",
                Some(b"b"),
                None,
            ),
            (b"DMPV2: {\"x\":{\"from\":\"d@e\"}} \nb", Some(b"b"), None),
            (
                b"DMPV2:{\"from\":\"\\u0061@b\"}\nb",
                Some(b"b"),
                Some("a@b"),
            ),
            (b"DMPV2:{\"from\":\"\\ud800\"}\nb", Some(b"b"), None),
            (
                b"DMPV2:{\"n\":NaN,\"i\":-Infinity,\"e\":1e999,\"from\":\"a@b\"}\n",
                Some(b""),
                Some("a@b"),
            ),
            (
                b"DMPV2:{\"k\":[1,2.5,-0,true,false,null,\"\\ud83d\\ude00\"]}\nb",
                Some(b"b"),
                None,
            ),
            (b"DMPV2:[1]\nb", None, None),
            (b"DMPV2:\"s\"\nb", None, None),
            (b"DMPV2:{\"a\":01}\nb", None, None),
            (b"DMPV2:{\"a\":1.}\nb", None, None),
            (b"DMPV2:{\"a\":1e}\nb", None, None),
            (b"DMPV2:{\"a\":.5}\nb", None, None),
            (b"DMPV2:{\"a\":+1}\nb", None, None),
            (b"DMPV2:{\"a\":1,}\nb", None, None),
            (b"DMPV2:{\"a\":\"\t\"}\nb", None, None),
            (b"DMPV2:{\"a\":\"\\x\"}\nb", None, None),
            (b"DMPV2:{'a':1}\nb", None, None),
            (b"DMPV2:{\"from\":\"\xc3\xa4@b\"}\nb", None, None),
            (b"DMPV2:{} x\nb", None, None),
            (b"DMPV2:\nb", None, None),
            (b"dmpv2:{}\nb", None, None),
            (b"DMPV2:{\"from\":\"\\ud800\\u0061\"}\nb", Some(b"b"), None),
            (b"DMPV2:{\"from\":\"a@b\\n\"}\nb", Some(b"b"), Some("a@b")),
            (b"DMPV2:{\"from\":\"\\ud800\\ud800\"}\nb", Some(b"b"), None),
            (b"DMPV2:{\"from\":\"\\ud83d\\u00\"}\nb", None, None),
            (b"DMPV2:{\"a\":-}\nb", None, None),
            (b"DMPV2:{\"a\":-Infinity}\nb", Some(b"b"), None),
            (
                b"DMPV2:{\"a\":1E+5,\"from\":\"Q@W.\"}\nb",
                Some(b"b"),
                Some("q@w"),
            ),
            (b"DMPV2:{\"a\":\"\x7f\"}\nb", Some(b"b"), None),
        ];
        for (input, body, from) in cases {
            let (b, f) = decode(input);
            assert_eq!(
                b,
                body.unwrap_or(input),
                "{:?}",
                core::str::from_utf8(input)
            );
            assert_eq!(f.as_deref(), *from, "{:?}", core::str::from_utf8(input));
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut p = DMPV2_PREFIX.to_vec();
            p.extend_from_slice(&data);
            let _ = decode(&p);
            let _ = decode(&data);
        }

        #[test]
        fn json_like_headers_never_panic(s in "[{}\\[\\]\",:\\\\ufromNaIity0-9eE.+\\- a@]{0,120}") {
            let p = alloc::format!("DMPV2:{s}\nrest");
            let _ = decode(p.as_bytes());
        }

        /// Where serde_json accepts the header, the recognizer agrees on
        /// object-ness and on `from`.
        #[test]
        fn agrees_with_serde_json(s in "[{}\\[\\]\",:0-9a-z@. ]{0,80}") {
            let p = alloc::format!("DMPV2:{s}\nrest");
            let (body, from) = decode(p.as_bytes());
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&s) {
                if let Some(obj) = v.as_object() {
                    prop_assert_eq!(body, b"rest");
                    let want = obj.get("from").and_then(|f| f.as_str()).and_then(canonicalize_address);
                    prop_assert_eq!(from, want);
                } else {
                    prop_assert_eq!(body, p.as_bytes());
                }
            }
        }

        #[test]
        fn encode_decode_round_trip(
            body in proptest::collection::vec(any::<u8>(), 0..100),
            local in "[a-z0-9][a-z0-9_]{0,20}",
            host in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}",
        ) {
            let addr = alloc::format!("{local}@{host}");
            let p = encode_v2(&body, Some(&addr));
            let (b, f) = decode(&p);
            prop_assert_eq!(b, &body[..]);
            prop_assert_eq!(f, Some(addr));
        }

        #[test]
        fn canonicalize_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Some(c) = canonicalize_address(&s) {
                prop_assert_eq!(canonicalize_address(&c), Some(c.clone()));
            }
        }
    }
}
