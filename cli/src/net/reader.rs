//! TXT reads: a resolver pool over UDP/TCP upstreams (PROTOCOL.md §9,
//! decisions in `dmp_core::client::resolver`) or a DoH endpoint.

use super::dns::{classify, query_txt_dnssec};
use super::http::post_bytes;
use crate::rng::now;
use dmp_core::client::cluster::{ClusterView, UnionRead};
use dmp_core::client::resolver::{Reply, ResolverPool, Step, has_dmp_value};
use dmp_core::dns::client::{build_txt_query, parse_txt_response};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// One upstream of the pool.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub addr: SocketAddr,
    /// As the user wrote it (for messages).
    pub label: String,
}

/// Where reads go.
pub enum Reader {
    Pool {
        upstreams: Vec<Upstream>,
        pool: Mutex<ResolverPool>,
        timeout: Duration,
        /// Require the AD flag (config `dnssec_required`).
        dnssec: bool,
    },
    Doh {
        url: String,
        timeout: Duration,
    },
    /// Cluster mode (PROTOCOL.md §9 composite reader): names under the
    /// cluster base are read from every node and merged; all other names
    /// go to `external`.
    Cluster {
        external: Box<Reader>,
        view: ClusterView,
        /// `(node_id, its DNS endpoint)`; None reads through `external`.
        nodes: Vec<(String, Option<SocketAddr>)>,
        timeout: Duration,
    },
}

/// Lookups in flight at once during a batch.
const PARALLEL: usize = 8;

impl Reader {
    pub fn pool(upstreams: Vec<Upstream>, timeout: Duration, dnssec: bool) -> Reader {
        let pool = Mutex::new(ResolverPool::new(upstreams.len()));
        Reader::Pool {
            upstreams,
            pool,
            timeout,
            dnssec,
        }
    }

    /// Short description for `doctor` and errors.
    pub fn describe(&self) -> String {
        match self {
            Reader::Pool { upstreams, .. } => {
                let l: Vec<&str> = upstreams.iter().map(|u| u.label.as_str()).collect();
                format!("DNS via {}", l.join(", "))
            }
            Reader::Doh { url, .. } => format!("DoH via {url}"),
            Reader::Cluster { external, view, .. } => format!(
                "cluster {} ({} nodes), other names via {}",
                view.base(),
                view.nodes().len(),
                external.describe()
            ),
        }
    }

    /// Cluster mode over `external` with the verified `view`.
    pub fn cluster(external: Reader, view: ClusterView, timeout: Duration) -> Reader {
        let nodes = view
            .nodes()
            .iter()
            .map(|n| {
                let addr = n
                    .dns_endpoint
                    .as_deref()
                    .and_then(|e| super::resolve_host(e, 53).ok())
                    .and_then(|a| a.into_iter().next());
                (n.node_id.clone(), addr)
            })
            .collect();
        Reader::Cluster {
            external: Box::new(external),
            view,
            nodes,
            timeout,
        }
    }

    fn union_read(
        external: &Reader,
        view: &ClusterView,
        nodes: &[(String, Option<SocketAddr>)],
        timeout: Duration,
        name: &str,
    ) -> Vec<String> {
        let read = Mutex::new(UnionRead::new(view, name));
        std::thread::scope(|s| {
            for (id, addr) in nodes {
                let read = &read;
                s.spawn(move || {
                    let result = match addr {
                        Some(a) => match classify(super::dns::query_txt(*a, name, timeout).map_err(|e| {
                            tracing::debug!(node = %id, %name, error = %e, "cluster read failed");
                            e
                        })) {
                            Reply::Answer(v) => Ok(v),
                            Reply::NotFound => Ok(Vec::new()),
                            Reply::Failed => Err("no answer"),
                        },
                        None => Ok(external.txt(name)),
                    };
                    let mut r = read.lock().unwrap_or_else(|p| p.into_inner());
                    match result {
                        Ok(v) => r.answer(id, &v),
                        Err(why) => r.fail(id, why),
                    }
                });
            }
        });
        read.into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .finish()
            .unwrap_or_default()
    }

