//! `cluster pin|fetch|status|enable|disable` and `bootstrap
//! pin|fetch|discover`: pinning the cluster operator's key (or the zone
//! operator's bootstrap key) and fetching and verifying the signed records
//! over DNS (PROTOCOL.md §8).

use crate::config::{Config, Paths, decode_hex, write_private};
use crate::ctx::{self, base_reader as reader_for};
use crate::keys::Fail;
use crate::net::Reader;
use crate::rng::now;
use dmp_core::crypto::hex;
use dmp_core::names::{bootstrap_name, cluster_manifest_name, validate_dns_name};
use dmp_core::records::bootstrap::{BootstrapRecord, best_bootstrap_record};
use dmp_core::records::cluster::{ClusterManifest, best_cluster_manifest};

fn spk32(hex_str: &str, what: &str) -> Result<[u8; 32], Fail> {
    decode_hex(hex_str.trim())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Fail::user(format!("{what} must be 64 hex chars (32 bytes Ed25519)")))
}

fn save(cfg: &Config, paths: &Paths) -> Result<(), Fail> {
    cfg.save(&paths.config_file())
        .map_err(|e| Fail::user(e.to_string()))
}

/// The verified manifest at `cluster.<base>` and its wire, if any.
pub fn fetch_manifest(
    reader: &Reader,
    base: &str,
    operator: &[u8; 32],
) -> Result<Option<(ClusterManifest, String)>, Fail> {
    let name = cluster_manifest_name(base)
        .map_err(|e| Fail::user(format!("invalid base domain {base:?}: {e:?}")))?;
    let values = reader.txt(&name);
    let t = now();
    let Some(m) = best_cluster_manifest(values.iter().map(String::as_str), operator, Some(base), t)
    else {
        return Ok(None);
    };
    let wire = values
        .into_iter()
        .find(|w| {
            ClusterManifest::parse_and_verify(w, operator, Some(base), t).is_ok_and(|x| x == m)
        })
        .unwrap_or_default();
    Ok(Some((m, wire)))
}

fn pinned(cfg: &Config) -> Result<(String, [u8; 32]), Fail> {
    if cfg.cluster_base_domain.is_empty() || cfg.cluster_operator_spk.is_empty() {
        return Err(Fail::user(
            "no cluster pinned — run `dnsmesh cluster pin <operator_spk> <base_domain>` \
             or `dnsmesh bootstrap discover user@host --auto-pin`",
        ));
    }
    Ok((
        cfg.cluster_base_domain.clone(),
        spk32(&cfg.cluster_operator_spk, "cluster_operator_spk")?,
    ))
}

fn print_manifest(m: &ClusterManifest, nodes: bool) {
    println!("cluster: {}", m.cluster_name);
    println!("  seq:   {}", m.seq);
    println!("  exp:   {}", m.exp);
    println!("  nodes: {}", m.nodes.len());
    if nodes {
        for n in &m.nodes {
            println!(
                "    {}  http={}  dns={}",
                n.node_id,
                n.http_endpoint,
                n.dns_endpoint.as_deref().unwrap_or("(system DNS)")
            );
        }
    }
}

fn require_manifest(cfg: &Config) -> Result<ClusterManifest, Fail> {
    let (base, spk) = pinned(cfg)?;
    let reader = reader_for(cfg)?;
    fetch_manifest(&reader, &base, &spk)?
        .map(|(m, _)| m)
        .ok_or_else(|| {
            Fail::net(format!(
                "no verifying cluster manifest at cluster.{base} (signed by the pinned key, not \
                 expired) via {}",
                reader.describe()
            ))
        })
}

pub fn cluster_pin(paths: &Paths, operator_spk: &str, base: &str) -> Result<(), Fail> {
    let mut cfg = ctx::load(paths)?;
    spk32(operator_spk, "operator_spk")?;
    let base =
        validate_dns_name(base).map_err(|e| Fail::user(format!("invalid base_domain: {e:?}")))?;
    cfg.cluster_operator_spk = operator_spk.trim().to_ascii_lowercase();
    cfg.cluster_base_domain = base.clone();
    cfg.cluster_enabled = false;
    save(&cfg, paths)?;
    println!("pinned cluster operator key and base domain {base}");
    println!("next:");
    println!("  1. `dnsmesh cluster fetch` to verify the manifest resolves");
    println!("  2. `dnsmesh cluster enable` to cut over from the legacy endpoint");
    Ok(())
}

