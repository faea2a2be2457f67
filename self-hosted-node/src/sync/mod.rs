//! Anti-entropy between the nodes of one operator's cluster
//! (REFERENCE-NODE.md §6): the `/v1/sync/*` routes ([`server`]), the worker
//! that pulls from peers ([`worker`]) and the opt-in heartbeat publisher
//! ([`heartbeat`], §9).
//!
//! Every rule (JSON shapes, cursors, caps, what a pulled record must pass)
//! is in `dmp_core::node::sync`; this module owns the sockets, the clock,
//! the per-peer cursors (persisted in the records DB, see
//! [`crate::store::sync_store`]) and the logs.

use crate::AppState;
use axum::Router;
use clap::builder::BoolishValueParser;
use dmp_core::node::sync::{self as rules, ClusterFile, Peer};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

pub mod heartbeat;
pub mod http;
mod server;
pub mod worker;

/// Settings of sync.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// `DMP_SYNC_PEERS`, comma-separated base URLs (wins over the file).
    pub peers: Option<String>,
    /// `DMP_SYNC_PEER_TOKEN`: bearer token of `/v1/sync/*`, both ways.
    pub peer_token: Option<String>,
    /// `DMP_SYNC_INTERVAL`: time between ticks (one peer per tick).
    pub interval: Duration,
    /// `DMP_CLUSTER_FILE`: manifest (raw wire, `{"wire"}` or `{"nodes"}`).
    pub cluster_file: Option<PathBuf>,
    /// `DMP_NODE_ID`: this node's id in the manifest (left out of peers).
    pub node_id: Option<String>,
    /// `DMP_SYNC_OPERATOR_SPK`: pinned cluster operator key; turns on
    /// manifest signature checks and gossip.
    pub operator_spk: Option<[u8; 32]>,
    /// `DMP_CLUSTER_BASE_DOMAIN`, normalized (lower case, no dot).
    pub base_domain: Option<String>,
    /// `DMP_SYNC_SELF_ENDPOINT`: this node's URL (left out of peers).
    pub self_endpoint: Option<String>,
    /// Per-request timeout towards peers.
    pub http_timeout: Duration,
    /// `DMP_SYNC_CA_FILE`: extra CA certificates (PEM) trusted for
    /// `https://` peers, besides the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Heartbeat publishing (§9).
    pub heartbeat: heartbeat::HeartbeatConfig,
    /// Problems found while reading the settings, logged at start.
    pub warnings: Vec<String>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            peers: None,
            peer_token: None,
            interval: Duration::from_secs(10),
            cluster_file: None,
            node_id: None,
            operator_spk: None,
            base_domain: None,
            self_endpoint: None,
            http_timeout: Duration::from_secs(5),
            ca_file: None,
            heartbeat: heartbeat::HeartbeatConfig::default(),
            warnings: Vec::new(),
        }
    }
}

/// Flags and `DMP_*` variables of this module (flattened into `dmp-node`).
#[derive(clap::Args, Debug, Default)]
pub struct SyncArgs {
    /// Peers to pull from, comma-separated base URLs
    /// (http://host:port or https://host:port). When unset, peers come from
    /// --cluster-file.
    #[arg(long, env = "DMP_SYNC_PEERS")]
    pub sync_peers: Option<String>,

    /// Shared bearer token of /v1/sync/* (served and sent). Without it the
    /// sync routes answer 403 and the worker does not run.
    #[arg(long, env = "DMP_SYNC_PEER_TOKEN", hide_env_values = true)]
    pub sync_peer_token: Option<String>,

    /// Seconds between sync ticks; each tick pulls from one peer, round
    /// robin. Also read from DMP_SYNC_INTERVAL_SECONDS.
    #[arg(long, env = "DMP_SYNC_INTERVAL")]
    pub sync_interval: Option<f64>,

    /// Cluster manifest file: the signed `v=dmp1;t=cluster;` wire, or
    /// {"wire": ...}, or {"nodes": [{"node_id", "http_endpoint"}]}. Its
    /// nodes are the peers when --sync-peers is unset, and a signed wire is
    /// published at cluster.<name> on start. Also read from
    /// DMP_CLUSTER_MANIFEST_PATH. Default: /var/lib/dmp/cluster.json (a
    /// missing file means no cluster).
    #[arg(long, env = "DMP_CLUSTER_FILE")]
    pub cluster_file: Option<PathBuf>,

    /// This node's node_id in the cluster manifest (never synced with).
    #[arg(long, env = "DMP_NODE_ID")]
    pub node_id: Option<String>,

    /// The cluster operator's Ed25519 public key (64 hex). Cluster
    /// manifests must verify under it, and with --cluster-base-domain a
    /// higher-seq manifest learned from a peer is adopted (gossip).
    #[arg(long, env = "DMP_SYNC_OPERATOR_SPK")]
    pub sync_operator_spk: Option<String>,

