//! DNS over HTTPS at `/dns-query`: RFC 8484 GET (`?dns=`) and POST
//! (`application/dns-message`), and the JSON form (`?name=&type=`,
//! `application/dns-json`). Parsing and answering are dmp-core's
//! (`dns::doh::{parse_get, parse_post, respond}`, the functions dmp-node's
//! DoH uses, over the same `dns::answer` as its UDP and TCP); this module
//! only fetches the one name the query asks for from D1 first (the core
//! answers synchronously from a [`TxtSource`]).

use crate::config::Config;
use crate::http::Reply;
use crate::store;
use dmp_core::dns::doh::{self, DohError, DohQuery, DohResponse};
use dmp_core::dns::{TxtSource, TxtValue};
use worker::{D1Database, Result};

/// The one name a query asks about, read from D1 at one instant.
struct Snapshot {
    name: String,
    values: Vec<TxtValue>,
    below: bool,
}

impl TxtSource for Snapshot {
    fn txt(&self, name: &str) -> Vec<TxtValue> {
        if name == self.name {
            self.values.clone()
        } else {
            Vec::new()
        }
    }

    fn has_names_below(&self, name: &str) -> bool {
        name == self.name && self.below
    }
}

/// `key` is the query name already in key form (`DohQuery::qname`).
async fn snapshot(db: &D1Database, key: &str, cfg: &Config, now_s: u64) -> Result<Snapshot> {
    let rows = store::live(db, key, now_s).await?;
    let values: Vec<TxtValue> = rows
        .into_iter()
        .map(|r| TxtValue {
            value: r.value,
            ttl: u32::try_from((r.expires_at as u64).saturating_sub(now_s))
                .unwrap_or(u32::MAX)
                .min(cfg.dns_ttl),
        })
        .collect();
    let below = values.is_empty() && store::has_names_below(db, key, now_s).await?;
    Ok(Snapshot {
        name: key.to_owned(),
        values,
        below,
    })
}

async fn answer(db: &D1Database, cfg: &Config, q: &DohQuery, now_s: u64) -> Result<Reply> {
    // An unreadable question still goes to the core, which answers FORMERR.
    let snap = match q.qname() {
        Some(n) => snapshot(db, &n, cfg, now_s).await?,
        None => Snapshot {
            name: String::new(),
            values: Vec::new(),
            below: false,
        },
    };
    Ok(reply(doh::respond(q, &cfg.zones, &snap)))
}

fn reply(r: DohResponse) -> Reply {
    let ok = r.status == 200;
    let out = Reply::bytes(r.status, r.content_type, r.body);
    if ok {
        out.with("Cache-Control", format!("max-age={}", r.max_age))
    } else {
        out
    }
}

async fn parsed(
    db: &D1Database,
    cfg: &Config,
    q: core::result::Result<DohQuery, DohError>,
    now_s: u64,
) -> Result<Reply> {
    match q {
        Ok(q) => answer(db, cfg, &q, now_s).await,
        Err(e) => Ok(reply(doh::bad(e))),
    }
}

/// `GET /dns-query?dns=<base64url>` or `?name=&type=` (JSON).
pub async fn get(db: &D1Database, cfg: &Config, url: &worker::Url, now_s: u64) -> Result<Reply> {
    parsed(db, cfg, doh::parse_get(url.query().unwrap_or("")), now_s).await
}

/// `POST /dns-query` with an `application/dns-message` body.
pub async fn post(
    db: &D1Database,
    cfg: &Config,
    content_type: Option<&str>,
    body: &[u8],
    now_s: u64,
) -> Result<Reply> {
    parsed(db, cfg, doh::parse_post(content_type, body), now_s).await
}
