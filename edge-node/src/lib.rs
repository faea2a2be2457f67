//! `dmp-edge`: the DNS Mesh Protocol node as a Cloudflare Worker.
//!
//! The client-facing HTTP API of the self-hosted `dmp-node` with the same
//! paths, JSON and status codes: `/v1/records/{name}` (GET, POST, DELETE),
//! `/v1/registration/challenge` + `/confirm`, `/health`, `/stats`, and DoH
//! at `/dns-query`, all with CORS. Every rule (validation, authorization,
//! registration, DNS answering, response bodies) is a `dmp-core` function,
//! the same one dmp-node calls; this crate owns only the I/O: D1 (binding
//! `DB`, schema in `migrations/`), the Rate Limiting bindings, the clock
//! and the cron sweep. The conformance suite (`dmp-conformance`) runs
//! against both nodes.

use dmp_core::node::authz::{self, AuthMode, Op, WriteAuth, WriteGrant};
use dmp_core::node::publish::{self, MAX_BODY_BYTES, RrsetState};
use dmp_core::node::{HttpError, PUBLISH_FAILED_BODY, PUBLISH_OK_BODY, json_str, records_body};
use http::{Reply, error};
use worker::{
    Context, D1Database, Env, Method, Request, Response, Result, ScheduleContext, ScheduledEvent,
    event,
};

mod config;
mod doh;
mod http;
mod registration;
mod store;

use config::Config;

/// The workspace version; every crate of dmp-rs shares it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Randomness for challenges and tokens (`crypto.getRandomValues`).
pub(crate) fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The `critical-section` lock hickory-proto's lazy statics need. A Worker
/// runs its wasm on a single thread with no preemption inside wasm, so
/// there is nothing to exclude and the lock is a no-op.
struct SingleThreaded;
critical_section::set_impl!(SingleThreaded);

// SAFETY: wasm32-unknown-unknown in workerd is single-threaded (no shared
// memory, no threads), so no two critical sections can ever overlap.
unsafe impl critical_section::Impl for SingleThreaded {
    unsafe fn acquire() -> critical_section::RawRestoreState {}
    unsafe fn release(_restore: critical_section::RawRestoreState) {}
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    // HEAD is GET without the body (as on dmp-node), never a 404.
    let head = req.method() == Method::Head;
    let reply = match route(req, &env, head).await {
        Ok(r) if head => Reply {
            body: Vec::new(),
            ..r
        },
        Ok(r) => r,
        Err(e) => {
            // A D1 or binding failure: logged, answered like the
            // self-hosted node's internal errors.
            worker::console_error!("dmp-edge: {e}");
            error(&HttpError::Internal)
        }
    };
    reply.into_response()
}

/// Deletes expired rows (the self-hosted node's sweeper). Reads filter on
/// `expires_at` anyway; this reclaims space.
#[event(scheduled)]
async fn scheduled(_ev: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let swept = match env.d1("DB") {
        Ok(db) => store::sweep(&db, now_ms() / 1000).await,
        Err(e) => Err(e),
    };
    match swept {
        Ok(n) => worker::console_log!("dmp-edge: swept {n} expired records"),
        Err(e) => worker::console_error!("dmp-edge: expiry sweep failed: {e}"),
    }
}

/// Per-IP (or per-token) budget through a Rate Limiting binding; a missing
/// binding or `DMP_RATE_LIMIT=off` means no limit.
async fn allowed(env: &Env, cfg: &Config, binding: &str, key: String) -> bool {
    if !cfg.rate_limit {
        return true;
    }
    match env.rate_limiter(binding) {
        Ok(rl) => rl.limit(key).await.map_or(true, |o| o.success),
        Err(_) => true,
    }
}

fn client_ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

async fn route(mut req: Request, env: &Env, head: bool) -> Result<Reply> {
    let cfg = Config::from_env(env);
    let url = req.url()?;
    let path = url.path().to_string();
    let method = if head { Method::Get } else { req.method() };
    if method == Method::Options {
        return Ok(http::preflight());
    }
    let db = env.d1("DB")?;
    let now = now_ms();
    match (method, path.as_str()) {
        (Method::Get, "/health") => health(&db).await,
        (Method::Get, "/stats") => {
            let n = store::count_live(&db, now / 1000).await?;
            Ok(Reply::json(200, format!("{{\"records\": {n}}}")))
        }
        (Method::Get, "/") => Ok(Reply::bytes(
            200,
            "text/plain; charset=utf-8",
            format!(
                "dmp-edge {VERSION}: DNS Mesh Protocol edge node. API: /v1/records/<name>, \
                 /dns-query, /health, /stats.\n"
            )
            .into_bytes(),
        )),
        (Method::Get, "/dns-query") => doh::get(&db, &cfg, &url, now / 1000).await,
        (Method::Post, "/dns-query") => {
            let ct = req.headers().get("Content-Type")?;
            let body = read_body(&mut req, 65_535).await?;
            match body {
                Some(b) => doh::post(&db, &cfg, ct.as_deref(), &b, now / 1000).await,
                None => Ok(Reply::empty(413)),
            }
        }
        (m, p) if p.starts_with("/v1/registration/") => {
            if !cfg.registration {
                return Ok(error(&HttpError::NotFound));
            }
            if !allowed(env, &cfg, "REGISTRATION_RATE_LIMITER", client_ip(&req)).await {
                return Ok(error(&HttpError::RegistrationRateLimited));
            }
            match (m, p) {
                (Method::Get, "/v1/registration/challenge") => {
                    registration::challenge(&db, &cfg, now / 1000).await
                }
                (Method::Post, "/v1/registration/confirm") => {
                    let body = read_body(&mut req, MAX_BODY_BYTES).await?;
                    let body: &[u8] = body.as_deref().unwrap_or(&OVERSIZED);
                    registration::confirm(&db, &cfg, body, now / 1000).await
                }
                // No DNS UPDATE on the edge, so no TSIG keys to mint.
                (Method::Post, "/v1/registration/tsig-confirm") => {
                    Ok(error(&HttpError::TsigDisabled))
                }
                _ => Ok(error(&HttpError::NotFound)),
            }
        }
        (m @ (Method::Get | Method::Post | Method::Delete), p) if p.starts_with("/v1/records/") => {
            // The raw target: a query string stays part of the name and
            // fails the syntax check, as on dmp-node.
            let target = match url.query() {
                Some(q) => format!("{p}?{q}"),
                None => p.to_string(),
            };
            let Some(name) = publish::record_name_from_path(&target) else {
                return Ok(error(&HttpError::NotFound));
            };
            if !allowed(env, &cfg, "HTTP_RATE_LIMITER", client_ip(&req)).await {
                return Ok(error(&HttpError::RateLimited));
            }
            let auth = req.headers().get("Authorization")?;
            records(&mut req, env, &db, &cfg, m, &name, auth.as_deref(), now).await
        }
        _ => Ok(error(&HttpError::NotFound)),
    }
}

