//! The node's record store: SQLite (WAL) as the durable truth, an in-memory
//! index for every read.
//!
//! Behaviour follows the reference node (REFERENCE-NODE.md §5) where it is
//! sound: one row per (name, value) with append semantics, per-row TTL,
//! expired rows invisible at once and deleted by a periodic sweep, and a
//! `stored_ts` cursor for anti-entropy (§6). It departs where §13.1 says to:
//! names are ASCII lower-cased on every write and read (R5), and a batch of
//! operations ([`Store::apply`]) is all or nothing, deletes of absent rows
//! included (R6).
//!
//! Threading: all methods take `&self`; share the store as `Arc<Store>`.
//! Reads ([`Store::get`], [`Store::name_exists_at_or_below`], …) only take a
//! read lock on the index and never touch SQLite, so they are cheap enough
//! to call on every DNS query from async code. Writes are serialized on one
//! SQLite connection and block on `fsync`; from tokio call them through
//! `spawn_blocking`, or queue them on a [`GroupCommit`], which lets
//! concurrent writers share one transaction (one fsync) and answers each
//! after its commit. WAL checkpoints run on a background thread, off the
//! commit path.
//!
//! Time is passed in (`now_ms`, Unix milliseconds) so tests control it;
//! [`unix_now_ms`] gives the real clock.

mod checkpoint;
mod group_commit;
mod index;
pub mod sync_store;

pub use group_commit::{GroupCommit, MAX_BATCH, Write, WriteError};

use index::{Entry, Index};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// The schema, shared with the edge node's D1 (see the file's header).
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// `PRAGMA user_version` written by this code; a newer DB is refused so an
/// old binary never rewrites a layout it does not know.
pub const SCHEMA_VERSION: i64 = 1;

/// Rows deleted per transaction by [`Store::sweep_expired`], so one sweep
/// never holds the writer (and the index write lock) for long.
const SWEEP_BATCH: i64 = 5_000;

/// The current Unix time in milliseconds (0 if the clock is before 1970).
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The stored form of an owner name: ASCII lower-case (DNS names compare
/// case-insensitively in ASCII only, RFC 4343). Borrows when already folded,
/// so the read path does not allocate for the usual lower-case query.
pub fn normalize_name(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Lower-case hex SHA-256 of the UTF-8 value: the `value_hash` column and the
/// `hash` of a sync digest entry, identical on every node.
pub fn value_hash(value: &str) -> String {
    dmp_core::crypto::hex(&dmp_core::crypto::sha256(value.as_bytes()))
}

/// How hard a commit is pushed to disk before a write returns.
///
/// Both modes run SQLite in WAL mode, and in both an acknowledged write
/// survives the node process dying (`kill -9`, panic, OOM kill): a commit
/// has been `write(2)`n to the WAL file before it returns, and the kernel
/// keeps those pages whatever happens to the process. They differ only when
/// the whole machine stops (power cut, kernel crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, so an
    /// acknowledged write also survives power loss. One fsync per write
    /// transaction; batch with [`Store::apply`] to amortize it.
    #[default]
    Full,
    /// `synchronous=NORMAL` (the reference's setting): no fsync per commit,
    /// only at checkpoints. Survives process crashes but the last commits
    /// may be lost on power loss (the database itself stays consistent).
    Normal,
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub durability: Durability,
}

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    /// The DB was written by a newer schema than [`SCHEMA_VERSION`].
    NewerSchema {
        found: i64,
    },
    /// SQLite refused WAL mode (e.g. a filesystem without shared memory).
    NoWal(String),
    /// Empty owner name: never stored, so the `("", …)` cursor can mean
    /// "before every name".
    EmptyName,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StoreError::NewerSchema { found } => write!(
                f,
                "database schema version {found} is newer than supported {SCHEMA_VERSION}"
            ),
            StoreError::NoWal(mode) => write!(f, "could not enable WAL (journal_mode={mode})"),
            StoreError::EmptyName => f.write_str("empty record name"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One change in a [`Store::apply`] batch. Names are folded by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Append `value` at `name`, or refresh its TTL if it is already there.
    Publish {
        name: &'a str,
        value: &'a str,
        ttl: u32,
    },
    /// Delete one value; absent is not an error.
    DeleteValue { name: &'a str, value: &'a str },
    /// Delete every value of a name.
    DeleteName { name: &'a str },
}

/// What one [`Op`] did, in the order of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored with this `stored_ts` (ms).
    Published { stored_ts: u64 },
    /// Rows deleted (0 or 1 for `DeleteValue`).
    Deleted(u64),
}

/// A position in the anti-entropy order `(stored_ts, name, value_hash)`.
/// [`Store::digest_page`] returns rows strictly after it. The default
/// (`0`, `""`, `""`) is before every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub ts: u64,
    pub name: String,
    pub hash: String,
}

