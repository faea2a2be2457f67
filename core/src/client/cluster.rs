//! Cluster-mode client logic (PROTOCOL.md §8, §9), sans-IO: which nodes to
//! talk to, when a fan-out write has succeeded, how union reads merge, when
//! a manifest refresh is accepted, and the two-hop bootstrap trust chain
//! (zone operator's bootstrap record → cluster operator's manifest).
//!
//! The front end does the I/O: it resolves TXT names, sends HTTP writes to
//! the nodes this module lists, reports each outcome back, and decides the
//! deadline. Nothing here reads a clock (`now` is passed in).
//!
//! Flow of a cluster-mode client:
//!
//! 1. Trust: pin the cluster operator key out of band, or pin the zone
//!    operator's bootstrap key and walk [`BootstrapWalk`] (query
//!    `_dmp.<user domain>`, pick the record with [`select_bootstrap`], then
//!    for each entry query `cluster.<base>` and feed the answer back).
//! 2. [`ClusterView::install`] verifies a manifest and lists the nodes.
//! 3. Writes: [`WritePlan`] per publish/delete; send to
//!    [`WritePlan::targets`], report [`WritePlan::ack`] / [`WritePlan::fail`],
//!    stop as soon as [`WritePlan::outcome`] is decided, or call
//!    [`WritePlan::finish`] at the deadline.
//! 4. Reads of names under the cluster base ([`ClusterView::routes_here`]):
//!    [`UnionRead`] over every node; other names go to ordinary DNS.
//! 5. Refresh: periodically query `cluster.<base>` and call
//!    [`ClusterView::refresh`]; it swaps only to a strictly higher seq.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::names::{bootstrap_name, cluster_manifest_name, dns_name_eq, is_under_zone};
use crate::records::bootstrap::{BootstrapEntry, BootstrapRecord, best_bootstrap_record};
use crate::records::cluster::{ClusterManifest, ClusterNode};

/// Why a manifest cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterError {
    /// No value at `cluster.<base>` verified under the operator key (and
    /// bound to the base domain).
    NoValidManifest,
    /// The manifest's `exp` has passed.
    Expired { exp: u64 },
    /// The manifest lists no node.
    NoNodes,
    /// A node's endpoint is unusable (the whole manifest is refused, so a
    /// refresh never half-applies).
    BadEndpoint {
        node_id: String,
        reason: &'static str,
    },
    /// A refresh offered nothing newer than the installed manifest.
    NotNewer { installed: u64, offered: u64 },
    /// The base domain is not a valid DNS name.
    BadBase,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::NoValidManifest => f.write_str(
                "no cluster manifest verifies under the pinned operator key for this base domain",
            ),
            ClusterError::Expired { exp } => write!(f, "the cluster manifest expired at {exp}"),
            ClusterError::NoNodes => f.write_str("the cluster manifest lists no nodes"),
            ClusterError::BadEndpoint { node_id, reason } => {
                write!(f, "node {node_id}: {reason}")
            }
            ClusterError::NotNewer { installed, offered } => write!(
                f,
                "manifest seq {offered} is not newer than the installed seq {installed}"
            ),
            ClusterError::BadBase => f.write_str("the cluster base domain is not a valid name"),
        }
    }
}

/// Check that a node can be talked to: an `http://` or `https://` write
/// endpoint with a host, and a DNS endpoint (when present) of the form
/// `host` or `host:port`.
pub fn check_node(node: &ClusterNode) -> Result<(), ClusterError> {
    let bad = |reason| ClusterError::BadEndpoint {
        node_id: node.node_id.clone(),
        reason,
    };
    let rest = node
        .http_endpoint
        .strip_prefix("https://")
        .or_else(|| node.http_endpoint.strip_prefix("http://"))
        .ok_or_else(|| bad("http_endpoint must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("http_endpoint has no usable host"));
    }
    if let Some(dns) = &node.dns_endpoint {
        let (h, port) = match dns.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, after)) => (h, after.strip_prefix(':')),
                None => return Err(bad("dns_endpoint has an unclosed [")),
            },
            None => match dns.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (dns.as_str(), None),
            },
        };
        if h.is_empty() || h.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("dns_endpoint has no usable host"));
        }
        if let Some(p) = port
            && p.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(bad("dns_endpoint port must be 1..65535"));
        }
    }
    Ok(())
}

/// The write quorum for `n` nodes: `ceil(n / 2)` (0 for an empty cluster).
pub fn quorum(n: usize) -> usize {
    n.div_ceil(2)
}

/// A verified cluster manifest in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterView {
    base: String,
    operator_spk: [u8; 32],
    manifest: ClusterManifest,
}

