//! The screens: first run (create or import an identity), lock screen,
//! and the messenger (conversations, thread, compose, contacts, requests,
//! settings). Every control has a visible label or an accessible name.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bootstrap;
use crate::cluster;
use crate::engine::{self, App, PROFILE_KEY, Unlocked};
use crate::js;
use crate::model::{ContactRec, ExportFile, Profile};
use crate::net;

/// Setting a signal whose component is gone (a screen replaced while an
/// await was pending) is a no-op instead of a panic.
trait SetIfAlive<T> {
    fn set_if_alive(&self, value: T);
}

impl<T: Send + Sync + 'static> SetIfAlive<T> for RwSignal<T> {
    fn set_if_alive(&self, value: T) {
        let _ = self.try_set(value);
    }
}

/// Seconds between background mailbox checks.
const POLL_SECONDS: u32 = 5;

/// Seconds between automatic refreshes of a pinned cluster's manifest.
const CLUSTER_REFRESH_SECONDS: u64 = 15 * 60;

#[derive(Clone, PartialEq)]
enum Stage {
    Loading,
    Setup,
    Locked(Profile),
    Open,
}

#[component]
pub fn Root() -> impl IntoView {
    let app = App::new();
    provide_context(app);
    let stage = RwSignal::new(Stage::Loading);
    let fatal = RwSignal::new(None::<String>);
    if !engine::random_works() {
        fatal.set(Some(
            "This browser offers no secure random numbers; the messenger cannot run here.".into(),
        ));
    }
    spawn_local(async move {
        match js::store_get(PROFILE_KEY).await {
            Ok(Some(p)) => match serde_json::from_str::<Profile>(&p) {
                Ok(p) => stage.set(Stage::Locked(p)),
                Err(e) => fatal.set(Some(format!("The stored profile is damaged: {e}"))),
            },
            Ok(None) => stage.set(Stage::Setup),
            Err(e) => fatal.set(Some(format!("Browser storage is unavailable: {e}"))),
        }
    });
    // Background polling while unlocked; a pinned cluster's manifest is
    // refreshed after each unlock and then every CLUSTER_REFRESH_SECONDS
    // (only to a strictly higher seq: `cluster::refresh`).
    spawn_local(async move {
        let mut checked_since_unlock = false;
        loop {
            js::sleep(POLL_SECONDS * 1000).await;
            if app.session.with_untracked(Option::is_none) {
                checked_since_unlock = false;
                continue;
            }
            engine::poll(app).await;
            let first = !checked_since_unlock;
            checked_since_unlock = true;
            let due = app.vault.with_untracked(|v| {
                v.cluster.as_ref().is_some_and(|c| {
                    first || js::now().saturating_sub(c.last_refresh) >= CLUSTER_REFRESH_SECONDS
                })
            });
            if due {
                // The outcome is kept in the pin's status (Last refresh).
                let _ = cluster::refresh(app).await;
            }
        }
    });
    view! {
        <div class="app">
            {move || fatal.get().map(|f| view! { <p class="error" role="alert">{f}</p> })}
            {move || match stage.get() {
                Stage::Loading => view! { <p class="center">"Loading\u{2026}"</p> }.into_any(),
                Stage::Setup => view! { <Setup stage=stage/> }.into_any(),
                Stage::Locked(p) => view! { <Unlock profile=p stage=stage/> }.into_any(),
                Stage::Open => view! { <Messenger stage=stage/> }.into_any(),
            }}
        </div>
    }
}

/// Shows a running "Deriving key… 1.2 s" while Argon2id works in the
/// worker; the ticking counter is the proof that the page stays responsive.
#[component]
fn KdfProgress(busy: RwSignal<Option<f64>>) -> impl IntoView {
    // Tenths of a second (integer formatting keeps float printing out of the wasm).
    let elapsed = RwSignal::new(0u64);
    Effect::new(move |_| {
        if let Some(start) = busy.get() {
            spawn_local(async move {
                // try_*: the screen may be gone (unlocked) before the loop notices.
                while busy.try_get_untracked().flatten() == Some(start) {
                    if elapsed
                        .try_set(((js::now_millis() - start) / 100.0) as u64)
                        .is_some()
                    {
                        break;
                    }
                    js::sleep(100).await;
                }
            });
        }
    });
    view! {
        <Show when=move || busy.get().is_some()>
            <div class="progress" role="status" aria-live="polite" id="kdf-progress">
                <div class="bar"><div class="fill"></div></div>
                <span>
                    "Deriving your keys (Argon2id, 32 MiB)\u{2026} "
                    {move || { let t = elapsed.get(); format!("{}.{} s", t / 10, t % 10) }}
                </span>
            </div>
        </Show>
    }
}

async fn finish_unlock(app: App, profile: Profile, passphrase: String) -> Result<(), String> {
    let keypair = engine::derive(&profile, &passphrase).await?;
    let (vault, vkey) = engine::open_vault(&profile, &keypair).await?;
    app.vault.set(vault);
    app.session.set(Some(Unlocked {
        profile,
        keypair,
        vkey,
    }));
    Ok(())
}

