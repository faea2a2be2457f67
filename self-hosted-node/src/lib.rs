//! `dmp-node`: the self-hosted DNS Mesh Protocol node.
//!
//! A thin tokio/axum adapter around `dmp-core`. This first cut serves only
//! `/health` and a landing page; DNS (UDP/TCP, UPDATE+TSIG), the `/v1/...`
//! HTTP API, DoH, SQLite storage and the bundled web client arrive with the
//! self-hosted-node issue. The router lives in the library so tests and the
//! binary run exactly the same code.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub mod store;

/// The workspace version; every crate of dmp-rs shares it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// All HTTP routes of the node.
pub fn router() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/", get(landing))
}

/// Liveness probe. The body matches the reference node's `{"status": "ok"}`
/// so existing probes keep working; it will exercise the store once there is
/// one (the reference reports `degraded` with 503 when its store fails).
async fn health() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "status": "ok" })),
    )
}

async fn landing() -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>dmp-node</title></head><body>\n\
         <h1>dmp-node {VERSION}</h1>\n\
         <p>A self-hosted DNS Mesh Protocol node (dmp-rs). It knows {kinds} record kinds.</p>\n\
         <p>Status: <a href=\"/health\">/health</a>. DNS, the HTTP publish API, DoH and \
         the web client are not served yet.</p>\n</body></html>\n",
        kinds = dmp_core::wire::RecordKind::ALL.len()
    ))
}

/// Serve [`router`] on an already bound listener until `shutdown` resolves.
///
/// Binding is left to the caller so it can print the real address first
/// (port 0 picks a free port, which tests rely on).
pub async fn serve(
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// The URL a browser should open for a bound address.
pub fn url_for(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}