impl Cursor {
    /// The legacy `?since=<ms>` form: every row with `stored_ts > ms`.
    /// Exact because no row has an empty name.
    pub fn since(ms: u64) -> Self {
        Cursor {
            ts: ms.saturating_add(1),
            ..Cursor::default()
        }
    }
}

/// A live row as served to a syncing peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRecord {
    pub name: String,
    pub value: Arc<str>,
    /// Lower-case hex SHA-256 of `value`.
    pub hash: String,
    pub stored_ts: u64,
    /// Seconds left before expiry at the time of the read (≥ 1: only live
    /// rows are returned).
    pub ttl_remaining: u64,
}

/// One page of [`Store::digest_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<SyncRecord>,
    /// More rows exist after `next_cursor`.
    pub has_more: bool,
    /// The last row returned, or the input cursor on an empty page.
    pub next_cursor: Cursor,
}

/// Sizes for `/stats` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rows (name, value).
    pub records: u64,
    /// Distinct names.
    pub names: u64,
    /// Sum of name and value lengths in bytes over those rows.
    pub bytes: u64,
}

struct Writer {
    conn: Connection,
    /// The highest `stored_ts` handed out, so the next is strictly greater.
    last_ts: u64,
}

/// The record store. See the module documentation.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Writer>,
    /// A second connection for the sync digest, which reads SQLite (ordered
    /// pages over an index) instead of the in-memory map; WAL lets it read
    /// while the writer commits.
    reader: Mutex<Connection>,
    index: RwLock<Index>,
    /// Background WAL checkpoints. Dropped last: its connection, closing
    /// after the others, does SQLite's final checkpoint.
    _checkpointer: Option<checkpoint::Checkpointer>,
}