pub fn cluster_fetch(paths: &Paths, save_wire: bool) -> Result<(), Fail> {
    let cfg = ctx::load(paths)?;
    let (base, spk) = pinned(&cfg)?;
    let reader = reader_for(&cfg)?;
    let Some((m, wire)) = fetch_manifest(&reader, &base, &spk)? else {
        return Err(Fail::net(format!(
            "no verifying cluster manifest at cluster.{base} via {}",
            reader.describe()
        )));
    };
    print_manifest(&m, true);
    if save_wire {
        let p = paths.cluster_manifest();
        write_private(&p, wire.as_bytes()).map_err(|e| Fail::user(e.to_string()))?;
        println!("saved signed manifest wire to {}", p.display());
    }
    Ok(())
}

pub fn cluster_status(paths: &Paths) -> Result<(), Fail> {
    let cfg = ctx::load(paths)?;
    let m = require_manifest(&cfg)?;
    println!("cluster: {} (seq={}, exp={})", m.cluster_name, m.seq, m.exp);
    println!("cluster_enabled: {}", cfg.cluster_enabled);
    println!(
        "write quorum: {} of {} nodes",
        m.nodes.len().div_ceil(2),
        m.nodes.len()
    );
    for n in &m.nodes {
        println!(
            "  {}  http={}  dns={}",
            n.node_id,
            n.http_endpoint,
            n.dns_endpoint.as_deref().unwrap_or("(system DNS)")
        );
    }
    Ok(())
}

pub fn cluster_enable(paths: &Paths) -> Result<(), Fail> {
    let mut cfg = ctx::load(paths)?;
    let m = require_manifest(&cfg)?;
    print_manifest(&m, false);
    if cfg.cluster_enabled {
        println!("cluster mode already enabled — manifest verified, state unchanged.");
        return Ok(());
    }
    cfg.cluster_enabled = true;
    save(&cfg, paths)?;
    println!("cluster mode enabled.");
    Ok(())
}

pub fn cluster_disable(paths: &Paths) -> Result<(), Fail> {
    let mut cfg = ctx::load(paths)?;
    if !cfg.cluster_enabled {
        println!("cluster mode already disabled — state unchanged.");
        return Ok(());
    }
    cfg.cluster_enabled = false;
    save(&cfg, paths)?;
    println!(
        "cluster mode disabled; the cluster pin is kept (`dnsmesh cluster enable` to return)."
    );
    Ok(())
}

pub fn bootstrap_pin(paths: &Paths, user_domain: &str, signer_spk: &str) -> Result<(), Fail> {
    let mut cfg = ctx::load(paths)?;
    spk32(signer_spk, "signer_spk")?;
    let d = validate_dns_name(user_domain)
        .map_err(|e| Fail::user(format!("invalid user_domain: {e:?}")))?;
    cfg.bootstrap_user_domain = d.clone();
    cfg.bootstrap_signer_spk = signer_spk.trim().to_ascii_lowercase();
    save(&cfg, paths)?;
    println!("pinned bootstrap signer for {d}");
    println!("next: `dnsmesh bootstrap fetch` to verify the record resolves");
    Ok(())
}

fn fetch_bootstrap(
    reader: &Reader,
    domain: &str,
    signer: &[u8; 32],
) -> Result<BootstrapRecord, Fail> {
    let name = bootstrap_name(domain)
        .map_err(|e| Fail::user(format!("invalid domain {domain:?}: {e:?}")))?;
    let values = reader.txt(&name);
    best_bootstrap_record(
        values.iter().map(String::as_str),
        signer,
        Some(domain),
        now(),
    )
    .ok_or_else(|| {
        Fail::net(format!(
            "no verifying bootstrap record at {name} (signed by {}…) via {}",
            &hex(signer)[..16],
            reader.describe()
        ))
    })
}

fn print_bootstrap(r: &BootstrapRecord) {
    println!(
        "bootstrap: {} (seq={}, exp={})",
        r.user_domain, r.seq, r.exp
    );
    for e in &r.entries {
        println!(
            "  priority {}  cluster {}  operator_spk {}",
            e.priority,
            e.cluster_base_domain,
            hex(&e.operator_spk)
        );
    }
}

pub fn bootstrap_fetch(
    paths: &Paths,
    user_domain: Option<&str>,
    signer_spk: Option<&str>,
) -> Result<(), Fail> {
    let cfg = ctx::load(paths)?;
    let domain = user_domain
        .map(String::from)
        .unwrap_or_else(|| cfg.bootstrap_user_domain.clone());
    let spk = signer_spk
        .map(String::from)
        .unwrap_or_else(|| cfg.bootstrap_signer_spk.clone());
    if domain.is_empty() || spk.is_empty() {
        return Err(Fail::user(
            "no bootstrap pin — run `dnsmesh bootstrap pin <user_domain> <signer_spk>` or pass \
             --user-domain and --signer-spk",
        ));
    }
    let reader = reader_for(&cfg)?;
    let rec = fetch_bootstrap(&reader, &domain, &spk32(&spk, "signer_spk")?)?;
    print_bootstrap(&rec);
    Ok(())
}

