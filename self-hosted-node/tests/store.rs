//! Store behaviour against real SQLite files. The raw `rusqlite` connection
//! opened next to the store is the oracle for "what is on disk".

use dmp_node::store::{
    Cursor, Durability, Op, Options, Outcome, SCHEMA_VERSION, Stats, Store, StoreError, value_hash,
};
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "dmp-store-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn db(&self) -> PathBuf {
        self.0.join("records.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 2030-01-01T00:00:00Z in ms: a fixed clock.
const T0: u64 = 1_893_456_000_000;
const SEC: u64 = 1000;

fn strs(v: &[Arc<str>]) -> Vec<&str> {
    v.iter().map(|s| &**s).collect()
}

/// (name, value) → (ttl, expires_at, stored_ts, value_hash) straight from disk.
type RawRow = (i64, i64, i64, String);

fn raw_rows(path: &std::path::Path) -> BTreeMap<(String, String), RawRow> {
    let c = Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT name, value, ttl, expires_at, stored_ts, value_hash FROM records")
        .unwrap();
    st.query_map([], |r| {
        Ok((
            (r.get(0)?, r.get(1)?),
            (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

#[test]
fn append_semantics_and_refresh() {
    let dir = TempDir::new("append");
    let s = Store::open(dir.db()).unwrap();
    let ts_a = s.publish("slot-1.mb-x.mesh.test", "a", 10, T0).unwrap();
    let ts_b = s.publish("slot-1.mb-x.mesh.test", "b", 10, T0).unwrap();
    assert!(ts_b > ts_a, "stored_ts strictly increases within one ms");
    assert_eq!(strs(&s.get("slot-1.mb-x.mesh.test", T0)), ["a", "b"]);

    // Republishing "a" 8 s later refreshes it instead of adding a row.
    let ts_a2 = s
        .publish("slot-1.mb-x.mesh.test", "a", 10, T0 + 8 * SEC)
        .unwrap();
    assert!(ts_a2 > ts_b);
    assert_eq!(
        strs(&s.get("slot-1.mb-x.mesh.test", T0 + 8 * SEC)),
        ["b", "a"]
    );
    assert_eq!(s.stored_stats().records, 2);

    let raw = raw_rows(&dir.db());
    assert_eq!(raw.len(), 2);
    let a = &raw[&("slot-1.mb-x.mesh.test".into(), "a".into())];
    assert_eq!(a.1 as u64, (T0 + 8 * SEC) / SEC + 10, "expiry refreshed");
    assert_eq!(a.2 as u64, ts_a2);
    assert_eq!(a.3, value_hash("a"));

    let with_ttl = s.get_with_ttl("SLOT-1.mb-x.mesh.test", T0 + 9 * SEC + 999);
    let with_ttl: Vec<(&str, u64)> = with_ttl.iter().map(|(v, t)| (&**v, *t)).collect();
    assert_eq!(with_ttl, [("b", 1), ("a", 9)]);

    // At T0+12 s the first "b" (expires T0+10) is gone, the refreshed "a" is not.
    assert_eq!(strs(&s.get("slot-1.mb-x.mesh.test", T0 + 12 * SEC)), ["a"]);
}

#[test]
fn value_hash_is_sha256_hex() {
    assert_eq!(
        value_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn ttl_expiry_and_sweep() {
    let dir = TempDir::new("ttl");
    let s = Store::open(dir.db()).unwrap();
    s.publish("x.mb-1.z", "short", 5, T0).unwrap();
    s.publish("x.mb-1.z", "long", 100, T0).unwrap();
    s.publish("y.mb-2.z", "short", 5, T0).unwrap();

    // Live while expires_at (T0/1000 + 5) > now in seconds.
    let edge = T0 + 5 * SEC;
    assert_eq!(strs(&s.get("x.mb-1.z", edge - 1)), ["short", "long"]);
    assert_eq!(strs(&s.get("x.mb-1.z", edge)), ["long"]);
    assert!(s.get("y.mb-2.z", edge).is_empty());
    assert!(s.name_exists_at_or_below("mb-2.z", edge - 1));
    assert!(
        !s.name_exists_at_or_below("mb-2.z", edge),
        "expired, before sweep"
    );
    assert!(!s.name_exists_at_or_below("y.mb-2.z", edge));
    assert_eq!(
        s.stats(edge),
        Stats {
            records: 1,
            names: 1,
            bytes: ("x.mb-1.z".len() + "long".len()) as u64
        }
    );
    assert_eq!(s.stored_stats().records, 3, "not swept yet");
    assert_eq!(s.names(edge), ["x.mb-1.z"]);
    assert_eq!(
        s.digest_page(&Cursor::default(), 10, edge)
            .unwrap()
            .records
            .len(),
        1
    );

    assert_eq!(s.sweep_expired(edge - 1).unwrap(), 0);
    assert_eq!(s.sweep_expired(edge).unwrap(), 2);
    assert_eq!(s.stored_stats(), s.stats(edge));
    let raw = raw_rows(&dir.db());
    assert_eq!(
        raw.keys().cloned().collect::<Vec<_>>(),
        [("x.mb-1.z".to_string(), "long".to_string())]
    );
    assert_eq!(s.sweep_expired(edge).unwrap(), 0);
}

#[test]
fn sweep_runs_in_several_batches() {
    let dir = TempDir::new("sweepbig");
    let s = Store::open_with(
        dir.db(),
        Options {
            durability: Durability::Normal,
        },
    )
    .unwrap();
    let names: Vec<String> = (0..12_003).map(|i| format!("n{i}.z")).collect();
    let ops: Vec<Op> = names
        .iter()
        .map(|n| Op::Publish {
            name: n,
            value: "v",
            ttl: 1,
        })
        .collect();
    s.apply(&ops, T0).unwrap();
    s.publish("keep.z", "v", 100, T0).unwrap();
    assert_eq!(s.sweep_expired(T0 + 2 * SEC).unwrap(), 12_003);
    assert_eq!(raw_rows(&dir.db()).len(), 1);
    assert_eq!(s.stored_stats().records, 1);
    assert!(s.name_exists_at_or_below("z", T0 + 2 * SEC));
}

#[test]
fn delete_value_and_name() {
    let dir = TempDir::new("delete");
    let s = Store::open(dir.db()).unwrap();
    for v in ["1", "2", "3"] {
        s.publish("prekeys.id-abc.z", v, 60, T0).unwrap();
    }
    s.publish("other.z", "x", 60, T0).unwrap();

    assert!(s.delete_value("prekeys.id-abc.z", "2").unwrap());
    assert!(!s.delete_value("prekeys.id-abc.z", "2").unwrap(), "absent");
    assert!(!s.delete_value("nowhere.z", "2").unwrap());
    assert_eq!(strs(&s.get("prekeys.id-abc.z", T0)), ["1", "3"]);
    assert_eq!(raw_rows(&dir.db()).len(), 3);

    assert_eq!(s.delete_name("prekeys.id-abc.z").unwrap(), 2);
    assert_eq!(s.delete_name("prekeys.id-abc.z").unwrap(), 0);
    assert!(s.get("prekeys.id-abc.z", T0).is_empty());
    assert!(!s.name_exists_at_or_below("prekeys.id-abc.z", T0));
    assert!(!s.name_exists_at_or_below("id-abc.z", T0));
    assert!(s.name_exists_at_or_below("z", T0), "other.z is still there");
    assert_eq!(
        raw_rows(&dir.db()).keys().cloned().collect::<Vec<_>>(),
        [("other.z".to_string(), "x".to_string())]
    );
    assert_eq!(s.stored_stats().records, 1);
    assert!(matches!(
        s.publish("", "x", 1, T0),
        Err(StoreError::EmptyName)
    ));
}

#[test]
fn apply_is_all_or_nothing() {
    let dir = TempDir::new("atomic");
    let s = Store::open(dir.db()).unwrap();
    s.publish("a.z", "keep", 60, T0).unwrap();
    // Make the third op fail inside SQLite.
    Connection::open(dir.db())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON records WHEN NEW.value = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END;",
        )
        .unwrap();
    let before = raw_rows(&dir.db());
    let r = s.apply(
        &[
            Op::Publish {
                name: "b.z",
                value: "new",
                ttl: 60,
            },
            Op::DeleteName { name: "a.z" },
            Op::Publish {
                name: "c.z",
                value: "boom",
                ttl: 60,
            },
        ],
        T0,
    );
    assert!(matches!(r, Err(StoreError::Sqlite(_))), "{r:?}");
    assert_eq!(raw_rows(&dir.db()), before);
    assert_eq!(strs(&s.get("a.z", T0)), ["keep"]);
    assert!(s.get("b.z", T0).is_empty());
    assert!(!s.name_exists_at_or_below("b.z", T0));

    // A successful batch reports each op; deleting an absent value is fine.
    let out = s
        .apply(
            &[
                Op::Publish {
                    name: "b.z",
                    value: "new",
                    ttl: 60,
                },
                Op::DeleteValue {
                    name: "b.z",
                    value: "never",
                },
                Op::DeleteName { name: "a.z" },
            ],
            T0,
        )
        .unwrap();
    assert!(matches!(out[0], Outcome::Published { .. }));
    assert_eq!(out[1..], [Outcome::Deleted(0), Outcome::Deleted(1)]);
    assert_eq!(raw_rows(&dir.db()).len(), 1);
}

#[test]
fn names_are_case_folded() {
    let dir = TempDir::new("case");
    let s = Store::open(dir.db()).unwrap();
    s.publish("Slot-1.MB-AbC.Mesh.Test", "Value-Keeps-Case", 60, T0)
        .unwrap();
    assert_eq!(
        strs(&s.get("slot-1.mb-abc.mesh.test", T0)),
        ["Value-Keeps-Case"]
    );
    assert_eq!(
        strs(&s.get("SLOT-1.MB-ABC.MESH.TEST", T0)),
        ["Value-Keeps-Case"]
    );
    assert!(s.name_exists_at_or_below("MB-abc.mesh.TEST", T0));
    let raw = raw_rows(&dir.db());
    assert_eq!(
        raw.keys().cloned().collect::<Vec<_>>(),
        [(
            "slot-1.mb-abc.mesh.test".to_string(),
            "Value-Keeps-Case".to_string()
        )]
    );
    // The same value under another casing is the same row.
    s.publish("slot-1.mb-abc.MESH.test", "Value-Keeps-Case", 60, T0)
        .unwrap();
    assert_eq!(raw_rows(&dir.db()).len(), 1);
    // Only ASCII folds (RFC 4343); non-ASCII bytes stay as they are.
    s.publish("Ä.z", "v", 60, T0).unwrap();
    assert!(s.get("ä.z", T0).is_empty());
    assert_eq!(s.get("Ä.Z", T0).len(), 1);
    assert!(
        s.delete_value("SLOT-1.mb-abc.mesh.test", "Value-Keeps-Case")
            .unwrap()
    );
    assert!(s.get("slot-1.mb-abc.mesh.test", T0).is_empty());
}

/// The reference's records table (dnsmesh 0.7.5) with a mixed-case name and
/// a missing hash is adopted on open.
#[test]
fn opens_a_reference_shaped_database() {
    let dir = TempDir::new("refdb");
    {
        let c = Connection::open(dir.db()).unwrap();
        c.execute_batch(
            "CREATE TABLE records (name TEXT NOT NULL, value TEXT NOT NULL, \
               ttl INTEGER NOT NULL, created_at INTEGER NOT NULL, \
               expires_at INTEGER NOT NULL, stored_ts INTEGER NOT NULL DEFAULT 0, \
               value_hash TEXT NOT NULL DEFAULT '', PRIMARY KEY (name, value)); \
             CREATE INDEX idx_records_name ON records(name); \
             CREATE INDEX idx_records_stored_ts ON records(stored_ts);",
        )
        .unwrap();
        let now_s = (T0 / SEC) as i64;
        c.execute(
            "INSERT INTO records VALUES ('Up.Case.Z', 'v1', 60, ?1, ?2, ?3, '')",
            [now_s, now_s + 60, T0 as i64],
        )
        .unwrap();
        c.execute(
            "INSERT INTO records VALUES ('low.z', 'v2', 60, ?1, ?2, ?3, ?4)",
            rusqlite::params![now_s, now_s + 60, T0 as i64 + 5, value_hash("v2")],
        )
        .unwrap();
    }
    let s = Store::open(dir.db()).unwrap();
    assert_eq!(strs(&s.get("up.case.z", T0)), ["v1"]);
    let raw = raw_rows(&dir.db());
    assert_eq!(raw[&("up.case.z".into(), "v1".into())].3, value_hash("v1"));
    let v: i64 = Connection::open(dir.db())
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    // The reference's two redundant indexes are gone; the ones we read by
    // are there.
    let mut indexes: Vec<String> = {
        let c = Connection::open(dir.db()).unwrap();
        let mut st = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "idx_records_expires",
            "idx_records_page",
            "sqlite_autoindex_records_1"
        ]
    );
    // stored_ts continues after the highest one found on disk.
    assert!(s.publish("n.z", "v", 60, T0).unwrap() > T0 + 5);
}

#[test]
fn newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    Connection::open(dir.db())
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    assert!(matches!(
        Store::open(dir.db()),
        Err(StoreError::NewerSchema { found }) if found == SCHEMA_VERSION + 1
    ));
}

/// A small deterministic generator, so the mixed workload is reproducible.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// The index, before and after reopening, answers exactly what the DB holds.
#[test]
fn index_matches_database_after_reopen() {
    let dir = TempDir::new("reopen");
    let now = T0 + 50 * SEC;
    let check = |s: &Store| {
        let raw = raw_rows(&dir.db());
        let now_s = (now / SEC) as i64;
        let mut live: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for ((n, v), (_, exp, _, _)) in &raw {
            if *exp > now_s {
                live.entry(n.clone()).or_default().insert(v.clone());
            }
        }
        for n in raw.keys().map(|(n, _)| n) {
            let got: BTreeSet<String> = s.get(n, now).iter().map(|v| v.to_string()).collect();
            assert_eq!(got, live.get(n).cloned().unwrap_or_default(), "name {n}");
        }
        assert_eq!(s.names(now), live.keys().cloned().collect::<Vec<_>>());
        let st = s.stats(now);
        assert_eq!(
            st.records,
            live.values().map(|v| v.len() as u64).sum::<u64>()
        );
        assert_eq!(st.names, live.len() as u64);
        let ss = s.stored_stats();
        assert_eq!(ss.records, raw.len() as u64);
        assert_eq!(
            ss.bytes,
            raw.keys()
                .map(|(n, v)| (n.len() + v.len()) as u64)
                .sum::<u64>()
        );
        live
    };

    let mut rng = Lcg(7);
    let mut written = 0;
    {
        let s = Store::open(dir.db()).unwrap();
        for step in 0..600u64 {
            let name = format!("slot-{}.mb-{}.mesh.test", rng.next(4), rng.next(6));
            let value = format!("v{}", rng.next(8));
            let t = T0 + step * 100;
            match rng.next(10) {
                0..=5 => {
                    let ttl = [1, 10, 30, 1000][rng.next(4) as usize];
                    s.publish(&name, &value, ttl, t).unwrap();
                    written += 1;
                }
                6..=7 => {
                    s.delete_value(&name, &value).unwrap();
                }
                8 => {
                    s.delete_name(&name).unwrap();
                }
                _ => {
                    s.sweep_expired(t).unwrap();
                }
            }
        }
        let live = check(&s);
        assert!(written > 200 && !live.is_empty());
    }
    let s = Store::open(dir.db()).unwrap();
    check(&s);
}

/// Paging with a small limit walks every live row once, in
/// (stored_ts, name, value_hash) order, including ties on stored_ts that a
/// reference-written DB can contain.
#[test]
fn digest_pages_in_order() {
    let dir = TempDir::new("digest");
    let now_s = (T0 / SEC) as i64;
    {
        // Pre-existing rows sharing one stored_ts, as the reference writes
        // them (several values published in the same ms).
        let s = Store::open(dir.db()).unwrap();
        drop(s);
        let c = Connection::open(dir.db()).unwrap();
        for (n, v) in [("b.z", "1"), ("a.z", "2"), ("a.z", "3"), ("b.z", "4")] {
            c.execute(
                "INSERT INTO records VALUES (?1, ?2, 60, ?3, ?4, ?5, ?6)",
                rusqlite::params![n, v, now_s, now_s + 60, 1000, value_hash(v)],
            )
            .unwrap();
        }
        // An expired row in the middle of the order.
        c.execute(
            "INSERT INTO records VALUES ('dead.z', 'x', 1, ?1, ?1, 1001, ?2)",
            rusqlite::params![now_s - 1, value_hash("x")],
        )
        .unwrap();
    }
    let s = Store::open(dir.db()).unwrap();
    for i in 0..20 {
        s.publish(&format!("n{}.z", i % 3), &format!("val{i}"), 60, T0)
            .unwrap();
    }
    let now = T0 + SEC;
    let mut expected: Vec<(u64, String, String)> = raw_rows(&dir.db())
        .into_iter()
        .filter(|(_, r)| r.1 > now_s + 1)
        .map(|((n, _), r)| (r.2 as u64, n, r.3))
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 24);

    let mut got = Vec::new();
    let mut cursor = Cursor::default();
    let mut pages = 0;
    loop {
        let page = s.digest_page(&cursor, 5, now).unwrap();
        pages += 1;
        assert!(page.records.len() <= 5);
        for r in &page.records {
            assert_eq!(r.hash, value_hash(&r.value));
            assert!(r.ttl_remaining >= 58 && r.ttl_remaining <= 60);
            got.push((r.stored_ts, r.name.clone(), r.hash.clone()));
        }
        if let Some(last) = page.records.last() {
            assert_eq!(
                page.next_cursor,
                Cursor {
                    ts: last.stored_ts,
                    name: last.name.clone(),
                    hash: last.hash.clone()
                }
            );
        }
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(got, expected);
    assert_eq!(pages, 5, "24 rows in pages of 5");

    // An exhausted cursor gives an empty page that echoes it.
    let end = s.digest_page(&cursor, 5, now).unwrap();
    assert!(end.records.is_empty() && !end.has_more);
    assert_eq!(end.next_cursor, cursor);

    // A new write lands after the cursor.
    s.publish("late.z", "v", 60, T0).unwrap();
    let page = s.digest_page(&cursor, 5, now).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].name, "late.z");

    // Legacy since=<ms>: strictly greater.
    let since = s.digest_page(&Cursor::since(1000), 100, now).unwrap();
    assert_eq!(since.records.len(), 21);
    assert!(since.records.iter().all(|r| r.stored_ts > 1000));
    let at = s
        .digest_page(
            &Cursor {
                ts: 1000,
                name: "a.z".into(),
                hash: String::new(),
            },
            100,
            now,
        )
        .unwrap();
    assert_eq!(at.records.len(), 25, "from the first value of a.z at 1000");
}

#[test]
fn records_for_names_serves_pull() {
    let dir = TempDir::new("pull");
    let s = Store::open(dir.db()).unwrap();
    s.publish("a.z", "1", 60, T0).unwrap();
    s.publish("a.z", "2", 5, T0).unwrap();
    s.publish("b.z", "3", 60, T0).unwrap();
    let got = s.records_for_names(&["A.z", "a.z", "nope.z", "b.z"], T0 + 10 * SEC);
    let flat: Vec<(&str, &str, u64)> = got
        .iter()
        .map(|r| (r.name.as_str(), &*r.value, r.ttl_remaining))
        .collect();
    assert_eq!(flat, [("a.z", "1", 50), ("b.z", "3", 50)]);
    assert_eq!(got[0].hash, value_hash("1"));
}

#[test]
fn empty_non_terminals_exist() {
    let dir = TempDir::new("ent");
    let s = Store::open(dir.db()).unwrap();
    s.publish("slot-3.mb-0123456789ab.mesh.test", "m", 60, T0)
        .unwrap();
    for ent in ["mb-0123456789ab.mesh.test", "mesh.test", "test"] {
        assert!(s.name_exists_at_or_below(ent, T0), "{ent}");
        assert!(s.get(ent, T0).is_empty(), "{ent} has no values");
    }
    assert!(s.name_exists_at_or_below("slot-3.mb-0123456789ab.mesh.test", T0));
    for nx in [
        "slot-4.mb-0123456789ab.mesh.test",
        "x.slot-3.mb-0123456789ab.mesh.test",
        "mb-0123456789ab.other.test",
        "esh.test",
        "other",
        "",
    ] {
        assert!(!s.name_exists_at_or_below(nx, T0), "{nx}");
    }
    // A second name under the same parent keeps it alive after the first goes.
    s.publish("slot-4.mb-0123456789ab.mesh.test", "m", 60, T0)
        .unwrap();
    s.delete_name("slot-3.mb-0123456789ab.mesh.test").unwrap();
    assert!(s.name_exists_at_or_below("mb-0123456789ab.mesh.test", T0));
    s.delete_value("slot-4.mb-0123456789ab.mesh.test", "m")
        .unwrap();
    assert!(!s.name_exists_at_or_below("mb-0123456789ab.mesh.test", T0));
    assert!(!s.name_exists_at_or_below("test", T0));
    // Also true after a reopen (the ancestor set is rebuilt from disk).
    s.publish("id-abc.mesh.test", "i", 60, T0).unwrap();
    drop(s);
    let s = Store::open(dir.db()).unwrap();
    assert!(s.name_exists_at_or_below("mesh.test", T0));
    assert!(!s.name_exists_at_or_below("mb-0123456789ab.mesh.test", T0));
}

/// Readers on other threads keep answering while one thread writes; each
/// sees a prefix of the writes (never a partial batch).
#[test]
fn concurrent_readers_see_whole_batches() {
    let dir = TempDir::new("conc");
    let s = Arc::new(Store::open(dir.db()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let s = Arc::clone(&s);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut last = 0;
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let n = s.get("busy.z", T0).len();
                    assert_eq!(n % 2, 0, "a batch of two is seen whole");
                    assert!(n >= last, "values never disappear");
                    last = n;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..100 {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        s.apply(
            &[
                Op::Publish {
                    name: "busy.z",
                    value: &a,
                    ttl: 60,
                },
                Op::Publish {
                    name: "busy.z",
                    value: &b,
                    ttl: 60,
                },
            ],
            T0,
        )
        .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(s.get("busy.z", T0).len(), 200);
}

/// The node shares one store between tokio tasks and blocking threads.
#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Store>();
    check::<Arc<Store>>();
}
