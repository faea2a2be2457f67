//! `/v1/sync/digest`, `/v1/sync/pull`, `/v1/sync/cluster-manifest` with the
//! reference's check order (per-IP limit, then the sync token) and bodies,
//! plus `/v1/sync/status` (this node's own: the worker's peers, cursors and
//! counters, behind the same token).

use crate::store::{Cursor, unix_now_ms};
use crate::{AppState, auth_header, empty, error, json};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use dmp_core::node::HttpError;
use dmp_core::node::authz;
use dmp_core::node::sync::{self as rules, DigestEntry, PullRecord};
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sync/digest", get(digest).fallback(crate::not_found))
        .route("/v1/sync/pull", post(pull).fallback(crate::not_found))
        .route(
            "/v1/sync/cluster-manifest",
            get(cluster_manifest).fallback(crate::not_found),
        )
        .route("/v1/sync/status", get(status).fallback(crate::not_found))
}

/// The common gate: per-IP bucket (429), then the sync token (403).
fn gate(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> Result<(), HttpError> {
    if !state.allow_ip(state.client_ip(peer, headers)) {
        return Err(HttpError::RateLimited);
    }
    let token = state.sync().config().peer_token.as_deref();
    if !authz::authorize_sync(token, auth_header(headers)) {
        return Err(HttpError::Forbidden);
    }
    Ok(())
}

async fn digest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = gate(&state, peer, &headers) {
        return error(&e);
    }
    let req = match rules::parse_digest_query(query.as_deref().unwrap_or("")) {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    if req.legacy_since {
        tracing::warn!(peer = %peer, "legacy ?since= digest call; the peer should send cursor=");
    }
    let store = Arc::clone(state.store());
    let after = Cursor {
        ts: req.after.ts,
        name: req.after.name.clone(),
        hash: req.after.hash.clone(),
    };
    let limit = req.limit;
    let page =
        tokio::task::spawn_blocking(move || store.digest_page(&after, limit, unix_now_ms())).await;
    let page = match page {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "sync digest read failed");
            return error(&HttpError::Internal);
        }
        Err(e) => {
            tracing::error!(error = %e, "sync digest task failed");
            return error(&HttpError::Internal);
        }
    };
    let entries: Vec<DigestEntry> = page
        .records
        .into_iter()
        .map(|r| DigestEntry {
            name: r.name,
            hash: r.hash,
            ts: r.stored_ts,
            ttl: r.ttl_remaining,
        })
        .collect();
    json(
        StatusCode::OK,
        rules::digest_body(&entries, page.has_more, &req.echo),
    )
}

async fn pull(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(e) = gate(&state, peer, &headers) {
        return error(&e);
    }
    let bytes = axum::body::to_bytes(body, rules::MAX_BODY_BYTES).await.ok();
    let names = match rules::parse_pull_request(bytes.as_deref()) {
        Ok(n) => n,
        Err(e) => return error(&e),
    };
    let mut rows = state.store().records_for_names(&names, unix_now_ms());
    // The reference answers in digest order.
    rows.sort_by(|a, b| (a.stored_ts, &a.name, &a.hash).cmp(&(b.stored_ts, &b.name, &b.hash)));
    let out: Vec<PullRecord> = rows
        .into_iter()
        .map(|r| PullRecord {
            name: r.name,
            value: r.value.to_string(),
            ttl: r.ttl_remaining,
        })
        .collect();
    json(StatusCode::OK, rules::pull_body(&out))
}

async fn cluster_manifest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = gate(&state, peer, &headers) {
        return error(&e);
    }
    match current_manifest(&state) {
        Some(m) => json(StatusCode::OK, rules::cluster_manifest_body(&m)),
        None => empty(StatusCode::NO_CONTENT),
    }
}

/// The manifest this node serves at `cluster.<base>` (see
/// [`rules::served_cluster_manifest`]).
pub(super) fn current_manifest(state: &AppState) -> Option<rules::ServedManifest> {
    let base = state.sync().base_domain()?;
    let owner = dmp_core::names::cluster_manifest_name(base).ok()?;
    let now_ms = unix_now_ms();
    let values = state.store().get(&owner, now_ms);
    rules::served_cluster_manifest(
        values.iter().map(|v| &**v),
        state.sync().config().operator_spk.as_ref(),
        base,
        now_ms / 1000,
    )
}

async fn status(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = gate(&state, peer, &headers) {
        return error(&e);
    }
    let rt = state.sync().runtime();
    let peers: Vec<serde_json::Value> = rt
        .peers
        .iter()
        .map(|p| {
            serde_json::json!({
                "node_id": p.peer.node_id,
                "http_endpoint": p.peer.http_endpoint,
                "cursor": rules::SyncCursor::of(p.cursor.ts, &p.cursor.name, &p.cursor.hash).encode(),
                "entries_seen": p.entries_seen,
                "records_written": p.records_written,
                "last_error": p.last_error,
            })
        })
        .collect();
    let s = &rt.stats;
    let body = serde_json::json!({
        "peers": peers,
        "ticks": s.ticks,
        "digests_fetched": s.digests_fetched,
        "entries_seen": s.entries_seen,
        "records_pulled": s.records_pulled,
        "records_written": s.records_written,
        "records_rejected": s.records_rejected,
        "errors": s.errors,
        "manifests_adopted": s.manifests_adopted,
        "installed_manifest_seq": rt.installed_seq,
        "base_domain": state.sync().base_domain(),
    });
    json(StatusCode::OK, body.to_string())
}