    /// The cluster's base domain (the manifest's cluster_name).
    #[arg(long, env = "DMP_CLUSTER_BASE_DOMAIN")]
    pub cluster_base_domain: Option<String>,

    /// This node's own base URL as peers list it (never synced with).
    #[arg(long, env = "DMP_SYNC_SELF_ENDPOINT")]
    pub sync_self_endpoint: Option<String>,

    /// PEM file of CA certificates to trust for https:// peers, in
    /// addition to the public web PKI roots (e.g. a private cluster CA).
    #[arg(long, env = "DMP_SYNC_CA_FILE")]
    pub sync_ca_file: Option<PathBuf>,

    /// Publish a signed heartbeat at _dnsmesh-heartbeat.<zone> (needs
    /// --heartbeat-self-endpoint and --heartbeat-operator-key-path).
    #[arg(long, env = "DMP_HEARTBEAT_ENABLED", action = clap::ArgAction::SetTrue,
          value_parser = BoolishValueParser::new())]
    pub heartbeat_enabled: bool,

    /// Public URL of this node advertised in the heartbeat (http or https,
    /// no path, not a private or loopback address).
    #[arg(long, env = "DMP_HEARTBEAT_SELF_ENDPOINT")]
    pub heartbeat_self_endpoint: Option<String>,

    /// File with the operator's Ed25519 seed (32 raw bytes or 64 hex).
    #[arg(long, env = "DMP_HEARTBEAT_OPERATOR_KEY_PATH")]
    pub heartbeat_operator_key_path: Option<PathBuf>,

    /// Seconds between heartbeats.
    #[arg(long, env = "DMP_HEARTBEAT_INTERVAL_SECONDS", default_value_t = 300)]
    pub heartbeat_interval: u64,

    /// Lifetime of a heartbeat record, seconds (at most 30 days).
    #[arg(long, env = "DMP_HEARTBEAT_TTL_SECONDS", default_value_t = 86_400)]
    pub heartbeat_ttl: u64,

    /// Version string in the heartbeat (default: this build's version).
    #[arg(long, env = "DMP_HEARTBEAT_VERSION")]
    pub heartbeat_version: Option<String>,

    /// Zones whose _dnsmesh-heartbeat and _dnsmesh-seen records are
    /// harvested (comma-separated; URLs are reduced to their host).
    #[arg(long, env = "DMP_HEARTBEAT_SEEDS")]
    pub heartbeat_seeds: Option<String>,

    /// DNS servers (ip or ip:port, comma-separated) used to harvest seeds.
    #[arg(long, env = "DMP_HEARTBEAT_DNS_RESOLVERS")]
    pub heartbeat_dns_resolvers: Option<String>,
}

/// The reference's default cluster file.
pub const DEFAULT_CLUSTER_FILE: &str = "/var/lib/dmp/cluster.json";

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn env_non_empty(key: &str) -> Option<String> {
    non_empty(std::env::var(key).ok())
}

impl SyncArgs {
    /// The parsed settings.
    pub fn into_config(self) -> SyncConfig {
        let mut warnings = Vec::new();
        let interval = self
            .sync_interval
            .or_else(|| env_non_empty("DMP_SYNC_INTERVAL_SECONDS").and_then(|v| v.parse().ok()))
            .unwrap_or(10.0);
        let interval = if interval.is_finite() && interval > 0.0 {
            Duration::from_secs_f64(interval.min(86_400.0))
        } else {
            warnings.push(format!(
                "DMP_SYNC_INTERVAL must be > 0 (got {interval}); using 10 s"
            ));
            Duration::from_secs(10)
        };
        let operator_spk = non_empty(self.sync_operator_spk).and_then(|hex| {
            let key = decode_hex32(&hex);
            if key.is_none() {
                warnings.push(
                    "DMP_SYNC_OPERATOR_SPK is not 64 hex characters; manifest checks and \
                     gossip are off"
                        .into(),
                );
            }
            key
        });
        let cluster_file = self
            .cluster_file
            .filter(|p| !p.as_os_str().is_empty())
            .or_else(|| env_non_empty("DMP_CLUSTER_MANIFEST_PATH").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from(DEFAULT_CLUSTER_FILE)));
        let heartbeat = heartbeat::HeartbeatConfig::from_args(
            self.heartbeat_enabled,
            non_empty(self.heartbeat_self_endpoint),
            self.heartbeat_operator_key_path,
            self.heartbeat_interval,
            self.heartbeat_ttl,
            non_empty(self.heartbeat_version),
            non_empty(self.heartbeat_seeds),
            non_empty(self.heartbeat_dns_resolvers),
            &mut warnings,
        );
        SyncConfig {
            peers: non_empty(self.sync_peers),
            peer_token: non_empty(self.sync_peer_token),
            interval,
            cluster_file,
            node_id: non_empty(self.node_id),
            operator_spk,
            base_domain: non_empty(self.cluster_base_domain)
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty()),
            self_endpoint: non_empty(self.sync_self_endpoint),
            http_timeout: Duration::from_secs(5),
            ca_file: self.sync_ca_file.filter(|p| !p.as_os_str().is_empty()),
            heartbeat,
            warnings,
        }
    }
}

