//! Cluster manifest (`v=dmp1;t=cluster;`, PROTOCOL.md §2.5): the operator-
//! signed list of nodes that serve one cluster, published at
//! `cluster.<cluster_name>`.
//!
//! Unlike the self-authenticating records, the signature is checked against
//! the caller's pinned operator key *before* the body is parsed.

use alloc::string::String;
use alloc::vec::Vec;

use crate::crypto::{Signer25519, split_signature, verify};
use crate::error::{Error, Result};
use crate::names::{dns_name_eq, validate_dns_name_capped};
use crate::wire::{PREFIX_CLUSTER, Reader, SIGNED_RECORD_WIRE_CAP, b64_decode_strict, b64_encode};

/// Body magic (shared, byte for byte, with the claim record: dispatch on the
/// prefix, never on this).
pub const MAGIC: &[u8; 7] = b"DMPCL01";
pub const MAX_NODE_ID_LEN: usize = 16;
pub const MAX_HTTP_ENDPOINT_LEN: usize = 128;
pub const MAX_DNS_ENDPOINT_LEN: usize = 64;
pub const MAX_NODE_COUNT: usize = 32;
/// Far-future cap on `exp` shared by cluster, bootstrap and rotation: 5·365 days.
pub const MAX_EXP_FUTURE_SECS: u64 = 5 * 365 * 86_400;
/// Smallest decoded blob the parser looks at: magic plus signature.
const MIN_BLOB: usize = MAGIC.len() + 64;

/// One node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Stable ASCII handle (1..16 bytes), unique within the manifest.
    pub node_id: String,
    /// The node's HTTP write API, e.g. `https://n1.example.com:8053` (1..128 bytes).
    pub http_endpoint: String,
    /// The node's own DNS read port, e.g. `203.0.113.10:53`; `None` means
    /// "read through ordinary DNS" and is written as a zero length.
    pub dns_endpoint: Option<String>,
}

/// A signed cluster manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterManifest {
    /// The cluster's base domain, normalized (no trailing dot) once signed or parsed.
    pub cluster_name: String,
    /// The operator key; must equal the signing key.
    pub operator_spk: [u8; 32],
    pub nodes: Vec<ClusterNode>,
    /// Monotonic version: among verifying manifests, the highest wins.
    pub seq: u64,
    /// Unix seconds after which the manifest is stale.
    pub exp: u64,
}

/// Check prefix, wire cap and strict base64 of a capped signed record, and
/// return the decoded blob (steps 1–3 of every capped record's parse).
pub(crate) fn decode_capped_wire(wire: &str, prefix: &str) -> Result<Vec<u8>> {
    let b64 = wire.strip_prefix(prefix).ok_or(Error::Prefix)?;
    if wire.len() > SIGNED_RECORD_WIRE_CAP {
        return Err(Error::TooLong {
            cap: SIGNED_RECORD_WIRE_CAP,
        });
    }
    b64_decode_strict(b64)
}

/// `prefix ‖ b64(blob)`, refused when longer than the 1200-byte cap.
pub(crate) fn encode_capped_wire(prefix: &str, blob: &[u8]) -> Result<String> {
    let mut wire = String::from(prefix);
    wire.push_str(&b64_encode(blob));
    if wire.len() > SIGNED_RECORD_WIRE_CAP {
        return Err(Error::TooLong {
            cap: SIGNED_RECORD_WIRE_CAP,
        });
    }
    Ok(wire)
}

/// Read a `u8`-length name field of a cluster/bootstrap body, validate it as
/// a DNS name (≤ 64 bytes normalized; the wire may hold one trailing dot)
/// and return it normalized.
pub(crate) fn read_dns_field(r: &mut Reader<'_>) -> Result<String> {
    let len = usize::from(r.u8()?);
    let raw = r.bytes(len)?;
    let text = core::str::from_utf8(raw).map_err(|_| Error::Malformed("name is not UTF-8"))?;
    validate_dns_name_capped(text)
}

