//! Per-node bearer tokens, one JSON file per node host in the tokens dir,
//! in the reference's format (`dmp/client/node_tokens.py`):
//! `{"version": 1, "node", "subject", "token", "expires_at",
//! "registered_spk", "saved_at"}`, mode 0600, dir 0700.

use crate::config::{ConfigError, write_private};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// Lower-case, trim dots, and allow only a plain ASCII host name so a
/// hostile name cannot escape the tokens dir. Same shape as the reference.
pub fn sanitize_hostname(host: &str) -> Option<String> {
    let h = host.trim().trim_matches('.').to_ascii_lowercase();
    let b = h.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let inner = |c: &u8| edge(c) || *c == b'.' || *c == b'-';
    let ok = match b {
        [] => false,
        [only] => edge(only),
        [first, mid @ .., last] => {
            edge(first) && edge(last) && mid.len() <= 252 && mid.iter().all(inner)
        }
    };
    ok.then_some(h)
}

/// A saved token file. Entries keep the file's order (the reference's
/// `token list --json` shows them in that order) and unknown fields.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord(pub Vec<(String, Value)>);

impl TokenRecord {
    pub fn new(
        node: &str,
        subject: &str,
        token: &str,
        expires_at: Option<i64>,
        registered_spk: Option<&str>,
        saved_at: i64,
    ) -> TokenRecord {
        TokenRecord(vec![
            ("version".into(), 1.into()),
            ("node".into(), node.into()),
            ("subject".into(), subject.into()),
            ("token".into(), token.into()),
            ("expires_at".into(), expires_at.into()),
            ("registered_spk".into(), registered_spk.into()),
            ("saved_at".into(), saved_at.into()),
        ])
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v)
    }
    fn str_field(&self, k: &str) -> Option<&str> {
        self.get(k).and_then(Value::as_str)
    }
    pub fn node(&self) -> Option<&str> {
        self.str_field("node")
    }
    pub fn subject(&self) -> Option<&str> {
        self.str_field("subject")
    }
    pub fn token(&self) -> Option<&str> {
        self.str_field("token")
    }
    /// Integer expiry (Unix seconds); None when absent, null or non-integer.
    pub fn expires_at(&self) -> Option<i64> {
        self.get("expires_at").and_then(Value::as_i64)
    }

    /// `json.dump(indent=2)` layout: ASCII-only, keys in record order.
    pub fn to_json(&self, indent: usize) -> String {
        if self.0.is_empty() {
            return "{}".into();
        }
        let pad = " ".repeat(indent + 2);
        let body: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{pad}{}: {}", json_str(k), ascii_json(&v.to_string())))
            .collect();
        format!("{{\n{}\n{}}}", body.join(",\n"), " ".repeat(indent))
    }
}

/// A JSON string literal escaped to ASCII, as Python's `json.dumps`.
pub fn json_str(s: &str) -> String {
    ascii_json(&Value::from(s).to_string())
}

/// Escape every non-ASCII char of JSON text as `\uXXXX` (surrogate pairs
/// above the BMP). Non-ASCII only occurs inside strings, so this is safe.
pub fn ascii_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = a.next_entry::<String, Value>()? {
                    v.push(e);
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// The tokens directory.
#[derive(Debug, Clone)]
pub struct TokenStore {
    pub dir: PathBuf,
}

impl TokenStore {
    pub fn new(dir: impl Into<PathBuf>) -> TokenStore {
        TokenStore { dir: dir.into() }
    }

    pub fn path_for(&self, host: &str) -> Option<PathBuf> {
        sanitize_hostname(host).map(|h| self.dir.join(format!("{h}.json")))
    }

    /// Overwrites any previous token for the host.
    pub fn save(&self, host: &str, rec: &TokenRecord) -> Result<PathBuf, ConfigError> {
        let path = self.path_for(host).ok_or_else(|| {
            ConfigError::Env(format!("refusing unsafe token-dir filename: {host:?}"))
        })?;
        write_private(&path, rec.to_json(0).as_bytes())?;
        Ok(path)
    }

    /// None for a missing, unreadable or malformed file (a broken file
    /// must not break publishing), as the reference.
    pub fn load(&self, host: &str) -> Option<TokenRecord> {
        read_record(&self.path_for(host)?)
    }

    /// True if a file was removed.
    pub fn forget(&self, host: &str) -> bool {
        match self.path_for(host) {
            Some(p) if p.exists() => fs::remove_file(p).is_ok(),
            _ => false,
        }
    }

    /// Every valid record, in file-name order.
    pub fn list(&self) -> Vec<TokenRecord> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        paths.sort();
        paths.iter().filter_map(|p| read_record(p)).collect()
    }
}

fn read_record(path: &Path) -> Option<TokenRecord> {
    let text = fs::read_to_string(path).ok()?;
    let Ordered(entries) = serde_json::from_str(&text).ok()?;
    let rec = TokenRecord(entries);
    rec.get("token").is_some().then_some(rec)
}

/// `2026-11-28T16:20:00Z` (proleptic Gregorian, UTC).
pub fn iso_utc(ts: i64) -> String {
    dmp_core::civil::UtcDateTime::from_unix(ts).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hostnames() {
        assert_eq!(
            sanitize_hostname(" Node.Example. ").as_deref(),
            Some("node.example")
        );
        assert_eq!(sanitize_hostname("a").as_deref(), Some("a"));
        for bad in ["", ".", "../x", "a/b", "-a", "a-", "127.0.0.1:8053", "é.x"] {
            assert_eq!(sanitize_hostname(bad), None, "{bad}");
        }
        assert!(sanitize_hostname(&"a".repeat(254)).is_some());
        assert!(sanitize_hostname(&"a".repeat(255)).is_none());
    }

    #[test]
    fn save_list_forget() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("tokens"));
        assert!(store.list().is_empty());
        let rec = TokenRecord::new("B.example", "bob@b.example", "dmp_v1_x", Some(100), None, 5);
        let path = store.save("B.example", &rec).unwrap();
        assert_eq!(path, dir.path().join("tokens/b.example.json"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(dir.path().join("tokens"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        fs::write(dir.path().join("tokens/a.json"), "{\"no_token\": 1}").unwrap();
        fs::write(dir.path().join("tokens/c.json"), "not json").unwrap();
        assert_eq!(store.list(), vec![rec.clone()]);
        assert_eq!(store.load("b.example"), Some(rec));
        assert!(store.save("../x", &TokenRecord(Vec::new())).is_err());
        assert!(!store.forget("none.example"));
        assert!(store.forget("b.example"));
        assert!(store.load("b.example").is_none());
    }

    #[test]
    fn json_layout() {
        let rec = TokenRecord::new("n", "sé", "t", None, Some("😀"), 7);
        let text = rec.to_json(0);
        assert!(
            text.starts_with("{\n  \"version\": 1,\n  \"node\": \"n\",\n"),
            "{text}"
        );
        assert!(text.contains("\"subject\": \"s\\u00e9\""), "{text}");
        assert!(
            text.contains("\"registered_spk\": \"\\ud83d\\ude00\""),
            "{text}"
        );
        assert!(text.ends_with("\"saved_at\": 7\n}"), "{text}");
        let back: Ordered = serde_json::from_str(&text).unwrap();
        assert_eq!(TokenRecord(back.0), rec);
    }

    #[test]
    fn iso_times() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_795_796_514), "2026-11-27T16:21:54Z");
    }
}
