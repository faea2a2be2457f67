//! The anti-entropy worker: every interval it picks the next peer (round
//! robin), reads its digest from this node's saved cursor for that peer,
//! pulls what is missing or refreshed, verifies every value with dmp-core
//! before storing it, and saves the cursor after each batch (so a restart
//! resumes). With a pinned operator key and a base domain it also adopts a
//! strictly higher-seq cluster manifest a peer serves (gossip) and switches
//! to that manifest's peers.
//!
//! Departure from the reference (§13.1 R7): a rejected value does not stall
//! the cursor; it is logged once and passed.

use super::http;
use super::{PeerStatus, SyncState};
use crate::AppState;
use crate::store::sync_store::SyncStore;
use crate::store::{Cursor, Op, unix_now_ms, value_hash};
use dmp_core::node::sync::{self as rules, DigestEntry, Peer, PullReject};
use dmp_core::records::cluster::ClusterManifest;
use std::collections::HashMap;
use std::sync::Arc;

/// Digest pages read from one peer in one tick at most (each up to
/// [`PAGE_LIMIT`] entries); the rest waits for the next tick.
const MAX_PAGES_PER_TICK: usize = 20;
/// Digest page size requested.
const PAGE_LIMIT: usize = rules::DIGEST_DEFAULT_LIMIT;

fn to_core(c: &Cursor) -> rules::SyncCursor {
    rules::SyncCursor::of(c.ts, &c.name, &c.hash)
}

fn from_core(c: &rules::SyncCursor) -> Cursor {
    Cursor {
        ts: c.ts,
        name: c.name.clone(),
        hash: c.hash.clone(),
    }
}

/// Publish the cluster file's signed manifest at `cluster.<name>` with a
/// TTL reaching its `exp` (verified first when an operator key is pinned),
/// as the reference does on start.
pub async fn publish_cluster_file(state: &AppState) {
    let Some(rules::ClusterFile::Wire { wire, manifest }) = state.sync().file.clone() else {
        return;
    };
    let now = unix_now_ms() / 1000;
    if let Some(spk) = state.sync().config().operator_spk
        && let Err(e) = ClusterManifest::parse_and_verify(&wire, &spk, None, now)
    {
        tracing::warn!(error = %e, "cluster file manifest does not verify under DMP_SYNC_OPERATOR_SPK; not publishing it");
        return;
    }
    if let Some(base) = state.sync().config().base_domain.as_deref()
        && !dmp_core::names::dns_name_eq(&manifest.cluster_name, base)
    {
        tracing::warn!(
            file = %manifest.cluster_name, configured = %base,
            "the cluster file's manifest names another cluster than DMP_CLUSTER_BASE_DOMAIN"
        );
    }
    let Ok(owner) = dmp_core::names::cluster_manifest_name(&manifest.cluster_name) else {
        return;
    };
    let ttl = u32::try_from(manifest.exp.saturating_sub(now).max(1)).unwrap_or(u32::MAX);
    let store = Arc::clone(state.store());
    let owner2 = owner.clone();
    match tokio::task::spawn_blocking(move || store.publish(&owner2, &wire, ttl, unix_now_ms()))
        .await
    {
        Ok(Ok(_)) => tracing::info!(
            owner = %owner, seq = manifest.seq, nodes = manifest.nodes.len(),
            "cluster manifest from the cluster file published"
        ),
        Ok(Err(e)) => tracing::error!(error = %e, "publishing the cluster manifest failed"),
        Err(e) => tracing::error!(error = %e, "publishing the cluster manifest failed"),
    }
}

