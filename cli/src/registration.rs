//! `register` (bearer token) and `tsig register` (TSIG key): the
//! challenge/confirm ceremony of REFERENCE-NODE.md §3.4–3.6.

use crate::ctx::Ctx;
use crate::keys::Fail;
use crate::net::http::{HttpResponse, request};
use crate::net::resolve_host;
use crate::rng::now;
use crate::tokens::{TokenRecord, TokenStore, iso_utc};
use dmp_core::crypto::{Keypair, hex};
use dmp_core::node::registration::{canonicalize_subject, signing_payload, x25519_pop};
use serde_json::{Value, json};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// `--node` without scheme or trailing slash.
fn node_host(node: &str) -> String {
    let n = node.trim();
    let n = n.split_once("://").map_or(n, |(_, r)| r);
    n.trim_end_matches('/').to_string()
}

/// The host part of `host[:port]` / `[v6]:port`.
fn bare_host(node: &str) -> String {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match node.split_once(':') {
        Some((h, p)) if !p.contains(':') => h.to_string(),
        _ => node.to_string(),
    }
}

struct Signed {
    subject: String,
    body: Value,
}

/// GET the challenge and sign it (with the X25519 proof of possession when
/// the node offers a key).
fn challenge(ctx: &Ctx, base: &str, subject: &str, node: &str) -> Result<Signed, Fail> {
    let subject = canonicalize_subject(subject)
        .map_err(|e| Fail::user(format!("subject {subject:?} is not valid: {e}")))?;
    let r = request(
        "GET",
        &format!("{base}/v1/registration/challenge"),
        None,
        None,
        TIMEOUT,
    )
    .map_err(|e| Fail::net(format!("cannot reach {base}: {e}")))?;
    match r.status {
        200 => {}
        404 => {
            return Err(Fail::user(format!(
                "{node} does not expose /v1/registration/challenge (404). Operator must set \
                 DMP_REGISTRATION_ENABLED=1 + DMP_AUTH_MODE=multi-tenant."
            )));
        }
        429 => {
            return Err(Fail::net(
                "registration rate-limited (429). Try again later.",
            ));
        }
        s => {
            return Err(Fail::net(format!(
                "challenge request failed: HTTP {s}: {}",
                r.body
            )));
        }
    }
    let ch = r
        .json()
        .ok_or_else(|| Fail::net(format!("challenge response is not JSON: {:?}", r.body)))?;
    let ch_hex = ch.get("challenge").and_then(Value::as_str).unwrap_or("");
    let node_name = ch.get("node").and_then(Value::as_str).unwrap_or("");
    let challenge: [u8; 32] = crate::config::decode_hex(ch_hex)
        .and_then(|b| b.try_into().ok())
        .filter(|_| !node_name.is_empty())
        .ok_or_else(|| Fail::net(format!("malformed challenge response: {ch}")))?;
    let kp: &Keypair = &ctx.kp;
    let sig = kp.sign(&signing_payload(&challenge, &subject, node_name));
    let mut body = json!({
        "subject": subject,
        "ed25519_spk": hex(&kp.ed25519_public()),
        "challenge": ch_hex,
        "signature": hex(&sig),
    });
    if let Some(server) = ch
        .get("server_x25519_pub")
        .and_then(Value::as_str)
        .and_then(crate::config::decode_hex)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    {
        let xpub = kp.x25519_public();
        let pop = x25519_pop(kp.x25519_secret(), &server, &challenge, &subject, &xpub)
            .ok_or_else(|| Fail::net("x25519 proof-of-possession failed locally"))?;
        body["x25519_pub"] = hex(&xpub).into();
        body["x25519_pop"] = hex(&pop).into();
    }
    Ok(Signed { subject, body })
}

fn confirm_error(r: &HttpResponse, subject: &str, node: &str, what: &str) -> Fail {
    match r.status {
        401 => Fail::user("node rejected the signature (401). Re-check the passphrase."),
        403 => Fail::user(format!(
            "subject {subject:?} not in the node's allowlist (403)."
        )),
        409 => Fail::user(format!(
            "subject {subject:?} already owned by a different key (409). Use the same \
             passphrase you registered with, or have the operator revoke the prior key."
        )),
        404 => Fail::user(format!(
            "{node} does not expose /v1/registration/{what} (404). Operator must enable it \
             (DMP_DNS_UPDATE_ENABLED=1 for TSIG keys)."
        )),
        429 => Fail::net("registration rate-limited (429). Try again later."),
        s => Fail::net(format!("{what} failed: HTTP {s}: {}", r.body)),
    }
}

