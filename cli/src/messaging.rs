//! Identity, contacts, send and receive: the I/O around dmp-core's client.

use crate::config::Contact as SavedContact;
use crate::ctx::Ctx;
use crate::intros::IntroStore;
use crate::keys::Fail;
use crate::net::writer::{UPDATE_TIMEOUT, publish_claim};
use crate::net::{Reader, Writer, endpoint_host, resolve_host};
use crate::prekeys::PrekeyStore as PrekeyDb;
use crate::replay::ReplayCache as ReplayFile;
use crate::rng::{OsRng, now};
use dmp_core::client::{
    DEFAULT_TTL_SECONDS, DropReason, Event, IdentityCandidate, IdentityChoice, PrekeySecret,
    PrekeyStore, ReceiveParams, ReceiveSession, ReplayCache, SendInput, TxtAnswers, build_message,
    identity_fetch_names, identity_publish, select_identity, send_queries,
};
use dmp_core::crypto::hex;
use std::io::IsTerminal;
use std::time::Duration;

/// Resolve `names` into a map (empty vectors for misses).
pub fn lookup(reader: &Reader, names: &[String]) -> TxtAnswers {
    let values = reader.txt_many(names);
    names.iter().cloned().zip(values).collect()
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

// ---------------------------------------------------------------- identity

pub fn identity_publish_cmd(ctx: &Ctx, ttl: u32, advertise_v2: bool) -> Result<(), Fail> {
    let writer = ctx.writer()?;
    let versions: &[u8] = if advertise_v2 { &[1, 2] } else { &[1] };
    let idd = Some(ctx.cfg.identity_domain.as_str()).filter(|d| !d.is_empty());
    let p = identity_publish(
        &ctx.kp,
        &ctx.cfg.username,
        ctx.domain(),
        idd,
        versions,
        ttl,
        now(),
    )
    .map_err(|e| Fail::user(format!("cannot build identity record: {e:?}")))?;
    writer
        .publish(&p.name, &p.value, p.ttl)
        .map_err(Fail::net)?;
    println!("published identity to {}", p.name);
    match idd {
        Some(d) => println!(
            "  others can resolve you with: dnsmesh identity fetch {}@{d}",
            ctx.cfg.username
        ),
        None => println!(
            "  others can resolve you with: dnsmesh identity fetch {}@{}",
            ctx.cfg.username,
            ctx.domain()
        ),
    }
    Ok(())
}

pub fn refresh_prekeys_cmd(ctx: &Ctx, count: usize, ttl: u32) -> Result<(), Fail> {
    let writer = ctx.writer()?;
    let db = PrekeyDb::open(&ctx.paths.prekeys_db()).map_err(|e| Fail::user(e.to_string()))?;
    let t = now();
    let mut fresh = PrekeyStore::new();
    let pubs = fresh
        .generate_pool(
            ctx.kp.signer(),
            &ctx.cfg.username,
            ctx.domain(),
            count,
            ttl,
            t,
            &mut OsRng,
        )
        .map_err(|e| Fail::user(format!("cannot generate prekeys: {e:?}")))?;
    // Secrets reach the disk before their public halves reach DNS, so a
    // crash can never leave a published prekey nobody can decrypt with.
    for (id, k) in &fresh.keys {
        let exp = i64::try_from(k.exp).unwrap_or(i64::MAX);
        db.insert(*id, &k.secret, &k.public, exp, t as i64)
            .and_then(|_| db.record_wire(*id, &k.wire))
            .map_err(|e| Fail::user(e.to_string()))?;
    }
    let name = pubs.first().map(|p| p.name.clone()).unwrap_or_default();
    let tty = std::io::stderr().is_terminal();
    let mut ok = 0usize;
    let mut last_err = None;
    for (i, p) in pubs.iter().enumerate() {
        if tty {
            eprint!("\rpublishing prekeys {}/{}", i + 1, pubs.len());
        }
        match writer.publish(&p.name, &p.value, p.ttl) {
            Ok(()) => ok += 1,
            Err(e) => last_err = Some(e),
        }
    }
    if tty {
        eprint!("\r\x1b[K");
    }
    println!("published {ok}/{count} prekeys to {name}");
    let live = db.count_live(now() as i64).unwrap_or(0);
    println!("  local live prekey count: {live}");
    if ok < count {
        println!(
            "  (note: some publishes were rejected — check node rate limits and caps){}",
            last_err
                .map(|e| format!(" — last error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Fetch and choose an identity; prints the reference's fields.
pub fn fetch_identity(
    ctx_domain: &str,
    reader: &Reader,
    address: &str,
    domain: Option<&str>,
    accept_fp: Option<&str>,
    json: bool,
) -> Result<(IdentityCandidate, String, Option<String>), Fail> {
    let default_domain = domain.filter(|d| !d.is_empty()).unwrap_or(ctx_domain);
    let q = identity_fetch_names(address, default_domain)
        .map_err(|e| Fail::user(format!("bad address {address:?}: {e:?}")))?;
    let answers = lookup(reader, &q.names);
    let choice = select_identity(&q, &answers).map_err(|e| {
        Fail::net(format!(
            "the identity record for {address} names another user ({e:?})"
        ))
    })?;
    let (name, cand) = match choice {
        IdentityChoice::NotFound => {
            return Err(Fail::net(format!(
                "no identity record at {} ({}); ask them to run `dnsmesh identity publish`",
                q.names.join(" or "),
                reader.describe()
            )));
        }
        IdentityChoice::NoneVerified { name } => {
            return Err(Fail::net(format!(
                "found TXT records at {name} but none verified as a DMP identity"
            )));
        }
        IdentityChoice::Candidate { name, candidate } => {
            if let Some(fp) = accept_fp
                && !candidate.fingerprint.eq_ignore_ascii_case(fp)
            {
                return Err(Fail::net(format!(
                    "the identity at {name} has fingerprint {}, not {fp}",
                    candidate.fingerprint
                )));
            }
            (name, candidate)
        }
        IdentityChoice::Ambiguous { name, candidates } => {
            match accept_fp.and_then(|fp| {
                candidates
                    .iter()
                    .find(|c| c.fingerprint.eq_ignore_ascii_case(fp))
            }) {
                Some(c) => (name, c.clone()),
                None => {
                    eprintln!(
                        "ambiguous: {} valid identity records at {name}",
                        candidates.len()
                    );
                    for c in &candidates {
                        eprintln!(
                            "  fingerprint={}  x25519={}...  ed25519={}...  ts={}",
                            c.fingerprint,
                            &hex(&c.record.x25519_pk)[..16],
                            &hex(&c.record.ed25519_spk)[..16],
                            c.record.ts
                        );
                    }
                    eprintln!("verify out-of-band and rerun with --accept-fingerprint=<16-hex>");
                    return Err(Fail::net(""));
                }
            }
        }
    };
    let host = if q.address_form {
        Some(q.host.clone())
    } else {
        domain.filter(|d| !d.is_empty()).map(String::from)
    };
    let display = format!(
        "{}@{}",
        cand.record.username,
        host.as_deref().unwrap_or(ctx_domain)
    );
    let r = &cand.record;
    if json {
        println!(
            "{{\n  \"username\": {},\n  \"address\": {},\n  \"public_key\": \"{}\",\n  \"signing_public_key\": \"{}\",\n  \"ts\": {},\n  \"dns_name\": {},\n  \"fingerprint\": \"{}\"\n}}",
            json_str(&r.username),
            json_str(&display),
            hex(&r.x25519_pk),
            hex(&r.ed25519_spk),
            r.ts,
            json_str(&name),
            cand.fingerprint
        );
    } else {
        println!("address:            {display}");
        println!("username:           {}", r.username);
        println!("public_key:         {}", hex(&r.x25519_pk));
        println!("signing_public_key: {}", hex(&r.ed25519_spk));
        println!("published at:       {}", r.ts);
        println!("fingerprint:        {}", cand.fingerprint);
    }
    let label = if q.address_form {
        format!("{}@{}", r.username, q.host)
    } else {
        r.username.clone()
    };
    Ok((cand, label, host))
}

/// Save a fetched identity as a pinned contact (the reference's rules:
/// fill in a signing-key-only contact, never overwrite an existing one).
pub fn add_fetched_contact(
    ctx: &mut Ctx,
    cand: &IdentityCandidate,
    label: &str,
    host: Option<&str>,
) -> Result<(), Fail> {
    let r = &cand.record;
    let spk = hex(&r.ed25519_spk);
    let upgrade = ctx
        .cfg
        .contacts
        .iter()
        .find(|(_, c)| c.pub_key.is_empty() && c.spk.eq_ignore_ascii_case(&spk))
        .map(|(k, _)| k.clone());
    if let Some(l) = upgrade {
        if let Some(c) = ctx.cfg.contacts.get_mut(&l) {
            c.pub_key = hex(&r.x25519_pk);
            c.spk = spk;
            if let Some(h) = host {
                c.domain = h.to_string();
            }
            c.remote_username = Some(r.username.clone());
        }
        ctx.save()?;
        println!(
            "upgraded contact `{l}` (filled in X25519 pubkey for {})",
            r.username
        );
        return Ok(());
    }
    if ctx.cfg.contacts.contains_key(label) {
        println!("(contact `{label}` already exists — not overwriting)");
        return Ok(());
    }
    ctx.cfg.contacts.insert(
        label.to_string(),
        SavedContact {
            pub_key: hex(&r.x25519_pk),
            spk,
            domain: host.unwrap_or("").to_string(),
            remote_username: Some(r.username.clone()),
            ..SavedContact::default()
        },
    );
    ctx.save()?;
    println!("added contact {label} (pinned signing key)");
    Ok(())
}

// -------------------------------------------------------------------- send

/// Where an un-signed claim UPDATE for `zone` goes: for the own zone the
/// local node (`local_node_dns_*`, then the TSIG server, then the
/// endpoint host at `dns_port`); elsewhere the zone's host at
/// `DMP_PROVIDER_DNS_PORT` or 53.
fn claim_target(ctx: &Ctx, zone: &str) -> Option<String> {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    if norm(zone) == norm(ctx.domain()) {
        let c = &ctx.cfg;
        if !c.local_node_dns_server.is_empty() && c.local_node_dns_port > 0 {
            return Some(format!(
                "{}:{}",
                c.local_node_dns_server, c.local_node_dns_port
            ));
        }
        if !c.tsig_dns_server.is_empty() && c.tsig_dns_port > 0 {
            return Some(format!("{}:{}", c.tsig_dns_server, c.tsig_dns_port));
        }
        let h = endpoint_host(&c.endpoint);
        if !h.is_empty() {
            return Some(format!("{h}:{}", c.dns_port));
        }
        return None;
    }
    let port = std::env::var("DMP_PROVIDER_DNS_PORT")
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(53);
    Some(format!("{}:{port}", norm(zone)))
}

/// Claim-provider zones: `claim_provider_zone`, or the host of
/// `claim_provider_override`. No public provider is contacted unless the
/// user configured one.
pub fn claim_providers(ctx: &Ctx) -> Vec<String> {
    let c = &ctx.cfg;
    if !c.claim_provider_zone.is_empty() {
        return vec![c.claim_provider_zone.clone()];
    }
    if !c.claim_provider_override.is_empty() {
        let h = endpoint_host(&c.claim_provider_override);
        if !h.is_empty() {
            return vec![h];
        }
    }
    Vec::new()
}

fn provider_target(ctx: &Ctx, zone: &str) -> Option<String> {
    let c = &ctx.cfg;
    let port = std::env::var("DMP_PROVIDER_DNS_PORT")
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(53);
    if !c.claim_provider_override.is_empty() {
        let h = endpoint_host(&c.claim_provider_override);
        if !h.is_empty() {
            return Some(format!("{h}:{port}"));
        }
    }
    claim_target(ctx, zone)
}

pub fn send_cmd(ctx: &Ctx, recipient: &str, message: &str) -> Result<(), Fail> {
    let Some((label, contact)) = ctx.find_contact(recipient) else {
        return Err(Fail::user(format!(
            "unknown contact `{recipient}` — add it first with \
             `dnsmesh identity fetch {recipient} --add` or `dnsmesh contacts add`"
        )));
    };
    if contact.x25519_pub.is_none() {
        return Err(Fail::user(format!(
            "contact `{label}` has no X25519 key yet — run `dnsmesh identity fetch <user>@<host> --add`"
        )));
    }
    let reader = ctx.reader()?;
    let writer = ctx.writer()?;
    let names = send_queries(&contact, ctx.domain());
    let answers = lookup(&reader, &names);
    let providers = claim_providers(ctx);
    let idd = Some(ctx.cfg.identity_domain.as_str()).filter(|d| !d.is_empty());
    let sent = build_message(
        &SendInput {
            keypair: &ctx.kp,
            username: &ctx.cfg.username,
            domain: ctx.domain(),
            identity_domain: idd,
            contact: &contact,
            answers: &answers,
            message: message.as_bytes(),
            ttl: DEFAULT_TTL_SECONDS,
            now: now(),
            claim_providers: &providers,
        },
        &mut OsRng,
    )
    .map_err(|e| match e {
        dmp_core::Error::MessageTooLarge { len, max } => Fail::user(format!(
            "message too long: {len} bytes, at most {max} fit in one message"
        )),
        e => Fail::user(format!("cannot build message: {e:?}")),
    })?;
    let tty = std::io::stderr().is_terminal();
    let data = &sent.publishes[..sent.claims_start];
    for (i, p) in data.iter().enumerate() {
        if tty {
            eprint!("\rpublishing {}/{}", i + 1, data.len());
        }
        if let Err(e) = writer.publish(&p.name, &p.value, p.ttl) {
            if tty {
                eprint!("\r\x1b[K");
            }
            return Err(Fail::net(format!("send failed: {e}")));
        }
    }
    if tty {
        eprint!("\r\x1b[K");
    }
    let claims = &sent.publishes[sent.claims_start..];
    let mut ok = 0;
    for (p, zone) in claims.iter().zip(&sent.claim_zones) {
        let is_provider = providers.contains(zone);
        let target = if is_provider {
            provider_target(ctx, zone)
        } else {
            claim_target(ctx, zone)
        };
        let res = target
            .ok_or_else(|| "no DNS target".to_string())
            .and_then(|t| {
                let addr = *resolve_host(&t, 53)?
                    .first()
                    .ok_or_else(|| format!("no address for {t}"))?;
                publish_claim(addr, zone, &p.name, &p.value, p.ttl, UPDATE_TIMEOUT)
            });
        match res {
            Ok(()) => ok += 1,
            Err(e) => tracing::info!(%zone, error = %e, "claim publish failed"),
        }
    }
    let suffix = if claims.is_empty() {
        String::new()
    } else {
        format!(" (+ {ok}/{} claim publishes)", claims.len())
    };
    println!("sent → {recipient}{suffix}");
    if sent.prekey_id == 0 {
        if contact.ed25519_spk.is_some() {
            eprintln!(
                "  note: {label} has no live prekeys published; sent with the long-term key \
                 (no forward secrecy). Ask them to run `dnsmesh identity refresh-prekeys`."
            );
        } else {
            eprintln!(
                "  note: {label}'s signing key is not pinned, so prekeys cannot be verified; \
                 sent with the long-term key. Pin it with `dnsmesh identity fetch <user>@<host> --add`."
            );
        }
    }
    if !claims.is_empty() && ok == 0 {
        eprintln!(
            "  WARNING: no claim publish was accepted — recipients who have not pinned you \
             will not discover this message; pinned contacts still receive it."
        );
    }
    Ok(())
}

// -------------------------------------------------------------------- recv

/// Outcome of one poll, for output and tests.
#[derive(Default)]
pub struct Poll {
    pub delivered: usize,
    pub intros: usize,
    pub problems: Vec<String>,
}

fn describe_drop(name: &str, reason: &DropReason) -> Option<String> {
    Some(match reason {
        DropReason::NotEnoughChunks { have, need } => format!(
            "a message at {name} could not be reassembled: only {have} valid chunk(s) found, \
             {need} needed (records lost or expired); ask the sender to resend"
        ),
        DropReason::PrekeyMissing { id } => format!(
            "a message at {name} was encrypted to prekey {id}, which this device does not hold \
             (already used or expired)"
        ),
        DropReason::DecryptFailed(_) => {
            format!("a message at {name} failed to decrypt (wrong key or tampered)")
        }
        DropReason::Undecodable(e) | DropReason::MalformedMessage(e) => {
            format!("a message at {name} is corrupt: {e:?}")
        }
        DropReason::HeaderMismatch => format!("a message at {name} has a mismatched header"),
        _ => return None,
    })
}

/// One receive poll: resolve, decrypt, persist, print.
pub fn poll_once(
    ctx: &Ctx,
    reader: &Reader,
    writer: Option<&Writer>,
    primary_only: bool,
    skip_primary: bool,
    progress: bool,
) -> Result<Poll, Fail> {
    let t = now();
    let ti = i64::try_from(t).unwrap_or(i64::MAX);
    let db = PrekeyDb::open(&ctx.paths.prekeys_db()).map_err(|e| Fail::user(e.to_string()))?;
    let intro_db = IntroStore::open(&ctx.paths.intros_db()).map_err(Fail::user)?;
    let mut replay_file = ReplayFile::load(&ctx.paths.replay_cache(), ti);
    let mut replay = ReplayCache::new();
    for ((spk, mid), exp) in &replay_file.seen {
        if let (Ok(s), Ok(m)) = (
            <[u8; 32]>::try_from(spk.as_slice()),
            <[u8; 16]>::try_from(mid.as_slice()),
        ) {
            replay.seen.insert((s, m), u64::try_from(*exp).unwrap_or(0));
        }
    }
    let mut prekeys = PrekeyStore::new();
    for (id, secret, public, exp, wire) in db.all_live(ti).map_err(|e| Fail::user(e.to_string()))? {
        prekeys.keys.insert(
            id,
            PrekeySecret {
                secret,
                public,
                exp: u64::try_from(exp).unwrap_or(0),
                wire,
            },
        );
    }
    let mut intro = intro_db.state().map_err(Fail::user)?;
    let contacts: Vec<_> = ctx.contacts().into_iter().map(|(_, c)| c).collect();
    let mut params =
        ReceiveParams::new(ctx.kp.clone(), &ctx.cfg.username, ctx.domain(), contacts, t);
    params.allow_tofu = ctx.cfg.allow_tofu;
    params.claim_providers = claim_providers(ctx);
    params.primary_only = primary_only;
    params.skip_primary = skip_primary;
    let mut session = ReceiveSession::new(params, &replay, &prekeys, &intro);
    let mut asked = 0usize;
    while !session.is_done() {
        let names = session.queries();
        if names.is_empty() {
            break;
        }
        asked += names.len();
        if progress {
            eprint!("\rpolling… {asked} lookups");
        }
        for (name, values) in names.iter().zip(reader.txt_many(&names)) {
            session.answer(name, values);
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    let events = session.finish(&mut replay, &mut prekeys, &mut intro);
    let mut poll = Poll::default();
    for ev in events {
        match ev {
            Event::Delivered {
                sender_spk,
                body,
                ts,
                sender_label,
                ..
            } => {
                poll.delivered += 1;
                println!("from {}...", &hex(&sender_spk)[..16]);
                if let Some(l) = sender_label {
                    println!("  sender: {l} (verified)");
                }
                println!("  ts={ts}");
                match std::str::from_utf8(&body) {
                    Ok(s) => println!("  {s}"),
                    Err(_) => println!("  (binary, {} bytes)", body.len()),
                }
                println!();
            }
            Event::Quarantined {
                sender_spk,
                msg_id,
                body,
                sender_mailbox_domain,
                exp,
                sender_label,
                ..
            } => {
                if let Ok(Some(_)) = intro_db.add(
                    &sender_spk,
                    &msg_id,
                    &body,
                    &sender_mailbox_domain,
                    sender_label.as_deref().unwrap_or(""),
                    i64::try_from(exp).unwrap_or(i64::MAX),
                    ti,
                ) {
                    poll.intros += 1;
                }
            }
            Event::PrekeyConsumed { id } => {
                if let Err(e) = db.claim(id, 0) {
                    eprintln!("warning: could not delete used prekey {id}: {e}");
                }
            }
            Event::DeletePublished { name, value } => match writer {
                Some(w) => {
                    if let Err(e) = w.delete(&name, &value) {
                        eprintln!("warning: could not delete used prekey record: {e}");
                    }
                }
                None => eprintln!(
                    "warning: a used prekey stays published at {name} (no write path configured); \
                     a sender who picks it sends a message this client cannot read"
                ),
            },
            Event::Dropped { name, reason } => {
                tracing::debug!(%name, ?reason, "dropped");
                if let Some(m) = describe_drop(&name, &reason) {
                    poll.problems.push(m);
                }
            }
            Event::ClaimSeen { .. } => {}
        }
    }
    replay_file.seen.clear();
    for ((s, m), exp) in &replay.seen {
        replay_file.record(s, m, i64::try_from(*exp).unwrap_or(i64::MAX));
    }
    replay_file.purge(ti);
    if let Err(e) = replay_file.save(&ctx.paths.replay_cache()) {
        eprintln!("warning: could not save the replay cache: {e}");
    }
    Ok(poll)
}

pub fn recv_cmd(
    ctx: &Ctx,
    primary_only: bool,
    skip_primary: bool,
    watch: bool,
    interval: u64,
) -> Result<(), Fail> {
    let reader = ctx.reader()?;
    let writer = ctx.writer().ok();
    let tty = std::io::stderr().is_terminal();
    loop {
        let poll = poll_once(
            ctx,
            &reader,
            writer.as_ref(),
            primary_only,
            skip_primary,
            tty,
        )?;
        for p in &poll.problems {
            eprintln!("dnsmesh: {p}");
        }
        if reader.nothing_answered() {
            let msg = format!(
                "no DNS resolver answered ({}): check dns_resolvers in config.yaml and the network",
                reader.describe()
            );
            if !watch {
                return Err(Fail::net(msg));
            }
            eprintln!("dnsmesh: {msg}");
        }
        if !watch {
            if poll.delivered == 0 && poll.intros == 0 {
                println!("(no new messages)");
            }
            if poll.intros > 0 {
                println!(
                    "({} new intro(s) from un-pinned senders — review with `dnsmesh intro list`)",
                    poll.intros
                );
            }
            return Ok(());
        }
        if poll.intros > 0 {
            println!(
                "({} new intro(s) — review with `dnsmesh intro list`)",
                poll.intros
            );
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        for left in (1..=interval.max(1)).rev() {
            if tty {
                eprint!("\rwatching — next poll in {left:>3}s (Ctrl-C to stop)");
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        if tty {
            eprint!("\r\x1b[K");
        }
    }
}
