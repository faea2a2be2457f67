//! Local and diagnostic commands: intro queue, resolvers, peers, doctor.

use super::IntroCmd;
use dmp_cli::config::{Config, Contact as SavedContact, Paths};
use dmp_cli::ctx::{self, Ctx};
use dmp_cli::intros::{Intro, IntroStore};
use dmp_cli::keys::Fail;
use dmp_cli::net::dns::query_txt;
use dmp_cli::net::http::request;
use dmp_cli::net::{Writer, resolve_host};
use dmp_cli::rng::now;
use dmp_core::crypto::hex;
use dmp_core::records::heartbeat::HeartbeatRecord;
use std::time::Duration;

/// Public resolvers `resolvers discover` probes, in priority order.
const WELL_KNOWN_RESOLVERS: [&str; 8] = [
    "1.1.1.1",
    "8.8.8.8",
    "9.9.9.9",
    "1.0.0.1",
    "8.8.4.4",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
];

fn body_text(i: &Intro) -> String {
    match std::str::from_utf8(&i.plaintext) {
        Ok(s) => s.to_string(),
        Err(_) => format!("(binary, {} bytes)", i.plaintext.len()),
    }
}

pub fn intro_cmd(paths: &Paths, cmd: IntroCmd) -> Result<(), Fail> {
    let store = IntroStore::open(&paths.intros_db()).map_err(Fail::user)?;
    let get = |id: i64| -> Result<Intro, Fail> {
        store
            .get(id)
            .map_err(Fail::user)?
            .ok_or_else(|| Fail::user(format!("no pending intro with id {id}")))
    };
    match cmd {
        IntroCmd::List => {
            let list = store.list().map_err(Fail::user)?;
            if list.is_empty() {
                println!("(no pending intros)");
            }
            let t = now() as i64;
            for i in list {
                let spk = hex(&i.sender_spk);
                let label = if i.sender_label.is_empty() {
                    format!("intro-{}", &spk[..12.min(spk.len())])
                } else {
                    i.sender_label.clone()
                };
                let status = if i.msg_exp > t { "fresh" } else { "EXPIRED" };
                let mut preview = body_text(&i);
                if preview.chars().count() > 120 {
                    preview = preview.chars().take(120).collect::<String>() + "…";
                }
                println!("#{}  {label}  [{status}]", i.id);
                println!("  sender_spk: {spk}");
                println!("  from zone:  {}", i.sender_mailbox_domain);
                println!("  received:   {}", i.received_at);
                println!("  message:    {preview}");
                println!();
            }
            Ok(())
        }
        IntroCmd::Accept { id } => {
            let i = get(id)?;
            store.remove(id).map_err(Fail::user)?;
            println!("accepted intro #{id}");
            println!("  {}", body_text(&i));
            println!(
                "  (sender NOT pinned — `dnsmesh intro trust` if you want future messages \
                 from this key to bypass quarantine)"
            );
            Ok(())
        }
        IntroCmd::Trust {
            id,
            label,
            username,
        } => {
            let i = get(id)?;
            let mut cfg = ctx::load(paths)?;
            let spk = hex(&i.sender_spk);
            let remote = username.unwrap_or_default();
            let label = label
                .filter(|l| !l.is_empty())
                .or_else(|| (!remote.is_empty()).then(|| remote.clone()))
                .unwrap_or_else(|| format!("intro-{}", &spk[..12.min(spk.len())]));
            let mut pub_key = String::new();
            if let Some(e) = cfg.contacts.get(&label) {
                if !e.spk.is_empty() && !e.spk.eq_ignore_ascii_case(&spk) {
                    return Err(Fail::user(format!(
                        "contact `{label}` already pinned to a different signing key; \
                         re-run with --label <a-different-name> to keep both."
                    )));
                }
                if !e.domain.is_empty() && e.domain != i.sender_mailbox_domain {
                    return Err(Fail::user(format!(
                        "contact `{label}` already pinned at zone `{}`; this intro is from \
                         `{}`. Re-run with --label <a-different-name>.",
                        e.domain, i.sender_mailbox_domain
                    )));
                }
                pub_key = e.pub_key.clone();
            }
            cfg.contacts.insert(
                label.clone(),
                SavedContact {
                    pub_key,
                    spk,
                    domain: i.sender_mailbox_domain.clone(),
                    remote_username: Some(remote.clone()),
                    ..SavedContact::default()
                },
            );
            cfg.save(&paths.config_file())
                .map_err(|e| Fail::user(e.to_string()))?;
            store.remove(id).map_err(Fail::user)?;
            println!("trusted intro #{id} as `{label}`");
            println!("  {}", body_text(&i));
            let who = if remote.is_empty() {
                "<remote-username>".to_string()
            } else {
                remote
            };
            println!(
                "  pinned signing key only — run `dnsmesh identity fetch {who}@{} --add` to \
                 fill in the X25519 key needed to reply.",
                i.sender_mailbox_domain
            );
            Ok(())
        }
        IntroCmd::Block { id, note } => {
            let i = get(id)?;
            store
                .block(&i.sender_spk, &note, now() as i64)
                .map_err(Fail::user)?;
            store.remove(id).map_err(Fail::user)?;
            println!("blocked intro #{id}");
            println!("  sender_spk: {}", hex(&i.sender_spk));
            println!("  future claims signed by this key will be silently dropped.");
            Ok(())
        }
    }
}

