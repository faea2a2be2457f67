//! DNS UPDATE (RFC 2136) with TSIG (RFC 8945) for the DNS listener.
//!
//! Stub: [`handler`] returns `None`, so the listener answers UPDATE with
//! REFUSED. The real handler parses with `dmp_core::dns::parse_update`,
//! checks scopes and caps, and applies all-or-nothing to the store.

use crate::AppState;
use crate::dns_server::UpdateHandler;
use std::sync::Arc;

/// The UPDATE handler for the node's state, or `None` when updates are off.
pub fn handler(_state: &AppState) -> Option<Arc<dyn UpdateHandler>> {
    None
}