impl ClusterView {
    /// The TXT name to query for the manifest of `base`.
    pub fn manifest_name(base: &str) -> Result<String, ClusterError> {
        cluster_manifest_name(base).map_err(|_| ClusterError::BadBase)
    }

    /// Pick and verify the manifest among the values found at
    /// `cluster.<base>`: the highest seq that verifies under
    /// `operator_spk` and is bound to `base`; refused when expired, empty,
    /// or any node endpoint is unusable.
    pub fn install<'a, I>(
        wires: I,
        operator_spk: &[u8; 32],
        base: &str,
        now: u64,
    ) -> Result<Self, ClusterError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let manifest =
            crate::records::cluster::best_cluster_manifest(wires, operator_spk, Some(base), now)
                .ok_or(ClusterError::NoValidManifest)?;
        Self::from_verified(manifest, *operator_spk, base, now)
    }

    /// Use a manifest that was verified by the caller (under
    /// `operator_spk`, bound to `base`).
    pub fn from_verified(
        manifest: ClusterManifest,
        operator_spk: [u8; 32],
        base: &str,
        now: u64,
    ) -> Result<Self, ClusterError> {
        if manifest.is_expired(now) {
            return Err(ClusterError::Expired { exp: manifest.exp });
        }
        if manifest.nodes.is_empty() {
            return Err(ClusterError::NoNodes);
        }
        for n in &manifest.nodes {
            check_node(n)?;
        }
        Ok(ClusterView {
            base: base.trim_end_matches('.').to_ascii_lowercase(),
            operator_spk,
            manifest,
        })
    }

    /// The base domain.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The pinned operator key.
    pub fn operator_spk(&self) -> &[u8; 32] {
        &self.operator_spk
    }

    /// The manifest in use.
    pub fn manifest(&self) -> &ClusterManifest {
        &self.manifest
    }

    /// Its sequence number.
    pub fn seq(&self) -> u64 {
        self.manifest.seq
    }

    /// The nodes, in manifest order.
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.manifest.nodes
    }

    /// Acks a write needs: `ceil(N / 2)`.
    pub fn quorum(&self) -> usize {
        quorum(self.manifest.nodes.len())
    }

    /// Whether reads of `name` go to the cluster (the base or a name under
    /// it, case-insensitive, label boundaries respected) rather than to
    /// ordinary DNS.
    pub fn routes_here(&self, name: &str) -> bool {
        is_under_zone(name, &self.base)
    }

    /// Whether the manifest is past its `exp` (time to refresh).
    pub fn is_expired(&self, now: u64) -> bool {
        self.manifest.is_expired(now)
    }

    /// Atomic refresh from the values at `cluster.<base>`: replaces the
    /// view only with a verifying, unexpired manifest with a strictly
    /// higher seq whose every node is usable; otherwise the view is left
    /// exactly as it was and the reason is returned. Returns the previous
    /// seq on success.
    pub fn refresh<'a, I>(&mut self, wires: I, now: u64) -> Result<u64, ClusterError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let next = Self::install(wires, &self.operator_spk, &self.base, now)?;
        if next.seq() <= self.seq() {
            return Err(ClusterError::NotNewer {
                installed: self.seq(),
                offered: next.seq(),
            });
        }
        let previous = self.seq();
        *self = next;
        Ok(previous)
    }
}

// ---------------------------------------------------------------- writes

/// How a fan-out write stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Not decided yet: keep waiting (or call [`WritePlan::finish`] at the
    /// deadline).
    Pending,
    /// Quorum reached; the caller may return success now.
    Succeeded,
    /// Quorum can no longer be reached (too many failures).
    Failed,
}

/// A write that did not reach quorum, naming every node that did not ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumError {
    pub needed: usize,
    pub acked: usize,
    pub total: usize,
    /// `(node_id, reason)` for each node that failed or did not answer.
    pub failures: Vec<(String, String)>,
}

impl fmt::Display for QuorumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "write reached {} of {} nodes, {} needed",
            self.acked, self.total, self.needed
        )?;
        for (i, (node, why)) in self.failures.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{node}: {why}")?;
        }
        Ok(())
    }
}

/// The result of a successful write: who acked and who did not (a write
/// that succeeds on quorum may still have failed on some nodes; anti-entropy
/// repairs them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteReport {
    pub acked: Vec<String>,
    pub failures: Vec<(String, String)>,
}

/// Tracks one publish or delete fanned out to every node.
#[derive(Clone, Debug)]
pub struct WritePlan {
    targets: Vec<ClusterNode>,
    needed: usize,
    acked: BTreeSet<String>,
    failed: Vec<(String, String)>,
}

