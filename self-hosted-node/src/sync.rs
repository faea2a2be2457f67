//! Anti-entropy between nodes: `/v1/sync/digest`, `/pull`,
//! `/cluster-manifest`, and the worker that pulls from peers.
//!
//! Stub: no routes, no worker.

use crate::AppState;
use axum::Router;

/// Settings of sync.
#[derive(Clone, Debug, Default)]
pub struct SyncConfig {}

/// Flags and `DMP_*` variables of this module (flattened into `dmp-node`).
#[derive(clap::Args, Debug, Default)]
pub struct SyncArgs {}

impl SyncArgs {
    /// The parsed settings.
    pub fn into_config(self) -> SyncConfig {
        SyncConfig {}
    }
}

/// Runtime state of sync (held by [`crate::AppState`]).
#[derive(Debug, Default)]
pub struct SyncState {}

impl SyncState {
    /// State for `config`.
    pub fn new(_config: &crate::Config) -> Self {
        SyncState {}
    }
}

/// The sync routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Starts the background work of sync (pulling from peers, heartbeats), if
/// configured.
pub fn spawn(_state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    None
}
