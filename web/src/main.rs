//! `dmp-web`: the DNS Mesh Protocol messenger in the browser. It drives
//! dmp-core's sans-IO client and adds only fetch (DoH reads, node
//! publishes), storage (IndexedDB, sealed) and the UI.
//!
//! The same wasm module also runs in `kdf-worker.js`, where it only offers
//! [`kdf_derive_hex`] so Argon2id does not freeze the page.

mod app;
mod bootstrap;
mod cluster;
mod engine;
mod js;
mod model;
mod net;

use wasm_bindgen::prelude::*;

/// Argon2id(passphrase, salt) with the protocol's parameters; the raw X25519
/// secret as hex. Called from the key derivation worker only.
#[wasm_bindgen]
pub fn kdf_derive_hex(passphrase: &str, salt_hex: &str) -> Result<String, JsValue> {
    let salt = model::unhex_vec(salt_hex).ok_or_else(|| JsValue::from_str("salt is not hex"))?;
    dmp_core::crypto::argon2_x25519_secret(passphrase.as_bytes(), &salt)
        .map(|k| dmp_core::crypto::hex(&k))
        .map_err(|e| JsValue::from_str(&e.to_string()))
}

fn main() {
    console_error_panic_hook::set_once();
    // In the worker there is no document to render into.
    if !js::is_window() {
        return;
    }
    js::register_sw();
    leptos::mount::mount_to_body(app::Root);
}