/// Start the worker if there are peers and a sync token.
pub fn start(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let sync = state.sync();
    let peers = sync.initial_peers();
    if peers.is_empty() {
        tracing::info!("anti-entropy: no peers configured; not syncing");
        return None;
    }
    if sync.config().peer_token.is_none() {
        tracing::warn!(
            peers = peers.len(),
            "anti-entropy: peers are configured but DMP_SYNC_PEER_TOKEN is not; not syncing"
        );
        return None;
    }
    if sync.config().operator_spk.is_some() && sync.base_domain().is_none() {
        tracing::warn!(
            "anti-entropy: DMP_SYNC_OPERATOR_SPK is set without DMP_CLUSTER_BASE_DOMAIN (or a \
             manifest in the cluster file); manifest gossip is off"
        );
    }
    let cursors = match SyncStore::open(state.store().path()) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, "anti-entropy: cannot open the cursor table; not syncing");
            return None;
        }
    };
    let client =
        match http::Client::new(sync.config().ca_file.as_deref(), sync.config().http_timeout) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "anti-entropy: DMP_SYNC_CA_FILE unusable; not syncing");
                return None;
            }
        };
    let state = state.clone();
    Some(tokio::spawn(async move {
        let mut w = Worker {
            state,
            cursors,
            client,
            rr: 0,
        };
        w.set_peers(peers).await;
        // The manifest already held (e.g. from the cluster file) is the
        // baseline: only a strictly newer one changes the peers.
        if let (Some(spk), Some(base)) = (
            w.sync().config().operator_spk,
            w.sync().base_domain().map(str::to_string),
        ) {
            let seq = w.stored_manifest(&spk, &base).map(|m| m.seq);
            w.sync().runtime().installed_seq = seq;
        }
        let interval = w.sync().config().interval;
        tracing::info!(
            peers = w.sync().runtime().peers.len(),
            interval_ms = interval.as_millis() as u64,
            "anti-entropy worker started"
        );
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            w.tick().await;
        }
    }))
}

struct Worker {
    state: AppState,
    cursors: Arc<SyncStore>,
    client: http::Client,
    rr: usize,
}

impl Worker {
    fn sync(&self) -> &SyncState {
        self.state.sync()
    }

    /// Install a peer list, each with its saved cursor when the saved one
    /// belongs to the same node (same id, or a URL-derived id being
    /// replaced by the manifest's id for the same endpoint).
    async fn set_peers(&mut self, peers: Vec<Peer>) {
        let mut list = Vec::with_capacity(peers.len());
        for peer in peers {
            let key = rules::normalize_endpoint(&peer.http_endpoint);
            let store = Arc::clone(&self.cursors);
            let saved = tokio::task::spawn_blocking(move || store.load(&key))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            let cursor = match saved {
                Some(s)
                    if s.node_id == peer.node_id
                        || s.node_id == rules::peer_id_from_url(&peer.http_endpoint) =>
                {
                    tracing::info!(peer = %peer.node_id, cursor = %to_core(&s.cursor).encode(), "anti-entropy: resuming from the saved cursor");
                    s.cursor
                }
                _ => Cursor::default(),
            };
            // Counters of a peer that stays carry over.
            let (entries_seen, records_written) = self
                .sync()
                .runtime()
                .peers
                .iter()
                .find(|p| p.peer == peer)
                .map_or((0, 0), |p| (p.entries_seen, p.records_written));
            list.push(PeerStatus {
                peer,
                cursor,
                entries_seen,
                records_written,
                last_error: None,
            });
        }
        let n = list.len();
        self.sync().runtime().peers = list;
        self.rr = if n == 0 { 0 } else { self.rr % n };
    }

