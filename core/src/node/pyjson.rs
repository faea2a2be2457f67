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

/// A float as Python's `repr`/`json.dumps` writes it for the values nodes
/// report (rates): integral values keep a `.0`; others use the shortest
/// round-trip form. Non-finite values, which JSON cannot carry, give `0.0`.
pub fn py_float(x: f64) -> String {
    if !x.is_finite() {
        return "0.0".into();
    }
    let mag = if x < 0.0 { -x } else { x };
    if mag >= 1e16 || (mag != 0.0 && mag < 1e-4) {
        // Python switches to exponent form here: `1e+16`, `1.5e-05`.
        let text = format!("{x:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((text.as_str(), "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = format!("{x}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// `{"name": <name>, "values": [...]}`, the body of `GET /v1/records/{name}`
/// (200 with values, 404 with none).
pub fn records_body<S: AsRef<str>>(name: &str, values: &[S]) -> String {
    let mut out = format!("{{\"name\": {}, \"values\": [", json_str(name));
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&json_str(v.as_ref()));
    }
    out.push_str("]}");
    out
}

/// Body of a successful publish (201).
pub const PUBLISH_OK_BODY: &str = "{\"ok\": true}";
/// Body of a failed store write (502).
pub const PUBLISH_FAILED_BODY: &str = "{\"ok\": false}";
