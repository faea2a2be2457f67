//! The client's operations, each a short sequence of dmp-core calls and
//! I/O: unlock, register and publish, top the prekey pool up, poll, send,
//! look a contact up, handle the intro queue. State changes are applied to
//! the vault signal in one step after the I/O, then sealed and stored.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use dmp_core::client::{
    DEFAULT_IDENTITY_TTL, DEFAULT_PREKEY_TTL, DEFAULT_TTL_SECONDS, DropReason, Event,
    IdentityChoice, ReceiveParams, ReceiveSession, SendInput, TxtAnswers, build_message,
    identity_fetch_names, identity_publish, select_identity, send_queries, vault_key, vault_open,
    vault_seal,
};
use dmp_core::crypto::{Keypair, hex};
use dmp_core::records::identity::IdentityRecord;
use futures::future::join_all;
use leptos::prelude::*;
use rand_core::{Infallible, TryCryptoRng, TryRng};

use crate::js;
use crate::model::{ContactRec, Intro, Msg, Profile, Vault, unhex};
use crate::net::{self, Endpoints, Registration};

/// IndexedDB keys.
pub const PROFILE_KEY: &str = "profile";
pub const VAULT_KEY: &str = "vault";
/// Prekeys published at once, and the live count that triggers a top-up.
pub const PREKEY_BATCH: usize = 20;
pub const PREKEY_LOW: usize = 8;
/// Re-publish the identity record after this many seconds.
const IDENTITY_REFRESH: u64 = 12 * 3600;

/// The browser's CSPRNG (crypto.getRandomValues through getrandom).
pub struct BrowserRng;

impl TryRng for BrowserRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        fill(dst);
        Ok(())
    }
}
impl TryCryptoRng for BrowserRng {}

/// Fill from the browser's CSPRNG. `random_works` is checked before any
/// identity is opened, so a failure here cannot silently weaken keys: the
/// app refuses to start instead.
fn fill(dst: &mut [u8]) {
    if getrandom::fill(dst).is_err() {
        wasm_bindgen::throw_str("the browser's random number generator failed");
    }
}

/// Whether crypto.getRandomValues is usable at all.
pub fn random_works() -> bool {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).is_ok()
}

pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    fill(&mut b);
    hex(&b)
}

/// An unlocked identity.
#[derive(Clone)]
pub struct Unlocked {
    pub profile: Profile,
    pub keypair: Keypair,
    pub vkey: [u8; 32],
}

impl Unlocked {
    pub fn address(&self) -> String {
        format!("{}@{}", self.profile.username, self.profile.domain)
    }
    pub fn fingerprint(&self) -> String {
        dmp_core::client::identity_fingerprint(
            &self.keypair.x25519_public(),
            &self.keypair.ed25519_public(),
        )
    }
}

/// Reactive app state shared by every view.
#[derive(Clone, Copy)]
pub struct App {
    pub session: RwSignal<Option<Unlocked>>,
    pub vault: RwSignal<Vault>,
    /// One-line network status ("last checked …", errors).
    pub status: RwSignal<String>,
    pub polling: RwSignal<bool>,
    pub online: RwSignal<bool>,
}

impl App {
    pub fn new() -> Self {
        App {
            session: RwSignal::new(None),
            vault: RwSignal::new(Vault::default()),
            status: RwSignal::new(String::new()),
            polling: RwSignal::new(false),
            online: RwSignal::new(true),
        }
    }

    fn endpoints(&self) -> Option<Endpoints> {
        let s = self.session.get_untracked()?;
        Some(Endpoints {
            node: s.profile.node.clone(),
            doh: s.profile.doh.clone(),
            doh_json: s.profile.doh_json,
            token: self.vault.with_untracked(|v| v.token.clone()),
            cluster: self.vault.with_untracked(|v| {
                v.cluster
                    .as_ref()
                    .filter(|c| c.enabled)
                    .map(|c| crate::cluster::view_of(c, js::now()))
            }),
        })
    }

