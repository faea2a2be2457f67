//! A small YAML emitter for `config.yaml`.
//!
//! The reference reads the file with PyYAML (YAML 1.1), where plain scalars
//! such as `on`, `no`, `1:20` or `0777` change type. Emitting every string
//! double-quoted (JSON escaping, which both YAML 1.1 and 1.2 accept) means a
//! username or contact name can never come back as a bool or a number.
//! Mappings are written with sorted keys, like `yaml.safe_dump(sort_keys=True)`.

use serde_norway::{Mapping, Value};

/// Serialise a top-level mapping as block YAML, keys sorted recursively.
pub fn emit(doc: &Mapping) -> String {
    let mut out = String::new();
    if doc.is_empty() {
        out.push_str("{}\n");
        return out;
    }
    emit_mapping(doc, 0, &mut out);
    out
}

fn sorted(map: &Mapping) -> Vec<(&Value, &Value)> {
    let mut items: Vec<_> = map.iter().collect();
    items.sort_by_key(|(k, _)| sort_key(k));
    items
}

fn sort_key(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => scalar(other),
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push(' ');
    }
}

fn emit_mapping(map: &Mapping, indent: usize, out: &mut String) {
    for (k, v) in sorted(map) {
        pad(out, indent);
        out.push_str(&scalar(k));
        out.push(':');
        emit_child(v, indent, out);
    }
}

/// Writes `v` after `key:` or `-` (the cursor sits right after that marker).
fn emit_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            emit_mapping(m, indent + 2, out);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            for item in s {
                pad(out, indent + 2);
                out.push('-');
                emit_child(item, indent + 2, out);
            }
        }
        Value::Tagged(t) => {
            out.push_str(&format!(" {}", t.tag));
            emit_child(&t.value, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// One scalar in a form whose type is the same under YAML 1.1 and 1.2.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                float(f)
            } else {
                n.to_string()
            }
        }
        Value::String(s) => quote(s),
        Value::Sequence(s) if s.is_empty() => "[]".into(),
        Value::Mapping(m) if m.is_empty() => "{}".into(),
        // Complex keys do not occur in configs the reference writes; keep
        // the data rather than fail, in flow style.
        other => serde_norway::to_string(other)
            .map(|s| quote(s.trim_end()))
            .unwrap_or_else(|_| "null".into()),
    }
}

fn float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    // YAML 1.1 floats need a dot: `1e-07` would read back as a string.
    let s = format!("{f:?}");
    if s.contains('.') {
        s
    } else if let Some(pos) = s.find('e') {
        format!("{}.0{}", &s[..pos], &s[pos..])
    } else {
        format!("{s}.0")
    }
}

/// Plain when the text can only read back as this string in YAML 1.1 and
/// 1.2 (identifier-like, not a bool/null word); else double-quoted with
/// JSON escaping, which is valid YAML.
fn quote(s: &str) -> String {
    const WORDS: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "",
    ];
    let mut chars = s.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c))
        && !WORDS.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        return s.to_string();
    }
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tricky_scalars_round_trip_through_yaml() {
        let src = "b: on\na: '1:20'\nc: [yes, '0777', '', null, 1.5e-7]\nd:\n  z: {}\n  y: []\ne: \"é\\ttab\\u0001\"\n";
        let doc: Mapping = serde_norway::from_str(src).unwrap();
        let text = emit(&doc);
        assert!(text.starts_with("a: \"1:20\"\nb: \"on\"\n"), "{text}");
        for (v, plain) in [
            ("mesh.test", true),
            ("bob@x-y.z", true),
            ("Off", false),
            ("1.1.1.1", false),
            ("a b", false),
            ("-a", false),
        ] {
            assert_eq!(quote(v) == v, plain, "{v}");
        }
        let back: Mapping = serde_norway::from_str(&text).unwrap();
        assert_eq!(back, doc, "{text}");
        assert_eq!(float(1e-7), "1.0e-7");
        assert_eq!(float(3.0), "3.0");
    }
}
