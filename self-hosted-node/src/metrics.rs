//! `/metrics` in the Prometheus text format.
//!
//! Stub: no routes yet.

use crate::AppState;
use axum::Router;

/// Counters and histograms of the node (held by [`crate::AppState`]).
#[derive(Debug, Default)]
pub struct Metrics {}

/// The metrics route.
pub fn routes() -> Router<AppState> {
    Router::new()
}