    /// Seal the vault and store it.
    pub async fn save(&self) -> Result<(), String> {
        let Some(s) = self.session.get_untracked() else {
            return Ok(());
        };
        let json = self
            .vault
            .with_untracked(serde_json::to_vec)
            .map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 12];
        fill(&mut nonce);
        let blob = vault_seal(&s.vkey, VAULT_KEY, &json, &nonce).map_err(|e| e.to_string())?;
        js::store_put(VAULT_KEY, &STANDARD.encode(blob)).await
    }

    pub fn lock(&self) {
        self.session.set(None);
        self.vault.set(Vault::default());
        self.status.set(String::new());
    }
}

/// Derive the keys (in the worker) and check them against the profile.
pub async fn derive(profile: &Profile, passphrase: &str) -> Result<Keypair, String> {
    let secret_hex = js::derive_secret(passphrase, &profile.salt).await?;
    let secret = unhex::<32>(&secret_hex).ok_or("key derivation returned a malformed key")?;
    Ok(Keypair::from_x25519_secret(secret))
}

/// Open the stored vault with `keypair`; a key that does not match the
/// profile is refused before anything is decrypted.
pub async fn open_vault(profile: &Profile, keypair: &Keypair) -> Result<(Vault, [u8; 32]), String> {
    if !profile.x25519_pub.is_empty() && hex(&keypair.x25519_public()) != profile.x25519_pub {
        return Err(WRONG_PASSPHRASE.into());
    }
    let vkey = vault_key(keypair);
    let Some(stored) = js::store_get(VAULT_KEY).await? else {
        return Ok((Vault::default(), vkey));
    };
    let blob = STANDARD
        .decode(stored.as_bytes())
        .map_err(|_| "the stored data is damaged (not base64)".to_string())?;
    let json = vault_open(&vkey, VAULT_KEY, &blob).map_err(|_| WRONG_PASSPHRASE.to_string())?;
    let vault =
        serde_json::from_slice(&json).map_err(|e| format!("the stored data is damaged ({e})"))?;
    Ok((vault, vkey))
}

pub const WRONG_PASSPHRASE: &str =
    "Wrong passphrase: it does not open this identity. Check it and try again.";

/// Register (when the node offers it), publish the identity, and keep the
/// prekey pool topped up. Errors are reported in the status line.
pub async fn bring_online(app: App) {
    let Some(s) = app.session.get_untracked() else {
        return;
    };
    let now = js::now();
    if app.vault.with_untracked(|v| v.token.is_none()) {
        match register(&s).await {
            Ok(Registration::Token(t)) => app.vault.update(|v| {
                v.token = Some(t);
                v.registration = "registered (bearer token kept in the vault)".into();
            }),
            Ok(Registration::NotOffered) => app.vault.update(|v| {
                v.registration =
                    "this node has no self-service registration; publishing without a token".into();
            }),
            Err(e) => {
                app.status.set(format!("Registration failed: {e}"));
                app.vault
                    .update(|v| v.registration = format!("failed: {e}"));
            }
        }
    }
    let Some(ep) = app.endpoints() else { return };
    publish_identity(app, &s, &ep, now).await;
    top_up_prekeys(app, &s, &ep).await;
    let _ = app.save().await;
}