pub fn resolvers_list(paths: &Paths) -> Result<(), Fail> {
    let cfg = ctx::load(paths)?;
    if cfg.dns_resolvers.is_empty() {
        println!("(no resolver pool configured — reads use dns_host or the system resolver)");
        return Ok(());
    }
    for r in &cfg.dns_resolvers {
        println!("{r}");
    }
    Ok(())
}

pub fn resolvers_discover(paths: &Paths, save: bool, timeout: f64) -> Result<(), Fail> {
    let timeout = Duration::from_secs_f64(timeout.clamp(0.1, 30.0));
    let mut working = Vec::new();
    for r in WELL_KNOWN_RESOLVERS {
        let Ok(addrs) = resolve_host(r, 53) else {
            continue;
        };
        let Some(addr) = addrs.first() else { continue };
        match query_txt(*addr, "google.com", timeout) {
            Ok(resp) if resp.rcode == 0 && !resp.values.is_empty() => {
                println!("  ok    {r}");
                working.push(r.to_string());
            }
            Ok(resp) => println!("  skip  {r} (rcode {}, no TXT data)", resp.rcode),
            Err(e) => println!("  skip  {r} ({e})"),
        }
    }
    if working.is_empty() {
        return Err(Fail::net(
            "no resolver answered; check the network or pass --timeout",
        ));
    }
    if save {
        let mut cfg = ctx::load(paths)?;
        cfg.dns_resolvers = working.clone();
        cfg.save(&paths.config_file())
            .map_err(|e| Fail::user(e.to_string()))?;
        println!("saved {} resolver(s) to dns_resolvers", working.len());
    } else {
        println!("working: {}", working.join(","));
    }
    Ok(())
}