#[component]
fn Setup(stage: RwSignal<Stage>) -> impl IntoView {
    let app = expect_context::<App>();
    let importing = RwSignal::new(false);
    let username = RwSignal::new(String::new());
    let domain = RwSignal::new(String::new());
    let node = RwSignal::new(js::origin());
    let pass = RwSignal::new(String::new());
    let pass2 = RwSignal::new(String::new());
    let import_text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(None::<f64>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set_if_alive(None);
        let node_url = match net::normalize_url(&node.get_untracked()) {
            Ok(u) => u,
            Err(e) => return error.set_if_alive(Some(e)),
        };
        let (user, dom, salt, pub_hex) = if importing.get_untracked() {
            match serde_json::from_str::<ExportFile>(import_text.get_untracked().trim()) {
                Ok(f) if f.dmp_identity == 1 => (f.username, f.domain, f.salt, f.x25519_pub),
                _ => {
                    return error.set_if_alive(Some(
                        "That is not an exported dnsmesh identity (paste the whole file).".into(),
                    ));
                }
            }
        } else {
            (
                username.get_untracked().trim().to_string(),
                domain
                    .get_untracked()
                    .trim()
                    .trim_end_matches('.')
                    .to_ascii_lowercase(),
                engine::random_hex(16),
                String::new(),
            )
        };
        if user.is_empty() || dom.is_empty() {
            return error.set_if_alive(Some("Enter a username and a mailbox domain.".into()));
        }
        if let Err(e) = dmp_core::node::registration::canonicalize_subject(&format!("{user}@{dom}"))
        {
            return error.set_if_alive(Some(format!("That address is not usable: {e}")));
        }
        let p = pass.get_untracked();
        if !importing.get_untracked() {
            if p.chars().count() < 8 {
                return error
                    .set_if_alive(Some("Use a passphrase of at least 8 characters.".into()));
            }
            if p != pass2.get_untracked() {
                return error.set_if_alive(Some("The two passphrases differ.".into()));
            }
        }
        let profile = Profile {
            username: user,
            domain: dom,
            salt,
            doh: net::default_doh(&node_url),
            node: node_url,
            doh_json: false,
            x25519_pub: pub_hex,
        };
        busy.set_if_alive(Some(js::now_millis()));
        spawn_local(async move {
            let result = async {
                let keypair = engine::derive(&profile, &p).await?;
                if !profile.x25519_pub.is_empty()
                    && dmp_core::crypto::hex(&keypair.x25519_public()) != profile.x25519_pub
                {
                    return Err(engine::WRONG_PASSPHRASE.to_string());
                }
                let profile = Profile {
                    x25519_pub: dmp_core::crypto::hex(&keypair.x25519_public()),
                    ..profile
                };
                let json = serde_json::to_string(&profile).map_err(|e| e.to_string())?;
                js::store_del(engine::VAULT_KEY).await?;
                js::store_put(PROFILE_KEY, &json).await?;
                app.vault.set(Default::default());
                app.session.set(Some(Unlocked {
                    vkey: dmp_core::client::vault_key(&keypair),
                    profile,
                    keypair,
                }));
                app.save().await
            }
            .await;
            busy.set_if_alive(None);
            match result {
                Ok(()) => {
                    stage.set(Stage::Open);
                    engine::bring_online(app).await;
                    engine::poll(app).await;
                }
                Err(e) => error.set_if_alive(Some(e)),
            }
        });
    };

    view! {
        <main class="card narrow">
            <h1>"dnsmesh"</h1>
            <p class="muted">"End-to-end encrypted messages carried over DNS."</p>
            <div class="tabs" role="tablist">
                <button role="tab" id="tab-create" aria-selected=move || (!importing.get()).to_string()
                    on:click=move |_| importing.set(false)>"Create identity"</button>
                <button role="tab" id="tab-import" aria-selected=move || importing.get().to_string()
                    on:click=move |_| importing.set(true)>"Import identity"</button>
            </div>
            <form on:submit=submit>
                <Show when=move || !importing.get()>
                    <label for="username">"Username"</label>
                    <input id="username" autocomplete="username" required
                        prop:value=username on:input:target=move |ev| username.set(ev.target().value())/>
                    <label for="domain">"Mailbox domain"</label>
                    <input id="domain" placeholder="mesh.example" required
                        prop:value=domain on:input:target=move |ev| domain.set(ev.target().value())/>
                </Show>
                <Show when=move || importing.get()>
                    <label for="import">"Exported identity (JSON)"</label>
                    <textarea id="import" rows="4"
                        prop:value=import_text on:input:target=move |ev| import_text.set(ev.target().value())></textarea>
                </Show>
                <label for="node">"Node URL"</label>
                <input id="node" type="url" required
                    prop:value=node on:input:target=move |ev| node.set(ev.target().value())/>
                <label for="pass">"Passphrase"</label>
                <input id="pass" type="password" autocomplete="new-password" required
                    prop:value=pass on:input:target=move |ev| pass.set_if_alive(ev.target().value())/>
                <Show when=move || !importing.get()>
                    <label for="pass2">"Repeat passphrase"</label>
                    <input id="pass2" type="password" autocomplete="new-password" required
                        prop:value=pass2 on:input:target=move |ev| pass2.set(ev.target().value())/>
                </Show>
                <button id="create" type="submit" class="primary" disabled=move || busy.get().is_some()>
                    {move || if importing.get() { "Import and unlock" } else { "Create identity" }}
                </button>
            </form>
            <KdfProgress busy=busy/>
            {move || error.get().map(|e| view! { <p class="error" role="alert" id="setup-error">{e}</p> })}
        </main>
    }
}