/// The shared registration round trip: challenge, sign locally, POST to
/// `/v1/registration/<endpoint>`; returns the node host, the signed
/// request and the 200 response body.
fn signed_confirm(
    ctx: &Ctx,
    node: &str,
    subject: Option<&str>,
    scheme: &str,
    endpoint: &str,
) -> Result<(String, Signed, Value), Fail> {
    let host = node_host(node);
    let base = format!("{scheme}://{host}");
    let subject = subject
        .map(String::from)
        .unwrap_or_else(|| format!("{}@{}", ctx.cfg.username, ctx.domain()));
    let s = challenge(ctx, &base, &subject, node)?;
    let r = request(
        "POST",
        &format!("{base}/v1/registration/{endpoint}"),
        Some(&s.body),
        None,
        TIMEOUT,
    )
    .map_err(|e| Fail::net(format!("{endpoint} request failed to reach node: {e}")))?;
    if r.status != 200 {
        return Err(confirm_error(&r, &s.subject, node, endpoint));
    }
    let body = r.json().unwrap_or(Value::Null);
    Ok((host, s, body))
}

pub fn register_cmd(
    ctx: &Ctx,
    node: &str,
    subject: Option<&str>,
    scheme: &str,
) -> Result<(), Fail> {
    let (host, s, body) = signed_confirm(ctx, node, subject, scheme, "confirm")?;
    let Some(token) = body.get("token").and_then(Value::as_str) else {
        return Err(Fail::net(format!("confirm returned no token: {body}")));
    };
    let expires = body.get("expires_at").and_then(Value::as_i64);
    // Saved under the bare host (a `host:port` file name is refused, the
    // reference's R8), which is also what the HTTP writer looks up.
    let rec = TokenRecord::new(
        &host,
        &s.subject,
        token,
        expires,
        Some(&hex(&ctx.kp.ed25519_public())),
        now() as i64,
    );
    let path = TokenStore::new(&ctx.paths.tokens_home)
        .save(&bare_host(&host), &rec)
        .map_err(|e| Fail::user(e.to_string()))?;
    println!("registered {} on {host}", s.subject);
    println!("  token saved to {} (mode 0600)", path.display());
    if let Some(e) = expires {
        println!("  expires at {}", iso_utc(e));
    }
    println!("  `dnsmesh identity publish` and `dnsmesh send` now use this token automatically.");
    Ok(())
}

pub fn tsig_register_cmd(
    ctx: &mut Ctx,
    node: &str,
    subject: Option<&str>,
    scheme: &str,
    dns_server: Option<&str>,
    dns_port: u16,
) -> Result<(), Fail> {
    let (host, s, body) = signed_confirm(ctx, node, subject, scheme, "tsig-confirm")?;
    let name = body.get("tsig_key_name").and_then(Value::as_str);
    let secret = body.get("tsig_secret_hex").and_then(Value::as_str);
    let zone = body.get("zone").and_then(Value::as_str).unwrap_or("");
    let (Some(name), Some(secret)) = (name, secret) else {
        return Err(Fail::net(format!(
            "tsig-confirm returned malformed body: {body}"
        )));
    };
    if zone.is_empty() || crate::config::decode_hex(secret).is_none() {
        return Err(Fail::net(format!(
            "tsig-confirm returned malformed body: {body}"
        )));
    }
    let algorithm = body
        .get("tsig_algorithm")
        .and_then(Value::as_str)
        .unwrap_or("hmac-sha256");
    let server = dns_server
        .map(String::from)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| bare_host(&host));
    if resolve_host(&server, dns_port).is_err() {
        eprintln!("warning: cannot resolve DNS server {server:?} now; saving it anyway");
    }
    ctx.cfg.tsig_key_name = name.to_string();
    ctx.cfg.tsig_secret_hex = secret.to_string();
    ctx.cfg.tsig_algorithm = algorithm.to_string();
    ctx.cfg.tsig_zone = zone.to_string();
    ctx.cfg.tsig_dns_server = server.clone();
    ctx.cfg.tsig_dns_port = i64::from(dns_port);
    ctx.save()?;
    println!("registered {} on {host}", s.subject);
    println!("  TSIG key:  {name}");
    println!("  algorithm: {algorithm}");
    println!("  zone:      {zone}");
    println!("  DNS:       {server}:{dns_port}/udp");
    if let Some(list) = body.get("allowed_suffixes").and_then(Value::as_array) {
        println!("  scope:");
        for x in list.iter().filter_map(Value::as_str) {
            println!("    - {x}");
        }
    }
    if let Some(e) = body.get("expires_at").and_then(Value::as_i64)
        && e > 0
    {
        println!("  expires:   {}", iso_utc(e));
    }
    println!(
        "  subsequent `dnsmesh identity publish` / `dnsmesh send` will go over DNS UPDATE \
         through the node's DNS port."
    );
    Ok(())
}
