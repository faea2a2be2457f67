//! The TSIG keystore: SQLite in the reference's `tsig_keys` schema v4
//! (`DMP_TSIG_DB_PATH`). Keys minted by `/v1/registration/tsig-confirm`
//! work at once: every UPDATE reads the key from the database.

use super::db::{DbError, restrict_permissions};
use dmp_core::dns::HMAC_SHA256;
use dmp_core::node::registration::{TsigPlan, check_takeover, tsig_key_live};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Schema version the reference stamps.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tsig_keys (
    name             TEXT PRIMARY KEY,
    algorithm        TEXT NOT NULL DEFAULT 'hmac-sha256',
    secret           BLOB NOT NULL,
    allowed_suffixes TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL DEFAULT 0,
    revoked          INTEGER NOT NULL DEFAULT 0,
    subject          TEXT NOT NULL DEFAULT '',
    registered_spk   TEXT NOT NULL DEFAULT '',
    registered_x25519_pub TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS idx_tsig_active ON tsig_keys(revoked, expires_at);
CREATE INDEX IF NOT EXISTS idx_tsig_subject ON tsig_keys(subject);
";

/// Columns older keystores may lack (added in schema v2..v4).
const LATER_COLUMNS: [&str; 3] = ["subject", "registered_spk", "registered_x25519_pub"];

/// A usable key as the UPDATE path needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct ActiveKey {
    /// Stored name (lower case, trailing dot).
    pub name: String,
    /// Shared secret.
    pub secret: Vec<u8>,
    /// Scope, one suffix per entry.
    pub allowed_suffixes: Vec<String>,
    /// Lower-case hex X25519 key proven at registration, or empty.
    pub registered_x25519_pub: String,
}

impl std::fmt::Debug for ActiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveKey")
            .field("name", &self.name)
            .field("allowed_suffixes", &self.allowed_suffixes)
            .finish_non_exhaustive()
    }
}

/// The keystore.
pub struct TsigDb {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for TsigDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigDb").field("path", &self.path).finish()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Key-form name (`a.b`, any case, optional dot) to the stored form.
fn stored_name(key_name: &str) -> String {
    let mut n = key_name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

impl TsigDb {
    /// Open (creating if needed), migrate older keystores column by column
    /// and stamp v4; a newer schema is refused.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(DbError::TooNew {
                path: path.to_path_buf(),
                version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            let table_exists = tx
                .prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='tsig_keys'")?
                .exists([])?;
            if table_exists {
                for col in LATER_COLUMNS {
                    let present = tx
                        .prepare("SELECT 1 FROM pragma_table_info('tsig_keys') WHERE name=?1")?
                        .exists([col])?;
                    if !present {
                        tx.execute_batch(&format!(
                            "ALTER TABLE tsig_keys ADD COLUMN {col} TEXT NOT NULL DEFAULT ''"
                        ))?;
                    }
                }
            }
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        restrict_permissions(path);
        Ok(TsigDb {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The key named `key_name` if it is live at `now` and hmac-sha256 (the
    /// only algorithm verified here).
    pub fn active(&self, key_name: &str, now: u64) -> Result<Option<ActiveKey>, DbError> {
        let c = self.conn();
        let mut stmt = c.prepare_cached(
            "SELECT name, algorithm, secret, allowed_suffixes, expires_at, revoked, \
             registered_x25519_pub FROM tsig_keys WHERE name=?1",
        )?;
        let row = stmt
            .query_row([stored_name(key_name)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })
            .optional()?;
        Ok(
            row.and_then(|(name, alg, secret, suffixes, exp, revoked, xpub)| {
                let exp = u64::try_from(exp).unwrap_or(0);
                let alg = alg.trim().trim_end_matches('.').to_ascii_lowercase();
                (tsig_key_live(exp, revoked != 0, now) && alg == HMAC_SHA256 && !secret.is_empty())
                    .then(|| ActiveKey {
                        name,
                        secret,
                        allowed_suffixes: suffixes
                            .split('\n')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                        registered_x25519_pub: xpub,
                    })
            }),
        )
    }

    /// Every live key (for the receiver-only claim gate).
    pub fn all_active(&self, now: u64) -> Result<Vec<ActiveKey>, DbError> {
        let names: Vec<String> = {
            let c = self.conn();
            let mut stmt = c.prepare(
                "SELECT name FROM tsig_keys WHERE revoked=0 AND (expires_at=0 OR expires_at>?1)",
            )?;
            stmt.query_map([to_i64(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(k) = self.active(&n, now)? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Store a minted key in one transaction, refusing (409, `Ok(Err)`)
    /// when a live key of the same subject was registered under another
    /// Ed25519 key. The same key name is overwritten (re-registration).
    pub fn mint_for_subject(
        &self,
        plan: &TsigPlan,
        now: u64,
    ) -> Result<Result<(), dmp_core::node::HttpError>, DbError> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let live: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT registered_spk FROM tsig_keys WHERE subject=?1 AND revoked=0 \
                 AND (expires_at=0 OR expires_at>?2)",
            )?;
            stmt.query_map(params![plan.subject, to_i64(now)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        if let Err(e) = check_takeover(live.iter().map(String::as_str), &plan.registered_spk) {
            return Ok(Err(e));
        }
        tx.execute(
            "INSERT INTO tsig_keys (name, algorithm, secret, allowed_suffixes, created_at, \
             expires_at, revoked, subject, registered_spk, registered_x25519_pub) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9) \
             ON CONFLICT(name) DO UPDATE SET algorithm=excluded.algorithm, \
             secret=excluded.secret, allowed_suffixes=excluded.allowed_suffixes, \
             created_at=excluded.created_at, expires_at=excluded.expires_at, revoked=0, \
             subject=excluded.subject, registered_spk=excluded.registered_spk, \
             registered_x25519_pub=excluded.registered_x25519_pub",
            params![
                stored_name(&plan.key_name),
                HMAC_SHA256,
                plan.secret.as_slice(),
                plan.allowed_suffixes.join("\n"),
                to_i64(now),
                to_i64(plan.expires_at),
                plan.subject,
                plan.registered_spk,
                plan.registered_x25519_pub,
            ],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Mark a key revoked; false when unknown.
    pub fn revoke(&self, key_name: &str) -> Result<bool, DbError> {
        let c = self.conn();
        let n = c.execute(
            "UPDATE tsig_keys SET revoked=1 WHERE name=?1",
            [stored_name(key_name)],
        )?;
        Ok(n > 0)
    }
}