/// The parse-side time rules of cluster, bootstrap and rotation (§2.11):
/// `exp < now` fails (`exp == now` passes), and so does `exp` more than
/// five years ahead.
pub(crate) fn check_exp_window(exp: u64, now: u64) -> Result<()> {
    if exp < now {
        return Err(Error::Time("expired"));
    }
    if exp - now > MAX_EXP_FUTURE_SECS {
        return Err(Error::Time("expiry more than five years ahead"));
    }
    Ok(())
}

fn push_u16_str(out: &mut Vec<u8>, s: &str) {
    // Callers have capped every field far below u16::MAX.
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl ClusterNode {
    fn check(&self) -> Result<()> {
        if self.node_id.is_empty() || !self.node_id.is_ascii() {
            return Err(Error::Invalid("node_id must be non-empty ASCII"));
        }
        if self.node_id.len() > MAX_NODE_ID_LEN {
            return Err(Error::Invalid("node_id longer than 16 bytes"));
        }
        if self.http_endpoint.is_empty() || self.http_endpoint.len() > MAX_HTTP_ENDPOINT_LEN {
            return Err(Error::Invalid("http_endpoint must be 1..128 bytes"));
        }
        if let Some(dns) = &self.dns_endpoint
            && (dns.is_empty() || dns.len() > MAX_DNS_ENDPOINT_LEN)
        {
            return Err(Error::Invalid(
                "dns_endpoint must be 1..64 bytes when present",
            ));
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        // node_id ≤ 16 bytes (checked).
        out.push(self.node_id.len() as u8);
        out.extend_from_slice(self.node_id.as_bytes());
        push_u16_str(out, &self.http_endpoint);
        push_u16_str(out, self.dns_endpoint.as_deref().unwrap_or(""));
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let id_len = usize::from(r.u8()?);
        if id_len == 0 || id_len > MAX_NODE_ID_LEN {
            return Err(Error::Malformed("node_id length out of range"));
        }
        let id = r.bytes(id_len)?;
        if !id.is_ascii() {
            return Err(Error::Malformed("node_id is not ASCII"));
        }
        let http_len = usize::from(r.u16()?);
        if http_len == 0 || http_len > MAX_HTTP_ENDPOINT_LEN {
            return Err(Error::Malformed("http_endpoint length out of range"));
        }
        let http = utf8(r.bytes(http_len)?, "http_endpoint is not UTF-8")?;
        let dns_len = usize::from(r.u16()?);
        if dns_len > MAX_DNS_ENDPOINT_LEN {
            return Err(Error::Malformed("dns_endpoint length out of range"));
        }
        let dns_endpoint = if dns_len == 0 {
            None
        } else {
            Some(utf8(r.bytes(dns_len)?, "dns_endpoint is not UTF-8")?)
        };
        Ok(ClusterNode {
            node_id: utf8(id, "node_id is not ASCII")?,
            http_endpoint: http,
            dns_endpoint,
        })
    }
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String> {
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| Error::Malformed(what))
}

fn has_duplicate_ids(nodes: &[ClusterNode]) -> bool {
    nodes
        .iter()
        .enumerate()
        .any(|(i, a)| nodes[..i].iter().any(|b| b.node_id == a.node_id))
}

impl ClusterManifest {
    /// The signed body, after every sign-side field check.
    fn body(&self) -> Result<Vec<u8>> {
        let name = validate_dns_name_capped(&self.cluster_name)?;
        if self.nodes.is_empty() || self.nodes.len() > MAX_NODE_COUNT {
            return Err(Error::Invalid("a cluster manifest needs 1..32 nodes"));
        }
        for node in &self.nodes {
            node.check()?;
        }
        if has_duplicate_ids(&self.nodes) {
            return Err(Error::Invalid("duplicate node_id"));
        }
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&self.seq.to_be_bytes());
        body.extend_from_slice(&self.exp.to_be_bytes());
        body.extend_from_slice(&self.operator_spk);
        // ≤ 64 bytes (checked above).
        body.push(name.len() as u8);
        body.extend_from_slice(name.as_bytes());
        body.push(self.nodes.len() as u8);
        for node in &self.nodes {
            node.write(&mut body);
        }
        Ok(body)
    }

    /// Sign with the operator key and return the TXT value. The name is
    /// written normalized (one trailing dot removed).
    pub fn to_wire(&self, signer: &Signer25519) -> Result<String> {
        if signer.public() != self.operator_spk {
            return Err(Error::Mismatch("signing key is not operator_spk"));
        }
        let mut blob = self.body()?;
        let sig = signer.sign(&blob);
        blob.extend_from_slice(&sig);
        encode_capped_wire(PREFIX_CLUSTER, &blob)
    }

    /// Parse a TXT value and verify it against the pinned `operator_spk`,
    /// in the reference's order: prefix, 1200-byte cap, strict base64,
    /// blob ≥ 71, signature, body, embedded key, `exp < now`, five-year
    /// cap, then the optional case-insensitive name binding (pass the name
    /// the manifest was fetched under).
    pub fn parse_and_verify(
        wire: &str,
        operator_spk: &[u8; 32],
        expected_cluster_name: Option<&str>,
        now: u64,
    ) -> Result<Self> {
        let blob = decode_capped_wire(wire, PREFIX_CLUSTER)?;
        if blob.len() < MIN_BLOB {
            return Err(Error::Malformed("blob too short"));
        }
        let (body, sig) = split_signature(&blob)?;
        verify(operator_spk, body, &sig)?;
        let manifest = Self::read_body(body)?;
        if &manifest.operator_spk != operator_spk {
            return Err(Error::Mismatch("embedded operator_spk"));
        }
        check_exp_window(manifest.exp, now)?;
        if let Some(expected) = expected_cluster_name
            && !dns_name_eq(&manifest.cluster_name, expected)
        {
            return Err(Error::Mismatch("cluster_name"));
        }
        Ok(manifest)
    }

    /// Parse a TXT value's body WITHOUT checking the signature, keys or
    /// time (prefix, cap, strict base64, blob size, body structure only).
    /// For a node reading its operator-installed manifest file to learn its
    /// peers (the file is the trust anchor); never for data from the
    /// network.
    pub fn parse_unverified(wire: &str) -> Result<Self> {
        let blob = decode_capped_wire(wire, PREFIX_CLUSTER)?;
        if blob.len() < MIN_BLOB {
            return Err(Error::Malformed("blob too short"));
        }
        let (body, _sig) = split_signature(&blob)?;
        Self::read_body(body)
    }

    fn read_body(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        if &r.array::<7>()? != MAGIC {
            return Err(Error::Malformed("bad magic"));
        }
        let seq = r.u64()?;
        let exp = r.u64()?;
        let operator_spk = r.array::<32>()?;
        let cluster_name = read_dns_field(&mut r)?;
        let count = usize::from(r.u8()?);
        // Parse accepts 0 nodes (sign does not), as the reference does.
        if count > MAX_NODE_COUNT {
            return Err(Error::Malformed("node_count above 32"));
        }
        let mut nodes: Vec<ClusterNode> = Vec::with_capacity(count);
        for _ in 0..count {
            let node = ClusterNode::read(&mut r)?;
            if nodes.iter().any(|n| n.node_id == node.node_id) {
                return Err(Error::Malformed("duplicate node_id"));
            }
            nodes.push(node);
        }
        r.finish()?;
        Ok(ClusterManifest {
            cluster_name,
            operator_spk,
            nodes,
            seq,
            exp,
        })
    }

    /// Stale for installation purposes: `now > exp`.
    pub fn is_expired(&self, now: u64) -> bool {
        now > self.exp
    }
}

/// The manifest to use among all values of a `cluster.<base>` RRset: the
/// highest `seq` among those that verify and bind to `expected_cluster_name`
/// (the first one wins a tie). Foreign and bad values are skipped.
pub fn best_cluster_manifest<'a, I>(
    wires: I,
    operator_spk: &[u8; 32],
    expected_cluster_name: Option<&str>,
    now: u64,
) -> Option<ClusterManifest>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<ClusterManifest> = None;
    for wire in wires {
        let Ok(m) =
            ClusterManifest::parse_and_verify(wire, operator_spk, expected_cluster_name, now)
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| m.seq > b.seq) {
            best = Some(m);
        }
    }
    best
}
