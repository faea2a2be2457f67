//! The bits of Python's `json.dumps` default formatting the nodes need, so
//! error bodies match the reference byte for byte.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// A JSON string literal as `json.dumps` writes it (`ensure_ascii=True`):
/// non-ASCII as `\uXXXX` (surrogate pairs above the BMP).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"error": "<text>"}` exactly as the reference sends it.
pub fn error_body(message: &str) -> String {
    format!("{{\"error\": {}}}", json_str(message))
}