/// Publish the identity record (advertising DMPv2) unless a fresh one with
/// these keys is already there; then remove older records of these keys, so
/// readers (the reference CLI counts same-key records as ambiguous) see one.
async fn publish_identity(app: App, s: &Unlocked, ep: &Endpoints, now: u64) {
    let p = match identity_publish(
        &s.keypair,
        &s.profile.username,
        &s.profile.domain,
        None,
        &[1, 2],
        DEFAULT_IDENTITY_TTL,
        now,
    ) {
        Ok(p) => p,
        Err(e) => return app.status.set(format!("Could not sign your identity: {e}")),
    };
    let Ok(existing) = net::resolve(ep, &p.name).await else {
        return app
            .status
            .set("Could not check your published identity (resolver unreachable)".into());
    };
    let mine: Vec<(String, u64, bool)> = existing
        .iter()
        .filter_map(|v| {
            let r = IdentityRecord::parse_and_verify(v).ok()?;
            (r.x25519_pk == s.keypair.x25519_public()
                && r.ed25519_spk == s.keypair.ed25519_public()
                && r.username == s.profile.username)
                .then(|| (v.clone(), r.ts, r.versions.contains(&2)))
        })
        .collect();
    if let Some((_, ts, _)) = mine
        .iter()
        .find(|(_, ts, v2)| *v2 && now.saturating_sub(*ts) < IDENTITY_REFRESH)
    {
        let ts = *ts;
        return app.vault.update(|v| v.identity_published = ts);
    }
    if let Err(e) = publish_all(app, s, ep, core::slice::from_ref(&p)).await {
        return app
            .status
            .set(format!("Could not publish your identity: {e}"));
    }
    app.vault.update(|v| v.identity_published = now);
    let Some(ep) = app.endpoints() else { return };
    for (value, _, _) in mine {
        let _ = net::delete(
            &ep,
            &dmp_core::client::Delete {
                name: p.name.clone(),
                value,
            },
        )
        .await;
    }
}

/// Self-service registration of the unlocked identity at its node.
async fn register(s: &Unlocked) -> Result<Registration, String> {
    net::register(
        &s.profile.node,
        &s.keypair,
        &s.profile.username,
        &s.profile.domain,
    )
    .await
}

/// Register again and keep the new token (the old one expired, or another
/// browser holding the same identity rotated it). False when the node
/// offers no registration or refuses.
async fn reregister(app: App, s: &Unlocked) -> bool {
    match register(s).await {
        Ok(Registration::Token(t)) => {
            app.vault.update(|v| v.token = Some(t));
            let _ = app.save().await;
            true
        }
        _ => false,
    }
}

/// Publish records concurrently; when the node answers 401 (token revoked
/// or expired) register once more and retry what failed.
async fn publish_all(
    app: App,
    s: &Unlocked,
    ep: &Endpoints,
    items: &[dmp_core::client::Publish],
) -> Result<(), String> {
    let results = join_all(items.iter().map(|p| net::publish(ep, p))).await;
    let failed: Vec<_> = items
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_err())
        .map(|(p, _)| p.clone())
        .collect();
    let Some(Err(first)) = results.into_iter().find(Result::is_err) else {
        return Ok(());
    };
    if !first.contains("HTTP 401") || ep.token.is_none() || !reregister(app, s).await {
        return Err(first);
    }
    let Some(ep) = app.endpoints() else {
        return Err(first);
    };
    for r in join_all(failed.iter().map(|p| net::publish(&ep, p))).await {
        r?;
    }
    Ok(())
}

/// Delete expired prekeys and publish a fresh batch when few are left.
async fn top_up_prekeys(app: App, s: &Unlocked, ep: &Endpoints) {
    let now = js::now();
    let mut store = app.vault.with_untracked(|v| v.prekey_store());
    let dead = store.prune(&s.profile.username, &s.profile.domain, now);
    for d in &dead {
        let _ = net::delete(ep, d).await;
    }
    if store.live_count(now) >= PREKEY_LOW {
        app.vault.update(|v| v.set_prekeys(&store));
        return;
    }
    let before = store.clone();
    let publishes = match store.generate_pool(
        s.keypair.signer(),
        &s.profile.username,
        &s.profile.domain,
        PREKEY_BATCH,
        DEFAULT_PREKEY_TTL,
        now,
        &mut BrowserRng,
    ) {
        Ok(p) => p,
        Err(e) => {
            app.status.set(format!("Could not make prekeys: {e}"));
            return;
        }
    };
    // Keep the secrets first: a published prekey whose secret was lost
    // would make messages to it undecryptable.
    app.vault.update(|v| v.set_prekeys(&store));
    if app.save().await.is_err() {
        app.vault.update(|v| v.set_prekeys(&before));
        return;
    }
    if let Err(e) = publish_all(app, s, ep, &publishes).await {
        app.status
            .set(format!("Some prekeys could not be published: {e}"));
    }
}

