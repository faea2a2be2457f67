//! The per-user token store: SQLite in the reference's `tokens` schema v2
//! (`DMP_TOKEN_DB_PATH`), so the reference's `dnsmesh-node-admin` and
//! `dmp-node token` can work on the same file as a running node. Only the
//! SHA-256 of a token is stored; the token text is shown once at issue.

use dmp_core::node::authz::{self, TokenRow};
use dmp_core::node::registration::check_takeover;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Schema version the reference stamps (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 2;
/// `subject_type` of user identities (the only kind issued).
pub const SUBJECT_TYPE_USER: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    token_hash     TEXT PRIMARY KEY,
    subject        TEXT NOT NULL,
    subject_type   INTEGER NOT NULL,
    subject_hash12 TEXT,
    rate_per_sec   REAL    NOT NULL DEFAULT 10.0,
    rate_burst     INTEGER NOT NULL DEFAULT 50,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER,
    revoked_at     INTEGER,
    issuer         TEXT NOT NULL DEFAULT '',
    note           TEXT NOT NULL DEFAULT '',
    registered_spk TEXT
);
CREATE INDEX IF NOT EXISTS idx_tokens_subject
    ON tokens(subject) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS token_audit (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    ts             INTEGER NOT NULL,
    event          TEXT NOT NULL,
    token_hash     TEXT,
    subject        TEXT,
    remote_addr    TEXT,
    detail         TEXT
);
CREATE INDEX IF NOT EXISTS idx_audit_ts ON token_audit(ts);
";

const COLS: &str = "token_hash, subject, subject_type, subject_hash12, rate_per_sec, \
                    rate_burst, issued_at, expires_at, revoked_at, issuer, note, registered_spk";

/// Why the token store failed.
#[derive(Debug)]
pub enum DbError {
    /// SQLite error.
    Sqlite(rusqlite::Error),
    /// The file was written by a newer schema than this binary knows.
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        version: i64,
        /// What this binary understands.
        supported: i64,
    },
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "{e}"),
            DbError::TooNew {
                path,
                version,
                supported,
            } => write!(
                f,
                "{} has schema version {version}, this dmp-node understands up to \
                 {supported}; refusing to open it (upgrade dmp-node)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

/// One row of the `tokens` table (never the token itself).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredToken {
    /// Lower-case hex SHA-256 of the token.
    pub token_hash: String,
    /// Canonical `user@domain`.
    pub subject: String,
    /// Always 1 (user identity) for tokens issued here.
    pub subject_type: i64,
    /// `sha256(x25519_pub)[:12]` for `pk-*` scope, if granted.
    pub subject_hash12: Option<String>,
    /// Per-token bucket rate.
    pub rate_per_sec: f64,
    /// Per-token bucket size.
    pub rate_burst: i64,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds of revocation.
    pub revoked_at: Option<i64>,
    /// Who issued it (`self-service`, `admin:<user>`).
    pub issuer: String,
    /// Operator note.
    pub note: String,
    /// Ed25519 key (hex) of self-registered tokens; `None` for operator-issued.
    pub registered_spk: Option<String>,
}

fn nonneg(v: Option<i64>) -> Option<u64> {
    v.map(|x| u64::try_from(x).unwrap_or(0))
}

impl StoredToken {
    /// The fields the core write rules need.
    pub fn auth_row(&self) -> TokenRow {
        TokenRow {
            subject: self.subject.clone(),
            subject_hash12: self.subject_hash12.clone(),
            expires_at: nonneg(self.expires_at),
            revoked_at: nonneg(self.revoked_at),
            rate_per_sec: self.rate_per_sec,
            rate_burst: u32::try_from(self.rate_burst.max(0)).unwrap_or(u32::MAX),
        }
    }

    /// Not revoked and not expired at `now` (Unix seconds).
    pub fn is_live(&self, now: u64) -> bool {
        self.auth_row().is_live(now)
    }

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredToken {
            token_hash: r.get(0)?,
            subject: r.get(1)?,
            subject_type: r.get(2)?,
            subject_hash12: r.get(3)?,
            rate_per_sec: r.get(4)?,
            rate_burst: r.get(5)?,
            issued_at: r.get(6)?,
            expires_at: r.get(7)?,
            revoked_at: r.get(8)?,
            issuer: r.get(9)?,
            note: r.get(10)?,
            registered_spk: r.get(11)?,
        })
    }
}

