//! DNS over HTTPS at `/dns-query`: RFC 8484 GET (`?dns=`) and POST
//! (`application/dns-message`), and the JSON form (`?name=&type=`,
//! `application/dns-json`). Answers come from `dmp_core::dns::answer` /
//! `answer_json`, the path dmp-node's UDP, TCP and DoH use; this module
//! only fetches the one name the query asks for from D1 first (the core
//! answers synchronously from a [`TxtSource`]).

use crate::config::Config;
use crate::http::Reply;
use crate::store;
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use dmp_core::dns::{self, Transport, TxtSource, TxtValue};
use hickory_proto::op::Message;
use worker::{D1Database, Result};

/// Largest DNS message (the TCP length prefix).
const MAX_MESSAGE: usize = 65_535;

/// base64url with or without padding (RFC 8484 says without; be lenient).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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

async fn snapshot(db: &D1Database, name: &str, cfg: &Config, now_s: u64) -> Result<Snapshot> {
    let key = dns::normalize_name(name);
    let rows = store::live(db, &key, now_s).await?;
    let values: Vec<TxtValue> = rows
        .into_iter()
        .map(|r| TxtValue {
            value: r.value,
            ttl: u32::try_from((r.expires_at as u64).saturating_sub(now_s))
                .unwrap_or(u32::MAX)
                .min(cfg.dns_ttl),
        })
        .collect();
    let below = values.is_empty() && store::has_names_below(db, &key, now_s).await?;
    Ok(Snapshot {
        name: key,
        values,
        below,
    })
}

fn bad_request(msg: &str) -> Reply {
    Reply::bytes(
        400,
        "text/plain; charset=utf-8",
        format!("{msg}\n").into_bytes(),
    )
}

/// Answers a wire-format query.
pub async fn wire(db: &D1Database, cfg: &Config, query: &[u8], now_s: u64) -> Result<Reply> {
    if query.len() > MAX_MESSAGE {
        return Ok(Reply::empty(413));
    }
    // The name the question asks about; an unparsable packet still goes to
    // the core, which answers FORMERR.
    let qname = Message::from_vec(query)
        .ok()
        .and_then(|m| m.queries.first().map(|q| q.name().to_ascii()));
    let snap = match qname {
        Some(n) => snapshot(db, &n, cfg, now_s).await?,
        None => Snapshot {
            name: String::new(),
            values: Vec::new(),
            below: false,
        },
    };
    match dns::answer(query, &cfg.zones, &snap, Transport::Tcp) {
        Some(resp) => {
            let max_age = snap.values.iter().map(|v| v.ttl).min().unwrap_or(0);
            Ok(Reply::bytes(200, "application/dns-message", resp)
                .with("Cache-Control", format!("max-age={max_age}")))
        }
        None => Ok(bad_request("not a DNS query")),
    }
}

/// `GET /dns-query?dns=<base64url>` or `?name=&type=` (JSON).
pub async fn get(db: &D1Database, cfg: &Config, url: &worker::Url, now_s: u64) -> Result<Reply> {
    let param = |k: &str| {
        url.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(d) = param("dns") {
        return match B64URL.decode(d.as_bytes()) {
            Ok(q) => wire(db, cfg, &q, now_s).await,
            Err(_) => Ok(bad_request("dns parameter is not base64url")),
        };
    }
    let Some(name) = param("name").filter(|n| !n.is_empty()) else {
        return Ok(bad_request(
            "give ?dns=<base64url DNS query> (RFC 8484) or ?name=<name>&type=<type> (JSON)",
        ));
    };
    let Some(qtype) = dns::qtype_param(param("type").as_deref()) else {
        return Ok(bad_request("unknown type parameter"));
    };
    let cd = param("cd").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let snap = snapshot(db, &name, cfg, now_s).await?;
    let body = dns::answer_json(&name, qtype, cd, &cfg.zones, &snap);
    Ok(Reply::bytes(200, "application/dns-json", body.into_bytes()))
}

/// `POST /dns-query` with an `application/dns-message` body.
pub async fn post(
    db: &D1Database,
    cfg: &Config,
    content_type: Option<&str>,
    body: &[u8],
    now_s: u64,
) -> Result<Reply> {
    let ct_ok = content_type.is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/dns-message"))
    });
    if !ct_ok {
        return Ok(Reply::bytes(
            415,
            "text/plain; charset=utf-8",
            b"POST /dns-query needs Content-Type: application/dns-message\n".to_vec(),
        ));
    }
    wire(db, cfg, body, now_s).await
}
