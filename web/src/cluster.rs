//! Cluster mode (Settings → Cluster): pin a cluster by base domain and
//! operator key, install its signed manifest, refresh it to a strictly
//! higher seq, and switch cluster routing on or off. The verification,
//! quorum and union rules are dmp-core's (`client::cluster`); the fan-out
//! and union I/O live in `net.rs`.

use dmp_core::client::cluster::ClusterView;
use dmp_core::crypto::hex;
use dmp_core::names::validate_dns_name;
use dmp_core::records::cluster::ClusterManifest;
use leptos::prelude::*;

use crate::engine::App;
use crate::js;
use crate::model::{ClusterPin, unhex};
use crate::net;

/// The view of a pinned cluster, verified again from its stored wire.
pub fn view_of(pin: &ClusterPin, now: u64) -> Result<ClusterView, String> {
    let spk =
        unhex::<32>(&pin.operator_spk).ok_or("the pinned operator key is not 64 hex digits")?;
    ClusterView::install([pin.wire.as_str()], &spk, &pin.base, now).map_err(|e| {
        format!(
            "the pinned manifest of {} is unusable ({e}); press Refresh",
            pin.base
        )
    })
}

/// The manifest values at `cluster.<base>`: from the configured resolver,
/// plus (when `view` is given) every cluster node, deduplicated.
async fn manifest_values(
    app: &App,
    base: &str,
    view: Option<&ClusterView>,
) -> Result<Vec<String>, String> {
    let s = app.session.get_untracked().ok_or("locked")?;
    let name = ClusterView::manifest_name(base).map_err(|e| e.to_string())?;
    let from_resolver = net::resolve_via(&s.profile.doh, s.profile.doh_json, &name).await;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    match from_resolver {
        Ok(v) => values.extend(v),
        Err(e) => errors.push(e),
    }
    if let Some(view) = view {
        for n in view.nodes() {
            match net::resolve_via(&net::node_doh(&n.http_endpoint), s.profile.doh_json, &name)
                .await
            {
                Ok(v) => values.extend(
                    v.into_iter()
                        .filter(|x| !values.contains(x))
                        .collect::<Vec<_>>(),
                ),
                Err(e) => errors.push(format!("{}: {e}", n.node_id)),
            }
        }
    }
    if values.is_empty() && !errors.is_empty() {
        return Err(format!("cannot read {name}: {}", errors.join("; ")));
    }
    Ok(values)
}

/// The value among `values` that `view` was installed from.
pub fn wire_of(values: &[String], view: &ClusterView, now: u64) -> Option<String> {
    values
        .iter()
        .find(|w| {
            ClusterView::install([w.as_str()], view.operator_spk(), view.base(), now)
                .is_ok_and(|v| v.manifest() == view.manifest())
        })
        .cloned()
}