#[component]
fn Unlock(profile: Profile, stage: RwSignal<Stage>) -> impl IntoView {
    let app = expect_context::<App>();
    let pass = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(None::<f64>);
    let addr = format!("{}@{}", profile.username, profile.domain);
    let p2 = profile.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set_if_alive(None);
        let profile = p2.clone();
        let pw = pass.get_untracked();
        busy.set_if_alive(Some(js::now_millis()));
        spawn_local(async move {
            let r = finish_unlock(app, profile, pw).await;
            busy.set_if_alive(None);
            match r {
                Ok(()) => {
                    pass.set_if_alive(String::new());
                    stage.set(Stage::Open);
                    engine::bring_online(app).await;
                    engine::poll(app).await;
                }
                Err(e) => error.set_if_alive(Some(e)),
            }
        });
    };
    let forget = move |_| {
        if !confirm("Remove this identity, its contacts and history from this browser?") {
            return;
        }
        spawn_local(async move {
            let _ = js::store_del(engine::VAULT_KEY).await;
            let _ = js::store_del(PROFILE_KEY).await;
            stage.set(Stage::Setup);
        });
    };
    view! {
        <main class="card narrow">
            <h1>"dnsmesh"</h1>
            <form on:submit=submit>
                <p>"Unlock " <strong id="locked-address">{addr}</strong></p>
                <label for="unlock-pass">"Passphrase"</label>
                <input id="unlock-pass" type="password" autocomplete="current-password" required
                    prop:value=pass on:input:target=move |ev| pass.set_if_alive(ev.target().value())/>
                <button id="unlock" type="submit" class="primary" disabled=move || busy.get().is_some()>"Unlock"</button>
            </form>
            <KdfProgress busy=busy/>
            {move || error.get().map(|e| view! { <p class="error" role="alert" id="unlock-error">{e}</p> })}
            <p class="muted small">
                <button class="link" id="forget" on:click=forget>"Use a different identity\u{2026}"</button>
            </p>
        </main>
    }
}

fn confirm(msg: &str) -> bool {
    js_sys::eval(&format!(
        "confirm({})",
        serde_json::Value::String(msg.into())
    ))
    .ok()
    .and_then(|v| v.as_bool())
    .unwrap_or(false)
}

#[derive(Clone, Copy, PartialEq)]
enum Pane {
    Thread,
    AddContact,
    Requests,
    Settings,
}

