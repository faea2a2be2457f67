//! Opt-in discovery heartbeat (REFERENCE-NODE.md §9): every interval the
//! node signs `v=dmp1;t=heartbeat;` with its operator key and stores it at
//! `_dnsmesh-heartbeat.<zone>` (replacing only its own previous wire), then
//! harvests `_dnsmesh-heartbeat` and `_dnsmesh-seen` of the seed zones over
//! DNS and republishes the verified heartbeats of other nodes at
//! `_dnsmesh-seen.<zone>`.

use crate::AppState;
use crate::store::{Op, unix_now_ms};
use dmp_core::crypto::Signer25519;
use dmp_core::records::heartbeat::{CAP_CLAIM_PROVIDER, HeartbeatRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Heartbeat settings.
#[derive(Clone, Debug, Default)]
pub struct HeartbeatConfig {
    pub enabled: bool,
    pub self_endpoint: Option<String>,
    pub key_path: Option<PathBuf>,
    pub interval: Duration,
    pub ttl: u64,
    pub version: Option<String>,
    /// Zones to harvest.
    pub seeds: Vec<String>,
    /// DNS servers to harvest through.
    pub resolvers: Vec<SocketAddr>,
}

/// Most heartbeats republished at `_dnsmesh-seen`.
const MAX_SEEN: usize = 25;
/// Most wires looked at per harvested RRset.
const MAX_PER_RRSET: usize = 64;

fn zone_from_seed(seed: &str) -> Option<String> {
    let s = seed.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let host = s.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let z = host.trim_end_matches('.').to_ascii_lowercase();
    (!z.is_empty()).then_some(z)
}

fn parse_resolver(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

impl HeartbeatConfig {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_args(
        enabled: bool,
        self_endpoint: Option<String>,
        key_path: Option<PathBuf>,
        interval: u64,
        ttl: u64,
        version: Option<String>,
        seeds: Option<String>,
        resolvers: Option<String>,
        warnings: &mut Vec<String>,
    ) -> Self {
        let resolvers = resolvers
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .filter_map(|s| {
                let r = parse_resolver(s);
                if r.is_none() {
                    warnings.push(format!(
                        "DMP_HEARTBEAT_DNS_RESOLVERS: '{s}' is not ip[:port]; ignored"
                    ));
                }
                r
            })
            .collect();
        HeartbeatConfig {
            enabled,
            self_endpoint,
            key_path,
            interval: Duration::from_secs(interval.max(1)),
            ttl: ttl.clamp(60, 30 * 86_400),
            version,
            seeds: seeds
                .unwrap_or_default()
                .split(',')
                .filter_map(zone_from_seed)
                .collect(),
            resolvers,
        }
    }
}

/// The zone this node serves, as the reference derives it.
fn served_zone() -> Option<String> {
    [
        "DMP_SERVED_ZONE",
        "DMP_CLAIM_PROVIDER_ZONE",
        "DMP_CLUSTER_BASE_DOMAIN",
        "DMP_DOMAIN",
        "DMP_NODE_HOSTNAME",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .map(|z| z.trim().trim_end_matches('.').to_ascii_lowercase())
    .find(|z| !z.is_empty())
}

fn truthy(key: &str) -> bool {
    std::env::var(key)
        .map(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
        .unwrap_or(false)
}

/// Read the operator seed: 32 raw bytes or 64 hex characters.
pub fn load_seed(path: &std::path::Path) -> Result<[u8; 32], String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if raw.len() == 32 {
        let mut out = [0u8; 32];
        out.copy_from_slice(&raw);
        return Ok(out);
    }
    std::str::from_utf8(&raw)
        .ok()
        .and_then(super::decode_hex32)
        .ok_or_else(|| {
            format!(
                "{}: neither 32 raw bytes nor 64 hex characters",
                path.display()
            )
        })
}

struct Heartbeat {
    state: AppState,
    signer: Signer25519,
    endpoint: String,
    zone: String,
    version: String,
    capabilities: u16,
    claim_zone: String,
    cfg: HeartbeatConfig,
    /// Our wire currently stored (replaced next tick).
    last_own: Option<String>,
    swept: bool,
    /// Heartbeats of other nodes: wire by operator key, freshest kept.
    seen: BTreeMap<[u8; 32], (u64, String)>,
    last_seen: BTreeSet<String>,
}

/// Start the heartbeat when enabled and fully configured.
pub fn start(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let cfg = state.sync().config().heartbeat.clone();
    if !cfg.enabled {
        return None;
    }
    let Some(endpoint) = cfg.self_endpoint.clone() else {
        tracing::error!(
            "DMP_HEARTBEAT_ENABLED but DMP_HEARTBEAT_SELF_ENDPOINT is unset; heartbeat off"
        );
        return None;
    };
    if let Err(e) = dmp_core::records::heartbeat::validate_endpoint(&endpoint) {
        tracing::error!(endpoint = %endpoint, error = %e, "DMP_HEARTBEAT_SELF_ENDPOINT is not a public http(s) URL without a path; heartbeat off");
        return None;
    }
    let Some(path) = cfg.key_path.clone() else {
        tracing::error!(
            "DMP_HEARTBEAT_ENABLED but DMP_HEARTBEAT_OPERATOR_KEY_PATH is unset; heartbeat off"
        );
        return None;
    };
    let seed = match load_seed(&path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "heartbeat operator key unreadable; heartbeat off");
            return None;
        }
    };
    let Some(zone) = served_zone() else {
        tracing::error!(
            "heartbeat needs a zone (DMP_SERVED_ZONE, DMP_CLUSTER_BASE_DOMAIN or DMP_DOMAIN); heartbeat off"
        );
        return None;
    };
    let claim = truthy("DMP_DNS_UPDATE_ENABLED")
        && !std::env::var("DMP_CLAIM_PROVIDER")
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "0" | "false" | "no" | "off"
                )
            })
            .unwrap_or(false);
    let mut hb = Heartbeat {
        state: state.clone(),
        signer: Signer25519::from_seed(&seed),
        endpoint,
        version: cfg
            .version
            .clone()
            .unwrap_or_else(|| crate::VERSION.to_string()),
        capabilities: if claim { CAP_CLAIM_PROVIDER } else { 0 },
        claim_zone: if claim { zone.clone() } else { String::new() },
        zone,
        cfg,
        last_own: None,
        swept: false,
        seen: BTreeMap::new(),
        last_seen: BTreeSet::new(),
    };
    Some(tokio::spawn(async move {
        tracing::info!(zone = %hb.zone, endpoint = %hb.endpoint, "heartbeat started");
        let mut tick = tokio::time::interval(hb.cfg.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = hb.publish_own().await {
                tracing::warn!(error = %e, "heartbeat publish failed");
            }
            hb.harvest().await;
            if let Err(e) = hb.publish_seen().await {
                tracing::warn!(error = %e, "seen-graph publish failed");
            }
        }
    }))
}

