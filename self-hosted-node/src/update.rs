//! DNS UPDATE (RFC 2136) with TSIG hmac-sha256 (RFC 8945) for the DNS
//! listener (REFERENCE-NODE.md §4.4), on with `DMP_DNS_UPDATE_ENABLED`.
//!
//! `dmp_core::dns::parse_update` verifies the TSIG against the keystore
//! and answers NOTAUTH/NOTZONE/FORMERR itself (signed once verified);
//! `dmp_core::dns::authorize_update` applies the caps, the key's scope or
//! the unsigned-claim rule. This module reads the keystore, spends the
//! claim buckets and applies the operations to the store in one SQLite
//! transaction: all of them or none. The whole message is handled on a
//! blocking thread (key lookups and the write touch disk).

use crate::AppState;
use crate::dns_server::{UpdateFuture, UpdateHandler};
use crate::store::{self, unix_now_ms};
use crate::tokens::tsig_db::{ActiveKey, TsigDb};
use dmp_core::dns::{
    TsigKeys, UpdateOp, UpdateParse, UpdatePolicy, authorize_update, parse_update, rcode,
};
use dmp_core::node::authz::{ClaimPolicy, key_recipient_hashes};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

/// The UPDATE handler for the node's state, or `None` when updates are off
/// (the listener then answers REFUSED).
pub fn handler(state: &AppState) -> Option<Arc<dyn UpdateHandler>> {
    let db = state.tokens().tsig_db()?.clone();
    Some(Arc::new(Handler {
        state: state.clone(),
        db,
    }))
}

struct Handler {
    state: AppState,
    db: Arc<TsigDb>,
}

impl UpdateHandler for Handler {
    fn handle(&self, packet: Vec<u8>, peer: SocketAddr) -> UpdateFuture {
        let state = self.state.clone();
        let db = Arc::clone(&self.db);
        Box::pin(async move {
            let stub = dmp_core::dns::stub_response(&packet, rcode::SERVFAIL);
            let metrics = state.metrics().clone();
            let resp = match tokio::task::spawn_blocking(move || {
                process(&state, &db, &packet, peer)
            })
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "UPDATE task failed");
                    stub
                }
            };
            // Every answered UPDATE counts, by its rcode.
            if let Some(rc) = resp
                .as_deref()
                .and_then(dmp_core::dns::client::response_rcode)
            {
                metrics.observe_update(rc);
            }
            resp
        })
    }
}

/// Keys as the verifier sees them: live hmac-sha256 keys only. A database
/// error counts as an unknown key (BADKEY), so nothing is written.
struct KeyLookup<'a> {
    db: &'a TsigDb,
    now: u64,
}

impl TsigKeys for KeyLookup<'_> {
    fn secret(&self, key_name: &str) -> Option<Vec<u8>> {
        match self.db.active(key_name, self.now) {
            Ok(k) => k.map(|k| k.secret),
            Err(e) => {
                tracing::error!(error = %e, "TSIG keystore read failed");
                None
            }
        }
    }
}

fn process(state: &AppState, db: &TsigDb, packet: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
    let now_ms = unix_now_ms();
    let now = now_ms / 1000;
    let cfg = state.tokens().config();
    let zone = dmp_core::node::publish::normalize_zone(&cfg.served_zone);
    let zones: Vec<&str> = if zone.is_empty() {
        vec![]
    } else {
        vec![zone.as_str()]
    };
    let req = match parse_update(packet, &zones, &KeyLookup { db, now }, now) {
        UpdateParse::Drop => return None,
        UpdateParse::Reply(w) => {
            tracing::debug!(%peer, "UPDATE answered by the parser");
            return Some(w);
        }
        UpdateParse::Request(r) => r,
    };
    // The key's scope, read again: a key revoked since verification writes
    // nothing.
    let key: Option<ActiveKey> = match &req.key {
        None => None,
        Some(k) => match db.active(&k.name, now) {
            Ok(Some(a)) => Some(a),
            Ok(None) => return Some(req.respond(rcode::REFUSED, now)),
            Err(e) => {
                tracing::error!(error = %e, "TSIG keystore read failed");
                return Some(req.respond(rcode::SERVFAIL, now));
            }
        },
    };
    // Unsigned claims: open to anyone with the claim provider role on;
    // receiver-only mode admits the mailboxes of registered users (the set
    // is only built for unsigned messages, the only ones it applies to).
    let registered: Option<BTreeSet<String>> = (req.key.is_none()
        && cfg.receiver_claims
        && !cfg.claim_provider)
        .then(|| match db.all_active(now) {
            Ok(keys) => keys
                .iter()
                .flat_map(|k| {
                    key_recipient_hashes(&k.allowed_suffixes, &k.registered_x25519_pub, &zone)
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "TSIG keystore read failed");
                BTreeSet::new()
            }
        });
    let is_registered = |h: &str| registered.as_ref().is_some_and(|s| s.contains(h));
    let claims =
        ((cfg.claim_provider || cfg.receiver_claims) && !zone.is_empty()).then(|| ClaimPolicy {
            zone: &zone,
            max_ttl: cfg.claim_max_ttl,
            registered: registered
                .as_ref()
                .map(|_| &is_registered as &dyn Fn(&str) -> bool),
        });
    let policy = UpdatePolicy {
        limits: &state.config().limits,
        claims,
    };
    let store = state.store();
    let planned = authorize_update(
        &req.ops,
        key.as_ref().map(|k| k.allowed_suffixes.as_slice()),
        &policy,
        |name| store.get(name, now_ms).len(),
        |h12| state.tokens().allow_claim(h12, now_ms),
        now,
    );
    let key_name = key.as_ref().map_or("-", |k| k.name.as_str());
    let ops = match planned {
        Ok(ops) => ops,
        Err(rc) => {
            tracing::info!(%peer, key = key_name, rcode = rc, "UPDATE refused");
            return Some(req.respond(rc, now));
        }
    };
    let batch: Vec<store::Op<'_>> = ops
        .iter()
        .map(|op| match op {
            UpdateOp::Add { name, value, ttl } => store::Op::Publish {
                name,
                value,
                ttl: *ttl,
            },
            UpdateOp::DeleteValue { name, value } => store::Op::DeleteValue { name, value },
            UpdateOp::DeleteRrset { name } | UpdateOp::DeleteName { name } => {
                store::Op::DeleteName { name }
            }
        })
        .collect();
    let rc = match store.apply(&batch, unix_now_ms()) {
        Ok(_) => {
            tracing::info!(%peer, key = key_name, ops = batch.len(), "UPDATE applied");
            rcode::NOERROR
        }
        Err(e) => {
            tracing::error!(error = %e, "UPDATE store write failed");
            rcode::SERVFAIL
        }
    };
    Some(req.respond(rc, now))
}