    /// The TXT values at `name` (strings joined); empty when the name holds
    /// no DMP data or no upstream could answer.
    pub fn txt(&self, name: &str) -> Vec<String> {
        match self {
            Reader::Pool {
                upstreams,
                pool,
                timeout,
                dnssec,
            } => {
                let lock = || pool.lock().unwrap_or_else(|p| p.into_inner());
                let mut lookup = lock().begin(now());
                let mut reply: Option<Reply> = None;
                let lies = |p: &ResolverPool| -> Vec<u64> {
                    (0..p.len())
                        .map(|i| p.health(i).map_or(0, |h| h.lies))
                        .collect()
                };
                loop {
                    let (step, disproven) = {
                        let mut p = lock();
                        let before = lies(&p);
                        let step = p.next(&mut lookup, reply.take(), now());
                        let after = lies(&p);
                        let d: Vec<usize> = (0..after.len())
                            .filter(|&i| after.get(i) > before.get(i))
                            .collect();
                        (step, d)
                    };
                    for i in disproven {
                        if let Some(u) = upstreams.get(i) {
                            tracing::warn!(
                                "resolver {} gave no DMP data for {name} but another resolver had it; \
                                 demoted for 60 s (lying, filtering or stale)",
                                u.label
                            );
                        }
                    }
                    match step {
                        Step::Done(v) => return v,
                        Step::Query(i) => {
                            let r = match upstreams.get(i) {
                                Some(u) => {
                                    let res = query_txt_dnssec(u.addr, name, *timeout, *dnssec);
                                    match res {
                                        Err(e) => {
                                            tracing::debug!(upstream = %u.label, %name, error = %e, "DNS query failed");
                                            Reply::Failed
                                        }
                                        // Validated answers only: an AD-less
                                        // answer (positive or negative) is
                                        // as good as forged.
                                        Ok((_, false)) if *dnssec => {
                                            tracing::warn!(upstream = %u.label, %name, "answer without the DNSSEC AD flag dropped (dnssec_required)");
                                            Reply::Failed
                                        }
                                        Ok((r, _)) => classify(Ok(r)),
                                    }
                                }
                                None => Reply::Failed,
                            };
                            reply = Some(r);
                        }
                    }
                }
            }
            Reader::Cluster {
                external,
                view,
                nodes,
                timeout,
            } => {
                if view.routes_here(name) {
                    Self::union_read(external, view, nodes, *timeout, name)
                } else {
                    external.txt(name)
                }
            }
            Reader::Doh { url, timeout } => {
                let Ok(q) = build_txt_query(0, name, true, None) else {
                    return Vec::new();
                };
                match post_bytes(url, "application/dns-message", &q, *timeout) {
                    Ok((200, body)) => match parse_txt_response(&body) {
                        Ok(r) if r.rcode == 0 && has_dmp_value(&r.values) => r.values,
                        _ => Vec::new(),
                    },
                    Ok((status, _)) => {
                        tracing::debug!(%url, status, "DoH query refused");
                        Vec::new()
                    }
                    Err(e) => {
                        tracing::debug!(%url, error = %e, "DoH query failed");
                        Vec::new()
                    }
                }
            }
        }
    }

    /// Resolve several names concurrently; results in input order.
    pub fn txt_many(&self, names: &[String]) -> Vec<Vec<String>> {
        if names.len() <= 1 {
            return names.iter().map(|n| self.txt(n)).collect();
        }
        let mut out: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = Mutex::new(&mut out);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(names.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else { break };
                        let v = self.txt(name);
                        let mut g = results.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(slot) = g.get_mut(i) {
                            *slot = v;
                        }
                    }
                });
            }
        });
        out
    }

    /// True when lookups were made and no upstream ever answered (all
    /// timed out or failed): the network or the resolver config is broken,
    /// which an empty mailbox must not hide.
    pub fn nothing_answered(&self) -> bool {
        match self {
            Reader::Pool { pool, .. } => {
                let p = pool.lock().unwrap_or_else(|p| p.into_inner());
                let h: Vec<_> = (0..p.len()).filter_map(|i| p.health(i)).collect();
                h.iter().all(|h| h.successes == 0) && h.iter().any(|h| h.failures > 0)
            }
            Reader::Doh { .. } => false,
            Reader::Cluster { external, .. } => external.nothing_answered(),
        }
    }

    /// Per-upstream health lines: label, cooling, counters.
    pub fn health(&self) -> Vec<String> {
        match self {
            Reader::Pool {
                upstreams, pool, ..
            } => {
                let p = pool.lock().unwrap_or_else(|p| p.into_inner());
                upstreams
                    .iter()
                    .enumerate()
                    .map(|(i, u)| {
                        let h = p.health(i).cloned().unwrap_or_default();
                        format!(
                            "{} ok={} failed={} disproven={}{}",
                            u.label,
                            h.successes,
                            h.failures,
                            h.lies,
                            if p.is_cooling(i, now()) {
                                " (demoted)"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect()
            }
            Reader::Doh { url, .. } => vec![url.clone()],
            Reader::Cluster { external, .. } => external.health(),
        }
    }
}