/// Resolve every name concurrently. Failed lookups count as "no data" and
/// the first error is returned alongside.
async fn resolve_all(ep: &Endpoints, names: &[String]) -> (TxtAnswers, Option<String>) {
    let results = join_all(names.iter().map(|n| net::resolve(ep, n))).await;
    let mut answers = TxtAnswers::new();
    let mut first_err = None;
    for (name, r) in names.iter().zip(results) {
        match r {
            Ok(v) => {
                answers.insert(name.clone(), v);
            }
            Err(e) => {
                first_err.get_or_insert(e);
                answers.insert(name.clone(), Vec::new());
            }
        }
    }
    (answers, first_err)
}

/// One mailbox poll.
pub async fn poll(app: App) {
    if app.polling.get_untracked() {
        return;
    }
    let (Some(s), Some(ep)) = (app.session.get_untracked(), app.endpoints()) else {
        return;
    };
    app.polling.set(true);
    let now = js::now();
    let (contacts, replay, prekeys, intro) = app.vault.with_untracked(|v| {
        (
            v.contacts_core(&s.profile.domain),
            v.replay_cache(),
            v.prekey_store(),
            v.intro_state(),
        )
    });
    let params = ReceiveParams::new(
        s.keypair.clone(),
        &s.profile.username,
        &s.profile.domain,
        contacts,
        now,
    );
    let mut session = ReceiveSession::new(params, &replay, &prekeys, &intro);
    let mut error = None;
    while !session.is_done() {
        let names = session.queries();
        if names.is_empty() {
            break;
        }
        let (answers, err) = resolve_all(&ep, &names).await;
        if error.is_none() {
            error = err;
        }
        for (name, values) in answers {
            session.answer(&name, values);
        }
    }
    let mut deletes = Vec::new();
    let mut delivered = 0;
    let mut other_device = 0;
    app.vault.update(|v| {
        let mut replay = v.replay_cache();
        let mut prekeys = v.prekey_store();
        let mut intro = v.intro_state();
        for ev in session.finish(&mut replay, &mut prekeys, &mut intro) {
            match ev {
                Event::Delivered {
                    sender_spk,
                    body,
                    ts,
                    msg_id,
                    ..
                } => {
                    let Some(peer) = v.contact_by_spk(&sender_spk).map(|c| c.address.clone())
                    else {
                        continue;
                    };
                    v.messages.push(Msg {
                        id: hex(&msg_id),
                        peer: peer.clone(),
                        outgoing: false,
                        text: String::from_utf8_lossy(&body).into_owned(),
                        ts,
                        status: "received".into(),
                    });
                    if let Some(c) = v.contacts.iter_mut().find(|c| c.address == peer) {
                        c.unread += 1;
                    }
                    delivered += 1;
                }
                Event::Quarantined {
                    sender_spk,
                    msg_id,
                    body,
                    ts,
                    sender_mailbox_domain,
                    sender_label,
                    ..
                } => v.intros.push(Intro {
                    spk: hex(&sender_spk),
                    msg_id: hex(&msg_id),
                    text: String::from_utf8_lossy(&body).into_owned(),
                    ts,
                    from: sender_label,
                    mailbox: sender_mailbox_domain,
                }),
                Event::DeletePublished { name, value } => {
                    deletes.push(dmp_core::client::Delete { name, value })
                }
                Event::Dropped {
                    reason: DropReason::PrekeyMissing { .. },
                    ..
                } => other_device += 1,
                _ => {}
            }
        }
        v.set_replay(&replay);
        v.set_prekeys(&prekeys);
        v.set_intro_state(&intro);
        if error.is_none() {
            v.last_checked = now;
        }
    });
    let _ = app.save().await;
    for d in &deletes {
        let _ = net::delete(&ep, d).await;
    }
    app.online.set(error.is_none());
    app.status.set(match error {
        None => format!(
            "Last checked {}{}{}",
            clock(now),
            if delivered > 0 {
                format!(" \u{2014} {delivered} new")
            } else {
                String::new()
            },
            if other_device > 0 {
                format!(
                    " \u{2014} {other_device} message(s) use a prekey this browser does not hold \
                     (sent to another browser with this identity, or already read)"
                )
            } else {
                String::new()
            }
        ),
        Some(e) => format!("Check failed at {}: {e}", clock(now)),
    });
    if !deletes.is_empty() {
        top_up_prekeys(app, &s, &ep).await;
        let _ = app.save().await;
    }
    app.polling.set(false);
}