pub fn peers(paths: &Paths, zone: &str, json: bool) -> Result<(), Fail> {
    let cfg: Config = ctx::load(paths)?;
    let reader = ctx::reader_for(&cfg)?;
    let name = dmp_core::names::seen_name(zone)
        .map_err(|e| Fail::user(format!("bad zone {zone:?}: {e:?}")))?;
    let t = now();
    let mut seen: Vec<HeartbeatRecord> = reader
        .txt(&name)
        .iter()
        .filter_map(|v| HeartbeatRecord::parse_and_verify(v, t).ok())
        .collect();
    seen.sort_by_key(|h| std::cmp::Reverse(h.ts));
    if json {
        let rows: Vec<serde_json::Value> = seen
            .iter()
            .map(|h| {
                serde_json::json!({
                    "endpoint": h.endpoint,
                    "operator_spk": hex(&h.operator_spk),
                    "version": h.version,
                    "claim_provider": h.is_claim_provider(),
                    "claim_provider_zone": h.claim_provider_zone,
                    "ts": h.ts,
                    "exp": h.exp,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
        return Ok(());
    }
    if seen.is_empty() {
        println!("(no verified heartbeats at {name})");
        return Ok(());
    }
    for h in seen {
        println!(
            "{}  v{}  spk={}…  ts={}{}",
            h.endpoint,
            h.version,
            &hex(&h.operator_spk)[..16],
            h.ts,
            if h.is_claim_provider() {
                "  claim-provider"
            } else {
                ""
            }
        );
    }
    Ok(())
}

pub fn doctor(paths: &Paths) -> Result<(), Fail> {
    let mut bad = 0;
    let pass = |label: &str, detail: String| println!("  [ok]   {label}{detail}");
    println!("dnsmesh doctor");
    let ctx = match Ctx::open(paths) {
        Ok(c) => c,
        Err(e) => {
            println!("  [FAIL] config / passphrase: {}", e.msg);
            return Err(Fail::user(""));
        }
    };
    pass(
        "config and passphrase",
        format!(" ({}@{})", ctx.cfg.username, ctx.domain()),
    );
    let reader = match ctx.reader() {
        Ok(r) => r,
        Err(e) => {
            println!("  [FAIL] resolvers: {}", e.msg);
            return Err(Fail::user(""));
        }
    };
    let idn = dmp_core::client::identity_publish(
        &ctx.kp,
        &ctx.cfg.username,
        ctx.domain(),
        Some(ctx.cfg.identity_domain.as_str()).filter(|d| !d.is_empty()),
        &[1],
        60,
        now(),
    )
    .map(|p| p.name)
    .unwrap_or_default();
    let vals = reader.txt(&idn);
    let mine = hex(&ctx.kp.ed25519_public());
    if vals.iter().any(|v| {
        dmp_core::records::identity::IdentityRecord::parse_and_verify(v)
            .is_ok_and(|r| hex(&r.ed25519_spk) == mine)
    }) {
        pass("identity published", format!(" at {idn}"));
    } else {
        bad += 1;
        println!(
            "  [WARN] no identity of yours at {idn} via {} — run `dnsmesh identity publish`",
            reader.describe()
        );
    }
    for line in reader.health() {
        println!("         resolver {line}");
    }
    match ctx.writer() {
        Ok(Writer::Http { endpoint, token }) => {
            match request(
                "GET",
                &format!("{endpoint}/health"),
                None,
                None,
                Duration::from_secs(5),
            ) {
                Ok(r) if r.status == 200 => pass(
                    "write path",
                    format!(
                        " HTTP {endpoint} ({})",
                        if token.is_some() { "token" } else { "no token" }
                    ),
                ),
                Ok(r) => {
                    bad += 1;
                    println!("  [FAIL] {endpoint}/health answered HTTP {}", r.status)
                }
                Err(e) => {
                    bad += 1;
                    println!("  [FAIL] cannot reach {endpoint}: {e}")
                }
            }
        }
        Ok(w @ (Writer::Tsig { .. } | Writer::Cluster { .. })) => {
            pass("write path", format!(" {}", w.describe()))
        }
        Err(e) => {
            bad += 1;
            println!("  [FAIL] write path: {}", e.msg)
        }
    }
    if let Ok(db) = dmp_cli::prekeys::PrekeyStore::open(&paths.prekeys_db()) {
        let n = db.count_live(now() as i64).unwrap_or(0);
        if n > 0 {
            pass("prekeys", format!(" ({n} live)"));
        } else {
            println!("  [WARN] no live prekeys — run `dnsmesh identity refresh-prekeys`");
        }
    }
    if bad > 0 {
        return Err(Fail::net(""));
    }
    Ok(())
}
