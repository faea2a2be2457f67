//! Record writes: the node's HTTP API (`/v1/records/{name}`, bearer or
//! operator token) or RFC 2136 UPDATE signed with TSIG, whose values over
//! 255 bytes travel as several character-strings (dmp-core splits them;
//! the reference CLI cannot send them, REFERENCE-NODE.md §13.1 R1). Also
//! the un-signed claim UPDATEs of a send.

use super::dns::{tcp_exchange, udp_exchange};
use super::http::request;
use super::resolve_host;
use crate::rng::now;
use dmp_core::client::cluster::{ClusterView, WriteOutcome, WritePlan};
use dmp_core::dns::client::{UpdateMessage, build_update, response_rcode};
use dmp_core::dns::{TsigKey, UpdateOp};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

/// HTTP publish timeout (the reference's 10 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// UPDATE timeout per transport (the reference's 5 s).
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Writer {
    /// Cluster mode: every write to every node's HTTP API at once,
    /// successful on `ceil(N/2)` acks (dmp-core's `WritePlan`).
    Cluster {
        view: ClusterView,
        token: Option<String>,
    },
    Http {
        endpoint: String,
        token: Option<String>,
    },
    Tsig {
        server: String,
        port: u16,
        zone: String,
        key: TsigKey,
    },
}

fn rcode_text(rc: u8) -> &'static str {
    match rc {
        1 => "FORMERR",
        2 => "SERVFAIL (write failed or claim budget exhausted)",
        3 => "NXDOMAIN",
        4 => "NOTIMP (the node does not accept DNS UPDATE)",
        5 => "REFUSED (outside the key's scope or over a cap)",
        9 => "NOTAUTH (TSIG key unknown or signature rejected)",
        10 => "NOTZONE (name outside the zone)",
        _ => "error",
    }
}

/// Send one UPDATE to `addr`: UDP, TCP when truncated or too big for UDP.
pub fn send_update(
    addr: SocketAddr,
    msg: &UpdateMessage,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let raw = if msg.wire.len() > 1232 {
        tcp_exchange(addr, &msg.wire, timeout).map_err(|e| e.to_string())?
    } else {
        let r = udp_exchange(addr, &msg.wire, timeout).map_err(|e| e.to_string())?;
        if r.get(2).is_some_and(|b| b & 0x02 != 0) {
            tcp_exchange(addr, &msg.wire, timeout).map_err(|e| e.to_string())?
        } else {
            r
        }
    };
    Ok(raw)
}

/// Cluster writes still in flight after their quorum was reached. They
/// are not abandoned at exit: [`finish_background_writes`] waits for them
/// (bounded), so every node normally gets every record, not just a quorum.
static IN_FLIGHT: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(Vec::new());

