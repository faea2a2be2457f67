//! What the node serves at `/`: a built web client directory when one is
//! configured, otherwise a small landing page; and the 404 fallback.

use crate::{AppState, VERSION};
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// Settings of web client hosting.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {}

/// Flags and `DMP_*` variables of this module (flattened into `dmp-node`).
#[derive(clap::Args, Debug, Default)]
pub struct WebArgs {}

impl WebArgs {
    /// The parsed settings.
    pub fn into_config(self) -> WebConfig {
        WebConfig {}
    }
}

/// Adds `/`, `/index.html` and the fallback for unknown paths to `router`.
pub fn apply(router: Router<AppState>, _config: &WebConfig) -> Router<AppState> {
    router
        .route("/", get(landing))
        .route("/index.html", get(landing))
        .fallback(crate::not_found)
}

async fn landing() -> Response {
    let page = Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>dmp-node</title></head><body>\n\
         <h1>dmp-node {VERSION}</h1>\n\
         <p>A self-hosted DNS Mesh Protocol node (dmp-rs). It knows {kinds} record kinds.</p>\n\
         <p>Status: <a href=\"/health\">/health</a>, <a href=\"/stats\">/stats</a>. \
         Records: <code>/v1/records/&lt;name&gt;</code> and DNS (TXT). DoH and the \
         web client are not served yet.</p>\n</body></html>\n",
        kinds = dmp_core::wire::RecordKind::ALL.len()
    ));
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=30"),
        )],
        page,
    )
        .into_response()
}