pub fn bootstrap_discover(
    paths: &Paths,
    address: &str,
    signer_spk: Option<&str>,
    auto_pin: bool,
) -> Result<(), Fail> {
    let mut cfg = ctx::load(paths)?;
    let Some((_, host)) = address
        .split_once('@')
        .filter(|(u, h)| !u.is_empty() && !h.is_empty())
    else {
        return Err(Fail::user("give an address as user@host"));
    };
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    let pinned_here = cfg.bootstrap_user_domain.eq_ignore_ascii_case(&host);
    let spk = match signer_spk {
        Some(s) => s.to_string(),
        None if pinned_here => cfg.bootstrap_signer_spk.clone(),
        None => {
            return Err(Fail::user(format!(
                "no bootstrap signer pinned for {host}: pass --signer-spk <hex> (verified out of \
                 band) or `dnsmesh bootstrap pin {host} <signer_spk>`"
            )));
        }
    };
    let reader = reader_for(&cfg)?;
    let rec = fetch_bootstrap(&reader, &host, &spk32(&spk, "signer_spk")?)?;
    print_bootstrap(&rec);
    // Walk the entries in priority order; the first whose manifest
    // verifies under the entry's operator key wins.
    for e in &rec.entries {
        match fetch_manifest(&reader, &e.cluster_base_domain, &e.operator_spk)? {
            Some((m, _)) => {
                println!("usable cluster (priority {}):", e.priority);
                print_manifest(&m, true);
                if auto_pin {
                    let same_pin =
                        pinned_here && cfg.bootstrap_signer_spk.eq_ignore_ascii_case(&spk);
                    if !same_pin {
                        return Err(Fail::user(format!(
                            "--auto-pin only pins clusters for the bootstrap domain you pinned \
                             (`dnsmesh bootstrap pin {host} <signer_spk>` first)"
                        )));
                    }
                    cfg.cluster_base_domain = e.cluster_base_domain.clone();
                    cfg.cluster_operator_spk = hex(&e.operator_spk);
                    save(&cfg, paths)?;
                    println!(
                        "pinned cluster {} — `dnsmesh cluster enable` to use it",
                        e.cluster_base_domain
                    );
                }
                return Ok(());
            }
            None => eprintln!(
                "  entry {} (priority {}): no verifying manifest, trying the next",
                e.cluster_base_domain, e.priority
            ),
        }
    }
    Err(Fail::net(format!(
        "no bootstrap entry for {host} led to a verifying cluster manifest"
    )))
}

/// For `identity fetch --via-bootstrap user@host`: the pinned bootstrap
/// signer of `host` → its bootstrap record → the first entry whose cluster
/// manifest verifies, as a reader over that cluster.
pub fn reader_via_bootstrap(cfg: &Config, host: &str) -> Result<Reader, Fail> {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if !cfg.bootstrap_user_domain.eq_ignore_ascii_case(&host) || cfg.bootstrap_signer_spk.is_empty()
    {
        return Err(Fail::user(format!(
            "--via-bootstrap: no bootstrap signer pinned for {host}; run \
             `dnsmesh bootstrap pin {host} <signer_spk>` (verified out of band)"
        )));
    }
    let signer = spk32(&cfg.bootstrap_signer_spk, "bootstrap_signer_spk")?;
    let base = reader_for(cfg)?;
    let rec = fetch_bootstrap(&base, &host, &signer)?;
    for e in &rec.entries {
        let name = dmp_core::client::cluster::ClusterView::manifest_name(&e.cluster_base_domain)
            .map_err(|err| Fail::user(format!("bad cluster base: {err:?}")))?;
        let values = base.txt(&name);
        if let Ok(view) = dmp_core::client::cluster::ClusterView::install(
            values.iter().map(String::as_str),
            &e.operator_spk,
            &e.cluster_base_domain,
            now(),
        ) {
            return Ok(Reader::cluster(base, view, ctx::CLUSTER_TIMEOUT));
        }
    }
    Err(Fail::net(format!(
        "--via-bootstrap: no bootstrap entry for {host} led to a verifying cluster manifest"
    )))
}
