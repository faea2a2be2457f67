//! DNS over HTTPS at `/dns-query` (RFC 8484 GET/POST and the JSON form).
//!
//! Stub: no routes yet.

use crate::AppState;
use axum::Router;

/// The DoH routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
