//! Records in D1 (binding `DB`), in the self-hosted node's schema
//! (`migrations/0001_records.sql`). Every read filters on `expires_at`, so
//! an expired row is invisible before the cron sweep deletes it.

use dmp_core::crypto::{hex, sha256};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Result};

/// One live value and the unix second it expires at.
#[derive(Deserialize)]
pub struct Row {
    pub value: String,
    pub expires_at: f64,
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

fn num(n: u64) -> JsValue {
    // D1 numbers are JS doubles; unix seconds and ms fit exactly.
    JsValue::from_f64(n as f64)
}

/// Live values at `name` (key form), oldest write first.
pub async fn live(db: &D1Database, name: &str, now_s: u64) -> Result<Vec<Row>> {
    db.prepare(
        "SELECT value, expires_at FROM records WHERE name = ?1 AND expires_at > ?2 \
         ORDER BY stored_ts, rowid",
    )
    .bind(&[name.into(), num(now_s)])?
    .all()
    .await?
    .results::<Row>()
}

/// Whether a live name lies strictly below `name`.
pub async fn has_names_below(db: &D1Database, name: &str, now_s: u64) -> Result<bool> {
    let suffix = format!(".{name}");
    let n = suffix.len() as u64;
    let row = db
        .prepare(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM records WHERE expires_at > ?2 \
             AND length(name) > ?3 AND substr(name, -?3) = ?1 LIMIT 1)",
        )
        .bind(&[suffix.into(), num(now_s), num(n)])?
        .first::<Count>(None)
        .await?;
    Ok(row.is_some_and(|c| c.n > 0.0))
}

/// Live rows in the store.
pub async fn count_live(db: &D1Database, now_s: u64) -> Result<u64> {
    let row = db
        .prepare("SELECT COUNT(*) AS n FROM records WHERE expires_at > ?1")
        .bind(&[num(now_s)])?
        .first::<Count>(None)
        .await?;
    Ok(row.map_or(0, |c| c.n as u64))
}

/// Append (or refresh) one value. `stored_ts` stays strictly increasing
/// within the store, as in the self-hosted node, so it is a sync cursor.
pub async fn publish(
    db: &D1Database,
    name: &str,
    value: &str,
    ttl: u64,
    now_ms: u64,
) -> Result<()> {
    let now_s = now_ms / 1000;
    db.prepare(
        "INSERT INTO records (name, value, ttl, created_at, expires_at, stored_ts, value_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, \
                 MAX(?6, (SELECT COALESCE(MAX(stored_ts), 0) + 1 FROM records)), ?7) \
         ON CONFLICT(name, value) DO UPDATE SET ttl = excluded.ttl, \
           created_at = excluded.created_at, expires_at = excluded.expires_at, \
           stored_ts = excluded.stored_ts, value_hash = excluded.value_hash",
    )
    .bind(&[
        name.into(),
        value.into(),
        num(ttl),
        num(now_s),
        num(now_s.saturating_add(ttl)),
        num(now_ms),
        hex(&sha256(value.as_bytes())).into(),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Deletes one value (`Some`) or the whole RRset; returns the rows removed.
pub async fn delete(db: &D1Database, name: &str, value: Option<&str>) -> Result<usize> {
    let stmt = match value {
        Some(v) => db
            .prepare("DELETE FROM records WHERE name = ?1 AND value = ?2")
            .bind(&[name.into(), v.into()])?,
        None => db
            .prepare("DELETE FROM records WHERE name = ?1")
            .bind(&[name.into()])?,
    };
    let res = stmt.run().await?;
    Ok(res.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

/// Deletes expired rows and challenges (the cron trigger).
pub async fn sweep(db: &D1Database, now_s: u64) -> Result<usize> {
    let a = db
        .prepare("DELETE FROM records WHERE expires_at <= ?1")
        .bind(&[num(now_s)])?
        .run()
        .await?;
    db.prepare("DELETE FROM registration_challenges WHERE expires_at <= ?1")
        .bind(&[num(now_s)])?
        .run()
        .await?;
    Ok(a.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

/// A store probe for `/health`.
pub async fn probe(db: &D1Database) -> Result<()> {
    db.prepare("SELECT COUNT(*) AS n FROM (SELECT 1 FROM records LIMIT 1)")
        .first::<Count>(None)
        .await?;
    Ok(())
}