#[component]
fn Messenger(stage: RwSignal<Stage>) -> impl IntoView {
    let app = expect_context::<App>();
    let selected = RwSignal::new(None::<String>);
    let pane = RwSignal::new(Pane::Thread);
    let address = move || {
        app.session
            .with(|s| s.as_ref().map(Unlocked::address))
            .unwrap_or_default()
    };
    let lock = move |_| {
        let profile = app
            .session
            .with_untracked(|s| s.as_ref().map(|s| s.profile.clone()));
        app.lock();
        if let Some(p) = profile {
            stage.set(Stage::Locked(p));
        }
    };
    let check = move |_| spawn_local(engine::poll(app));
    let open = move |addr: String| {
        app.vault.update(|v| {
            if let Some(c) = v.contacts.iter_mut().find(|c| c.address == addr) {
                c.unread = 0;
            }
        });
        selected.set_if_alive(Some(addr));
        pane.set_if_alive(Pane::Thread);
        spawn_local(async move {
            let _ = app.save().await;
        });
    };
    let requests = move || app.vault.with(|v| v.intros.len());
    view! {
        <header class="top">
            <div class="me">
                <strong id="me">{address}</strong>
                <span class="status" id="status" role="status" aria-live="polite"
                    class:offline=move || !app.online.get()>
                    {move || {
                        let s = app.status.get();
                        if s.is_empty() { "Not checked yet".to_string() } else { s }
                    }}
                </span>
            </div>
            <nav class="actions">
                <button id="check" on:click=check disabled=move || app.polling.get()>"Check now"</button>
                <button id="settings" on:click=move |_| pane.set_if_alive(Pane::Settings)>"Settings"</button>
                <button id="lock" on:click=lock>"Lock"</button>
            </nav>
        </header>
        <div class="layout" class:thread-open=move || selected.get().is_some() || pane.get() != Pane::Thread>
            <aside class="sidebar" aria-label="Conversations">
                <div class="side-actions">
                    <button id="add-contact" class="primary" on:click=move |_| pane.set_if_alive(Pane::AddContact)>"Add contact"</button>
                    <button id="requests" on:click=move |_| pane.set_if_alive(Pane::Requests)>
                        "Requests " <span class="badge" id="requests-count">{requests}</span>
                    </button>
                </div>
                <ul class="conversations" id="conversations">
                    <For
                        each=move || {
                            app.vault.with(|v| {
                                let last = engine::last_messages(v);
                                v.contacts.iter().map(|c| (c.clone(), last.get(&c.address).cloned())).collect::<Vec<_>>()
                            })
                        }
                        key=|(c, last)| (c.address.clone(), c.unread, last.as_ref().map(|m| (m.id.clone(), m.status.clone())))
                        let:item
                    >
                        {
                            let (c, last) = item;
                            let addr = c.address.clone();
                            let addr2 = c.address.clone();
                            let preview = last.map(|m| m.text).unwrap_or_default();
                            let unread = c.unread;
                            view! {
                                <li>
                                    <button class="conv" class:active=move || selected.get().as_deref() == Some(addr2.as_str())
                                        aria-label=format!("Conversation with {}{}", c.address,
                                            if unread > 0 { format!(", {unread} unread") } else { String::new() })
                                        on:click=move |_| open(addr.clone())>
                                        <span class="who">{c.address.clone()}</span>
                                        <span class="preview">{preview}</span>
                                        <Show when=move || unread.gt(&0)>
                                            <span class="badge unread">{unread}</span>
                                        </Show>
                                    </button>
                                </li>
                            }
                        }
                    </For>
                </ul>
                <Show when=move || app.vault.with(|v| v.contacts.is_empty())>
                    <p class="muted small">"No contacts yet. Add someone by their address, like alice@mesh.example."</p>
                </Show>
            </aside>
            <section class="main-pane">
                {move || match pane.get() {
                    Pane::AddContact => view! { <AddContact pane=pane selected=selected/> }.into_any(),
                    Pane::Requests => view! { <Requests pane=pane selected=selected/> }.into_any(),
                    Pane::Settings => view! { <Settings pane=pane/> }.into_any(),
                    Pane::Thread => match selected.get() {
                        Some(peer) => view! { <Thread peer=peer selected=selected/> }.into_any(),
                        None => view! { <p class="center muted">"Choose a conversation or add a contact."</p> }.into_any(),
                    },
                }}
            </section>
        </div>
    }
}

#[component]
fn Thread(peer: String, selected: RwSignal<Option<String>>) -> impl IntoView {
    let app = expect_context::<App>();
    let text = RwSignal::new(String::new());
    let p = peer.clone();
    let messages = move || app.vault.with(|v| engine::thread(v, &p));
    let fp = {
        let p = peer.clone();
        move || {
            app.vault.with(|v| {
                v.contacts
                    .iter()
                    .find(|c| c.address == p)
                    .map(|c| c.fingerprint.clone())
            })
        }
    };
    let p3 = peer.clone();
    // Runs on every vault change: new messages in the open thread are read,
    // so scroll to them and keep the unread count at zero.
    Effect::new(move |_| {
        let unread = app.vault.with(|v| {
            v.contacts
                .iter()
                .find(|c| c.address == p3)
                .map_or(0, |c| c.unread)
        });
        if unread > 0 {
            app.vault.update(|v| {
                if let Some(c) = v.contacts.iter_mut().find(|c| c.address == p3) {
                    c.unread = 0;
                }
            });
            spawn_local(async move {
                let _ = app.save().await;
            });
        }
        js::scroll_to_end("messages");
    });
    let p2 = peer.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = text.get_untracked();
        if t.trim().is_empty() {
            return;
        }
        text.set(String::new());
        spawn_local(engine::send(app, p2.clone(), t));
    };
    view! {
        <div class="thread">
            <div class="thread-head">
                <button class="back" aria-label="Back to conversations" on:click=move |_| selected.set_if_alive(None)>"\u{2190}"</button>
                <div>
                    <h2 id="thread-title">{peer.clone()}</h2>
                    <span class="muted small">"Fingerprint " <code>{fp}</code></span>
                </div>
            </div>
            <ol class="messages" id="messages" aria-label=format!("Messages with {peer}") aria-live="polite">
                <For each=messages key=|m| (m.id.clone(), m.status.clone()) let:m>
                    <li class="msg" class:out=m.outgoing class:failed=m.status.starts_with("Not delivered")>
                        <p class="text">{m.text.clone()}</p>
                        <span class="meta">{engine::clock(m.ts)} " \u{00b7} " {m.status.clone()}</span>
                    </li>
                </For>
            </ol>
            <form class="compose" on:submit=submit>
                <label for="compose" class="sr-only">"Message"</label>
                <textarea id="compose" rows="2" placeholder="Write a message"
                    prop:value=text on:input:target=move |ev| text.set(ev.target().value())
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" && !ev.shift_key() {
                            ev.prevent_default();
                            js::submit_form_of("compose");
                        }
                    }></textarea>
                <button id="send" type="submit" class="primary">"Send"</button>
            </form>
        </div>
    }
}

