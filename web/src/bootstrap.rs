//! Settings → Bootstrap: find a user domain's cluster through the two-hop
//! trust chain (the zone operator's signed record at `_dmp.<domain>` names
//! clusters and their operator keys; each cluster's manifest must verify
//! under the key its entry names). As `dnsmesh bootstrap pin|fetch|discover
//! [--auto-pin]`. Every verification is dmp-core's
//! (`client::cluster::{select_bootstrap, BootstrapWalk}`); this module does
//! the DoH lookups and keeps the pins.

use dmp_core::civil::UtcDateTime;
use dmp_core::client::cluster::{BootstrapStep, BootstrapWalk, bootstrap_query, select_bootstrap};
use dmp_core::crypto::hex;
use dmp_core::names::validate_dns_name;
use dmp_core::records::bootstrap::BootstrapRecord;
use leptos::prelude::*;

use crate::cluster;
use crate::engine::App;
use crate::js;
use crate::model::{BootstrapPin, ClusterPin, unhex};
use crate::net;

/// A user domain as typed: a valid DNS name, lower case, no trailing dot.
fn user_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim();
    validate_dns_name(d)
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .map_err(|e| format!("\"{d}\" is not a valid domain ({e})"))
}

/// A signer key as typed: 64 hex digits.
fn signer_key(raw: &str) -> Result<[u8; 32], String> {
    unhex::<32>(&raw.trim().to_ascii_lowercase())
        .ok_or_else(|| "the bootstrap signer public key must be 64 hex digits (32 bytes)".into())
}

/// TXT values at `name` through the configured resolver.
async fn lookup(app: &App, name: &str) -> Result<Vec<String>, String> {
    let s = app.session.get_untracked().ok_or("locked")?;
    net::resolve_via(&s.profile.doh, s.profile.doh_json, name).await
}

/// Read `_dmp.<domain>` and pick the record that verifies under `signer`
/// for `domain` (dmp-core's `select_bootstrap`).
async fn fetch_record(
    app: &App,
    domain: &str,
    signer: &[u8; 32],
) -> Result<BootstrapRecord, String> {
    let name = bootstrap_query(domain).map_err(|e| e.to_string())?;
    let values = lookup(app, &name)
        .await
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if values.is_empty() {
        return Err(format!(
            "no bootstrap record at {name} (the zone operator of {domain} has not published one, \
             or the resolver cannot see it)"
        ));
    }
    select_bootstrap(values.iter().map(String::as_str), signer, domain, js::now()).ok_or_else(
        || {
            format!(
                "{name} has {} record(s), but none verifies under the signer key {}… for {domain} \
                 (wrong key, expired, or made for another domain)",
                values.len(),
                hex(signer).get(..16).unwrap_or_default()
            )
        },
    )
}

/// Pin the bootstrap signer of `domain`: kept only when a record at
/// `_dmp.<domain>` verifies under it, so a mistyped key pins nothing.
pub async fn pin(app: App, domain: &str, signer_hex: &str) -> Result<BootstrapRecord, String> {
    let domain = user_domain(domain)?;
    let signer = signer_key(signer_hex)?;
    let record = fetch_record(&app, &domain, &signer)
        .await
        .map_err(|e| format!("not pinned: {e}"))?;
    app.vault.update(|v| {
        v.bootstrap = Some(BootstrapPin {
            user_domain: domain,
            signer_spk: hex(&signer),
        })
    });
    app.save().await?;
    Ok(record)
}

/// Fetch and verify the pinned domain's bootstrap record again.
pub async fn fetch(app: App) -> Result<BootstrapRecord, String> {
    let pin = app
        .vault
        .with_untracked(|v| v.bootstrap.clone())
        .ok_or("pin a bootstrap signer first")?;
    let signer = signer_key(&pin.signer_spk)?;
    fetch_record(&app, &pin.user_domain, &signer).await
}