// A poisoned lock only means another thread panicked while holding it; the
// index is updated after commit in non-panicking steps, so keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Open (creating if needed) the store at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Options::default())
    }

    /// Open (creating if needed) the store at `path`, migrate the schema and
    /// load every row into the index.
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal(mode));
        }
        let sync = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WAL_BACKSTOP_PAGES)?;
        migrate(&mut conn)?;

        let mut index = Index::default();
        let mut last_ts = 0u64;
        {
            let mut stmt = conn.prepare(
                "SELECT name, value, expires_at, stored_ts FROM records \
                 ORDER BY stored_ts, rowid",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                let value: String = row.get(1)?;
                let stored_ts = to_u64(row.get(3)?);
                last_ts = last_ts.max(stored_ts);
                index.upsert(
                    &name,
                    Entry {
                        value: value.into(),
                        expires_at: to_u64(row.get(2)?),
                        stored_ts,
                    },
                );
            }
        }

        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(Duration::from_secs(10))?;

        let checkpointer = checkpoint::Checkpointer::start(&path, sync);
        Ok(Store {
            path,
            writer: Mutex::new(Writer { conn, last_ts }),
            reader: Mutex::new(reader),
            index: RwLock::new(index),
            _checkpointer: checkpointer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    // ---- reads (memory only) ----------------------------------------------

    /// The live values at `name`, oldest publish first. One hash lookup; the
    /// values are shared, not copied.
    pub fn get(&self, name: &str, now_ms: u64) -> Vec<Arc<str>> {
        let now_s = now_ms / 1000;
        let name = normalize_name(name);
        self.read()
            .rows_of(&name)
            .iter()
            .filter(|e| e.expires_at > now_s)
            .map(|e| Arc::clone(&e.value))
            .collect()
    }

    /// Like [`Store::get`], with the seconds each value has left (≥ 1), so a
    /// DNS answer can cap its TTL and no resolver caches a value past its
    /// expiry.
    pub fn get_with_ttl(&self, name: &str, now_ms: u64) -> Vec<(Arc<str>, u64)> {
        let now_s = now_ms / 1000;
        let name = normalize_name(name);
        self.read()
            .rows_of(&name)
            .iter()
            .filter(|e| e.expires_at > now_s)
            .map(|e| (Arc::clone(&e.value), e.expires_at - now_s))
            .collect()
    }

    /// True if `name` holds a live value or is an ancestor of a name that
    /// does (an empty non-terminal). False means NXDOMAIN; true with no
    /// values at `name` means NODATA.
    ///
    /// Exact for live data, with one conservative edge: after a value is
    /// deleted before its expiry, an ancestor may still answer true until
    /// the last name below it is gone or the deleted value's expiry passes.
    pub fn name_exists_at_or_below(&self, name: &str, now_ms: u64) -> bool {
        self.read()
            .exists_at_or_below(&normalize_name(name), now_ms / 1000)
    }

    /// The live rows of the given names (duplicates and unknown names are
    /// skipped), for the sync `pull` endpoint.
    pub fn records_for_names<S: AsRef<str>>(&self, names: &[S], now_ms: u64) -> Vec<SyncRecord> {
        let now_s = now_ms / 1000;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        let index = self.read();
        for name in names {
            let name = normalize_name(name.as_ref());
            if !seen.insert(name.clone()) {
                continue;
            }
            for e in index.rows_of(&name).iter().filter(|e| e.expires_at > now_s) {
                out.push(SyncRecord {
                    name: name.to_string(),
                    value: Arc::clone(&e.value),
                    hash: value_hash(&e.value),
                    stored_ts: e.stored_ts,
                    ttl_remaining: e.expires_at - now_s,
                });
            }
        }
        out
    }

    /// Live sizes: rows, names and bytes not yet expired at `now_ms`. A scan
    /// of the index (under the read lock), meant for `/stats` and metrics
    /// scrapes, not for the query path.
    pub fn stats(&self, now_ms: u64) -> Stats {
        let now_s = now_ms / 1000;
        let mut s = Stats::default();
        for (name, rows) in self.read().iter() {
            let mut any = false;
            for e in rows.iter().filter(|e| e.expires_at > now_s) {
                any = true;
                s.records += 1;
                s.bytes += (name.len() + e.value.len()) as u64;
            }
            s.names += u64::from(any);
        }
        s
    }

    /// Stored sizes including expired rows the sweep has not removed yet.
    /// O(1).
    pub fn stored_stats(&self) -> Stats {
        let ix = self.read();
        Stats {
            records: ix.rows(),
            names: ix.name_count(),
            bytes: ix.bytes(),
        }
    }

    /// Every name with a live value, sorted.
    pub fn names(&self, now_ms: u64) -> Vec<String> {
        let now_s = now_ms / 1000;
        let mut v: Vec<String> = self
            .read()
            .iter()
            .filter(|(_, rows)| rows.iter().any(|e| e.expires_at > now_s))
            .map(|(n, _)| n.to_string())
            .collect();
        v.sort_unstable();
        v
    }

    // ---- anti-entropy (SQLite) ---------------------------------------------

    /// Up to `limit` live rows strictly after `after` in
    /// `(stored_ts, name, value_hash)` order: the sync `digest` endpoint.
    /// Served from SQLite through `idx_records_page`, so a large backlog is
    /// read page by page and never loaded whole.
    pub fn digest_page(&self, after: &Cursor, limit: usize, now_ms: u64) -> Result<Page> {
        let now_s = now_ms / 1000;
        let ts = to_i64(after.ts);
        let want = i64::try_from(limit).unwrap_or(i64::MAX - 1);
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(
            "SELECT name, value, expires_at, stored_ts, value_hash FROM records \
             WHERE (stored_ts > ?1 OR (stored_ts = ?1 AND name > ?2) \
                    OR (stored_ts = ?1 AND name = ?2 AND value_hash > ?3)) \
               AND expires_at > ?4 \
             ORDER BY stored_ts, name, value_hash LIMIT ?5",
        )?;
        let mut rows = stmt.query(params![
            ts,
            after.name,
            after.hash,
            to_i64(now_s),
            want.saturating_add(1)
        ])?;
        let mut records = Vec::new();
        let mut has_more = false;
        while let Some(row) = rows.next()? {
            if records.len() >= limit {
                has_more = true;
                break;
            }
            let value: String = row.get(1)?;
            records.push(SyncRecord {
                name: row.get(0)?,
                value: value.into(),
                ttl_remaining: to_u64(row.get(2)?).saturating_sub(now_s),
                stored_ts: to_u64(row.get(3)?),
                hash: row.get(4)?,
            });
        }
        let next_cursor = records.last().map_or_else(
            || after.clone(),
            |r| Cursor {
                ts: r.stored_ts,
                name: r.name.clone(),
                hash: r.hash.clone(),
            },
        );
        Ok(Page {
            records,
            has_more,
            next_cursor,
        })
    }

    // ---- writes ------------------------------------------------------------

    /// Append `value` at `name` for `ttl` seconds, or refresh it if present.
    /// Returns the row's new `stored_ts`. Returns only once committed.
    pub fn publish(&self, name: &str, value: &str, ttl: u32, now_ms: u64) -> Result<u64> {
        let out = self.apply(&[Op::Publish { name, value, ttl }], now_ms)?;
        Ok(match out[..] {
            [Outcome::Published { stored_ts }] => stored_ts,
            _ => 0,
        })
    }

    /// Delete one value; true if it was stored (expired or not).
    pub fn delete_value(&self, name: &str, value: &str) -> Result<bool> {
        let out = self.apply(&[Op::DeleteValue { name, value }], 0)?;
        Ok(matches!(out[..], [Outcome::Deleted(n)] if n > 0))
    }

    /// Delete every value of `name`; returns how many rows went.
    pub fn delete_name(&self, name: &str) -> Result<u64> {
        let out = self.apply(&[Op::DeleteName { name }], 0)?;
        Ok(match out[..] {
            [Outcome::Deleted(n)] => n,
            _ => 0,
        })
    }

    /// Apply `ops` in order in one transaction: either all of them are
    /// committed (and then visible to readers) or none is. Returns after the
    /// commit, with one [`Outcome`] per op.
    pub fn apply(&self, ops: &[Op<'_>], now_ms: u64) -> Result<Vec<Outcome>> {
        let mut w = lock(&self.writer);
        self.apply_locked(&mut w, ops, now_ms)
    }

    /// [`Store::apply`] with the writer already held: the transaction, then
    /// the index update (still under the writer, so the index sees commits
    /// in commit order and readers never see an uncommitted row).
    fn apply_locked(&self, w: &mut Writer, ops: &[Op<'_>], now_ms: u64) -> Result<Vec<Outcome>> {
        if ops.iter().any(|op| match op {
            Op::Publish { name, .. } | Op::DeleteValue { name, .. } | Op::DeleteName { name } => {
                name.is_empty()
            }
        }) {
            return Err(StoreError::EmptyName);
        }
        let now_s = now_ms / 1000;
        let mut ts = w.last_ts;
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut changes: Vec<(String, Option<Entry>, Option<&str>)> = Vec::with_capacity(ops.len());
        {
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for op in ops {
                match *op {
                    Op::Publish { name, value, ttl } => {
                        let name = normalize_name(name).into_owned();
                        ts = now_ms.max(ts.saturating_add(1));
                        let expires_at = now_s.saturating_add(u64::from(ttl));
                        tx.prepare_cached(
                            "INSERT INTO records \
                             (name, value, ttl, created_at, expires_at, stored_ts, value_hash) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                             ON CONFLICT(name, value) DO UPDATE SET \
                             ttl = excluded.ttl, created_at = excluded.created_at, \
                             expires_at = excluded.expires_at, \
                             stored_ts = excluded.stored_ts, value_hash = excluded.value_hash",
                        )?
                        .execute(params![
                            name,
                            value,
                            i64::from(ttl),
                            to_i64(now_s),
                            to_i64(expires_at),
                            to_i64(ts),
                            value_hash(value)
                        ])?;
                        outcomes.push(Outcome::Published { stored_ts: ts });
                        changes.push((
                            name,
                            Some(Entry {
                                value: value.into(),
                                expires_at,
                                stored_ts: ts,
                            }),
                            None,
                        ));
                    }
                    Op::DeleteValue { name, value } => {
                        let name = normalize_name(name).into_owned();
                        let n = tx
                            .prepare_cached("DELETE FROM records WHERE name = ?1 AND value = ?2")?
                            .execute(params![name, value])?;
                        outcomes.push(Outcome::Deleted(n as u64));
                        changes.push((name, None, Some(value)));
                    }
                    Op::DeleteName { name } => {
                        let name = normalize_name(name).into_owned();
                        let n = tx
                            .prepare_cached("DELETE FROM records WHERE name = ?1")?
                            .execute(params![name])?;
                        outcomes.push(Outcome::Deleted(n as u64));
                        changes.push((name, None, None));
                    }
                }
            }
            tx.commit()?;
        }
        w.last_ts = ts;
        // Still holding the writer: the index sees commits in commit order.
        let mut index = self.write_index();
        for (name, entry, value) in changes {
            match (entry, value) {
                (Some(entry), _) => index.upsert(&name, entry),
                (None, Some(value)) => {
                    index.remove_value(&name, value);
                }
                (None, None) => {
                    index.remove_name(&name);
                }
            }
        }
        Ok(outcomes)
    }

    /// Delete every row with `expires_at <= now` (in seconds), in bounded
    /// transactions. Returns the number of rows removed. The node calls it
    /// periodically; reads already ignore expired rows, so it only bounds
    /// disk and memory.
    pub fn sweep_expired(&self, now_ms: u64) -> Result<u64> {
        let now_s = to_i64(now_ms / 1000);
        let mut total = 0u64;
        loop {
            let mut w = lock(&self.writer);
            let tx = w
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let gone: Vec<(String, String)> = {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM records WHERE rowid IN \
                     (SELECT rowid FROM records WHERE expires_at <= ?1 LIMIT ?2) \
                     RETURNING name, value",
                )?;
                let rows =
                    stmt.query_map(params![now_s, SWEEP_BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            tx.commit()?;
            {
                let mut index = self.write_index();
                for (name, value) in &gone {
                    index.remove_value(name, value);
                }
            }
            drop(w);
            total += gone.len() as u64;
            if (gone.len() as i64) < SWEEP_BATCH {
                return Ok(total);
            }
        }
    }
}

/// Create or upgrade the schema in one transaction.
///
/// A database written by the reference node (same table, `user_version` 0)
/// is adopted: names are folded to lower case (a folded duplicate of an
/// existing row replaces it) and any missing `value_hash` is filled in.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found: version });
    }
    tx.execute_batch(SCHEMA_SQL)?;
    if version < SCHEMA_VERSION {
        // SQLite's built-in lower() folds ASCII only, like normalize_name.
        tx.execute(
            "UPDATE OR REPLACE records SET name = lower(name) WHERE name <> lower(name)",
            [],
        )?;
        let stale: Vec<(i64, String)> = {
            let mut stmt =
                tx.prepare("SELECT rowid, value FROM records WHERE length(value_hash) <> 64")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (rowid, value) in stale {
            tx.execute(
                "UPDATE records SET value_hash = ?1 WHERE rowid = ?2",
                params![value_hash(&value), rowid],
            )?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}