/// Wait up to `max` for writes still in flight; call before exiting.
pub fn finish_background_writes(max: Duration) {
    let handles = std::mem::take(&mut *IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner()));
    let deadline = std::time::Instant::now() + max;
    for h in handles {
        while !h.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

impl Writer {
    /// Short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Writer::Http { endpoint, .. } => format!("HTTP {endpoint}"),
            Writer::Cluster { view, .. } => format!(
                "HTTP fan-out to {} nodes of cluster {} (quorum {})",
                view.nodes().len(),
                view.base(),
                view.quorum()
            ),
            Writer::Tsig {
                server, port, key, ..
            } => format!("DNS UPDATE to {server}:{port} (TSIG key {})", key.name),
        }
    }

    fn update(&self, op: UpdateOp) -> Result<(), String> {
        let Writer::Tsig {
            server,
            port,
            zone,
            key,
        } = self
        else {
            return Err("not a TSIG writer".into());
        };
        let addr = *resolve_host(server, *port)?
            .first()
            .ok_or_else(|| format!("no address for {server}"))?;
        let msg = build_update(random_id(), zone, &[op], Some(key), now())
            .map_err(|e| format!("cannot build UPDATE: {e:?}"))?;
        let raw = send_update(addr, &msg, UPDATE_TIMEOUT)
            .map_err(|e| format!("UPDATE to {addr}: {e}"))?;
        match msg.verify_response(&raw, now()) {
            Ok(r) if r.rcode == 0 => Ok(()),
            Ok(r) => Err(format!("UPDATE answered {}", rcode_text(r.rcode))),
            Err(e) => match response_rcode(&raw) {
                Some(rc) if rc != 0 => {
                    Err(format!("UPDATE answered {} (unsigned)", rcode_text(rc)))
                }
                _ => Err(format!("UPDATE response failed TSIG verification: {e:?}")),
            },
        }
    }

    /// Send one HTTP write to every node; Ok once quorum acked.
    fn fan_out(
        view: &ClusterView,
        token: Option<&str>,
        method: &str,
        name: &str,
        body: &serde_json::Value,
        ok_status: u16,
    ) -> Result<(), String> {
        let mut plan = WritePlan::new(view);
        let (tx, rx) = std::sync::mpsc::channel();
        for node in plan.targets() {
            let tx = tx.clone();
            let url = format!(
                "{}/v1/records/{name}",
                node.http_endpoint.trim_end_matches('/')
            );
            let (id, method, body, token) = (
                node.node_id.clone(),
                method.to_string(),
                body.clone(),
                token.map(String::from),
            );
            let h = std::thread::spawn(move || {
                let r = request(&method, &url, Some(&body), token.as_deref(), HTTP_TIMEOUT);
                let _ = tx.send((id, r));
            });
            IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner()).push(h);
        }
        drop(tx);
        let deadline = std::time::Instant::now() + HTTP_TIMEOUT;
        // Return at quorum; but once quorum is out of reach, still collect
        // the answers in flight (same deadline), so the error names only the
        // nodes that really failed and counts the ones that took the write.
        let mut open = plan.targets().len();
        while open > 0 && plan.outcome() != WriteOutcome::Succeeded {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok((id, r)) = rx.recv_timeout(left) else {
                break;
            };
            open -= 1;
            match r {
                Ok(resp) if resp.status == ok_status => plan.ack(&id),
                // An absent value is already deleted on that node.
                Ok(resp) if method == "DELETE" && resp.status == 404 => plan.ack(&id),
                Ok(resp) => plan.fail(
                    &id,
                    &format!("HTTP {} — {}", resp.status, resp.error_text()),
                ),
                Err(e) => plan.fail(&id, &e),
            }
        }
        match plan.finish() {
            Ok(report) => {
                for (node, why) in report.failures {
                    tracing::info!(%node, %name, reason = %why, "cluster write missed a node");
                }
                Ok(())
            }
            Err(e) => Err(format!("{method} {name}: {e}")),
        }
    }

    /// Add `value` to the TXT RRset at `name`.
    pub fn publish(&self, name: &str, value: &str, ttl: u32) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        match self {
            Writer::Cluster { view, token } => Self::fan_out(
                view,
                token.as_deref(),
                "POST",
                &name,
                &json!({"value": value, "ttl": ttl}),
                201,
            )
            .map_err(|e| format!("publish to {name} failed: {e}")),
            Writer::Http { endpoint, token } => {
                let url = format!("{endpoint}/v1/records/{name}");
                let r = request(
                    "POST",
                    &url,
                    Some(&json!({"value": value, "ttl": ttl})),
                    token.as_deref(),
                    HTTP_TIMEOUT,
                )
                .map_err(|e| format!("publish to {name} failed: {e}"))?;
                if r.status == 201 {
                    return Ok(());
                }
                let mut msg = format!(
                    "publish to {name} failed: HTTP {} — {}",
                    r.status,
                    r.error_text()
                );
                if r.status == 401 {
                    msg.push_str(" (the node wants a token: `dnsmesh register --node <host>` or `init --http-token`)");
                } else if r.status == 403 {
                    msg.push_str(" (per-user token may not own this record namespace)");
                }
                Err(msg)
            }
            Writer::Tsig { .. } => self
                .update(UpdateOp::Add {
                    name: name.clone(),
                    value: value.into(),
                    ttl,
                })
                .map_err(|e| format!("publish to {name} failed: {e}")),
        }
    }

    /// Remove exactly `value` from the TXT RRset at `name`.
    pub fn delete(&self, name: &str, value: &str) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        match self {
            Writer::Cluster { view, token } => Self::fan_out(
                view,
                token.as_deref(),
                "DELETE",
                &name,
                &json!({"value": value}),
                204,
            )
            .map_err(|e| format!("delete at {name} failed: {e}")),
            Writer::Http { endpoint, token } => {
                let url = format!("{endpoint}/v1/records/{name}");
                let r = request(
                    "DELETE",
                    &url,
                    Some(&json!({"value": value})),
                    token.as_deref(),
                    HTTP_TIMEOUT,
                )
                .map_err(|e| format!("delete at {name} failed: {e}"))?;
                match r.status {
                    204 | 404 => Ok(()),
                    s => Err(format!(
                        "delete at {name} failed: HTTP {s} — {}",
                        r.error_text()
                    )),
                }
            }
            Writer::Tsig { .. } => self
                .update(UpdateOp::DeleteValue {
                    name: name.clone(),
                    value: value.into(),
                })
                .map_err(|e| format!("delete at {name} failed: {e}")),
        }
    }
}

/// Publish one claim record as an un-signed UPDATE of `zone` at `addr`.
pub fn publish_claim(
    addr: SocketAddr,
    zone: &str,
    name: &str,
    value: &str,
    ttl: u32,
    timeout: Duration,
) -> Result<(), String> {
    let op = UpdateOp::Add {
        name: name.to_ascii_lowercase(),
        value: value.into(),
        ttl,
    };
    let msg = build_update(random_id(), zone, &[op], None, now())
        .map_err(|e| format!("cannot build claim UPDATE: {e:?}"))?;
    let raw = send_update(addr, &msg, timeout)?;
    match msg.verify_response(&raw, now()) {
        Ok(r) if r.rcode == 0 => Ok(()),
        Ok(r) => Err(rcode_text(r.rcode).into()),
        Err(e) => Err(format!("bad response: {e:?}")),
    }
}
