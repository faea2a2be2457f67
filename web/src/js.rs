//! The few browser APIs the client needs (IndexedDB, fetch, the key
//! derivation worker, the service worker, the clock), as a small JS shim.
//! Keeping them in plain JS avoids pulling dozens of web-sys bindings into
//! the initial download.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const DB = 'dmp-web', STORE = 'kv';
let dbp = null;
function db() {
  if (!dbp) dbp = new Promise((ok, bad) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => ok(r.result);
    r.onerror = () => { dbp = null; bad(new Error('IndexedDB unavailable: ' + r.error)); };
  });
  return dbp;
}
function tx(mode, f) {
  return db().then(d => new Promise((ok, bad) => {
    const t = d.transaction(STORE, mode);
    const req = f(t.objectStore(STORE));
    t.oncomplete = () => ok(req ? req.result : undefined);
    t.onerror = () => bad(new Error('IndexedDB: ' + t.error));
    t.onabort = () => bad(new Error('IndexedDB aborted: ' + t.error));
  }));
}
export function idb_get(k) { return tx('readonly', s => s.get(k)).then(v => v === undefined ? null : v); }
export function idb_put(k, v) { return tx('readwrite', s => { s.put(v, k); return null; }); }
export function idb_del(k) { return tx('readwrite', s => { s.delete(k); return null; }); }

export async function http(method, url, headers, body) {
  const init = { method, headers: JSON.parse(headers), cache: 'no-store' };
  if (body !== undefined && body !== null) init.body = body;
  let r;
  try { r = await fetch(url, init); }
  catch (e) { throw new Error('cannot reach ' + new URL(url, location.href).origin + ' (' + e.message + ')'); }
  const buf = new Uint8Array(await r.arrayBuffer());
  return [r.status, buf];
}

export function derive_in_worker(pass, salt_hex) {
  return new Promise((ok, bad) => {
    let w;
    try { w = new Worker('./kdf-worker.js', { type: 'module' }); }
    catch (e) { bad(new Error('cannot start the key derivation worker: ' + e.message)); return; }
    w.onmessage = (e) => { w.terminate(); e.data.ok ? ok(e.data.ok) : bad(new Error(e.data.err)); };
    w.onerror = (e) => { w.terminate(); bad(new Error('key derivation worker failed: ' + (e.message || 'error'))); };
    w.postMessage({ pass, salt: salt_hex });
  });
}

export function is_window() { return typeof window !== 'undefined' && typeof document !== 'undefined'; }
export function now_ms() { return Date.now(); }
export function origin() { return location.origin; }
export function sleep_ms(ms) { return new Promise(ok => setTimeout(ok, ms)); }
export function register_sw() {
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('./sw.js').catch(() => {});
}
export function download(name, text) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  a.download = name; a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
export function submit_form_of(id) {
  const e = document.getElementById(id); if (e && e.form) e.form.requestSubmit();
}
export function scroll_to_end(id) {
  const e = document.getElementById(id); if (e) e.scrollTop = e.scrollHeight;
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn idb_get(key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn idb_put(key: &str, value: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn idb_del(key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn http(
        method: &str,
        url: &str,
        headers: &str,
        body: Option<js_sys::Uint8Array>,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn derive_in_worker(pass: &str, salt_hex: &str) -> Result<JsValue, JsValue>;
    pub fn is_window() -> bool;
    fn now_ms() -> f64;
    pub fn origin() -> String;
    async fn sleep_ms(ms: u32);
    pub fn register_sw();
    pub fn download(name: &str, text: &str);
    pub fn scroll_to_end(id: &str);
    pub fn submit_form_of(id: &str);
}

/// A JS error as text for the user.
pub fn err_text(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    js_sys::Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| "unknown browser error".into())
}

/// Unix time in seconds.
pub fn now() -> u64 {
    (now_ms() / 1000.0) as u64
}

/// Unix time in milliseconds.
pub fn now_millis() -> f64 {
    now_ms()
}

pub async fn sleep(ms: u32) {
    sleep_ms(ms).await
}

pub async fn store_get(key: &str) -> Result<Option<String>, String> {
    let v = idb_get(key).await.map_err(|e| err_text(&e))?;
    Ok(v.as_string())
}

pub async fn store_put(key: &str, value: &str) -> Result<(), String> {
    idb_put(key, value)
        .await
        .map(|_| ())
        .map_err(|e| err_text(&e))
}

pub async fn store_del(key: &str) -> Result<(), String> {
    idb_del(key).await.map(|_| ()).map_err(|e| err_text(&e))
}

/// One HTTP exchange: status and body. Err only when nothing came back.
pub async fn fetch(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), String> {
    let mut map = serde_json::Map::new();
    for (k, v) in headers {
        map.insert((*k).into(), serde_json::Value::String((*v).into()));
    }
    let headers = serde_json::Value::Object(map).to_string();
    let body = body.map(js_sys::Uint8Array::from);
    let pair = http(method, url, &headers, body)
        .await
        .map_err(|e| err_text(&e))?;
    let arr = js_sys::Array::from(&pair);
    let status = arr.get(0).as_f64().unwrap_or(0.0) as u16;
    let bytes = js_sys::Uint8Array::new(&arr.get(1)).to_vec();
    Ok((status, bytes))
}

/// Argon2id in the worker (kdf-worker.js), so the page keeps responding.
pub async fn derive_secret(passphrase: &str, salt_hex: &str) -> Result<String, String> {
    let v = derive_in_worker(passphrase, salt_hex)
        .await
        .map_err(|e| err_text(&e))?;
    v.as_string()
        .ok_or_else(|| "key derivation returned nothing".into())
}
