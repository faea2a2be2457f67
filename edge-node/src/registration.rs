//! `/v1/registration/challenge` and `/confirm` (REFERENCE-NODE.md §3.4,
//! §3.5) over D1: every rule (body parsing, the signed payload, allowlist,
//! anti-takeover, token minting, response bodies) is `dmp_core::node::
//! registration`; this module only keeps challenges and tokens in D1.

use crate::config::Config;
use crate::http::{Reply, error};
use dmp_core::crypto::hex;
use dmp_core::node::HttpError;
use dmp_core::node::authz::{TokenRow, token_hash};
use dmp_core::node::registration::{
    ChallengeStore, PendingChallenge, check_takeover, mint_token, parse_confirm,
    token_response_json, verify_confirm,
};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Result};

fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The core's own answer for an unknown or expired challenge (asked of an
/// empty store, so the text stays in one place).
fn expired_challenge(now: u64) -> HttpError {
    ChallengeStore::new()
        .consume("", now)
        .err()
        .unwrap_or(HttpError::Internal)
}

/// `GET /v1/registration/challenge`.
pub async fn challenge(db: &D1Database, cfg: &Config, now: u64) -> Result<Reply> {
    let mut rng = crate::rng();
    let pc = PendingChallenge::generate(&mut rng, &cfg.node_hostname, now);
    db.prepare(
        "INSERT INTO registration_challenges (challenge, node, expires_at, server_secret, server_pub) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&[
        pc.challenge_hex.as_str().into(),
        pc.node.as_str().into(),
        num(pc.expires_at),
        hex(&pc.server_x25519_secret).into(),
        hex(&pc.server_x25519_pub).into(),
    ])?
    .run()
    .await?;
    Ok(Reply::json(200, pc.response_json()))
}

#[derive(Deserialize)]
struct ChallengeRow {
    node: String,
    expires_at: f64,
    server_secret: String,
    server_pub: String,
}

/// Takes a challenge out of D1 (single use: gone even if a later step fails).
async fn consume(
    db: &D1Database,
    challenge_hex: &str,
    now: u64,
) -> Result<Option<PendingChallenge>> {
    let row = db
        .prepare(
            "DELETE FROM registration_challenges WHERE challenge = ?1 \
             RETURNING node, expires_at, server_secret, server_pub",
        )
        .bind(&[challenge_hex.into()])?
        .first::<ChallengeRow>(None)
        .await?;
    Ok(row.and_then(|r| {
        let expires_at = r.expires_at as u64;
        (expires_at > now).then_some(())?;
        Some(PendingChallenge {
            challenge_hex: challenge_hex.to_string(),
            node: r.node,
            expires_at,
            server_x25519_secret: unhex32(&r.server_secret)?,
            server_x25519_pub: unhex32(&r.server_pub)?,
        })
    }))
}

#[derive(Deserialize)]
struct SpkRow {
    registered_spk: Option<String>,
}

/// `POST /v1/registration/confirm`: a bearer token for a signed challenge.
pub async fn confirm(db: &D1Database, cfg: &Config, body: &[u8], now: u64) -> Result<Reply> {
    let req = match parse_confirm(body) {
        Ok(r) => r,
        Err(e) => return Ok(error(&e)),
    };
    let Some(pending) = consume(db, &req.challenge_hex, now).await? else {
        return Ok(error(&expired_challenge(now)));
    };
    if let Err(e) = verify_confirm(&req, &pending, &cfg.allowlist) {
        return Ok(error(&e));
    }
    let live: Vec<SpkRow> = db
        .prepare(
            "SELECT registered_spk FROM tokens WHERE subject = ?1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?2) AND registered_spk IS NOT NULL",
        )
        .bind(&[req.subject.as_str().into(), num(now)])?
        .all()
        .await?
        .results()?;
    let spks: Vec<String> = live.into_iter().filter_map(|r| r.registered_spk).collect();
    if let Err(e) = check_takeover(spks.iter().map(String::as_str), &req.spk_hex) {
        return Ok(error(&e));
    }
    let token = mint_token(&mut crate::rng());
    let expires_at = now.saturating_add(cfg.token_ttl);
    // Rotation: the same key registering again replaces its old tokens.
    let revoke = db
        .prepare(
            "UPDATE tokens SET revoked_at = ?2 WHERE subject = ?1 AND revoked_at IS NULL \
             AND registered_spk IS NOT NULL",
        )
        .bind(&[req.subject.as_str().into(), num(now)])?;
    let insert = db
        .prepare(
            "INSERT INTO tokens (token_hash, subject, rate_per_sec, rate_burst, issued_at, \
             expires_at, issuer, registered_spk) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'self-service', ?7)",
        )
        .bind(&[
            token_hash(&token).into(),
            req.subject.as_str().into(),
            JsValue::from_f64(cfg.issued_rate),
            num(u64::from(cfg.issued_burst)),
            num(now),
            num(expires_at),
            req.spk_hex.to_lowercase().into(),
        ])?;
    db.batch(vec![revoke, insert]).await?;
    Ok(Reply::json(
        200,
        token_response_json(
            &token,
            &req.subject,
            expires_at,
            cfg.issued_rate,
            cfg.issued_burst,
        ),
    ))
}

#[derive(Deserialize)]
struct TokenDbRow {
    subject: String,
    subject_hash12: Option<String>,
    expires_at: Option<f64>,
    revoked_at: Option<f64>,
    rate_per_sec: f64,
    rate_burst: f64,
}

/// The token row for a presented token's hash, if any.
pub async fn lookup(db: &D1Database, presented: &str) -> Result<Option<TokenRow>> {
    let row = db
        .prepare(
            "SELECT subject, subject_hash12, expires_at, revoked_at, rate_per_sec, rate_burst \
             FROM tokens WHERE token_hash = ?1",
        )
        .bind(&[token_hash(presented).into()])?
        .first::<TokenDbRow>(None)
        .await?;
    Ok(row.map(|r| TokenRow {
        subject: r.subject,
        subject_hash12: r.subject_hash12,
        expires_at: r.expires_at.map(|e| e as u64),
        revoked_at: r.revoked_at.map(|e| e as u64),
        rate_per_sec: r.rate_per_sec,
        rate_burst: r.rate_burst as u32,
    }))
}
