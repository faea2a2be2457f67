//! `dmp-node`: the self-hosted DNS Mesh Protocol node.
//!
//! A thin tokio/axum adapter around `dmp-core`: every protocol rule (record
//! name and value syntax, caps, authorization, rate buckets, response
//! bodies) is decided by `dmp_core::node`; this crate only owns the state
//! (the [`store::Store`], the rate limiter, the clock) and the sockets. The
//! router lives in the library so tests and the binary run the same code.
//!
//! Served: `/` ([`webroot`]), `/health`, `/stats` and `/v1/records/{name}`
//! (GET, POST, DELETE) with the reference node's status codes and bodies;
//! DNS queries over UDP and TCP by [`dns_server`], UPDATE by [`update`];
//! registration ([`registration`], [`tokens`]), sync ([`sync`]), DoH
//! ([`doh`]) and `/metrics` ([`metrics`]) each in their own module.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dmp_core::node::authz::{self, AuthMode, Op, WriteAuth, WriteGrant};
use dmp_core::node::publish::{self, Limits, MAX_BODY_BYTES, RrsetState};
use dmp_core::node::ratelimit::{Rate, RateLimiter};
use dmp_core::node::{self as rules, HttpError, PUBLISH_FAILED_BODY, PUBLISH_OK_BODY};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Store, unix_now_ms};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub mod client_ip;
pub mod dns_server;
pub mod doh;
pub mod metrics;
pub mod registration;
pub mod store;
pub mod sync;
pub mod tokens;
pub mod update;
pub mod webroot;

/// The workspace version; every crate of dmp-rs shares it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the HTTP side of the node needs to know (the `DMP_*` settings of
/// this piece, already parsed).
#[derive(Clone, Debug)]
pub struct Config {
    /// `DMP_AUTH_MODE` as given (`None` or empty: derived).
    pub auth_mode: Option<String>,
    /// `DMP_OPERATOR_TOKEN` (alias `DMP_HTTP_TOKEN`).
    pub operator_token: Option<String>,
    /// `DMP_MAX_TTL`, `DMP_MAX_VALUE_BYTES`, `DMP_MAX_VALUES_PER_NAME`.
    pub limits: Limits,
    /// `DMP_HTTP_RATE` / `DMP_HTTP_BURST`, per source IP; 0 disables.
    pub http_rate: Rate,
    /// `DMP_TRUSTED_PROXIES`: whose `X-Forwarded-For` names the source IP
    /// ([`client_ip`]); empty by default (the header is ignored).
    pub trusted_proxies: client_ip::TrustedProxies,
    /// `DMP_CLEANUP_INTERVAL`.
    pub cleanup_interval: Duration,
    /// Per-user tokens and TSIG keys ([`tokens`]).
    pub auth: tokens::AuthConfig,
    /// Web client hosting ([`webroot`]).
    pub web: webroot::WebConfig,
    /// Anti-entropy ([`sync`]).
    pub sync: sync::SyncConfig,
    /// Served zones and answer TTL, used by DoH ([`doh`]) exactly as the
    /// DNS listener uses them.
    pub dns: dns_server::DnsConfig,
}

impl Default for Config {
    /// The reference defaults (open mode when no operator token is set).
    fn default() -> Self {
        Config {
            auth_mode: None,
            operator_token: None,
            limits: Limits::default(),
            http_rate: rules::ratelimit::HTTP_PER_IP,
            trusted_proxies: client_ip::TrustedProxies::default(),
            cleanup_interval: Duration::from_secs(60),
            auth: tokens::AuthConfig::default(),
            web: webroot::WebConfig::default(),
            sync: sync::SyncConfig::default(),
            dns: dns_server::DnsConfig::default(),
        }
    }
}

impl Config {
    /// The auth mode the node runs in (derived like the reference's).
    pub fn mode(&self) -> AuthMode {
        AuthMode::from_config(
            self.auth_mode.as_deref().map(str::trim),
            self.operator_token
                .as_deref()
                .is_some_and(|t| !t.is_empty()),
        )
    }

    /// The reference refuses to start in `open` mode on a bind that is not
    /// loopback (wildcards included) unless `DMP_ALLOW_OPEN_PUBLIC_BIND` is
    /// set. `Err` carries the message to print.
    pub fn check_bind(&self, host: IpAddr, allow_open_public_bind: bool) -> Result<(), String> {
        if self.mode() == AuthMode::Open && !host.is_loopback() && !allow_open_public_bind {
            return Err(format!(
                "refusing to start auth mode 'open' on the non-loopback bind {host}: it would \
                 let anyone write /v1/records/*. Set --operator-token (DMP_OPERATOR_TOKEN), or \
                 opt in to the unsafe setup with --allow-open-public-bind \
                 (DMP_ALLOW_OPEN_PUBLIC_BIND=1)"
            ));
        }
        Ok(())
    }
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    config: Config,
    mode: AuthMode,
    per_ip: Mutex<RateLimiter<IpAddr>>,
    tokens: tokens::TokenState,
    metrics: metrics::Metrics,
    sync: sync::SyncState,
    /// HTTP publishes and deletes share transactions (one fsync per batch).
    commit: store::GroupCommit,
}

