//! `prekeys.db`: the one-time prekey private keys (forward secrecy), in
//! the reference's SQLite schema (version 2 via `PRAGMA user_version`):
//! `prekeys(prekey_id INTEGER PRIMARY KEY, private_key BLOB, public_key
//! BLOB, exp INTEGER, created_at INTEGER, wire_record TEXT)`.
//! A row is deleted as soon as its key is used; time is passed in.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// Newest schema this code understands; a newer file is refused rather
/// than risk dropping what a newer version stores.
pub const SCHEMA_VERSION: i64 = 2;

/// `prekey_id` 0 means "no prekey" on the wire and is never stored.
pub const NO_PREKEY: u32 = 0;

#[derive(Debug)]
pub enum PrekeyError {
    Sql(rusqlite::Error),
    Io(std::io::Error),
    NewerSchema { found: i64 },
    BadRow(&'static str),
}

impl std::fmt::Display for PrekeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrekeyError::Sql(e) => write!(f, "prekey store: {e}"),
            PrekeyError::Io(e) => write!(f, "prekey store: {e}"),
            PrekeyError::NewerSchema { found } => write!(
                f,
                "prekey store schema version {found} is newer than {SCHEMA_VERSION}; \
                 refusing to open it with this older version"
            ),
            PrekeyError::BadRow(why) => write!(f, "prekey store: {why}"),
        }
    }
}

impl std::error::Error for PrekeyError {}

impl From<rusqlite::Error> for PrekeyError {
    fn from(e: rusqlite::Error) -> Self {
        PrekeyError::Sql(e)
    }
}

/// A claimed prekey: its private key and the published TXT value, if recorded.
pub type Claimed = ([u8; 32], Option<String>);

/// A live row: `(id, private key, public key, exp, wire record)`.
pub type LiveRow = (u32, [u8; 32], [u8; 32], i64, String);

pub struct PrekeyStore {
    conn: Connection,
}

fn key32(v: Vec<u8>) -> Result<[u8; 32], PrekeyError> {
    v.try_into()
        .map_err(|_| PrekeyError::BadRow("private key is not 32 bytes"))
}

impl PrekeyStore {
    /// Opens or creates the store and migrates it to version 2 in one
    /// transaction. WAL journal, like the reference, so both can share it.
    pub fn open(path: &Path) -> Result<PrekeyStore, PrekeyError> {
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(PrekeyError::Io)?;
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(PrekeyError::NewerSchema { found: version });
        }
        if version < 1 {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS prekeys (
                     prekey_id INTEGER PRIMARY KEY,
                     private_key BLOB NOT NULL,
                     public_key BLOB NOT NULL,
                     exp INTEGER NOT NULL,
                     created_at INTEGER NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS idx_prekeys_exp ON prekeys(exp);",
            )?;
            version = 1;
        }
        if version < 2 {
            let has_wire: bool = tx
                .prepare("SELECT 1 FROM pragma_table_info('prekeys') WHERE name = 'wire_record'")?
                .exists([])?;
            if !has_wire {
                tx.execute_batch("ALTER TABLE prekeys ADD COLUMN wire_record TEXT DEFAULT ''")?;
            }
            version = 2;
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        for suffix in ["", "-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
        Ok(PrekeyStore { conn })
    }

    /// Store a freshly generated prekey. False if the id is 0 or taken.
    pub fn insert(
        &self,
        prekey_id: u32,
        private_key: &[u8; 32],
        public_key: &[u8; 32],
        exp: i64,
        created_at: i64,
    ) -> Result<bool, PrekeyError> {
        if prekey_id == NO_PREKEY {
            return Ok(false);
        }
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO prekeys (prekey_id, private_key, public_key, exp, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                prekey_id,
                &private_key[..],
                &public_key[..],
                exp,
                created_at
            ],
        )?;
        Ok(n == 1)
    }

    /// Remember the published TXT value so the record can be deleted
    /// from DNS once the prekey is used.
    pub fn record_wire(&self, prekey_id: u32, wire: &str) -> Result<(), PrekeyError> {
        self.conn.execute(
            "UPDATE prekeys SET wire_record = ?1 WHERE prekey_id = ?2",
            params![wire, prekey_id],
        )?;
        Ok(())
    }

