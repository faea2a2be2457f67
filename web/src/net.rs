//! Network I/O of the client: TXT reads through DNS over HTTPS (RFC 8484,
//! wire format), record publishes and deletes through the node's HTTP API,
//! and self-service registration. All protocol decisions stay in dmp-core;
//! this only moves bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dmp_core::client::cluster::{ClusterView, UnionRead, WriteOutcome, WritePlan};
use dmp_core::client::doh::{parse_txt_answer, parse_txt_json, txt_query};
use dmp_core::client::{Delete, Publish};
use dmp_core::crypto::{Keypair, hex};
use dmp_core::node::registration::{canonicalize_subject, signing_payload};
use futures::StreamExt;
use futures::future::{Either, select};
use futures::stream::FuturesUnordered;
use serde::Deserialize;

use crate::js;

/// Where to read and write.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The node's base URL (no trailing slash).
    pub node: String,
    /// The DoH resolver URL (RFC 8484).
    pub doh: String,
    /// Use the JSON form instead of the wire format.
    pub doh_json: bool,
    pub token: Option<String>,
    /// Cluster mode: `Some(Ok(view))` fans writes out to every node and
    /// reads names under the cluster base from every node;
    /// `Some(Err(why))` when cluster mode is on but the pinned manifest is
    /// unusable (writes then fail with `why` rather than silently going to
    /// the single node).
    pub cluster: Option<Result<ClusterView, String>>,
}

/// How long a fan-out write or union read waits for slow nodes.
const CLUSTER_DEADLINE_MS: u32 = 10_000;

/// The DoH URL a node serves.
pub fn default_doh(node: &str) -> String {
    format!("{}/dns-query", node.trim_end_matches('/'))
}

/// Trim and drop trailing slashes; insist on http(s).
pub fn normalize_url(raw: &str) -> Result<String, String> {
    let u = raw.trim().trim_end_matches('/');
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!(
            "\"{u}\" is not a web address; it must start with http:// or https://"
        ));
    }
    Ok(u.into())
}

fn body_text(body: &[u8]) -> String {
    let t = String::from_utf8_lossy(body);
    // The node's errors are {"error": "..."}; show just the message.
    serde_json::from_str::<serde_json::Value>(&t)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
        .unwrap_or_else(|| t.chars().take(200).collect())
}

/// The TXT values at `name` (strings joined). NXDOMAIN and NODATA are an
/// empty list; a resolver failure is an error.
pub async fn resolve(ep: &Endpoints, name: &str) -> Result<Vec<String>, String> {
    if let Some(Ok(view)) = &ep.cluster
        && view.routes_here(name)
    {
        return resolve_union(ep, view, name).await;
    }
    resolve_via(&ep.doh, ep.doh_json, name).await
}

/// One TXT lookup through the resolver at `doh`.
pub async fn resolve_via(doh: &str, doh_json: bool, name: &str) -> Result<Vec<String>, String> {
    let name = name.to_ascii_lowercase();
    let query = txt_query(&name).map_err(|e| format!("cannot look up {name}: {e}"))?;
    let (url, accept) = if doh_json {
        (
            format!("{doh}?name={name}&type=TXT"),
            "application/dns-json",
        )
    } else {
        (
            format!("{doh}?dns={}", URL_SAFE_NO_PAD.encode(&query)),
            "application/dns-message",
        )
    };
    let (status, body) = js::fetch("GET", &url, &[("accept", accept)], None)
        .await
        .map_err(|e| format!("DNS-over-HTTPS: {e}"))?;
    if status != 200 {
        return Err(format!("DNS-over-HTTPS resolver answered HTTP {status}"));
    }
    let resp = if doh_json {
        parse_txt_json(&String::from_utf8_lossy(&body))
    } else {
        parse_txt_answer(&body)
    }
    .map_err(|e| format!("DNS-over-HTTPS: {e}"))?;
    match resp.rcode {
        0 | 3 => Ok(resp.values),
        rc => Err(format!("DNS lookup of {name} failed (rcode {rc})")),
    }
}