impl AppState {
    /// State over an open store.
    pub fn new(store: Arc<Store>, config: Config) -> Self {
        let mode = config.mode();
        let per_ip = Mutex::new(RateLimiter::new(config.http_rate));
        let tokens = tokens::TokenState::new(&config, store.path());
        let sync = sync::SyncState::new(&config);
        let commit =
            store::GroupCommit::spawn(Arc::clone(&store), config.limits.max_values_per_name);
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                mode,
                per_ip,
                tokens,
                metrics: metrics::Metrics::default(),
                sync,
                commit,
            }),
        }
    }

    /// The auth mode the node runs in.
    pub fn mode(&self) -> AuthMode {
        self.inner.mode
    }

    /// The token store and TSIG keystore.
    pub fn tokens(&self) -> &tokens::TokenState {
        &self.inner.tokens
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Sync state.
    pub fn sync(&self) -> &sync::SyncState {
        &self.inner.sync
    }

    /// The store behind the handlers.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The configuration the handlers use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The source address of a request from `peer`: `peer` itself, or
    /// behind a trusted proxy the client it forwarded for.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        self.config().trusted_proxies.client_ip(peer.ip(), headers)
    }

    /// Per-IP bucket on `/v1/records/*`; true when the request may go on.
    fn allow_ip(&self, ip: IpAddr) -> bool {
        let mut limiter = self.inner.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        !limiter.enabled() || limiter.allow(&ip, unix_now_ms())
    }
}

/// All HTTP routes of the node. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`]
/// does): the per-IP limit needs the peer address.
pub fn router(state: AppState) -> Router {
    // Browsers (the bundled web client on another origin) may call the
    // record API with a bearer token; no cookies are involved, so any
    // origin is fine.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    let v1 = Router::new()
        .route(
            "/v1/records/{*name}",
            get(records)
                .post(records)
                .delete(records)
                .options(preflight_only),
        )
        .layer(cors);
    let web = state.config().web.clone();
    let api = Router::new()
        .route("/health", get(health))
        .route("/stats", get(stats))
        .merge(v1)
        .merge(registration::routes())
        .merge(sync::routes())
        .merge(doh::routes())
        .merge(metrics::routes());
    webroot::apply(api, &web)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serve [`router`] on an already bound listener until `shutdown` resolves.
///
/// Binding is left to the caller so it can print the real address first
/// (port 0 picks a free port, which tests rely on).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Delete expired rows every `interval` (the first sweep after one
/// interval, like the reference). Expired rows are invisible to reads
/// anyway; this only reclaims space. Runs until the runtime stops.
pub fn spawn_sweeper(store: Arc<Store>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let interval = interval.max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || s.sweep_expired(unix_now_ms())).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "expiry sweep failed"),
                Err(e) => tracing::error!(error = %e, "expiry sweep task failed"),
            }
        }
    })
}

