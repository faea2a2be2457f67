//! Per-peer anti-entropy cursors, persisted so a restarted node resumes
//! where it stopped instead of re-reading every peer from the start (the
//! reference keeps them in memory only).
//!
//! Kept in their own table of the records database (`sync_peers`), on a
//! connection of their own: backing up or restoring the database moves the
//! records and the positions they were synced to together. The table is not
//! part of the shared `schema.sql` (the edge node does not pull from peers).

use super::{Cursor, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sync_peers (
    endpoint    TEXT PRIMARY KEY,   -- normalized peer base URL
    node_id     TEXT NOT NULL,      -- manifest node_id or URL-derived id
    cursor_ts   INTEGER NOT NULL,   -- last handled digest entry: stored_ts (ms)
    cursor_name TEXT NOT NULL,      --   name
    cursor_hash TEXT NOT NULL,      --   value_hash
    updated_at  INTEGER NOT NULL    -- unix ms of the last save
);";

/// A saved position for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCursor {
    /// The id the peer had when the cursor was saved.
    pub node_id: String,
    pub cursor: Cursor,
}

/// The cursor table. All methods block on SQLite; call them through
/// `spawn_blocking` from async code.
pub struct SyncStore {
    conn: Mutex<Connection>,
}

impl SyncStore {
    /// Open the table in the database at `path` (creating it if needed).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SyncStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The saved position for `endpoint`, if any.
    pub fn load(&self, endpoint: &str) -> Result<Option<SavedCursor>> {
        let row = self
            .conn()
            .query_row(
                "SELECT node_id, cursor_ts, cursor_name, cursor_hash FROM sync_peers \
                 WHERE endpoint = ?1",
                params![endpoint],
                |r| {
                    Ok(SavedCursor {
                        node_id: r.get(0)?,
                        cursor: Cursor {
                            ts: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            name: r.get(2)?,
                            hash: r.get(3)?,
                        },
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Save the position for `endpoint` (durable once this returns).
    pub fn save(&self, endpoint: &str, node_id: &str, cursor: &Cursor, now_ms: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO sync_peers \
             (endpoint, node_id, cursor_ts, cursor_name, cursor_hash, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(endpoint) DO UPDATE SET node_id = excluded.node_id, \
             cursor_ts = excluded.cursor_ts, cursor_name = excluded.cursor_name, \
             cursor_hash = excluded.cursor_hash, updated_at = excluded.updated_at",
            params![
                endpoint,
                node_id,
                i64::try_from(cursor.ts).unwrap_or(i64::MAX),
                cursor.name,
                cursor.hash,
                i64::try_from(now_ms).unwrap_or(i64::MAX)
            ],
        )?;
        Ok(())
    }
}