/// `HH:MM:SS` (UTC) of a unix time.
pub fn clock(ts: u64) -> String {
    let d = ts % 86_400;
    format!("{:02}:{:02}:{:02} UTC", d / 3600, (d / 60) % 60, d % 60)
}

/// Send `text` to the contact at `peer`. The message shows at once as
/// "sending"; its status becomes "sent" or the error in plain words.
pub async fn send(app: App, peer: String, text: String) {
    let (Some(s), Some(ep)) = (app.session.get_untracked(), app.endpoints()) else {
        return;
    };
    let now = js::now();
    let local_id = random_hex(16);
    app.vault.update(|v| {
        v.messages.push(Msg {
            id: local_id.clone(),
            peer: peer.clone(),
            outgoing: true,
            text: text.clone(),
            ts: now,
            status: "sending".into(),
        })
    });
    let _ = app.save().await;
    let result = send_inner(&s, &ep, &app, &peer, &text, now).await;
    app.vault.update(|v| {
        if let Some(m) = v.messages.iter_mut().find(|m| m.id == local_id) {
            m.status = match &result {
                Ok(()) => "sent".into(),
                Err(e) => format!("Not delivered: {e}"),
            };
        }
    });
    let _ = app.save().await;
}

async fn send_inner(
    s: &Unlocked,
    ep: &Endpoints,
    app: &App,
    peer: &str,
    text: &str,
    now: u64,
) -> Result<(), String> {
    let contact = app
        .vault
        .with_untracked(|v| {
            v.contacts
                .iter()
                .find(|c| c.address == peer)
                .and_then(|c| c.to_contact(&s.profile.domain))
        })
        .ok_or("this contact is not pinned")?;
    let names = send_queries(&contact, &s.profile.domain);
    let (answers, _) = resolve_all(ep, &names).await;
    let sent = build_message(
        &SendInput {
            keypair: &s.keypair,
            username: &s.profile.username,
            domain: &s.profile.domain,
            identity_domain: None,
            contact: &contact,
            answers: &answers,
            message: text.as_bytes(),
            ttl: DEFAULT_TTL_SECONDS,
            now,
            claim_providers: &[],
        },
        &mut BrowserRng,
    )
    .map_err(|e| e.to_string())?;
    let (records, claims) = sent.publishes.split_at(sent.claims_start);
    let (chunks, manifest) = records.split_at(records.len().saturating_sub(1));
    publish_all(*app, s, ep, chunks).await?;
    // The token may have been renewed by the chunk publishes.
    let ep = app.endpoints().unwrap_or_else(|| ep.clone());
    publish_all(*app, s, &ep, manifest).await?;
    // First-contact claims are best effort, and only the own node's zone
    // can take them over HTTP.
    for (p, zone) in claims.iter().zip(&sent.claim_zones) {
        if zone.eq_ignore_ascii_case(&s.profile.domain) {
            let _ = net::publish(&ep, p).await;
        }
    }
    Ok(())
}