/// The URL a browser should open for a bound address.
pub fn url_for(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

// ---- responses --------------------------------------------------------------

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn error(e: &HttpError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, e.body())
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

// ---- handlers ---------------------------------------------------------------

/// Health probe: reads the store's SQLite file, so a broken disk or DB shows
/// as 503 `{"status": "degraded", "store": "<err>"}` like the reference.
async fn health(State(state): State<AppState>) -> Response {
    let store = Arc::clone(state.store());
    let probe = tokio::task::spawn_blocking(move || {
        store
            .digest_page(&store::Cursor::default(), 1, unix_now_ms())
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let mut resp = match probe {
        Ok(()) => json(StatusCode::OK, "{\"status\": \"ok\"}".into()),
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{{\"status\": \"degraded\", \"store\": {}}}",
                rules::json_str(&e)
            ),
        ),
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `{"records": <live rows>}`.
async fn stats(State(state): State<AppState>) -> Response {
    let n = state.store().stats(unix_now_ms()).records;
    json(StatusCode::OK, format!("{{\"records\": {n}}}"))
}

pub(crate) async fn not_found() -> Response {
    error(&HttpError::NotFound)
}

/// OPTIONS that is not a CORS preflight (the CORS layer answers those).
async fn preflight_only() -> Response {
    empty(StatusCode::NO_CONTENT)
}

/// Longer than [`MAX_BODY_BYTES`]: what a handler passes to the core rules
/// for a body it stopped reading, so they answer their usual
/// `invalid body` at their usual step.
static OVERSIZED: [u8; MAX_BODY_BYTES + 1] = [b' '; MAX_BODY_BYTES + 1];

fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// `/v1/records/{name}`: GET, POST, DELETE in the reference's check order.
async fn records(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    // 1. path, matched literally on the raw target (a query string stays
    // part of the name and fails the syntax check later, as in the
    // reference).
    let target = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let Some(name) = publish::record_name_from_path(target) else {
        return error(&HttpError::NotFound);
    };
    // 2. per-IP limit.
    if !state.allow_ip(state.client_ip(peer, &parts.headers)) {
        return error(&HttpError::RateLimited);
    }
    let auth = auth_header(&parts.headers);
    match parts.method {
        Method::GET => get_record(&state, &name, auth),
        Method::POST | Method::DELETE => {
            let op = if parts.method == Method::POST {
                Op::Publish
            } else {
                Op::Delete
            };
            // 3. auth.
            if let Err(e) = authorize_write(&state, auth, &name, op) {
                return error(&e);
            }
            let bytes = read_body(body).await;
            let body: &[u8] = bytes.as_deref().unwrap_or(&OVERSIZED);
            if op == Op::Publish {
                post_record(&state, &name, body).await
            } else {
                delete_record(&state, &name, body).await
            }
        }
        _ => error(&HttpError::NotFound),
    }
}

/// The body, or `None` when it is longer than [`MAX_BODY_BYTES`] (or the
/// client broke off); reading stops at the limit.
async fn read_body(body: Body) -> Option<axum::body::Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.ok()
}

/// Who may write `name` (§3.1): the core rules decide from the mode, the
/// operator token and, in multi-tenant mode, the token's row (one primary
/// key read of the token database); a granted user token then spends one
/// unit of its own bucket (429 when empty).
fn authorize_write(
    state: &AppState,
    header: Option<&str>,
    name: &str,
    op: Op,
) -> Result<(), HttpError> {
    let tokens = state.tokens();
    let db = tokens.token_db();
    let cfg = WriteAuth {
        mode: state.inner.mode,
        operator_token: state.config().operator_token.as_deref(),
        has_token_store: db.is_some(),
    };
    let presented = authz::bearer(header);
    let now_ms = unix_now_ms();
    let lookup = |hash: &str| match db.map(|d| d.lookup(hash)) {
        Some(Ok(row)) => row.map(|r| r.auth_row()),
        Some(Err(e)) => {
            // Fail closed: an unreadable token database denies the write.
            tracing::error!(error = %e, "token lookup failed");
            None
        }
        None => None,
    };
    match authz::authorize_record_write(&cfg, presented, name, op, now_ms / 1000, lookup) {
        Ok(WriteGrant::User {
            token_hash,
            rate_per_sec,
            rate_burst,
            ..
        }) => {
            let rate = Rate::new(rate_per_sec, f64::from(rate_burst));
            if tokens.allow_token(&token_hash, rate, now_ms) {
                Ok(())
            } else {
                Err(HttpError::TokenThrottled)
            }
        }
        Ok(_) => Ok(()),
        Err(denied) => {
            tracing::debug!(?denied, name, "write refused");
            Err(HttpError::Unauthorized)
        }
    }
}

fn get_record(state: &AppState, name: &str, header: Option<&str>) -> Response {
    if !authz::authorize_operator_read(state.config().operator_token.as_deref(), header) {
        return error(&HttpError::Unauthorized);
    }
    // A read is a lookup in the in-memory index: no need to leave the
    // runtime thread.
    let values = state.store().get(name, unix_now_ms());
    let status = if values.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    json(status, rules::records_body(name, &values))
}

async fn post_record(state: &AppState, name: &str, body: &[u8]) -> Response {
    let store = state.store();
    let now = unix_now_ms();
    let checked = publish::validate_publish(name, body, &state.config().limits, |n, v| {
        let values = store.get(n, now);
        RrsetState {
            count: values.len(),
            contains_value: values.iter().any(|x| &**x == v),
        }
    });
    let p = match checked {
        Ok(p) => p,
        Err(e) => return error(&e),
    };
    let ttl = u32::try_from(p.ttl).unwrap_or(u32::MAX);
    // Answered only once the group commit holding it is on disk; the cap is
    // checked again there, against concurrent publishes to the same name.
    let write = store::Write::Publish {
        name: p.name,
        value: p.value,
        ttl,
    };
    match state.inner.commit.write(write).await {
        Ok(_) => json(StatusCode::CREATED, PUBLISH_OK_BODY.into()),
        Err(store::WriteError::RrsetFull { cap }) => error(&HttpError::RrsetFull {
            name: name.to_owned(),
            cap,
        }),
        Err(e) => {
            tracing::error!(error = %e, "publish failed");
            json(StatusCode::BAD_GATEWAY, PUBLISH_FAILED_BODY.into())
        }
    }
}

async fn delete_record(state: &AppState, name: &str, body: &[u8]) -> Response {
    let d = match publish::validate_delete(name, body) {
        Ok(d) => d,
        Err(e) => return error(&e),
    };
    let write = match d.value {
        Some(value) => store::Write::DeleteValue {
            name: d.name,
            value,
        },
        None => store::Write::DeleteName { name: d.name },
    };
    match state.inner.commit.write(write).await {
        Ok(store::Outcome::Deleted(n)) if n > 0 => empty(StatusCode::NO_CONTENT),
        Ok(_) => empty(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(error = %e, "delete failed");
            error(&HttpError::Internal)
        }
    }
}