async fn health(db: &D1Database) -> Result<Reply> {
    let reply = match store::probe(db).await {
        Ok(()) => Reply::json(200, "{\"status\": \"ok\"}".into()),
        Err(e) => Reply::json(
            503,
            format!(
                "{{\"status\": \"degraded\", \"store\": {}}}",
                json_str(&e.to_string())
            ),
        ),
    };
    Ok(reply.with("Cache-Control", "no-store"))
}

/// Longer than [`MAX_BODY_BYTES`]: what a handler hands the core rules for
/// a body it did not read, so they answer their usual `invalid body`.
static OVERSIZED: [u8; MAX_BODY_BYTES + 1] = [b' '; MAX_BODY_BYTES + 1];

/// The body, or `None` when it is longer than `max` bytes.
async fn read_body(req: &mut Request, max: usize) -> Result<Option<Vec<u8>>> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Ok(None);
    }
    let b = req.bytes().await?;
    Ok((b.len() <= max).then_some(b))
}

#[allow(clippy::too_many_arguments)]
async fn records(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    cfg: &Config,
    method: Method,
    name: &str,
    auth: Option<&str>,
    now: u64,
) -> Result<Reply> {
    let now_s = now / 1000;
    if method == Method::Get {
        if !authz::authorize_operator_read(cfg.operator_token.as_deref(), auth) {
            return Ok(error(&HttpError::Unauthorized));
        }
        let rows = store::live(db, &publish::normalize_owner(name), now_s).await?;
        let values: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
        let status = if values.is_empty() { 404 } else { 200 };
        return Ok(Reply::json(status, records_body(name, &values)));
    }
    let op = if method == Method::Post {
        Op::Publish
    } else {
        Op::Delete
    };
    // Authorization: the token row is fetched first because the core
    // decides synchronously.
    let presented = authz::bearer(auth);
    let row = if cfg.mode == AuthMode::MultiTenant && authz::token_looks_valid(presented) {
        registration::lookup(db, presented).await?
    } else {
        None
    };
    let write_auth = WriteAuth {
        mode: cfg.mode,
        operator_token: cfg.operator_token.as_deref(),
        has_token_store: true,
    };
    let grant =
        match authz::authorize_record_write(&write_auth, presented, name, op, now_s, |_| row) {
            Ok(g) => g,
            Err(_) => return Ok(error(&HttpError::Unauthorized)),
        };
    if let WriteGrant::User { token_hash, .. } = &grant
        && !allowed(env, cfg, "TOKEN_RATE_LIMITER", token_hash.clone()).await
    {
        return Ok(error(&HttpError::TokenThrottled));
    }
    let body = read_body(req, MAX_BODY_BYTES).await?;
    let body: &[u8] = body.as_deref().unwrap_or(&OVERSIZED);
    if op == Op::Delete {
        let d = match publish::validate_delete(name, body) {
            Ok(d) => d,
            Err(e) => return Ok(error(&e)),
        };
        let n = store::delete(db, &d.name, d.value.as_deref()).await?;
        return Ok(Reply::empty(if n > 0 { 204 } else { 404 }));
    }
    let current = if cfg.limits.max_values_per_name > 0 {
        store::live(db, &publish::normalize_owner(name), now_s).await?
    } else {
        Vec::new()
    };
    let checked = publish::validate_publish(name, body, &cfg.limits, |_, v| RrsetState {
        count: current.len(),
        contains_value: current.iter().any(|r| r.value == v),
    });
    let p = match checked {
        Ok(p) => p,
        Err(e) => return Ok(error(&e)),
    };
    match store::publish(db, &p.name, &p.value, p.ttl, now).await {
        Ok(()) => Ok(Reply::json(201, PUBLISH_OK_BODY.into())),
        Err(e) => {
            worker::console_error!("dmp-edge: publish failed: {e}");
            Ok(Reply::json(502, PUBLISH_FAILED_BODY.into()))
        }
    }
}