/// 64 hex characters as 32 bytes.
pub fn decode_hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Counters of the worker, served by `GET /v1/sync/status`.
#[derive(Clone, Debug, Default)]
pub struct SyncStats {
    pub ticks: u64,
    pub digests_fetched: u64,
    /// Digest entries that passed the structural checks.
    pub entries_seen: u64,
    /// Values received in pull answers.
    pub records_pulled: u64,
    pub records_written: u64,
    pub records_rejected: u64,
    pub errors: u64,
    pub manifests_adopted: u64,
}

/// What the worker knows about one peer.
#[derive(Clone, Debug)]
pub struct PeerStatus {
    pub peer: Peer,
    pub cursor: crate::store::Cursor,
    /// Digest entries seen from this peer since the node started.
    pub entries_seen: u64,
    pub records_written: u64,
    pub last_error: Option<String>,
}

/// Mutable runtime state shared by the routes and the worker.
#[derive(Debug, Default)]
pub struct Runtime {
    pub peers: Vec<PeerStatus>,
    pub stats: SyncStats,
    /// Highest manifest seq installed by this process (gossip).
    pub installed_seq: Option<u64>,
}

/// Runtime state of sync (held by [`crate::AppState`]).
#[derive(Debug)]
pub struct SyncState {
    config: SyncConfig,
    /// The cluster file, read once at start.
    file: Option<ClusterFile>,
    /// The base domain served by `/v1/sync/cluster-manifest`: configured,
    /// else the cluster file manifest's name.
    base_domain: Option<String>,
    runtime: Mutex<Runtime>,
}

impl SyncState {
    /// State for `config`: reads the cluster file (if any) once.
    pub fn new(config: &crate::Config) -> Self {
        let cfg = config.sync.clone();
        let file = cfg
            .cluster_file
            .as_ref()
            .and_then(|path| match std::fs::read_to_string(path) {
                Ok(text) => match rules::parse_cluster_file(&text) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = e, "cluster file ignored");
                        None
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cluster file unreadable");
                    None
                }
            });
        let base_domain = cfg.base_domain.clone().or_else(|| match &file {
            Some(ClusterFile::Wire { manifest, .. }) => {
                Some(manifest.cluster_name.to_ascii_lowercase())
            }
            _ => None,
        });
        SyncState {
            config: cfg,
            file,
            base_domain,
            runtime: Mutex::new(Runtime::default()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The cluster base domain in use, if known.
    pub fn base_domain(&self) -> Option<&str> {
        self.base_domain.as_deref()
    }

    /// The runtime state (peers, cursors, counters).
    pub fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
        self.runtime.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured peers (before any gossip), this node left out.
    pub fn initial_peers(&self) -> Vec<Peer> {
        let id = self.config.node_id.as_deref();
        let ep = self.config.self_endpoint.as_deref();
        if let Some(list) = &self.config.peers {
            return rules::peers_from_urls(list, id, ep);
        }
        self.file
            .as_ref()
            .map(|f| rules::peers_from_cluster_file(f, id, ep))
            .unwrap_or_default()
    }
}

/// The sync routes.
pub fn routes() -> Router<AppState> {
    server::routes()
}

/// Starts the background work of sync: publishes the cluster file's
/// manifest, runs the anti-entropy worker when there are peers and a
/// token, and the heartbeat when enabled. The handle ends when all of them
/// do (normally never); aborting it stops them.
pub fn spawn(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    for w in &state.sync().config().warnings {
        tracing::warn!("{w}");
    }
    let st = state.clone();
    Some(tokio::spawn(async move {
        worker::publish_cluster_file(&st).await;
        let ae = worker::start(&st);
        let hb = heartbeat::start(&st);
        let mut guards = Vec::new();
        guards.extend(ae);
        guards.extend(hb);
        let _stop_on_drop = AbortAll(guards.iter().map(|h| h.abort_handle()).collect());
        for h in guards {
            let _ = h.await;
        }
    }))
}

/// Aborts the child tasks when the parent task is aborted (dropped).
struct AbortAll(Vec<tokio::task::AbortHandle>);

impl Drop for AbortAll {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}
