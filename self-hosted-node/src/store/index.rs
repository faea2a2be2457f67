//! The in-memory mirror of the `records` table.
//!
//! Every read of the node (DNS, HTTP GET, sync pull) is answered from here so
//! that no query ever waits on disk or on the writer: a lookup is one hash
//! probe plus a copy of `Arc` pointers. The SQLite file stays the durable
//! truth; [`Index`] is rebuilt from it at open and is changed only after the
//! matching transaction has committed.

use std::collections::HashMap;
use std::sync::Arc;

/// One stored (name, value) row as the readers need it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub value: Arc<str>,
    /// Unix seconds; the entry is live while `expires_at > now`.
    pub expires_at: u64,
    /// Unix ms of local arrival; the anti-entropy cursor.
    pub stored_ts: u64,
}

/// Bookkeeping for a name that has stored names strictly below it.
#[derive(Debug, Clone, Copy, Default)]
struct Below {
    /// How many stored names (with at least one row) sit below this one.
    count: u64,
    /// An upper bound of the expiry of every row below this name. It only
    /// grows on insert, so after a delete it may stay too high until the
    /// name loses its last descendant; the answer then errs towards "exists"
    /// (NODATA rather than NXDOMAIN), which is the harmless direction.
    max_expires: u64,
}

/// Name → rows, plus the ancestor map used to tell NXDOMAIN from NODATA.
#[derive(Debug, Default)]
pub(crate) struct Index {
    names: HashMap<Box<str>, Vec<Entry>>,
    below: HashMap<Box<str>, Below>,
    rows: u64,
    bytes: u64,
}

/// Every proper ancestor of `name` (`a.b.c` → `b.c`, `c`); empty labels
/// (from a trailing or doubled dot) are skipped.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.char_indices()
        .filter(|&(_, c)| c == '.')
        .filter_map(move |(i, _)| name.get(i + 1..))
        .filter(|s| !s.is_empty())
}

fn row_bytes(name: &str, value: &str) -> u64 {
    (name.len() as u64).saturating_add(value.len() as u64)
}

impl Index {
    /// Insert or refresh (name, value). A value already stored at the name is
    /// replaced in place by the new row and moved to the end (the order is
    /// that of the last publish, like the reference's `ORDER BY created_at`).
    pub fn upsert(&mut self, name: &str, entry: Entry) {
        let expires = entry.expires_at;
        match self.names.get_mut(name) {
            Some(values) => {
                if let Some(pos) = values.iter().position(|e| e.value == entry.value) {
                    values.remove(pos);
                } else {
                    self.rows = self.rows.saturating_add(1);
                    self.bytes = self.bytes.saturating_add(row_bytes(name, &entry.value));
                }
                values.push(entry);
            }
            None => {
                self.rows = self.rows.saturating_add(1);
                self.bytes = self.bytes.saturating_add(row_bytes(name, &entry.value));
                self.names.insert(name.into(), vec![entry]);
                for anc in ancestors(name) {
                    let b = self.below.entry(anc.into()).or_default();
                    b.count = b.count.saturating_add(1);
                }
            }
        }
        for anc in ancestors(name) {
            if let Some(b) = self.below.get_mut(anc) {
                b.max_expires = b.max_expires.max(expires);
            }
        }
    }

    /// Remove one (name, value); true if it was there.
    pub fn remove_value(&mut self, name: &str, value: &str) -> bool {
        let Some(values) = self.names.get_mut(name) else {
            return false;
        };
        let Some(pos) = values.iter().position(|e| &*e.value == value) else {
            return false;
        };
        values.remove(pos);
        self.rows = self.rows.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(row_bytes(name, value));
        if values.is_empty() {
            self.names.remove(name);
            self.forget_name(name);
        }
        true
    }

    /// Remove every row of `name`; returns how many there were.
    pub fn remove_name(&mut self, name: &str) -> u64 {
        let Some(values) = self.names.remove(name) else {
            return 0;
        };
        let n = values.len() as u64;
        self.rows = self.rows.saturating_sub(n);
        for e in &values {
            self.bytes = self.bytes.saturating_sub(row_bytes(name, &e.value));
        }
        self.forget_name(name);
        n
    }

    fn forget_name(&mut self, name: &str) {
        for anc in ancestors(name) {
            if let Some(b) = self.below.get_mut(anc) {
                b.count = b.count.saturating_sub(1);
                if b.count == 0 {
                    self.below.remove(anc);
                }
            }
        }
    }

    /// All rows of `name`, live or not (callers filter on expiry).
    pub fn rows_of(&self, name: &str) -> &[Entry] {
        self.names.get(name).map_or(&[], Vec::as_slice)
    }

    /// True if `name` has a live row, or a name below it may have one.
    pub fn exists_at_or_below(&self, name: &str, now_s: u64) -> bool {
        self.rows_of(name).iter().any(|e| e.expires_at > now_s)
            || self
                .below
                .get(name)
                .is_some_and(|b| b.count > 0 && b.max_expires > now_s)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn name_count(&self) -> u64 {
        self.names.len() as u64
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Entry])> {
        self.names.iter().map(|(k, v)| (&**k, v.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(v: &str, exp: u64) -> Entry {
        Entry {
            value: v.into(),
            expires_at: exp,
            stored_ts: 0,
        }
    }

    #[test]
    fn ancestors_of_names() {
        assert_eq!(ancestors("a.b.c").collect::<Vec<_>>(), ["b.c", "c"]);
        assert_eq!(ancestors("abc").count(), 0);
        assert_eq!(ancestors("a..b.").collect::<Vec<_>>(), [".b.", "b."]);
    }

    #[test]
    fn below_counts_follow_inserts_and_removes() {
        let mut ix = Index::default();
        ix.upsert("x.a.b", entry("1", 100));
        ix.upsert("y.a.b", entry("1", 50));
        ix.upsert("y.a.b", entry("2", 50));
        assert!(ix.exists_at_or_below("a.b", 10));
        assert!(ix.exists_at_or_below("b", 10));
        assert!(!ix.exists_at_or_below("z.a.b", 10));
        assert!(!ix.exists_at_or_below("a.b", 100));
        assert_eq!((ix.rows(), ix.name_count()), (3, 2));
        assert_eq!(ix.remove_name("x.a.b"), 1);
        assert!(ix.exists_at_or_below("a.b", 10));
        assert!(ix.remove_value("y.a.b", "1"));
        assert!(!ix.remove_value("y.a.b", "1"));
        assert!(ix.remove_value("y.a.b", "2"));
        assert!(!ix.exists_at_or_below("a.b", 10));
        assert!(ix.below.is_empty());
        assert_eq!((ix.rows(), ix.bytes(), ix.name_count()), (0, 0, 0));
    }
}
