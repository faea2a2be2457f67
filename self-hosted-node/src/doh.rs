//! DNS over HTTPS at `/dns-query`: RFC 8484 GET (`?dns=<base64url>`) and
//! POST (`application/dns-message`), and the JSON form public resolvers
//! serve (`?name=&type=`, `application/dns-json`).
//!
//! Request parsing and the answer are `dmp_core::dns::doh`, which answers
//! through `dmp_core::dns::answer` over the same [`StoreTxt`] adapter as
//! the UDP and TCP listeners, so every path gives the same RRset, the same
//! NXDOMAIN/NODATA and the same SOA. Any origin may call it (CORS), and
//! `Cache-Control: max-age` is the smallest TTL in the answer. Queries
//! share the DNS listener's per-IP rate (`DnsConfig::rate`, a bucket of
//! their own); over it a client gets 429 with `Retry-After: 1`.

use crate::AppState;
use crate::dns_server::StoreTxt;
use crate::store::unix_now_ms;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dmp_core::dns::doh::{self, DohError, DohQuery, DohResponse};
use dmp_core::node::ratelimit::RateLimiter;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Per-IP DoH buckets, made on first use from the configured rate.
#[derive(Clone, Default)]
struct Limits(Arc<OnceLock<Option<Mutex<RateLimiter<IpAddr>>>>>);

impl Limits {
    /// True when a query from `req`'s peer may go on (no peer address
    /// known, as in a router driven without a socket: not limited).
    fn allow(&self, state: &AppState, req: &Request) -> bool {
        let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() else {
            return true;
        };
        let rate = state.config().dns.rate;
        let lim = self
            .0
            .get_or_init(|| rate.enabled().then(|| Mutex::new(RateLimiter::new(rate))));
        match lim {
            None => true,
            Some(m) => m
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .allow(&state.client_ip(*peer, req.headers()), unix_now_ms()),
        }
    }
}

/// The DoH routes.
pub fn routes() -> Router<AppState> {
    let limits = Limits::default();
    let (l1, l2) = (limits.clone(), limits);
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT])
        .max_age(Duration::from_secs(86_400));
    Router::new()
        .route(
            "/dns-query",
            get(move |s: State<AppState>, req: Request| doh_get(s, req, l1))
                .post(move |s: State<AppState>, req: Request| doh_post(s, req, l2))
                .options(no_content),
        )
        .layer(cors)
}

async fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn too_many() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::RETRY_AFTER, HeaderValue::from_static("1")),
        ],
        "{\"error\": \"rate limit exceeded\"}",
    )
        .into_response()
}

async fn doh_get(State(state): State<AppState>, req: Request, limits: Limits) -> Response {
    if !limits.allow(&state, &req) {
        state.metrics().inc_dns_outcome("rate_limited");
        return too_many();
    }
    let parsed = doh::parse_get(req.uri().query().unwrap_or(""));
    run(&state, parsed)
}

async fn doh_post(State(state): State<AppState>, req: Request, limits: Limits) -> Response {
    if !limits.allow(&state, &req) {
        state.metrics().inc_dns_outcome("rate_limited");
        return too_many();
    }
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // Check the media type before reading a body that would be refused.
    let parsed = if !doh::is_dns_message(ct.as_deref()) {
        Err(DohError::UnsupportedMediaType)
    } else {
        match read(req.into_body()).await {
            Ok(body) => doh::parse_post(ct.as_deref(), &body),
            Err(e) => Err(e),
        }
    };
    run(&state, parsed)
}

/// Reads at most one DNS message worth of body.
async fn read(body: Body) -> Result<axum::body::Bytes, DohError> {
    axum::body::to_bytes(body, doh::MAX_MESSAGE)
        .await
        .map_err(|_| DohError::TooLarge)
}

fn run(state: &AppState, parsed: Result<DohQuery, DohError>) -> Response {
    let start = Instant::now();
    let r = match parsed {
        Ok(q) => {
            let dns = &state.config().dns;
            let source = StoreTxt::new(state.store(), unix_now_ms(), dns.ttl);
            doh::respond(&q, &dns.zones, &source)
        }
        Err(e) => doh::bad(e),
    };
    if let Some(rc) = r.rcode {
        state.metrics().observe_dns("doh", rc, start.elapsed());
    }
    into_response(r)
}

fn into_response(r: DohResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let cache = if r.status == 200 {
        format!("max-age={}", r.max_age)
    } else {
        "no-store".to_owned()
    };
    let mut resp = (status, r.body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}
