//! `/v1/registration/challenge`, `/confirm` and `/tsig-confirm`.
//!
//! Stub: no routes yet (they answer 404 through the fallback).

use crate::AppState;
use axum::Router;

/// The registration routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