/// What a discovery found.
pub struct Discovery {
    pub record: BootstrapRecord,
    /// The base domain of the cluster found.
    pub base: String,
    /// One line about the cluster found (entry and manifest).
    pub found: String,
    /// Whether the cluster was pinned (auto-pin).
    pub pinned: bool,
}

/// Discover the cluster of `address` (`user@domain`): verify the bootstrap
/// record of its domain (under the pinned signer, or `signer_hex` when
/// given), then walk the entries in priority order until one's manifest
/// verifies. With `auto_pin`, pin that cluster and turn cluster mode on;
/// that needs the domain's signer pinned (as the CLI's `--auto-pin`).
pub async fn discover(
    app: App,
    address: &str,
    signer_hex: &str,
    auto_pin: bool,
) -> Result<Discovery, String> {
    let host = match address.trim().split_once('@') {
        Some((u, h)) if !u.is_empty() && !h.is_empty() => user_domain(h)?,
        _ => return Err("give an address as user@domain".into()),
    };
    let pinned = app
        .vault
        .with_untracked(|v| v.bootstrap.clone())
        .filter(|p| p.user_domain == host);
    let signer = match (signer_hex.trim(), &pinned) {
        ("", Some(p)) => signer_key(&p.signer_spk)?,
        ("", None) => {
            return Err(format!(
                "no bootstrap signer is pinned for {host}: enter its signer public key \
                 (verified out of band), or pin it above"
            ));
        }
        (typed, _) => signer_key(typed)?,
    };
    let trusted = pinned
        .as_ref()
        .is_some_and(|p| unhex::<32>(&p.signer_spk) == Some(signer));
    if auto_pin && !trusted {
        return Err(format!(
            "auto-pin only pins clusters of the domain whose bootstrap signer you pinned: \
             pin {host}'s signer above first (nothing was pinned)"
        ));
    }
    let record = fetch_record(&app, &host, &signer).await?;
    let now = js::now();
    let mut walk = BootstrapWalk::new(record.clone());
    let mut step = walk.step();
    let mut values = Vec::new();
    let mut lookup_errors = Vec::new();
    let (entry, view) = loop {
        match step {
            BootstrapStep::Query(name) => {
                // A lookup failure counts as "nothing there": the walk
                // moves on and the reason is added to the error text.
                values = lookup(&app, &name).await.unwrap_or_else(|e| {
                    lookup_errors.push(format!("{name}: {e}"));
                    Vec::new()
                });
                step = walk.answer(&values, now);
            }
            BootstrapStep::Done(entry, view) => break (entry, view),
            BootstrapStep::Failed(e) => {
                let mut text = e.to_string();
                if !lookup_errors.is_empty() {
                    text.push_str(&format!(" (lookups failed: {})", lookup_errors.join("; ")));
                }
                return Err(text);
            }
        }
    };
    let found = format!(
        "{} (priority {}, operator key {}…): {}",
        view.base(),
        entry.priority,
        hex(&entry.operator_spk).get(..16).unwrap_or_default(),
        cluster::summary(&view)
    );
    if !auto_pin {
        return Ok(Discovery {
            record,
            base: view.base().to_string(),
            found,
            pinned: false,
        });
    }
    let wire = cluster::wire_of(&values, &view, now)
        .ok_or("not pinned: the manifest found could not be kept")?;
    app.vault.update(|v| {
        v.cluster = Some(ClusterPin {
            base: view.base().to_string(),
            operator_spk: hex(view.operator_spk()),
            wire,
            enabled: true,
            last_refresh: now,
            last_note: format!("pinned by bootstrap discovery of {host}"),
        })
    });
    app.save().await?;
    Ok(Discovery {
        record,
        base: view.base().to_string(),
        found,
        pinned: true,
    })
}

/// `YYYY-MM-DD HH:MM UTC` of a unix time (for expiry dates).
pub fn date_time(ts: u64) -> String {
    UtcDateTime::from_unix(i64::try_from(ts).unwrap_or(i64::MAX)).short()
}