fn auth_headers(ep: &Endpoints) -> Vec<(&'static str, String)> {
    let mut h = vec![("content-type", "application/json".to_string())];
    if let Some(t) = &ep.token {
        h.push(("authorization", format!("Bearer {t}")));
    }
    h
}

async fn send_json(
    ep: &Endpoints,
    method: &str,
    name: &str,
    body: &serde_json::Value,
) -> Result<u16, String> {
    match &ep.cluster {
        Some(Ok(view)) => fan_out(ep, view, method, name, body).await,
        Some(Err(why)) => Err(format!("cluster mode is on but unusable: {why}")),
        None => send_to(ep, &ep.node, method, name, body).await,
    }
}

/// One write to the node at `node` (base URL).
async fn send_to(
    ep: &Endpoints,
    node: &str,
    method: &str,
    name: &str,
    body: &serde_json::Value,
) -> Result<u16, String> {
    let url = format!(
        "{}/v1/records/{}",
        node.trim_end_matches('/'),
        name.to_ascii_lowercase()
    );
    let headers = auth_headers(ep);
    let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let text = body.to_string();
    let (status, resp) = js::fetch(method, &url, &hdrs, Some(text.as_bytes())).await?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!(
            "the node refused it (HTTP {status}: {})",
            body_text(&resp)
        ))
    }
}

/// The DoH URL of a cluster node, from its HTTP endpoint.
pub fn node_doh(http_endpoint: &str) -> String {
    default_doh(http_endpoint)
}

/// A write to every node at once; success as soon as a quorum acked, a
/// plain error naming every failed node otherwise. A DELETE answered 404
/// (already gone) counts as an ack.
async fn fan_out(
    ep: &Endpoints,
    view: &ClusterView,
    method: &str,
    name: &str,
    body: &serde_json::Value,
) -> Result<u16, String> {
    let mut plan = WritePlan::new(view);
    let mut pending: FuturesUnordered<_> = plan
        .targets()
        .iter()
        .map(|n| {
            let id = n.node_id.clone();
            let url = n.http_endpoint.clone();
            async move { (id, send_to(ep, &url, method, name, body).await) }
        })
        .collect();
    let mut deadline = Box::pin(js::sleep(CLUSTER_DEADLINE_MS));
    // Return at quorum; on failure, still collect the other answers (up to
    // the deadline) so the error names each node's real outcome.
    while plan.outcome() != WriteOutcome::Succeeded {
        match select(pending.next(), deadline).await {
            Either::Left((Some((id, r)), d)) => {
                deadline = d;
                match r {
                    Ok(_) => plan.ack(&id),
                    Err(e) if method == "DELETE" && e.contains("HTTP 404") => plan.ack(&id),
                    Err(e) => plan.fail(&id, &e),
                }
            }
            Either::Left((None, _)) | Either::Right(_) => break,
        }
    }
    match plan.finish() {
        Ok(_) => Ok(201),
        Err(q) => Err(format!("cluster {q}")),
    }
}