    async fn tick(&mut self) {
        let rr = self.rr;
        let picked = {
            let mut rt = self.sync().runtime();
            rt.stats.ticks += 1;
            let n = rt.peers.len();
            (n > 0).then(|| ((rr % n + 1) % n, rt.peers[rr % n].peer.clone()))
        };
        let Some((next, peer)) = picked else {
            return;
        };
        self.rr = next;
        let result = self.sync_with(&peer).await;
        {
            let mut rt = self.sync().runtime();
            if result.is_err() {
                rt.stats.errors += 1;
            }
            if let Some(p) = rt.peers.iter_mut().find(|p| p.peer == peer) {
                p.last_error = result.as_ref().err().cloned();
            }
        }
        if let Err(e) = result {
            tracing::warn!(peer = %peer.node_id, endpoint = %peer.http_endpoint, error = %e, "anti-entropy: sync with peer failed");
        }
        if self.sync().config().operator_spk.is_some() && self.sync().base_domain().is_some() {
            // A newer manifest may have arrived as an ordinary record
            // (pulled, or published by the operator): follow its nodes.
            self.adopt_stored().await;
            if let Err(e) = self.gossip(&peer).await {
                self.sync().runtime().stats.errors += 1;
                tracing::warn!(peer = %peer.node_id, error = %e, "anti-entropy: manifest gossip failed");
            }
        }
    }

    fn cursor_of(&self, peer: &Peer) -> Cursor {
        self.sync()
            .runtime()
            .peers
            .iter()
            .find(|p| &p.peer == peer)
            .map(|p| p.cursor.clone())
            .unwrap_or_default()
    }

    fn url(peer: &Peer, path: &str) -> String {
        format!("{}{path}", peer.http_endpoint.trim_end_matches('/'))
    }

    /// Digest, pull, verify, store, advance: up to [`MAX_PAGES_PER_TICK`]
    /// pages.
    async fn sync_with(&self, peer: &Peer) -> Result<(), String> {
        let cfg = self.sync().config().clone();
        let token = cfg.peer_token.as_deref();
        let mut cursor = self.cursor_of(peer);
        for _ in 0..MAX_PAGES_PER_TICK {
            let url = Self::url(
                peer,
                &format!(
                    "/v1/sync/digest?cursor={}&limit={PAGE_LIMIT}",
                    to_core(&cursor).encode()
                ),
            );
            let reply = self.client.request("GET", &url, token, None).await?;
            if reply.status != 200 {
                return Err(format!("digest: HTTP {}", reply.status));
            }
            let now_ms = unix_now_ms();
            let page = rules::parse_digest_response(&reply.body, now_ms)
                .map_err(|e| format!("digest: {e}"))?;
            {
                let mut rt = self.sync().runtime();
                rt.stats.digests_fetched += 1;
                rt.stats.entries_seen += page.entries.len() as u64;
                rt.stats.records_rejected += page.invalid as u64;
                if let Some(p) = rt.peers.iter_mut().find(|p| &p.peer == peer) {
                    p.entries_seen += page.entries.len() as u64;
                }
            }
            if page.invalid > 0 {
                tracing::warn!(peer = %peer.node_id, dropped = page.invalid, "anti-entropy: structurally invalid digest entries dropped");
            }
            if page.entries.is_empty() {
                // Nothing new. The peer's next_cursor is never trusted to
                // move ours.
                return Ok(());
            }
            let local = self.local_ttls(&page.entries, now_ms);
            let mut start = 0;
            while start < page.entries.len() {
                let batch = rules::next_batch(&page.entries, start, |e| {
                    rules::needs_pull(e.ttl, local.get(&(e.name.clone(), e.hash.clone())).copied())
                });
                if !batch.names.is_empty() {
                    self.pull_batch(peer, &cfg, &batch).await?;
                }
                let Some(last) = batch.end.checked_sub(1).and_then(|i| page.entries.get(i)) else {
                    break;
                };
                cursor = from_core(&last.cursor());
                self.save_cursor(peer, &cursor).await?;
                start = batch.end;
            }
            if !page.has_more {
                return Ok(());
            }
        }
        Ok(())
    }

    /// `(name, hash)` → seconds left, for the local values at the names of
    /// a digest page.
    fn local_ttls(&self, entries: &[DigestEntry], now_ms: u64) -> HashMap<(String, String), u64> {
        let mut out = HashMap::new();
        let mut done = std::collections::HashSet::new();
        for e in entries {
            if !done.insert(e.name.as_str()) {
                continue;
            }
            for (v, ttl) in self.state.store().get_with_ttl(&e.name, now_ms) {
                out.insert((e.name.clone(), value_hash(&v)), ttl);
            }
        }
        out
    }