    /// The live private key, without consuming it.
    pub fn private_key(&self, prekey_id: u32, now: i64) -> Result<Option<[u8; 32]>, PrekeyError> {
        if prekey_id == NO_PREKEY {
            return Ok(None);
        }
        let row: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT private_key FROM prekeys WHERE prekey_id = ?1 AND exp > ?2",
                params![prekey_id, now],
                |r| r.get(0),
            )
            .optional()?;
        row.map(key32).transpose()
    }

    /// Atomically delete a live row and return (private key, wire record):
    /// the key is off the disk before decryption starts, and two
    /// processes cannot both use it.
    pub fn claim(&self, prekey_id: u32, now: i64) -> Result<Option<Claimed>, PrekeyError> {
        if prekey_id == NO_PREKEY {
            return Ok(None);
        }
        let row: Option<(Vec<u8>, Option<String>)> = self
            .conn
            .query_row(
                "DELETE FROM prekeys WHERE prekey_id = ?1 AND exp > ?2
                 RETURNING private_key, wire_record",
                params![prekey_id, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((sk, wire)) => Ok(Some((key32(sk)?, wire.filter(|w| !w.is_empty())))),
        }
    }

    pub fn count_live(&self, now: i64) -> Result<i64, PrekeyError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM prekeys WHERE exp > ?1", [now], |r| {
                r.get(0)
            })?)
    }

    pub fn live_ids(&self, now: i64) -> Result<Vec<u32>, PrekeyError> {
        let mut st = self
            .conn
            .prepare("SELECT prekey_id FROM prekeys WHERE exp > ?1 ORDER BY prekey_id")?;
        let ids = st
            .query_map([now], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Every live row as `(id, private, public, exp, wire)`, for a receive
    /// session's in-memory store.
    pub fn all_live(&self, now: i64) -> Result<Vec<LiveRow>, PrekeyError> {
        let mut st = self.conn.prepare(
            "SELECT prekey_id, private_key, public_key, exp, wire_record FROM prekeys
             WHERE exp > ?1 ORDER BY prekey_id",
        )?;
        let rows = st
            .query_map([now], |r| {
                Ok((
                    r.get::<_, u32>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, sk, pk, exp, wire) in rows {
            out.push((id, key32(sk)?, key32(pk)?, exp, wire.unwrap_or_default()));
        }
        Ok(out)
    }

    /// Deletes expired rows; returns how many.
    pub fn cleanup_expired(&self, now: i64) -> Result<usize, PrekeyError> {
        Ok(self
            .conn
            .execute("DELETE FROM prekeys WHERE exp <= ?1", [now])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prekeys.db");
        let s = PrekeyStore::open(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(s.insert(7, &[1; 32], &[2; 32], 100, 0).unwrap());
        assert!(!s.insert(7, &[3; 32], &[4; 32], 100, 0).unwrap());
        assert!(!s.insert(0, &[3; 32], &[4; 32], 100, 0).unwrap());
        assert!(s.insert(3, &[5; 32], &[6; 32], 50, 0).unwrap());
        s.record_wire(7, "wire7").unwrap();
        assert_eq!(s.live_ids(49).unwrap(), vec![3, 7]);
        assert_eq!(s.count_live(50).unwrap(), 1);
        assert_eq!(s.private_key(7, 99).unwrap(), Some([1; 32]));
        assert_eq!(s.private_key(7, 100).unwrap(), None);
        assert_eq!(s.claim(3, 50).unwrap(), None);
        assert_eq!(
            s.claim(7, 60).unwrap(),
            Some(([1; 32], Some("wire7".into())))
        );
        assert_eq!(s.claim(7, 60).unwrap(), None);
        assert_eq!(s.cleanup_expired(60).unwrap(), 1);
        drop(s);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 3).unwrap();
        drop(conn);
        assert!(matches!(
            PrekeyStore::open(&path),
            Err(PrekeyError::NewerSchema { found: 3 })
        ));
    }
}