/// Look an address up for the "add contact" dialog.
pub async fn lookup(app: App, address: &str) -> Result<ContactRec, String> {
    let (Some(s), Some(ep)) = (app.session.get_untracked(), app.endpoints()) else {
        return Err("locked".into());
    };
    let address = address.trim().to_ascii_lowercase();
    let q = identity_fetch_names(&address, &s.profile.domain).map_err(|e| e.to_string())?;
    let (answers, err) = resolve_all(&ep, &q.names).await;
    let choice = select_identity(&q, &answers).map_err(|e| e.to_string())?;
    let cand = match choice {
        IdentityChoice::Candidate { candidate, .. } => candidate,
        IdentityChoice::Ambiguous { candidates, .. } => {
            return Err(format!(
                "{} different keys claim this address ({}); ask the person for their fingerprint before trusting any",
                candidates.len(),
                candidates
                    .iter()
                    .map(|c| c.fingerprint.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        IdentityChoice::NotFound => {
            return Err(match err {
                Some(e) => format!("lookup failed: {e}"),
                None => format!("no identity is published for {address}"),
            });
        }
        IdentityChoice::NoneVerified { .. } => {
            return Err(format!(
                "the records found for {address} do not verify; not trusting them"
            ));
        }
    };
    let address = format!("{}@{}", q.user, q.host);
    Ok(ContactRec {
        address,
        username: q.user,
        host: q.host,
        x25519: hex(&cand.record.x25519_pk),
        spk: hex(&cand.record.ed25519_spk),
        fingerprint: cand.fingerprint,
        unread: 0,
    })
}

/// Pin a looked-up contact.
pub async fn pin(app: App, c: ContactRec) {
    app.vault.update(|v| {
        v.contacts.retain(|x| x.address != c.address);
        v.contacts.push(c);
    });
    let _ = app.save().await;
}

/// Accept an intro: look its sender's address up, require the same key,
/// pin it and move the message into the thread.
pub async fn accept_intro(app: App, intro: Intro) -> Result<(), String> {
    let from = intro.from.clone().ok_or(
        "this request carries no sender address, so it cannot be pinned; block or dismiss it",
    )?;
    let c = lookup(app, &from).await?;
    if c.spk != intro.spk {
        return Err(format!(
            "the key published for {from} is not the one that signed this request"
        ));
    }
    let peer = c.address.clone();
    app.vault.update(|v| {
        v.contacts.retain(|x| x.address != c.address);
        v.contacts.push(ContactRec { unread: 1, ..c });
        v.intros.retain(|i| i.msg_id != intro.msg_id);
        let mut st = v.intro_state();
        if let (Some(s), Some(m)) = (unhex::<32>(&intro.spk), unhex::<16>(&intro.msg_id)) {
            st.remove_pending(&s, &m);
        }
        v.set_intro_state(&st);
        v.messages.push(Msg {
            id: intro.msg_id.clone(),
            peer,
            outgoing: false,
            text: intro.text.clone(),
            ts: intro.ts,
            status: "received".into(),
        });
    });
    app.save().await
}

/// Block an intro's sender (or just dismiss the request).
pub async fn drop_intro(app: App, intro: Intro, block: bool) {
    app.vault.update(|v| {
        let mut st = v.intro_state();
        if let (Some(s), Some(m)) = (unhex::<32>(&intro.spk), unhex::<16>(&intro.msg_id)) {
            st.remove_pending(&s, &m);
            if block {
                st.block(&s);
            }
        }
        v.set_intro_state(&st);
        if block {
            v.intros.retain(|i| i.spk != intro.spk);
        } else {
            v.intros.retain(|i| i.msg_id != intro.msg_id);
        }
    });
    let _ = app.save().await;
}

/// Messages of one thread in the order they were sent or arrived.
pub fn thread(v: &Vault, peer: &str) -> Vec<Msg> {
    v.messages
        .iter()
        .filter(|m| m.peer == peer)
        .cloned()
        .collect()
}

/// Last message per contact, for the conversation list.
pub fn last_messages(v: &Vault) -> BTreeMap<String, Msg> {
    let mut out: BTreeMap<String, Msg> = BTreeMap::new();
    for m in &v.messages {
        out.insert(m.peer.clone(), m.clone());
    }
    out
}