impl WritePlan {
    /// A write to every node of `view`.
    pub fn new(view: &ClusterView) -> Self {
        WritePlan {
            targets: view.nodes().to_vec(),
            needed: view.quorum(),
            acked: BTreeSet::new(),
            failed: Vec::new(),
        }
    }

    /// The nodes to send the write to (all of them, at once).
    pub fn targets(&self) -> &[ClusterNode] {
        &self.targets
    }

    /// Acks needed.
    pub fn needed(&self) -> usize {
        self.needed
    }

    fn known_and_open(&self, node_id: &str) -> bool {
        self.targets.iter().any(|n| n.node_id == node_id)
            && !self.acked.contains(node_id)
            && !self.failed.iter().any(|(n, _)| n == node_id)
    }

    /// Record a success (HTTP 201/204) from `node_id`. Unknown ids and
    /// repeated reports are ignored.
    pub fn ack(&mut self, node_id: &str) {
        if self.known_and_open(node_id) {
            self.acked.insert(node_id.into());
        }
    }

    /// Record a failure from `node_id` with a reason for the user.
    pub fn fail(&mut self, node_id: &str, reason: &str) {
        if self.known_and_open(node_id) {
            self.failed.push((node_id.into(), reason.into()));
        }
    }

    /// Decided yet? Success as soon as quorum acks are in; failure as soon
    /// as too many nodes failed for quorum to be possible.
    pub fn outcome(&self) -> WriteOutcome {
        if self.acked.len() >= self.needed {
            WriteOutcome::Succeeded
        } else if self.targets.len() - self.failed.len() < self.needed {
            WriteOutcome::Failed
        } else {
            WriteOutcome::Pending
        }
    }

    /// Close the write (at the deadline, or once decided): nodes that never
    /// answered count as failed with "no answer before the deadline".
    pub fn finish(self) -> Result<WriteReport, QuorumError> {
        let mut failures = self.failed;
        for n in &self.targets {
            if !self.acked.contains(&n.node_id) && !failures.iter().any(|(id, _)| *id == n.node_id)
            {
                failures.push((n.node_id.clone(), "no answer before the deadline".into()));
            }
        }
        if self.acked.len() >= self.needed {
            Ok(WriteReport {
                acked: self.acked.into_iter().collect(),
                failures,
            })
        } else {
            Err(QuorumError {
                needed: self.needed,
                acked: self.acked.len(),
                total: self.targets.len(),
                failures,
            })
        }
    }
}

// ---------------------------------------------------------------- reads

/// A read of one name from every node, merged.
#[derive(Clone, Debug)]
pub struct UnionRead {
    name: String,
    pending: BTreeSet<String>,
    values: Vec<String>,
    failures: Vec<(String, String)>,
}

impl UnionRead {
    /// Read `name` from every node of `view`.
    pub fn new(view: &ClusterView, name: &str) -> Self {
        UnionRead {
            name: name.into(),
            pending: view.nodes().iter().map(|n| n.node_id.clone()).collect(),
            values: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The name read.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Nodes that have not answered yet.
    pub fn pending(&self) -> impl Iterator<Item = &str> {
        self.pending.iter().map(String::as_str)
    }

    /// A node's answer (empty for NXDOMAIN / no data, which is healthy).
    /// Values are merged in arrival order, exact duplicates dropped.
    pub fn answer<S: AsRef<str>>(&mut self, node_id: &str, values: &[S]) {
        if !self.pending.remove(node_id) {
            return;
        }
        for v in values {
            let v = v.as_ref();
            if !self.values.iter().any(|x| x == v) {
                self.values.push(v.to_string());
            }
        }
    }

    /// A node that could not be read (timeout, transport error).
    pub fn fail(&mut self, node_id: &str, reason: &str) {
        if self.pending.remove(node_id) {
            self.failures.push((node_id.into(), reason.into()));
        }
    }

    /// Every node answered or failed.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Nodes that failed so far.
    pub fn failures(&self) -> &[(String, String)] {
        &self.failures
    }

    /// The union (at the deadline, pending nodes simply contribute
    /// nothing). `None` when no node had a value.
    pub fn finish(self) -> Option<Vec<String>> {
        (!self.values.is_empty()).then_some(self.values)
    }
}

// ---------------------------------------------------------------- bootstrap

/// The TXT name of the bootstrap record of `user_domain`.
pub fn bootstrap_query(user_domain: &str) -> Result<String, ClusterError> {
    bootstrap_name(user_domain).map_err(|_| ClusterError::BadBase)
}

/// The bootstrap record to use among the values at `_dmp.<user_domain>`:
/// the highest seq that verifies under the zone operator's pinned
/// `signer_spk` and names `user_domain`.
pub fn select_bootstrap<'a, I>(
    wires: I,
    signer_spk: &[u8; 32],
    user_domain: &str,
    now: u64,
) -> Option<BootstrapRecord>
where
    I: IntoIterator<Item = &'a str>,
{
    best_bootstrap_record(wires, signer_spk, Some(user_domain), now)
}

/// Why a bootstrap walk found no usable cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapError {
    /// `(cluster base, why)` for every entry tried, in priority order.
    pub tried: Vec<(String, ClusterError)>,
}

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no cluster of the bootstrap record is usable")?;
        for (i, (base, why)) in self.tried.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{base}: {why}")?;
        }
        Ok(())
    }
}