    async fn pull_batch(
        &self,
        peer: &Peer,
        cfg: &super::SyncConfig,
        batch: &rules::Batch,
    ) -> Result<(), String> {
        let url = Self::url(peer, "/v1/sync/pull");
        let body = rules::pull_request_body(&batch.names);
        let reply = self
            .client
            .request("POST", &url, cfg.peer_token.as_deref(), Some(body))
            .await?;
        if reply.status != 200 {
            return Err(format!("pull: HTTP {}", reply.status));
        }
        let (records, malformed) =
            rules::parse_pull_response(&reply.body).map_err(|e| format!("pull: {e}"))?;
        let now = unix_now_ms() / 1000;
        let max_value_bytes = self.state.config().limits.max_value_bytes;
        let mut accepted = Vec::new();
        let mut rejected = malformed;
        for rec in &records {
            match rules::check_pulled(
                rec,
                &batch.expected,
                max_value_bytes,
                cfg.operator_spk.as_ref(),
                now,
            ) {
                Ok(_) => accepted.push(rec.clone()),
                Err(PullReject::NotAdvertised) => {
                    // Another value at a requested name (the pull returns
                    // the whole RRset): already held, or not offered.
                    tracing::debug!(peer = %peer.node_id, name = %rec.name, "anti-entropy: value not advertised; skipped");
                }
                Err(why) => {
                    rejected += 1;
                    tracing::warn!(peer = %peer.node_id, name = %rec.name, reason = %why, "anti-entropy: pulled record rejected");
                }
            }
        }
        let written = accepted.len() as u64;
        if !accepted.is_empty() {
            let store = Arc::clone(self.state.store());
            let done = tokio::task::spawn_blocking(move || {
                let ops: Vec<Op<'_>> = accepted
                    .iter()
                    .map(|r| Op::Publish {
                        name: &r.name,
                        value: &r.value,
                        ttl: u32::try_from(r.ttl).unwrap_or(u32::MAX),
                    })
                    .collect();
                store.apply(&ops, unix_now_ms()).map(|_| ())
            })
            .await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("storing pulled records: {e}")),
                Err(e) => return Err(format!("storing pulled records: {e}")),
            }
        }
        let mut rt = self.sync().runtime();
        rt.stats.records_pulled += records.len() as u64;
        rt.stats.records_written += written;
        rt.stats.records_rejected += rejected as u64;
        if let Some(p) = rt.peers.iter_mut().find(|p| &p.peer == peer) {
            p.records_written += written;
        }
        drop(rt);
        if written > 0 {
            self.state.metrics().inc_sync_pulled(written);
            tracing::info!(peer = %peer.node_id, written, rejected, "anti-entropy: records pulled");
        }
        Ok(())
    }

    async fn save_cursor(&self, peer: &Peer, cursor: &Cursor) -> Result<(), String> {
        let store = Arc::clone(&self.cursors);
        let key = rules::normalize_endpoint(&peer.http_endpoint);
        let id = peer.node_id.clone();
        let c = cursor.clone();
        tokio::task::spawn_blocking(move || store.save(&key, &id, &c, unix_now_ms()))
            .await
            .map_err(|e| format!("saving the cursor: {e}"))?
            .map_err(|e| format!("saving the cursor: {e}"))?;
        let mut rt = self.sync().runtime();
        if let Some(p) = rt.peers.iter_mut().find(|p| &p.peer == peer) {
            p.cursor = cursor.clone();
        }
        Ok(())
    }

    /// The best manifest stored at `cluster.<base>` that verifies under
    /// the pinned key.
    fn stored_manifest(&self, spk: &[u8; 32], base: &str) -> Option<ClusterManifest> {
        let now_ms = unix_now_ms();
        let owner = dmp_core::names::cluster_manifest_name(base).ok()?;
        let values = self.state.store().get(&owner, now_ms);
        dmp_core::records::cluster::best_cluster_manifest(
            values.iter().map(|v| &**v),
            spk,
            Some(base),
            now_ms / 1000,
        )
    }

    /// The highest seq of a verifying manifest this node holds or has
    /// installed.
    fn current_seq(&self, spk: &[u8; 32], base: &str) -> Option<u64> {
        let installed = self.sync().runtime().installed_seq;
        installed.max(self.stored_manifest(spk, base).map(|m| m.seq))
    }

    /// Switch to the nodes of `manifest` (already verified) and remember
    /// its seq.
    async fn install(&mut self, manifest: &ClusterManifest, source: &str) {
        let cfg = self.sync().config().clone();
        let previous = self.sync().runtime().installed_seq;
        let peers = rules::peers_from_manifest(
            manifest,
            cfg.node_id.as_deref(),
            cfg.self_endpoint.as_deref(),
        );
        let count = peers.len();
        self.set_peers(peers).await;
        {
            let mut rt = self.sync().runtime();
            rt.installed_seq = Some(manifest.seq);
            rt.stats.manifests_adopted += 1;
        }
        tracing::info!(
            source, seq = manifest.seq, previous = ?previous, peers = count,
            "anti-entropy: adopted a newer cluster manifest"
        );
    }

    /// Follow a stored manifest newer than the one in use.
    async fn adopt_stored(&mut self) {
        let (Some(spk), Some(base)) = (
            self.sync().config().operator_spk,
            self.sync().base_domain().map(str::to_string),
        ) else {
            return;
        };
        let Some(m) = self.stored_manifest(&spk, &base) else {
            return;
        };
        if rules::should_adopt(self.sync().runtime().installed_seq, m.seq) {
            self.install(&m, "local store").await;
        }
    }

    /// Fetch the peer's manifest; adopt it when it verifies under the
    /// pinned key, binds to the base domain and has a strictly higher seq.
    async fn gossip(&mut self, peer: &Peer) -> Result<(), String> {
        let cfg = self.sync().config().clone();
        let (Some(spk), Some(base)) = (cfg.operator_spk, self.sync().base_domain()) else {
            return Ok(());
        };
        let base = base.to_string();
        let url = Self::url(peer, "/v1/sync/cluster-manifest");
        let reply = self
            .client
            .request("GET", &url, cfg.peer_token.as_deref(), None)
            .await?;
        match reply.status {
            204 => return Ok(()),
            200 => {}
            s => return Err(format!("cluster-manifest: HTTP {s}")),
        }
        let doc: serde_json::Value = serde_json::from_slice(&reply.body)
            .map_err(|_| "cluster-manifest: not JSON".to_string())?;
        let Some(wire) = doc.get("wire").and_then(|w| w.as_str()) else {
            return Err("cluster-manifest: no wire".into());
        };
        let now = unix_now_ms() / 1000;
        let manifest = match ClusterManifest::parse_and_verify(wire, &spk, Some(&base), now) {
            Ok(m) => m,
            Err(e) => {
                return Err(format!(
                    "cluster-manifest: does not verify under the pinned operator key: {e}"
                ));
            }
        };
        let current = self.current_seq(&spk, &base);
        if !rules::should_adopt(current, manifest.seq) {
            return Ok(());
        }
        let owner = dmp_core::names::cluster_manifest_name(&manifest.cluster_name)
            .map_err(|e| format!("cluster-manifest: {e}"))?;
        let ttl = u32::try_from(manifest.exp.saturating_sub(now).max(1)).unwrap_or(u32::MAX);
        let store = Arc::clone(self.state.store());
        let w = wire.to_string();
        tokio::task::spawn_blocking(move || store.publish(&owner, &w, ttl, unix_now_ms()))
            .await
            .map_err(|e| format!("storing the manifest: {e}"))?
            .map_err(|e| format!("storing the manifest: {e}"))?;
        self.install(&manifest, &format!("peer {}", peer.node_id))
            .await;
        Ok(())
    }
}