#[component]
fn AddContact(pane: RwSignal<Pane>, selected: RwSignal<Option<String>>) -> impl IntoView {
    let app = expect_context::<App>();
    let addr = RwSignal::new(String::new());
    let found = RwSignal::new(None::<ContactRec>);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set_if_alive(None);
        found.set_if_alive(None);
        let a = addr.get_untracked();
        if !a.contains('@') {
            return error.set_if_alive(Some("Enter a full address: user@host.".into()));
        }
        busy.set_if_alive(true);
        spawn_local(async move {
            match engine::lookup(app, &a).await {
                Ok(c) => found.set_if_alive(Some(c)),
                Err(e) => error.set_if_alive(Some(e)),
            }
            busy.set_if_alive(false);
        });
    };
    let confirm_pin = move |_| {
        if let Some(c) = found.get_untracked() {
            let address = c.address.clone();
            spawn_local(async move {
                engine::pin(app, c).await;
                selected.set_if_alive(Some(address));
                pane.set_if_alive(Pane::Thread);
            });
        }
    };
    view! {
        <div class="card">
            <h2>"Add contact"</h2>
            <form on:submit=submit>
                <label for="contact-address">"Address"</label>
                <input id="contact-address" placeholder="alice@mesh.example" required
                    prop:value=addr on:input:target=move |ev| addr.set(ev.target().value())/>
                <button id="lookup" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Looking up\u{2026}" } else { "Look up" }}
                </button>
            </form>
            {move || error.get().map(|e| view! { <p class="error" role="alert" id="contact-error">{e}</p> })}
            {move || found.get().map(|c| view! {
                <div class="found">
                    <p>"Found " <strong>{c.address.clone()}</strong></p>
                    <p>"Fingerprint: " <code id="contact-fingerprint">{c.fingerprint.clone()}</code></p>
                    <p class="muted small">"Compare it with the fingerprint your contact sees under Settings before trusting it."</p>
                    <button id="pin" class="primary" on:click=confirm_pin>"Trust and add"</button>
                </div>
            })}
            <button class="link" on:click=move |_| pane.set_if_alive(Pane::Thread)>"Cancel"</button>
        </div>
    }
}

