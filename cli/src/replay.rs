//! `replay_cache.json`: (sender signing key, msg_id) pairs already
//! delivered, so separate `recv` runs do not deliver a message twice.
//! Same file as the reference: a JSON array of
//! `[sender_spk_hex, msg_id_hex, expiry_unix]`, expired entries dropped.

use crate::config::{ConfigError, decode_hex, write_private};
use dmp_core::crypto::hex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Seen set keyed by (sender_spk, msg_id), value = expiry (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayCache {
    pub seen: BTreeMap<(Vec<u8>, Vec<u8>), i64>,
}

impl ReplayCache {
    /// Missing, unreadable or malformed files give an empty cache and bad
    /// entries are skipped (as the reference: a broken cache must not stop
    /// receiving). Entries with `exp <= now` are dropped.
    pub fn load(path: &Path, now: i64) -> ReplayCache {
        let mut cache = ReplayCache::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return cache;
        };
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&text) else {
            return cache;
        };
        for item in items {
            let Value::Array(parts) = item else { continue };
            let [spk, mid, exp] = parts.as_slice() else {
                continue;
            };
            let (Some(spk), Some(mid)) = (
                spk.as_str().and_then(hex_lenient),
                mid.as_str().and_then(hex_lenient),
            ) else {
                continue;
            };
            let exp = match exp {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match exp {
                Some(exp) if exp > now => {
                    cache.seen.insert((spk, mid), exp);
                }
                _ => {}
            }
        }
        cache
    }

    /// Atomic rewrite (temp file + rename), mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let rows: Vec<Value> = self
            .seen
            .iter()
            .map(|((spk, mid), exp)| {
                Value::from(vec![Value::from(hex(spk)), hex(mid).into(), (*exp).into()])
            })
            .collect();
        write_private(path, Value::Array(rows).to_string().as_bytes())
    }

    /// Drops entries with `now > exp`; true if any went.
    pub fn purge(&mut self, now: i64) -> bool {
        let before = self.seen.len();
        self.seen.retain(|_, exp| now <= *exp);
        self.seen.len() != before
    }

    pub fn has_seen(&self, spk: &[u8], msg_id: &[u8], now: i64) -> bool {
        self.seen
            .get(&(spk.to_vec(), msg_id.to_vec()))
            .is_some_and(|exp| now <= *exp)
    }

    pub fn record(&mut self, spk: &[u8], msg_id: &[u8], exp: i64) {
        self.seen.insert((spk.to_vec(), msg_id.to_vec()), exp);
    }
}

/// Python's `bytes.fromhex`: whitespace between bytes is allowed.
fn hex_lenient(s: &str) -> Option<Vec<u8>> {
    decode_hex(&s.split_whitespace().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_skips_bad_and_expired_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay_cache.json");
        assert_eq!(ReplayCache::load(&path, 0), ReplayCache::default());
        std::fs::write(
            &path,
            r#"[["aa","01",200],["AB cd","02","300"],["zz","03",500],["aa","04",100],["aa"],5,["aa","05",250.7]]"#,
        )
        .unwrap();
        let mut c = ReplayCache::load(&path, 100);
        assert_eq!(c.seen.len(), 3);
        assert!(c.has_seen(&[0xaa], &[1], 200));
        assert!(!c.has_seen(&[0xaa], &[1], 201));
        assert!(c.has_seen(&[0xab, 0xcd], &[2], 150));
        assert_eq!(c.seen[&(vec![0xaa], vec![5])], 250);
        c.record(&[0xee; 32], &[9; 16], 1000);
        assert!(c.purge(260));
        assert!(!c.purge(260));
        c.save(&path).unwrap();
        assert_eq!(ReplayCache::load(&path, 260), c);
        std::fs::write(&path, "{}").unwrap();
        assert!(ReplayCache::load(&path, 0).seen.is_empty());
    }
}