impl Heartbeat {
    async fn apply(&self, ops: Vec<(String, String, Option<u32>)>) -> Result<(), String> {
        if ops.is_empty() {
            return Ok(());
        }
        let store = Arc::clone(self.state.store());
        tokio::task::spawn_blocking(move || {
            let ops: Vec<Op<'_>> = ops
                .iter()
                .map(|(n, v, ttl)| match ttl {
                    Some(ttl) => Op::Publish {
                        name: n,
                        value: v,
                        ttl: *ttl,
                    },
                    None => Op::DeleteValue { name: n, value: v },
                })
                .collect();
            store.apply(&ops, unix_now_ms()).map(|_| ())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    async fn publish_own(&mut self) -> Result<(), String> {
        let now = unix_now_ms() / 1000;
        let rec = HeartbeatRecord {
            endpoint: self.endpoint.clone(),
            operator_spk: self.signer.public(),
            version: self.version.clone(),
            capabilities: self.capabilities,
            claim_provider_zone: self.claim_zone.clone(),
            ts: now,
            exp: now + self.cfg.ttl,
        };
        let wire = rec.to_wire(&self.signer).map_err(|e| e.to_string())?;
        let name = dmp_core::names::heartbeat_name(&self.zone).map_err(|e| e.to_string())?;
        let mut ops = Vec::new();
        // Only our own earlier wires go; sibling nodes sharing the zone keep
        // theirs. On the first tick that includes wires a previous run left.
        if !self.swept {
            for v in self.state.store().get(&name, unix_now_ms()) {
                let ours = HeartbeatRecord::parse_and_verify_with_skew(&v, 1_000_000_000, now)
                    .is_ok_and(|r| {
                        r.operator_spk == self.signer.public() && r.endpoint == self.endpoint
                    });
                if ours && *v != *wire {
                    ops.push((name.clone(), v.to_string(), None));
                }
            }
            self.swept = true;
        }
        if let Some(old) = self.last_own.take()
            && old != wire
        {
            ops.push((name.clone(), old, None));
        }
        let ttl = u32::try_from(self.cfg.ttl).unwrap_or(u32::MAX);
        ops.push((name.clone(), wire.clone(), Some(ttl)));
        self.apply(ops).await?;
        tracing::info!(owner = %name, "heartbeat published");
        self.last_own = Some(wire);
        Ok(())
    }

    async fn harvest(&mut self) {
        if self.cfg.resolvers.is_empty() || self.cfg.seeds.is_empty() {
            return;
        }
        let now = unix_now_ms() / 1000;
        let own = self.signer.public();
        for zone in self.cfg.seeds.clone() {
            for owner in [
                dmp_core::names::heartbeat_name(&zone),
                dmp_core::names::seen_name(&zone),
            ]
            .into_iter()
            .flatten()
            {
                let values = match self.query(&owner).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::info!(owner = %owner, error = %e, "heartbeat harvest query failed");
                        continue;
                    }
                };
                for wire in values.into_iter().take(MAX_PER_RRSET) {
                    let Ok(rec) = HeartbeatRecord::parse_and_verify(&wire, now) else {
                        continue;
                    };
                    if rec.operator_spk == own {
                        continue;
                    }
                    let fresher = self
                        .seen
                        .get(&rec.operator_spk)
                        .is_none_or(|(ts, _)| rec.ts > *ts);
                    if fresher {
                        self.seen.insert(rec.operator_spk, (rec.ts, wire));
                    }
                }
            }
        }
        // Forget heartbeats that have expired.
        self.seen.retain(|_, (_, w)| {
            HeartbeatRecord::parse_and_verify_with_skew(w, 1_000_000_000, now).is_ok()
        });
    }

    /// One TXT query over UDP to the first resolver that answers.
    async fn query(&self, owner: &str) -> Result<Vec<String>, String> {
        let mut last = String::from("no resolver answered");
        for server in &self.cfg.resolvers {
            let id = (unix_now_ms() & 0xffff) as u16;
            let q = dmp_core::dns::client::build_txt_query(id, owner, true, Some(4096))
                .map_err(|e| e.to_string())?;
            let bind: SocketAddr = if server.is_ipv4() {
                "0.0.0.0:0".parse().map_err(|_| "bind".to_string())?
            } else {
                "[::]:0".parse().map_err(|_| "bind".to_string())?
            };
            let sock = tokio::net::UdpSocket::bind(bind)
                .await
                .map_err(|e| e.to_string())?;
            if let Err(e) = sock.send_to(&q, server).await {
                last = e.to_string();
                continue;
            }
            let mut buf = vec![0u8; 65_535];
            match tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    let Some(packet) = buf.get(..n) else { continue };
                    match dmp_core::dns::client::parse_txt_response(packet) {
                        Ok(r) if r.id == id => return Ok(r.values),
                        Ok(_) => last = "mismatched response id".into(),
                        Err(e) => last = e.to_string(),
                    }
                }
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = format!("{server}: timed out"),
            }
        }
        Err(last)
    }

    async fn publish_seen(&mut self) -> Result<(), String> {
        let name = dmp_core::names::seen_name(&self.zone).map_err(|e| e.to_string())?;
        let mut fresh: Vec<&(u64, String)> = self.seen.values().collect();
        fresh.sort_by_key(|e| std::cmp::Reverse(e.0));
        let next: BTreeSet<String> = fresh
            .into_iter()
            .take(MAX_SEEN)
            .map(|(_, w)| w.clone())
            .collect();
        let ttl = u32::try_from(self.cfg.ttl).unwrap_or(u32::MAX);
        let mut ops: Vec<(String, String, Option<u32>)> = self
            .last_seen
            .difference(&next)
            .map(|w| (name.clone(), w.clone(), None))
            .collect();
        ops.extend(next.iter().map(|w| (name.clone(), w.clone(), Some(ttl))));
        self.apply(ops).await?;
        self.last_seen = next;
        Ok(())
    }
}