/// A read of `name` from every cluster node (each node's `/dns-query`),
/// merged without duplicates. Fails only when no node could be read.
async fn resolve_union(
    ep: &Endpoints,
    view: &ClusterView,
    name: &str,
) -> Result<Vec<String>, String> {
    let mut read = UnionRead::new(view, name);
    let mut pending: FuturesUnordered<_> = view
        .nodes()
        .iter()
        .map(|n| {
            let id = n.node_id.clone();
            let doh = node_doh(&n.http_endpoint);
            async move { (id, resolve_via(&doh, ep.doh_json, name).await) }
        })
        .collect();
    let mut deadline = Box::pin(js::sleep(CLUSTER_DEADLINE_MS));
    while !read.is_done() {
        match select(pending.next(), deadline).await {
            Either::Left((Some((id, r)), d)) => {
                deadline = d;
                match r {
                    Ok(v) => read.answer(&id, &v),
                    Err(e) => read.fail(&id, &e),
                }
            }
            Either::Left((None, _)) | Either::Right(_) => break,
        }
    }
    let total = view.nodes().len();
    let failures: Vec<String> = read
        .failures()
        .iter()
        .map(|(n, why)| format!("{n}: {why}"))
        .collect();
    let answered = total.saturating_sub(read.pending().count() + failures.len());
    if answered == 0 {
        return Err(format!(
            "no cluster node answered for {name}: {}",
            if failures.is_empty() {
                "no answer before the deadline".into()
            } else {
                failures.join("; ")
            }
        ));
    }
    Ok(read.finish().unwrap_or_default())
}

/// Publish one record (append semantics).
pub async fn publish(ep: &Endpoints, p: &Publish) -> Result<(), String> {
    let body = serde_json::json!({ "value": p.value, "ttl": p.ttl });
    send_json(ep, "POST", &p.name, &body).await.map(|_| ())
}

/// Remove one value; a 404 (already gone) is fine.
pub async fn delete(ep: &Endpoints, d: &Delete) -> Result<(), String> {
    let body = serde_json::json!({ "value": d.value });
    match send_json(ep, "DELETE", &d.name, &body).await {
        Ok(_) => Ok(()),
        Err(e) if e.contains("HTTP 404") => Ok(()),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct Challenge {
    challenge: String,
    node: String,
}

#[derive(Deserialize)]
struct Confirm {
    token: String,
}

/// Outcome of a registration attempt.
pub enum Registration {
    Token(String),
    /// The node has no self-service registration (an open node, or an
    /// operator who hands out tokens); publishing may still work.
    NotOffered,
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let hi = (*pair.first()? as char).to_digit(16)?;
        let lo = (*pair.get(1)? as char).to_digit(16)?;
        *o = ((hi << 4) | lo) as u8;
    }
    Some(out)
}

/// Challenge, sign locally, confirm (REFERENCE-NODE.md §3.4–3.5).
pub async fn register(
    node: &str,
    keypair: &Keypair,
    username: &str,
    domain: &str,
) -> Result<Registration, String> {
    let subject = canonicalize_subject(&format!("{username}@{domain}"))
        .map_err(|e| format!("cannot register: {e}"))?;
    let (status, body) = js::fetch(
        "GET",
        &format!("{node}/v1/registration/challenge"),
        &[],
        None,
    )
    .await?;
    if status == 404 {
        return Ok(Registration::NotOffered);
    }
    if status != 200 {
        return Err(format!(
            "registration challenge failed (HTTP {status}: {})",
            body_text(&body)
        ));
    }
    let ch: Challenge = serde_json::from_slice(&body)
        .map_err(|_| "the node sent a malformed registration challenge".to_string())?;
    let challenge =
        unhex32(&ch.challenge).ok_or("the node sent a malformed registration challenge")?;
    let sig = keypair.sign(&signing_payload(&challenge, &subject, &ch.node));
    let req = serde_json::json!({
        "subject": subject,
        "ed25519_spk": hex(&keypair.ed25519_public()),
        "challenge": ch.challenge,
        "signature": hex(&sig),
    })
    .to_string();
    let (status, body) = js::fetch(
        "POST",
        &format!("{node}/v1/registration/confirm"),
        &[("content-type", "application/json")],
        Some(req.as_bytes()),
    )
    .await?;
    if status != 200 {
        return Err(format!(
            "registration refused (HTTP {status}: {})",
            body_text(&body)
        ));
    }
    let c: Confirm = serde_json::from_slice(&body)
        .map_err(|_| "the node sent a malformed registration answer".to_string())?;
    Ok(Registration::Token(c.token))
}
