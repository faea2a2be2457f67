// Key derivation worker: runs Argon2id (inside the same wasm module as the
// app) off the main thread, so the page keeps responding and can show
// progress. One message in ({pass, salt}), one out ({ok} or {err}).
import init, { kdf_derive_hex } from './dmp-web.js';

const ready = init({ module_or_path: './dmp-web_bg.wasm' });
self.onmessage = async (e) => {
  try {
    await ready;
    self.postMessage({ ok: kdf_derive_hex(e.data.pass, e.data.salt) });
  } catch (err) {
    self.postMessage({ err: String(err && err.message ? err.message : err) });
  }
};