/// One line about an installed manifest.
pub fn summary(view: &ClusterView) -> String {
    format!(
        "seq {}, {} node(s), quorum {}: {}",
        view.seq(),
        view.nodes().len(),
        view.quorum(),
        view.nodes()
            .iter()
            .map(|n| format!("{} ({})", n.node_id, n.http_endpoint))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Pin `base` + `operator_spk_hex`: fetch `cluster.<base>` and keep it only
/// when a manifest verifies. Cluster mode stays off until enabled.
pub async fn pin(app: App, base: &str, operator_spk_hex: &str) -> Result<String, String> {
    let base = validate_dns_name(base.trim())
        .map_err(|e| format!("\"{}\" is not a valid base domain ({e})", base.trim()))?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let spk_hex = operator_spk_hex.trim().to_ascii_lowercase();
    let spk =
        unhex::<32>(&spk_hex).ok_or("the operator public key must be 64 hex digits (32 bytes)")?;
    let now = js::now();
    let values = manifest_values(&app, &base, None).await?;
    let view = ClusterView::install(values.iter().map(String::as_str), &spk, &base, now)
        .map_err(|e| format!("not pinned: {e}"))?;
    let wire = wire_of(&values, &view, now).ok_or("not pinned: the manifest could not be kept")?;
    let line = summary(&view);
    app.vault.update(|v| {
        v.cluster = Some(ClusterPin {
            base,
            operator_spk: hex(&spk),
            wire,
            enabled: false,
            last_refresh: now,
            last_note: "pinned".into(),
        })
    });
    app.save().await?;
    Ok(format!("Pinned: {line}. Enable cluster mode to use it."))
}

/// Fetch `cluster.<base>` again; switch only to a verifying manifest with a
/// strictly higher seq. The stored pin is untouched otherwise.
pub async fn refresh(app: App) -> Result<String, String> {
    let pin = app
        .vault
        .with_untracked(|v| v.cluster.clone())
        .ok_or("no cluster is pinned")?;
    let now = js::now();
    let current = view_of(&pin, now);
    let values = match manifest_values(&app, &pin.base, current.as_ref().ok()).await {
        Ok(v) => v,
        Err(e) => {
            // Noted as a refresh too, so the background refresh waits its
            // interval instead of asking every node again at each poll.
            let note = format!("kept the installed manifest: {e}");
            keep_refresh(app, &pin, None, now, &note).await?;
            return Err(note);
        }
    };
    let next = match current {
        Ok(mut view) => view
            .refresh(values.iter().map(String::as_str), now)
            .map(|_| view)
            .map_err(|e| e.to_string()),
        // The installed one expired: any verifying manifest with a higher
        // seq than it replaces it.
        Err(_) => {
            let spk = unhex::<32>(&pin.operator_spk).ok_or("the pinned operator key is damaged")?;
            let installed = ClusterManifest::parse_unverified(&pin.wire).map_or(0, |m| m.seq);
            ClusterView::install(values.iter().map(String::as_str), &spk, &pin.base, now)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    if v.seq() > installed {
                        Ok(v)
                    } else {
                        Err(format!(
                            "manifest seq {} is not newer than the installed seq {installed}",
                            v.seq()
                        ))
                    }
                })
        }
    };
    let (wire, note) = match next {
        Ok(view) => match wire_of(&values, &view, now) {
            Some(w) => (
                Some((w, view.seq())),
                format!("refreshed to {}", summary(&view)),
            ),
            None => (None, "the new manifest could not be kept".into()),
        },
        Err(e) => (None, format!("kept the installed manifest: {e}")),
    };
    let updated = wire.is_some();
    keep_refresh(app, &pin, wire, now, &note).await?;
    if updated { Ok(note) } else { Err(note) }
}

/// Record a refresh of `pin` (the newer manifest `wire` with its seq, if
/// any) in the vault and save it.
async fn keep_refresh(
    app: App,
    pin: &ClusterPin,
    wire: Option<(String, u64)>,
    now: u64,
    note: &str,
) -> Result<(), String> {
    app.vault.update(|v| {
        // Only the pin this refresh started from: a cluster pinned while it
        // was on the network (by hand or by bootstrap) is left alone.
        if let Some(c) = v
            .cluster
            .as_mut()
            .filter(|c| c.base == pin.base && c.operator_spk == pin.operator_spk)
        {
            // A concurrent refresh may have installed a newer one already.
            if let Some((w, seq)) = wire
                && ClusterManifest::parse_unverified(&c.wire).map_or(0, |m| m.seq) < seq
            {
                c.wire = w;
            }
            c.last_refresh = now;
            c.last_note = note.to_owned();
        }
    });
    app.save().await
}

/// Switch cluster routing on or off.
pub async fn set_enabled(app: App, on: bool) -> Result<String, String> {
    let pin = app
        .vault
        .with_untracked(|v| v.cluster.clone())
        .ok_or("pin a cluster first")?;
    if on {
        view_of(&pin, js::now())?;
    }
    app.vault.update(|v| {
        if let Some(c) = v.cluster.as_mut() {
            c.enabled = on;
        }
    });
    app.save().await?;
    Ok(if on {
        format!(
            "Cluster mode is on: writes go to every node of {}.",
            pin.base
        )
    } else {
        "Cluster mode is off: reads and writes use the node and resolver above.".into()
    })
}
