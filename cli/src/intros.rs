//! `intros.db`: the first-contact quarantine, in the reference's SQLite
//! schema v1 (`intros`, `denylist`). It holds decrypted plaintext, so the
//! file is kept at mode 0600.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

pub const SCHEMA_VERSION: i64 = 1;

/// One pending intro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intro {
    pub id: i64,
    pub sender_spk: Vec<u8>,
    pub msg_id: Vec<u8>,
    pub plaintext: Vec<u8>,
    pub sender_mailbox_domain: String,
    pub sender_label: String,
    pub received_at: i64,
    pub msg_exp: i64,
}

pub struct IntroStore {
    conn: Connection,
}

fn io(e: rusqlite::Error) -> String {
    format!("intro queue: {e}")
}

impl IntroStore {
    /// Opens or creates the queue; refuses a newer schema.
    pub fn open(path: &Path) -> Result<IntroStore, String> {
        let mut conn = Connection::open(path).map_err(io)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(io)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(io)?;
        let v: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(io)?;
        if v > SCHEMA_VERSION {
            return Err(format!(
                "intro queue {} has schema version {v}, newer than {SCHEMA_VERSION}; refusing to open it",
                path.display()
            ));
        }
        if v < 1 {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS intros (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     sender_spk BLOB NOT NULL,
                     msg_id BLOB NOT NULL,
                     plaintext BLOB NOT NULL,
                     sender_mailbox_domain TEXT NOT NULL,
                     sender_label TEXT NOT NULL DEFAULT '',
                     received_at INTEGER NOT NULL,
                     msg_exp INTEGER NOT NULL,
                     UNIQUE(sender_spk, msg_id));
                 CREATE INDEX IF NOT EXISTS idx_intros_received_at ON intros(received_at DESC);
                 CREATE TABLE IF NOT EXISTS denylist (
                     sender_spk BLOB PRIMARY KEY,
                     blocked_at INTEGER NOT NULL,
                     note TEXT NOT NULL DEFAULT '');
                 PRAGMA user_version = 1;",
            )
            .map_err(io)?;
        }
        tx.commit().map_err(io)?;
        let _ = conn.pragma_update(None, "journal_mode", "WAL");
        for suffix in ["", "-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
        Ok(IntroStore { conn })
    }

    /// Queue an intro; None when blocked or already queued.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &self,
        sender_spk: &[u8],
        msg_id: &[u8],
        plaintext: &[u8],
        sender_mailbox_domain: &str,
        sender_label: &str,
        msg_exp: i64,
        now: i64,
    ) -> Result<Option<i64>, String> {
        if self.is_blocked(sender_spk)? {
            return Ok(None);
        }
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO intros (sender_spk, msg_id, plaintext, sender_mailbox_domain,
                 sender_label, received_at, msg_exp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![sender_spk, msg_id, plaintext, sender_mailbox_domain, sender_label, now, msg_exp],
            )
            .map_err(io)?;
        Ok((n == 1).then(|| self.conn.last_insert_rowid()))
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Intro> {
        Ok(Intro {
            id: r.get(0)?,
            sender_spk: r.get(1)?,
            msg_id: r.get(2)?,
            plaintext: r.get(3)?,
            sender_mailbox_domain: r.get(4)?,
            sender_label: r.get(5)?,
            received_at: r.get(6)?,
            msg_exp: r.get(7)?,
        })
    }

    const COLS: &'static str = "id, sender_spk, msg_id, plaintext, sender_mailbox_domain, sender_label, received_at, msg_exp";

    /// Newest first.
    pub fn list(&self) -> Result<Vec<Intro>, String> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM intros ORDER BY received_at DESC, id DESC",
                Self::COLS
            ))
            .map_err(io)?;
        let rows = st
            .query_map([], Self::row)
            .map_err(io)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        Ok(rows)
    }

    pub fn get(&self, id: i64) -> Result<Option<Intro>, String> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM intros WHERE id = ?1", Self::COLS),
                [id],
                Self::row,
            )
            .optional()
            .map_err(io)
    }

    pub fn remove(&self, id: i64) -> Result<bool, String> {
        Ok(self
            .conn
            .execute("DELETE FROM intros WHERE id = ?1", [id])
            .map_err(io)?
            > 0)
    }

    pub fn block(&self, sender_spk: &[u8], note: &str, now: i64) -> Result<(), String> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO denylist (sender_spk, blocked_at, note) VALUES (?1, ?2, ?3)",
                params![sender_spk, now, note],
            )
            .map_err(io)?;
        Ok(())
    }

    pub fn is_blocked(&self, sender_spk: &[u8]) -> Result<bool, String> {
        self.conn
            .query_row(
                "SELECT 1 FROM denylist WHERE sender_spk = ?1",
                [sender_spk],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(io)
    }

    /// Blocked keys and pending `(spk, msg_id)` pairs, for the receive
    /// session's [`dmp_core::client::IntroState`].
    pub fn state(&self) -> Result<dmp_core::client::IntroState, String> {
        let mut s = dmp_core::client::IntroState::new();
        let mut st = self
            .conn
            .prepare("SELECT sender_spk FROM denylist")
            .map_err(io)?;
        for spk in st
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(io)?
            .flatten()
        {
            if let Ok(k) = <[u8; 32]>::try_from(spk.as_slice()) {
                s.blocked.insert(k);
            }
        }
        for i in self.list()? {
            if let (Ok(k), Ok(m)) = (
                <[u8; 32]>::try_from(i.sender_spk.as_slice()),
                <[u8; 16]>::try_from(i.msg_id.as_slice()),
            ) {
                s.pending.insert((k, m));
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_and_denylist() {
        let dir = tempfile::tempdir().unwrap();
        let s = IntroStore::open(&dir.path().join("intros.db")).unwrap();
        let id = s
            .add(&[1; 32], &[2; 16], b"hi", "z.test", "", 100, 5)
            .unwrap();
        assert!(id.is_some());
        assert_eq!(
            s.add(&[1; 32], &[2; 16], b"hi", "z.test", "", 100, 5)
                .unwrap(),
            None
        );
        assert_eq!(s.list().unwrap().len(), 1);
        assert_eq!(s.state().unwrap().pending.len(), 1);
        s.block(&[1; 32], "spam", 6).unwrap();
        assert!(s.is_blocked(&[1; 32]).unwrap());
        assert_eq!(
            s.add(&[1; 32], &[3; 16], b"x", "z.test", "", 100, 5)
                .unwrap(),
            None
        );
        assert!(s.remove(id.unwrap()).unwrap());
        assert!(s.get(id.unwrap()).unwrap().is_none());
    }
}