/// What an operator-issued token carries.
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    /// Canonical subject (already checked).
    pub subject: &'a str,
    /// Prekey scope hash, if any.
    pub subject_hash12: Option<&'a str>,
    /// Bucket rate.
    pub rate_per_sec: f64,
    /// Bucket size.
    pub rate_burst: i64,
    /// Lifetime in seconds; `None` never expires.
    pub expires_in: Option<u64>,
    /// Issuer tag.
    pub issuer: &'a str,
    /// Free text.
    pub note: &'a str,
}

/// The token store. Writes (registration, operator CLI) are rare and go
/// through one connection; the per-request lookups use a second, read-only
/// one, which in WAL mode never waits for a writer.
pub struct TokenDb {
    path: PathBuf,
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for TokenDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenDb").field("path", &self.path).finish()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl TokenDb {
    /// Open (creating if needed) and migrate to schema v2, as the reference
    /// does: tables first, then under `BEGIN IMMEDIATE` the version check,
    /// the v1 → v2 column and the stamp. A newer schema is refused.
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
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
            let has_spk: bool = tx
                .prepare("SELECT 1 FROM pragma_table_info('tokens') WHERE name='registered_spk'")?
                .exists([])?;
            if !has_spk {
                tx.execute_batch("ALTER TABLE tokens ADD COLUMN registered_spk TEXT")?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        restrict_permissions(path);
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(Duration::from_secs(2))?;
        Ok(TokenDb {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The row stored under `token_hash`.
    pub fn lookup(&self, token_hash: &str) -> Result<Option<StoredToken>, DbError> {
        let c = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt =
            c.prepare_cached(&format!("SELECT {COLS} FROM tokens WHERE token_hash=?1"))?;
        Ok(stmt
            .query_row([token_hash], StoredToken::from_row)
            .optional()?)
    }

    /// Store an operator-issued `token` (the caller minted it).
    pub fn issue(&self, token: &str, t: &NewToken<'_>, now: u64) -> Result<StoredToken, DbError> {
        let row = StoredToken {
            token_hash: authz::token_hash(token),
            subject: t.subject.to_string(),
            subject_type: SUBJECT_TYPE_USER,
            subject_hash12: t.subject_hash12.map(str::to_string),
            rate_per_sec: t.rate_per_sec,
            rate_burst: t.rate_burst,
            issued_at: to_i64(now),
            expires_at: t
                .expires_in
                .filter(|s| *s > 0)
                .map(|s| to_i64(now.saturating_add(s))),
            revoked_at: None,
            issuer: t.issuer.to_string(),
            note: t.note.to_string(),
            registered_spk: None,
        };
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        insert(&tx, &row)?;
        audit(
            &tx,
            now,
            "issued",
            Some(&row.token_hash),
            Some(&row.subject),
            "",
            &format!("issuer={} note={}", row.issuer, row.note),
        )?;
        tx.commit()?;
        Ok(row)
    }

    /// Self-service (re-)registration in one transaction: refuse (409,
    /// `Ok(Err(..))`) when a live self-registered token of the subject has
    /// another key; otherwise revoke the subject's self-registered tokens
    /// and store `token`. Operator-issued tokens are left alone. Returns the
    /// new row and the hashes revoked (their rate buckets can be dropped).
    #[allow(clippy::too_many_arguments)]
    pub fn rotate_self_service(
        &self,
        token: &str,
        subject: &str,
        spk_hex: &str,
        ttl: u64,
        rate_per_sec: f64,
        rate_burst: u32,
        remote_addr: &str,
        now: u64,
    ) -> Result<Result<(StoredToken, Vec<String>), dmp_core::node::HttpError>, DbError> {
        let spk = spk_hex.to_ascii_lowercase();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let rows: Vec<StoredToken> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLS} FROM tokens WHERE subject=?1 AND revoked_at IS NULL \
                 AND registered_spk IS NOT NULL"
            ))?;
            stmt.query_map([subject], StoredToken::from_row)?
                .collect::<rusqlite::Result<_>>()?
        };
        let live: Vec<&str> = rows
            .iter()
            .filter(|r| r.is_live(now))
            .filter_map(|r| r.registered_spk.as_deref())
            .collect();
        if let Err(e) = check_takeover(live, &spk) {
            return Ok(Err(e));
        }
        let mut freed = Vec::with_capacity(rows.len());
        for r in &rows {
            tx.execute(
                "UPDATE tokens SET revoked_at=?1 WHERE token_hash=?2 AND revoked_at IS NULL",
                params![to_i64(now), r.token_hash],
            )?;
            audit(
                &tx,
                now,
                "revoked",
                Some(&r.token_hash),
                Some(subject),
                remote_addr,
                "self-service rotate: superseded",
            )?;
            freed.push(r.token_hash.clone());
        }
        let row = StoredToken {
            token_hash: authz::token_hash(token),
            subject: subject.to_string(),
            subject_type: SUBJECT_TYPE_USER,
            subject_hash12: None,
            rate_per_sec,
            rate_burst: i64::from(rate_burst),
            issued_at: to_i64(now),
            expires_at: (ttl > 0).then(|| to_i64(now.saturating_add(ttl))),
            revoked_at: None,
            issuer: "self-service".into(),
            note: String::new(),
            registered_spk: Some(spk),
        };
        insert(&tx, &row)?;
        audit(
            &tx,
            now,
            "issued",
            Some(&row.token_hash),
            Some(subject),
            remote_addr,
            "self-service",
        )?;
        tx.commit()?;
        Ok(Ok((row, freed)))
    }

    /// Revoke one token; false when it was unknown or already revoked.
    pub fn revoke(&self, token_hash: &str, now: u64) -> Result<bool, DbError> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE tokens SET revoked_at=?1 WHERE token_hash=?2 AND revoked_at IS NULL",
            params![to_i64(now), token_hash],
        )?;
        if n > 0 {
            let subject: Option<String> = tx
                .query_row(
                    "SELECT subject FROM tokens WHERE token_hash=?1",
                    [token_hash],
                    |r| r.get(0),
                )
                .optional()?;
            audit(
                &tx,
                now,
                "revoked",
                Some(token_hash),
                subject.as_deref(),
                "",
                "",
            )?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Revoke every live token of `subject` (canonical); returns the hashes.
    pub fn revoke_subject(&self, subject: &str, now: u64) -> Result<Vec<String>, DbError> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let hashes: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT token_hash FROM tokens WHERE subject=?1 AND revoked_at IS NULL")?;
            stmt.query_map([subject], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        if !hashes.is_empty() {
            tx.execute(
                "UPDATE tokens SET revoked_at=?1 WHERE subject=?2 AND revoked_at IS NULL",
                params![to_i64(now), subject],
            )?;
            audit(
                &tx,
                now,
                "revoked",
                None,
                Some(subject),
                "",
                &format!("by_subject count={}", hashes.len()),
            )?;
        }
        tx.commit()?;
        Ok(hashes)
    }

    /// Tokens, newest first; revoked ones only with `include_revoked`.
    pub fn list(
        &self,
        include_revoked: bool,
        subject: Option<&str>,
    ) -> Result<Vec<StoredToken>, DbError> {
        let mut sql = format!("SELECT {COLS} FROM tokens WHERE 1=1");
        if !include_revoked {
            sql.push_str(" AND revoked_at IS NULL");
        }
        if subject.is_some() {
            sql.push_str(" AND subject=?1");
        }
        sql.push_str(" ORDER BY issued_at DESC, rowid DESC");
        let c = self.conn();
        let mut stmt = c.prepare(&sql)?;
        let rows = match subject {
            Some(s) => stmt.query_map([s], StoredToken::from_row)?,
            None => stmt.query_map([], StoredToken::from_row)?,
        };
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn insert(tx: &rusqlite::Transaction<'_>, row: &StoredToken) -> rusqlite::Result<usize> {
    tx.execute(
        &format!("INSERT INTO tokens({COLS}) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)"),
        params![
            row.token_hash,
            row.subject,
            row.subject_type,
            row.subject_hash12,
            row.rate_per_sec,
            row.rate_burst,
            row.issued_at,
            row.expires_at,
            row.revoked_at,
            row.issuer,
            row.note,
            row.registered_spk,
        ],
    )
}

fn audit(
    tx: &rusqlite::Transaction<'_>,
    now: u64,
    event: &str,
    token_hash: Option<&str>,
    subject: Option<&str>,
    remote_addr: &str,
    detail: &str,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO token_audit(ts, event, token_hash, subject, remote_addr, detail) \
         VALUES(?1,?2,?3,?4,?5,?6)",
        params![
            to_i64(now),
            event,
            token_hash,
            subject,
            (!remote_addr.is_empty()).then_some(remote_addr),
            (!detail.is_empty()).then_some(detail),
        ],
    )
}

/// Credential databases are readable by the node's user only (best effort:
/// the file and its WAL siblings that exist now).
pub(crate) fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