/// The second hop of the trust chain: walk a verified bootstrap record's
/// entries in priority order; for each, the cluster manifest at
/// `cluster.<base>` must verify under the operator key the bootstrap entry
/// names. The first usable cluster wins.
#[derive(Clone, Debug)]
pub struct BootstrapWalk {
    record: BootstrapRecord,
    next: usize,
    tried: Vec<(String, ClusterError)>,
}

/// What a [`BootstrapWalk`] wants next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootstrapStep {
    /// Resolve this TXT name and pass the values to
    /// [`BootstrapWalk::answer`].
    Query(String),
    /// The cluster to use, with the entry that vouched for it (pin
    /// `(entry.cluster_base_domain, entry.operator_spk)`).
    Done(BootstrapEntry, ClusterView),
    /// Every entry failed.
    Failed(BootstrapError),
}

impl BootstrapWalk {
    /// Walk `record` (already verified, e.g. by [`select_bootstrap`]).
    pub fn new(record: BootstrapRecord) -> Self {
        BootstrapWalk {
            record,
            next: 0,
            tried: Vec::new(),
        }
    }

    fn current(&self) -> Option<&BootstrapEntry> {
        self.record.entries.get(self.next)
    }

    /// The next step: a query for the current entry's manifest, or the end
    /// of the walk.
    pub fn step(&mut self) -> BootstrapStep {
        loop {
            let Some(entry) = self.current() else {
                return BootstrapStep::Failed(BootstrapError {
                    tried: self.tried.clone(),
                });
            };
            match ClusterView::manifest_name(&entry.cluster_base_domain) {
                Ok(name) => return BootstrapStep::Query(name),
                Err(e) => {
                    self.tried.push((entry.cluster_base_domain.clone(), e));
                    self.next += 1;
                }
            }
        }
    }

    /// The values found for the last [`BootstrapStep::Query`]: returns
    /// [`BootstrapStep::Done`] when this entry's cluster is usable,
    /// otherwise moves on and returns the next step.
    pub fn answer<S: AsRef<str>>(&mut self, values: &[S], now: u64) -> BootstrapStep {
        let Some(entry) = self.current().cloned() else {
            return self.step();
        };
        let result = ClusterView::install(
            values.iter().map(AsRef::as_ref),
            &entry.operator_spk,
            &entry.cluster_base_domain,
            now,
        );
        match result {
            Ok(view) => BootstrapStep::Done(entry, view),
            Err(e) => {
                self.tried.push((entry.cluster_base_domain.clone(), e));
                self.next += 1;
                self.step()
            }
        }
    }
}

/// The whole two-hop chain over answers fetched up front: pick the
/// bootstrap record at `_dmp.<user_domain>` (verified under `signer_spk`),
/// then the first entry whose cluster manifest (looked up in `lookup` by
/// name) verifies under that entry's operator key.
pub fn resolve_bootstrap<'a, F>(
    bootstrap_values: &[&str],
    signer_spk: &[u8; 32],
    user_domain: &str,
    mut lookup: F,
    now: u64,
) -> Result<(BootstrapEntry, ClusterView), BootstrapError>
where
    F: FnMut(&str) -> Vec<&'a str>,
{
    let record = select_bootstrap(
        bootstrap_values.iter().copied(),
        signer_spk,
        user_domain,
        now,
    )
    .ok_or_else(|| BootstrapError {
        tried: alloc::vec![(format!("_dmp.{user_domain}"), ClusterError::NoValidManifest)],
    })?;
    let mut walk = BootstrapWalk::new(record);
    let mut step = walk.step();
    loop {
        match step {
            BootstrapStep::Query(name) => {
                let values = lookup(&name);
                step = walk.answer(&values, now);
            }
            BootstrapStep::Done(entry, view) => return Ok((entry, view)),
            BootstrapStep::Failed(e) => return Err(e),
        }
    }
}

/// Whether two base domains name the same cluster (case-insensitive,
/// trailing dot ignored): for checking a pin against a bootstrap entry.
pub fn same_base(a: &str, b: &str) -> bool {
    dns_name_eq(a, b)
}
