// Service worker: keeps the app shell so the installed app opens offline
// (history lives in IndexedDB). Shell files are fetched network-first, so
// a new build is picked up as soon as the node is reachable; the node's
// API and DNS-over-HTTPS are never cached.
const CACHE = 'dnsmesh-shell-v1';
const SHELL = ['./', './index.html', './dmp-web.js', './dmp-web_bg.wasm', './style.css',
  './kdf-worker.js', './manifest.webmanifest', './icon.svg'];

// The wasm-bindgen glue imports its JS snippets by hashed path; read them
// from the glue so they are cached too.
async function shellFiles() {
  try {
    const glue = await (await fetch('./dmp-web.js', { cache: 'no-store' })).text();
    const snippets = [...glue.matchAll(/['"]\.\/(snippets\/[^'"]+)['"]/g)].map((m) => './' + m[1]);
    return [...new Set(SHELL.concat(snippets))];
  } catch (_) {
    return SHELL;
  }
}

self.addEventListener('install', (e) => {
  e.waitUntil(shellFiles()
    .then((files) => caches.open(CACHE).then((c) => c.addAll(files)))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  if (url.pathname.startsWith('/v1/') || url.pathname === '/dns-query' ||
      url.pathname === '/health' || url.pathname === '/stats') return;
  e.respondWith(
    fetch(e.request)
      .then((resp) => {
        if (resp.ok) {
          const copy = resp.clone();
          caches.open(CACHE).then((c) => c.put(e.request, copy));
        }
        return resp;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true })
        .then((hit) => hit || caches.match('./index.html')))
  );
});
