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

/// Parse a request body the way the reference's `json.loads` classifies it.
///
/// The node rules only ever ask whether a field is a string, an integer (and
/// which), or something else, so before serde_json sees the text every
/// number Python reads as a float (`1.0`, `1e400`, `NaN`, `-Infinity`, which
/// serde_json would reject or keep) becomes `0.5`, and every integer beyond
/// 64 bits (exact in Python, a float in serde_json) is clamped to the
/// nearest 64-bit bound. Text outside numbers is passed through unchanged.
pub fn python_json(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&normalize_numbers(text)).ok()
}

fn normalize_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            rest = &rest[c.len_utf8()..];
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        if let Some(after) = ["NaN", "Infinity", "-Infinity"]
            .iter()
            .find_map(|lit| rest.strip_prefix(lit))
        {
            out.push_str("0.5");
            rest = after;
            continue;
        }
        if c == '-' || c.is_ascii_digit() {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
                .count();
            let (run, after) = rest.split_at(len);
            out.push_str(&normalize_number(run));
            rest = after;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// One maximal run of number characters: valid JSON integers outside the
/// 64-bit range are clamped, valid JSON non-integers become `0.5`, anything
/// else is left for the parser to reject.
fn normalize_number(run: &str) -> String {
    let (negative, digits) = match run.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, run),
    };
    let int_len = digits.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, tail) = digits.split_at(int_len);
    let int_ok = int_part == "0" || (!int_part.is_empty() && !int_part.starts_with('0'));
    if !int_ok {
        return run.into();
    }
    if tail.is_empty() {
        let fits = if negative {
            run.parse::<i64>().is_ok()
        } else {
            run.parse::<u64>().is_ok()
        };
        return match (fits, negative) {
            (true, _) => run.into(),
            (false, true) => format!("{}", i64::MIN),
            (false, false) => format!("{}", u64::MAX),
        };
    }
    let digits_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (frac, exp) = match tail.find(['e', 'E']) {
        Some(i) => (&tail[..i], Some(&tail[i + 1..])),
        None => (tail, None),
    };
    let frac_ok = frac.is_empty() || frac.strip_prefix('.').is_some_and(digits_ok);
    let exp_ok = exp.is_none_or(|e| {
        digits_ok(
            e.strip_prefix('+')
                .or_else(|| e.strip_prefix('-'))
                .unwrap_or(e),
        )
    });
    if frac_ok && exp_ok {
        "0.5".into()
    } else {
        run.into()
    }
}
