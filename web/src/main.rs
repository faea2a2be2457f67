//! `dmp-web`: the browser client. For now a small page that proves the
//! toolchain end to end: leptos renders, a signal updates on click, and the
//! protocol core runs inside the wasm module (SHA-256 of the input, the record
//! kinds the core knows). Reading through DoH and publishing through a node's
//! HTTP API arrive with the web-client issue.

use dmp_core::crypto;
use dmp_core::wire::RecordKind;
use leptos::prelude::*;

/// The workspace version; every crate of dmp-rs shares it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[component]
fn App() -> impl IntoView {
    let (count, set_count) = signal(0u32);
    let (text, set_text) = signal(String::new());
    // Hashing goes through the core so the page exercises real protocol code.
    let digest = move || crypto::hex(&crypto::sha256(text.get().as_bytes()));
    let kinds = RecordKind::ALL.len();

    view! {
        <main>
            <h1>"dnsmesh"</h1>
            <p id="version">
                "dmp-rs " {VERSION} " \u{2014} dmp-core knows " {kinds} " record kinds"
            </p>
            <p>
                <button id="inc" on:click=move |_| set_count.update(|n| *n += 1)>
                    "Clicked "
                    <span id="count">{count}</span>
                    " times"
                </button>
            </p>
            <p>
                <label for="name">"Text: "</label>
                <input
                    id="name"
                    prop:value=text
                    on:input:target=move |ev| set_text.set(ev.target().value())
                />
            </p>
            <p>"SHA-256: " <code id="sha256">{digest}</code></p>
        </main>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