#[component]
fn Requests(pane: RwSignal<Pane>, selected: RwSignal<Option<String>>) -> impl IntoView {
    let app = expect_context::<App>();
    let error = RwSignal::new(None::<String>);
    view! {
        <div class="card">
            <h2>"Message requests"</h2>
            <p class="muted small">"Messages from people you have not added. Accepting pins their key."</p>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <ul class="intros" id="intros">
                <For each=move || app.vault.with(|v| v.intros.clone()) key=|i| i.msg_id.clone() let:i>
                    {
                        let (a, b, c) = (i.clone(), i.clone(), i.clone());
                        let from = i.from.clone().unwrap_or_else(|| "unknown sender".into());
                        view! {
                            <li class="intro">
                                <p><strong>{from.clone()}</strong> " \u{00b7} " {engine::clock(i.ts)}</p>
                                <p class="text">{i.text.clone()}</p>
                                <button class="primary" aria-label=format!("Accept request from {from}") on:click=move |_| {
                                    let intro = a.clone();
                                    spawn_local(async move {
                                        let peer = intro.from.clone();
                                        match engine::accept_intro(app, intro).await {
                                            Ok(()) => { selected.set_if_alive(peer); pane.set_if_alive(Pane::Thread); }
                                            Err(e) => error.set_if_alive(Some(e)),
                                        }
                                    });
                                }>"Accept"</button>
                                <button aria-label=format!("Block {from}") on:click=move |_| spawn_local(engine::drop_intro(app, b.clone(), true))>"Block"</button>
                                <button aria-label=format!("Dismiss request from {from}") on:click=move |_| spawn_local(engine::drop_intro(app, c.clone(), false))>"Dismiss"</button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <Show when=move || app.vault.with(|v| v.intros.is_empty())>
                <p class="muted">"No requests."</p>
            </Show>
            <button class="link" on:click=move |_| pane.set_if_alive(Pane::Thread)>"Back"</button>
        </div>
    }
}

#[component]
fn Settings(pane: RwSignal<Pane>) -> impl IntoView {
    let app = expect_context::<App>();
    let s = app.session.get_untracked();
    let doh = RwSignal::new(
        s.as_ref()
            .map(|s| s.profile.doh.clone())
            .unwrap_or_default(),
    );
    let doh_json = RwSignal::new(s.as_ref().is_some_and(|s| s.profile.doh_json));
    let note = RwSignal::new(None::<String>);
    let export = move || {
        app.session.with_untracked(|s| {
            s.as_ref().and_then(|s| {
                serde_json::to_string_pretty(&ExportFile {
                    dmp_identity: 1,
                    username: s.profile.username.clone(),
                    domain: s.profile.domain.clone(),
                    salt: s.profile.salt.clone(),
                    node: s.profile.node.clone(),
                    x25519_pub: s.profile.x25519_pub.clone(),
                })
                .ok()
            })
        })
    };
    let save_doh = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let url = match net::normalize_url(&doh.get_untracked()) {
            Ok(u) => u,
            Err(e) => return note.set_if_alive(Some(e)),
        };
        let Some(mut sess) = app.session.get_untracked() else {
            return;
        };
        sess.profile.doh = url;
        sess.profile.doh_json = doh_json.get_untracked();
        let profile = sess.profile.clone();
        app.session.set(Some(sess));
        spawn_local(async move {
            let r = match serde_json::to_string(&profile) {
                Ok(j) => js::store_put(PROFILE_KEY, &j).await,
                Err(e) => Err(e.to_string()),
            };
            note.set_if_alive(Some(match r {
                Ok(()) => "Resolver saved.".into(),
                Err(e) => format!("Could not save: {e}"),
            }));
        });
    };
    let ex = export();
    let ex2 = ex.clone();
    view! {
        <div class="card">
            <h2>"Settings"</h2>
            <dl>
                <dt>"Address"</dt><dd id="my-address">{s.as_ref().map(Unlocked::address)}</dd>
                <dt>"Fingerprint"</dt><dd><code id="my-fingerprint">{s.as_ref().map(Unlocked::fingerprint)}</code></dd>
                <dt>"Node"</dt><dd>{s.as_ref().map(|s| s.profile.node.clone())}</dd>
                <dt>"Registration"</dt><dd id="registration">{move || app.vault.with(|v| v.registration.clone())}</dd>
                <dt>"Prekeys"</dt><dd>{move || app.vault.with(|v| v.prekey_store().live_count(js::now()))} " ready"</dd>
            </dl>
            <form on:submit=save_doh>
                <label for="doh">"DNS-over-HTTPS resolver"</label>
                <input id="doh" type="url" prop:value=doh on:input:target=move |ev| doh.set(ev.target().value())/>
                <label class="check">
                    <input id="doh-json" type="checkbox" prop:checked=doh_json
                        on:change:target=move |ev| doh_json.set(ev.target().checked())/>
                    " JSON form (application/dns-json) instead of RFC 8484 wire format"
                </label>
                <button type="submit">"Save resolver"</button>
            </form>
            {move || note.get().map(|n| view! { <p class="muted">{n}</p> })}
            <ClusterSettings/>
            <BootstrapSettings/>
            <h3>"Export identity"</h3>
            <p class="muted small">"Username, domain and salt: with your passphrase they open this identity in another browser. Contacts and history stay here."</p>
            <label for="export">"Identity file"</label>
            <textarea id="export" rows="6" readonly>{ex}</textarea>
            <button id="download-export" on:click=move |_| {
                if let Some(t) = &ex2 { js::download("dnsmesh-identity.json", t); }
            }>"Download"</button>
            <button class="link" on:click=move |_| pane.set_if_alive(Pane::Thread)>"Back"</button>
        </div>
    }
}

/// Settings → Cluster: pin a cluster (base domain + operator key), switch
/// cluster mode on and off, see its status, refresh its manifest.
#[component]
fn ClusterSettings() -> impl IntoView {
    let app = expect_context::<App>();
    let pinned = app.vault.with_untracked(|v| v.cluster.clone());
    let base = RwSignal::new(pinned.as_ref().map(|c| c.base.clone()).unwrap_or_default());
    let spk = RwSignal::new(
        pinned
            .as_ref()
            .map(|c| c.operator_spk.clone())
            .unwrap_or_default(),
    );
    let busy = RwSignal::new(false);
    // (is_error, text)
    let note = RwSignal::new(None::<(bool, String)>);
    let run =
        move |f: std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>>>>| {
            busy.set(true);
            note.set(None);
            spawn_local(async move {
                let r = f.await;
                note.set_if_alive(Some(match r {
                    Ok(t) => (false, t),
                    Err(e) => (true, e),
                }));
                busy.set_if_alive(false);
            });
        };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (b, k) = (base.get_untracked(), spk.get_untracked());
        run(Box::pin(async move { cluster::pin(app, &b, &k).await }));
    };
    let status = move || {
        app.vault.with(|v| {
            v.cluster.as_ref().map(|c| {
                let view = cluster::view_of(c, js::now());
                let (seq, quorum, nodes) = match &view {
                    Ok(v) => (
                        v.seq().to_string(),
                        format!("{} of {}", v.quorum(), v.nodes().len()),
                        v.nodes()
                            .iter()
                            .map(|n| format!("{} ({})", n.node_id, n.http_endpoint))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    Err(e) => ("\u{2013}".into(), "\u{2013}".into(), e.clone()),
                };
                let refreshed = if c.last_refresh == 0 {
                    "never".to_string()
                } else {
                    format!("{} ({})", engine::clock(c.last_refresh), c.last_note)
                };
                view! {
                    <dl id="cluster-status">
                        <dt>"Cluster"</dt><dd id="cluster-base">{c.base.clone()}</dd>
                        <dt>"Mode"</dt><dd id="cluster-mode">{if c.enabled { "on" } else { "off" }}</dd>
                        <dt>"Manifest seq"</dt><dd id="cluster-seq">{seq}</dd>
                        <dt>"Write quorum"</dt><dd id="cluster-quorum">{quorum}</dd>
                        <dt>"Nodes"</dt><dd id="cluster-nodes">{nodes}</dd>
                        <dt>"Last refresh"</dt><dd id="cluster-refreshed">{refreshed}</dd>
                    </dl>
                }
            })
        })
    };
    let has_pin = move || app.vault.with(|v| v.cluster.is_some());
    let enabled = move || {
        app.vault
            .with(|v| v.cluster.as_ref().is_some_and(|c| c.enabled))
    };
    view! {
        <section aria-labelledby="cluster-heading">
            <h3 id="cluster-heading">"Cluster"</h3>
            <p class="muted small">"A cluster is several nodes run by one operator. Pin it by its base domain and the operator's public key; its signed manifest at cluster.<base> lists the nodes. In cluster mode every write goes to all nodes and succeeds on a majority, and names under the base are read from every node."</p>
            <form on:submit=submit>
                <label for="cluster-base-input">"Cluster base domain"</label>
                <input id="cluster-base-input" placeholder="mesh.example.com" required
                    prop:value=base on:input:target=move |ev| base.set(ev.target().value())/>
                <label for="cluster-spk">"Operator public key (hex)"</label>
                <input id="cluster-spk" placeholder="64 hex digits" required spellcheck="false"
                    prop:value=spk on:input:target=move |ev| spk.set(ev.target().value())/>
                <button id="cluster-pin" type="submit" disabled=move || busy.get()>"Pin"</button>
            </form>
            {status}
            <Show when=has_pin>
                <div class="row">
                    <Show when=enabled fallback=move || view! {
                        <button id="cluster-enable" disabled=move || busy.get()
                            on:click=move |_| run(Box::pin(async move { cluster::set_enabled(app, true).await }))>"Enable"</button>
                    }>
                        <button id="cluster-disable" disabled=move || busy.get()
                            on:click=move |_| run(Box::pin(async move { cluster::set_enabled(app, false).await }))>"Disable"</button>
                    </Show>
                    <button id="cluster-refresh" disabled=move || busy.get()
                        on:click=move |_| run(Box::pin(async move { cluster::refresh(app).await }))>"Refresh"</button>
                </div>
            </Show>
            {move || note.get().map(|(err, t)| if err {
                view! { <p class="error" role="alert" id="cluster-note">{t}</p> }.into_any()
            } else {
                view! { <p class="muted" role="status" id="cluster-note">{t}</p> }.into_any()
            })}
        </section>
    }
}

/// Settings → Bootstrap: pin a user domain's bootstrap signer, fetch its
/// signed record, and discover (optionally auto-pin) the cluster serving
/// an address, as `dnsmesh bootstrap pin|fetch|discover [--auto-pin]`.
#[component]
fn BootstrapSettings() -> impl IntoView {
    let app = expect_context::<App>();
    let pinned = app.vault.with_untracked(|v| v.bootstrap.clone());
    let domain = RwSignal::new(
        pinned
            .as_ref()
            .map(|p| p.user_domain.clone())
            .unwrap_or_default(),
    );
    let spk = RwSignal::new(
        pinned
            .as_ref()
            .map(|p| p.signer_spk.clone())
            .unwrap_or_default(),
    );
    let address = RwSignal::new(String::new());
    let discover_spk = RwSignal::new(String::new());
    let auto_pin = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let record = RwSignal::new(None::<dmp_core::records::bootstrap::BootstrapRecord>);
    // (pinned, the cluster found); the same signal type as `note` keeps
    // the download small.
    let found = RwSignal::new(None::<(bool, String)>);
    // (is_error, text)
    let note = RwSignal::new(None::<(bool, String)>);
    let start = move || {
        busy.set(true);
        note.set(None);
        found.set(None);
    };
    let finish = move |r: Result<String, String>| {
        note.set_if_alive(Some(match r {
            Ok(t) => (false, t),
            Err(e) => (true, e),
        }));
        busy.set_if_alive(false);
    };
    let pin = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (d, k) = (domain.get_untracked(), spk.get_untracked());
        start();
        record.set(None);
        spawn_local(async move {
            let r = bootstrap::pin(app, &d, &k).await.map(|rec| {
                let text = format!(
                    "Pinned the bootstrap signer of {}: its record verifies (seq {}).",
                    rec.user_domain, rec.seq
                );
                record.set_if_alive(Some(rec));
                text
            });
            finish(r);
        });
    };
    let fetch = move |_| {
        start();
        record.set(None);
        spawn_local(async move {
            let r = bootstrap::fetch(app).await.map(|rec| {
                let text = format!(
                    "The bootstrap record of {} verifies: seq {}, {} cluster(s).",
                    rec.user_domain,
                    rec.seq,
                    rec.entries.len()
                );
                record.set_if_alive(Some(rec));
                text
            });
            finish(r);
        });
    };
    let discover = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (a, k, auto) = (
            address.get_untracked(),
            discover_spk.get_untracked(),
            auto_pin.get_untracked(),
        );
        start();
        spawn_local(async move {
            let r = bootstrap::discover(app, &a, &k, auto).await.map(|d| {
                let text = if d.pinned {
                    format!(
                        "Pinned and enabled cluster {}: messages now go through it.",
                        d.base
                    )
                } else {
                    "Found a usable cluster (not pinned).".to_string()
                };
                found.set_if_alive(Some((d.pinned, d.found)));
                record.set_if_alive(Some(d.record));
                text
            });
            finish(r);
        });
    };
    let pinned_view = move || {
        app.vault.with(|v| {
            v.bootstrap.as_ref().map(|p| {
                view! {
                    <dl id="bootstrap-status">
                        <dt>"Pinned domain"</dt><dd id="bootstrap-pinned-domain">{p.user_domain.clone()}</dd>
                        <dt>"Signer key"</dt><dd><code id="bootstrap-pinned-spk">{p.signer_spk.clone()}</code></dd>
                    </dl>
                }
            })
        })
    };
    let record_view = move || {
        record.get().map(|r| {
            let rows = r
                .entries
                .iter()
                .map(|e| {
                    view! {
                        <tr>
                            <td>{e.priority}</td>
                            <td>{e.cluster_base_domain.clone()}</td>
                            <td><code>{dmp_core::crypto::hex(&e.operator_spk)}</code></td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>();
            view! {
                <div id="bootstrap-record">
                    <dl>
                        <dt>"Bootstrap record of"</dt><dd id="bootstrap-domain-shown">{r.user_domain.clone()}</dd>
                        <dt>"Record seq"</dt><dd id="bootstrap-seq">{r.seq}</dd>
                        <dt>"Expires"</dt><dd id="bootstrap-exp">{bootstrap::date_time(r.exp)}</dd>
                    </dl>
                    <table id="bootstrap-entries">
                        <caption class="muted small">"Clusters, tried in priority order (lowest first)"</caption>
                        <thead><tr><th scope="col">"Priority"</th><th scope="col">"Cluster base"</th><th scope="col">"Operator key"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
        })
    };
    let found_view = move || {
        found.get().map(|(pinned, line)| {
            view! {
                <dl id="discover-result">
                    <dt>"Cluster found"</dt><dd id="discover-cluster">{line}</dd>
                    <dt>"Pinned"</dt><dd id="discover-pinned">{if pinned { "yes, cluster mode on" } else { "no" }}</dd>
                </dl>
            }
        })
    };
    let has_pin = move || app.vault.with(|v| v.bootstrap.is_some());
    view! {
        <section aria-labelledby="bootstrap-heading">
            <h3 id="bootstrap-heading">"Bootstrap"</h3>
            <p class="muted small">"Find the cluster serving a domain instead of pinning it by hand. Pin the domain's bootstrap signer (the zone operator's public key, checked out of band); its signed record at _dmp.<domain> names the clusters and their operator keys, and each cluster's manifest must verify under the key the record names."</p>
            <form on:submit=pin>
                <label for="bootstrap-domain">"User domain"</label>
                <input id="bootstrap-domain" placeholder="example.com" required
                    prop:value=domain on:input:target=move |ev| domain.set(ev.target().value())/>
                <label for="bootstrap-spk">"Bootstrap signer public key (hex)"</label>
                <input id="bootstrap-spk" placeholder="64 hex digits" required spellcheck="false"
                    prop:value=spk on:input:target=move |ev| spk.set(ev.target().value())/>
                <button id="bootstrap-pin" type="submit" disabled=move || busy.get()>"Pin signer"</button>
            </form>
            {pinned_view}
            <Show when=has_pin>
                <button id="bootstrap-fetch" disabled=move || busy.get() on:click=fetch>"Fetch record"</button>
            </Show>
            {record_view}
            <form on:submit=discover>
                <label for="discover-address">"Discover the cluster of (user@domain)"</label>
                <input id="discover-address" placeholder="alice@example.com" required
                    prop:value=address on:input:target=move |ev| address.set(ev.target().value())/>
                <label for="discover-spk">"Signer public key (hex), only if that domain's signer is not pinned"</label>
                <input id="discover-spk" placeholder="empty: use the pinned signer" spellcheck="false"
                    prop:value=discover_spk on:input:target=move |ev| discover_spk.set(ev.target().value())/>
                <label class="check">
                    <input id="discover-autopin" type="checkbox" prop:checked=auto_pin
                        on:change:target=move |ev| auto_pin.set(ev.target().checked())/>
                    " Auto-pin: pin the cluster found and turn cluster mode on"
                </label>
                <button id="bootstrap-discover" type="submit" disabled=move || busy.get()>"Discover"</button>
            </form>
            {found_view}
            {move || note.get().map(|(err, t)| if err {
                view! { <p class="error" role="alert" id="bootstrap-note">{t}</p> }.into_any()
            } else {
                view! { <p class="muted" role="status" id="bootstrap-note">{t}</p> }.into_any()
            })}
        </section>
    }
}
