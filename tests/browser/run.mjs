// End-to-end checks of the web client in real headless Chromium
// (playwright-core driving Debian's chromium), against a running node.
//
// Environment (scripts/test-browser.sh sets these):
//   DMP_NODE_URL     node base URL (HTTP API + /dns-query), required
//   DMP_APP_URL      where the built client is served; when unset, DMP_DIST
//                    is served from a loopback port by this script
//   DMP_DIST         the Trunk output directory (default: dist)
//   DMP_ZONE         mailbox domain the node serves (default: mesh.test)
//   DMP_DNS_ADDR     host:port of the node's DNS (UDP/TCP), for the reference
//                    CLI checks; without it those checks are skipped only if
//                    DMP_SKIP_REFERENCE=1, else they fail
//   DMP_REFERENCE_PYTHON  the reference venv's python (dnsmesh sits next to it)
//   DMP_NODE_PID     pid of a node this run may stop for the offline check
//   DMP_CLI_TOKEN    bearer token the reference CLI writes with (a node in
//                    multi-tenant mode; the browser registers for its own)
//   DMP_AUTH_MODE    the node's auth mode: multi-tenant (the CLI registers for
//                    a token) or open (adds the first-contact intro check)
//   DMP_ARTIFACTS    where screenshots go (default: test-artifacts/browser)
//   CHROMIUM         browser binary (default: /usr/bin/chromium)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as h from './harness.mjs';

const NODE = (process.env.DMP_NODE_URL || '').replace(/\/+$/, '');
if (!NODE) { console.error('DMP_NODE_URL is required (the node base URL)'); process.exit(2); }
const ZONE = process.env.DMP_ZONE || 'mesh.test';
const DIST = process.env.DMP_DIST || 'dist';
const ART = process.env.DMP_ARTIFACTS || 'test-artifacts/browser';
const RUN = Math.random().toString(36).slice(2, 8);
fs.mkdirSync(ART, { recursive: true });

const s = h.suite('browser');
const { log, assert, check, cleanups } = s;

// --- static server for the built client (when the node does not serve it) --
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json' };
let staticServer = null;
async function serveDist() {
  staticServer = http.createServer((req, res) => {
    let p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (p.endsWith('/')) p += 'index.html';
    const file = path.join(DIST, path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404); res.end('not found'); return; }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
        'cache-control': 'no-cache' });
      res.end(data);
    });
  });
  await new Promise((ok) => staticServer.listen(0, '127.0.0.1', ok));
  cleanups.push(() => staticServer && staticServer.close());
  return `http://127.0.0.1:${staticServer.address().port}`;
}

// --- browser profiles --------------------------------------------------------
const profile = (name) => h.launchProfile(s, name, { viewport: { width: 1100, height: 760 } });

const shot = (p, what) => p.page.screenshot({ path: path.join(ART, `${what}.png`), fullPage: true });

async function create(p, app, user, pass) {
  await p.page.goto(app);
  await p.page.fill('#username', user);
  await p.page.fill('#domain', ZONE);
  await p.page.fill('#node', NODE);
  await p.page.fill('#pass', pass);
  await p.page.fill('#pass2', pass);
  if (p.name === 'alice') await shot(p, '01-setup');
  await p.page.click('#create');
  // The progress line must tick while Argon2id runs in the worker.
  await p.page.waitForSelector('#kdf-progress', { timeout: 10000 }).catch(() => {});
  await p.page.waitForSelector('#me', { timeout: 60000 });
  assert((await p.page.textContent('#me')) === `${user}@${ZONE}`, 'header shows the new address');
  // Registered/published and polled once: the status line says so.
  await p.page.waitForFunction(() => /Last checked/.test(document.querySelector('#status')?.textContent || ''),
    null, { timeout: 60000 });
}

async function fingerprint(p) {
  await p.page.click('#settings');
  const fp = (await p.page.textContent('#my-fingerprint')).trim();
  return fp;
}

async function addContact(p, address, expectFp) {
  await p.page.click('#add-contact');
  await p.page.fill('#contact-address', address);
  await p.page.click('#lookup');
  await p.page.waitForSelector('#contact-fingerprint, #contact-error', { timeout: 30000 });
  const err = await p.page.$('#contact-error');
  if (err) throw new Error(`lookup of ${address} failed: ${await err.textContent()}`);
  const fp = (await p.page.textContent('#contact-fingerprint')).trim();
  if (expectFp) assert(fp === expectFp, `fingerprint of ${address} is ${fp}, expected ${expectFp}`);
  await p.page.click('#pin');
  await p.page.waitForSelector('#thread-title');
}

async function openThread(p, address) {
  await p.page.click(`button.conv:has(.who:text-is("${address}"))`);
  await p.page.waitForSelector('#thread-title');
}

async function send(p, text) {
  await p.page.fill('#compose', text);
  await p.page.click('#send');
  await p.page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg.out')]
    .some((m) => m.querySelector('.text')?.textContent === t && /· sent$/.test(m.querySelector('.meta')?.textContent || '')),
  text, { timeout: 60000 }).catch(async (e) => {
    const metas = await p.page.$$eval('#messages .msg.out .meta', (ms) => ms.map((m) => m.textContent));
    throw new Error(`message not sent: ${metas.join(' | ')} (${e.message})`);
  });
}

async function waitForIncoming(p, from, text) {
  // Background polling brings it in; the conversation shows an unread badge.
  await p.page.waitForFunction(({ from, text }) => {
    const conv = [...document.querySelectorAll('button.conv')].find((b) => b.querySelector('.who')?.textContent === from);
    return conv && conv.querySelector('.preview')?.textContent === text;
  }, { from, text }, { timeout: 90000 });
  await openThread(p, from);
  await p.page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg:not(.out) .text')]
    .some((m) => m.textContent === t), text, { timeout: 10000 });
}

async function unlock(p, pass) {
  await p.page.waitForSelector('#unlock-pass', { timeout: 30000 });
  await p.page.fill('#unlock-pass', pass);
  await p.page.click('#unlock');
}

// --- reference CLI --------------------------------------------------------------
function cli() {
  const py = process.env.DMP_REFERENCE_PYTHON;
  const dns = process.env.DMP_DNS_ADDR;
  if (!py || !dns) {
    if (process.env.DMP_SKIP_REFERENCE === '1') return null;
    throw new Error('the reference CLI checks need DMP_REFERENCE_PYTHON (the dnsmesh venv python) and DMP_DNS_ADDR; set DMP_SKIP_REFERENCE=1 to skip them');
  }
  const bin = path.join(path.dirname(py), 'dnsmesh');
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'dmp-cli-'));
  fs.chmodSync(home, 0o700);
  cleanups.push(() => fs.rmSync(home, { recursive: true, force: true }));
  const pass = `cli-pass-${RUN}`;
  const [, port] = dns.split(':');
  const run = (...args) => {
    try {
      return execFileSync(bin, ['--config-home', home, ...args], {
        env: { ...process.env, DMP_PASSPHRASE: pass, DMP_TOKENS_HOME: path.join(home, 'tokens') },
        encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      throw new Error(`dnsmesh ${args.join(' ')} failed (exit ${e.status}): ${e.stdout || ''}${e.stderr || ''}`);
    }
  };
  return { run, port, dns };
}

// --- the run ----------------------------------------------------------------------
async function main() {
  const app = (process.env.DMP_APP_URL || '').replace(/\/+$/, '') || await serveDist();
  log(`node ${NODE}, app ${app}, zone ${ZONE}, run ${RUN}`);
  const A = await profile('alice');
  const B = await profile('bob');
  const ua = `alice-${RUN}`, ub = `bob-${RUN}`;
  const pa = `correct horse ${RUN} a`, pb = `battery staple ${RUN} b`;
  const addrA = `${ua}@${ZONE}`, addrB = `${ub}@${ZONE}`;

  await check('two profiles create identities (Argon2id in a worker)', async () => {
    await create(A, app, ua, pa);
    await create(B, app, ub, pb);
    await shot(A, '02-empty-messenger');
    if (process.env.DMP_AUTH_MODE === 'multi-tenant') {
      await A.page.click('#settings');
      const reg = await A.page.textContent('#registration');
      assert(/^registered/.test(reg), `registered with the node, got: ${reg}`);
    }
  });

  let fpA, fpB;
  await check('each adds the other by address, fingerprint matches', async () => {
    fpA = await fingerprint(A);
    fpB = await fingerprint(B);
    await shot(A, '03-settings');
    assert(/^[0-9a-f]{16}$/.test(fpA) && /^[0-9a-f]{16}$/.test(fpB), 'fingerprints are 16 hex');
    await addContact(A, addrB, fpB);
    await shot(A, '04-contact-added');
    await addContact(B, addrA, fpA);
  });

  await check('a JSON-form DoH resolver can be configured (bob reads through it)', async () => {
    await B.page.click('#settings');
    await B.page.check('#doh-json');
    await B.page.click('button:text-is("Save resolver")');
    await B.page.waitForSelector('text=Resolver saved.');
  });

  const m1 = `Hello Bob \u2014 ${RUN} \u00e9\u00e8 \u{1F510}`;
  const m2 = `Hi Alice, got it: ${RUN} (reply)`;
  await check('messages both ways, exact text', async () => {
    await openThread(A, addrB);
    await send(A, m1);
    await waitForIncoming(B, addrA, m1);
    await send(B, m2);
    await waitForIncoming(A, addrB, m2);
    await shot(A, '05-thread');
    await shot(B, '06-thread-bob');
  });

  await check('reload: wrong passphrase refused, then identity, contacts, history back', async () => {
    await A.page.reload();
    await unlock(A, 'not the passphrase');
    await A.page.waitForSelector('#unlock-error', { timeout: 60000 });
    const err = await A.page.textContent('#unlock-error');
    assert(/Wrong passphrase/.test(err), `clear refusal, got: ${err}`);
    await shot(A, '07-wrong-passphrase');
    await unlock(A, pa);
    await A.page.waitForSelector('#me', { timeout: 60000 });
    await openThread(A, addrB);
    const texts = await A.page.$$eval('#messages .msg .text', (ms) => ms.map((m) => m.textContent));
    assert(texts.includes(m1) && texts.includes(m2), `history back after unlock: ${JSON.stringify(texts)}`);
  });

  await check('phone-sized viewport', async () => {
    await B.page.setViewportSize({ width: 390, height: 800 });
    await shot(B, '08-phone-thread');
    await B.page.click('button.back');
    await shot(B, '09-phone-list');
    await B.page.setViewportSize({ width: 1100, height: 760 });
  });

  if (process.env.DMP_AUTH_MODE === 'open') {
    await check('first contact lands in the intro queue; accept pins the sender', async () => {
      const D = await profile('dave');
      const ud = `dave-${RUN}`, addrD = `${ud}@${ZONE}`;
      await create(D, app, ud, `dave pass ${RUN}`);
      await addContact(D, addrA);
      const hello = `hi alice, it's dave ${RUN}`;
      await send(D, hello);
      await A.page.waitForFunction(() => document.querySelector('#requests-count')?.textContent === '1',
        null, { timeout: 60000 });
      await A.page.click('#requests');
      await A.page.waitForSelector('#intros .intro');
      assert((await A.page.textContent('#intros .intro .text')) === hello, 'request shows the text');
      await shot(A, '12-requests');
      await A.page.click(`button[aria-label="Accept request from ${addrD}"]`);
      await A.page.waitForSelector('#thread-title');
      assert((await A.page.textContent('#thread-title')) === addrD, 'thread with dave');
      const texts = await A.page.$$eval('#messages .msg .text', (ms) => ms.map((m) => m.textContent));
      assert(texts.includes(hello), 'accepted message is in the thread');
    });
  }

  const c = cli();
  if (c) {
    const uc = `carol-${RUN}`, addrC = `${uc}@${ZONE}`;
    await check('browser <-> reference CLI (dnsmesh 0.7.5) through the node, both directions', async () => {
      const token = process.env.DMP_CLI_TOKEN ? ['--http-token', process.env.DMP_CLI_TOKEN] : [];
      c.run('init', uc, '--domain', ZONE, '--endpoint', NODE, '--dns-resolvers', c.dns,
        '--dns-port', c.port, '--no-probe-local-dns', ...token);
      c.run('identity', 'publish');
      c.run('identity', 'refresh-prekeys');
      c.run('identity', 'fetch', addrA, '--add');
      await addContact(A, addrC);
      const toCli = `browser to cli ${RUN} \u2713`;
      await send(A, toCli);
      let out = '';
      for (let i = 0; i < 10 && !out.includes(toCli); i++) {
        out = c.run('recv');
        if (!out.includes(toCli)) await new Promise((r) => setTimeout(r, 1000));
      }
      assert(out.includes(toCli), `dnsmesh recv shows the browser's text; got: ${out}`);
      const toWeb = `cli to browser ${RUN}`;
      c.run('send', addrA, toWeb);
      await waitForIncoming(A, addrC, toWeb);
      await shot(A, '10-thread-cli');
    });
  }

  // Last before the offline check: the imported copy publishes prekeys of
  // its own into the same pool, which only it can decrypt.
  await check('export, then import into another browser: wrong passphrase refused, right one opens', async () => {
    await A.page.click('#settings');
    const exported = await A.page.inputValue('#export');
    const file = JSON.parse(exported);
    assert(file.username === ua && file.domain === ZONE && /^[0-9a-f]{32}$/.test(file.salt), `export has username, domain, salt: ${exported}`);
    const E = await profile('alice-elsewhere');
    await E.page.goto(app);
    await E.page.click('#tab-import');
    await E.page.fill('#import', exported);
    await E.page.fill('#node', NODE);
    await E.page.fill('#pass', 'wrong passphrase');
    await E.page.click('#create');
    await E.page.waitForSelector('#setup-error', { timeout: 60000 });
    assert(/Wrong passphrase/.test(await E.page.textContent('#setup-error')), 'import refuses a wrong passphrase');
    await E.page.fill('#pass', pa);
    await E.page.click('#create');
    await E.page.waitForSelector('#me', { timeout: 60000 });
    assert((await E.page.textContent('#me')) === addrA, 'imported identity has the same address');
    assert((await fingerprint(E)) === fpA, 'and the same keys');
    await shot(E, '13-imported');
    await E.ctx.close();
  });

  if (process.env.DMP_NODE_PID) {
    await check('offline: node stopped, app opens from the service worker with history', async () => {
      const controlled = await A.page.evaluate(async () => {
        await navigator.serviceWorker.ready;
        return !!navigator.serviceWorker.controller;
      });
      assert(controlled, 'the service worker controls the page');
      process.kill(Number(process.env.DMP_NODE_PID), 'SIGTERM');
      if (staticServer) { staticServer.close(); staticServer.closeAllConnections?.(); staticServer = null; }
      await A.page.reload();
      await unlock(A, pa);
      await A.page.waitForSelector('#me', { timeout: 60000 });
      await openThread(A, addrB);
      const texts = await A.page.$$eval('#messages .msg .text', (ms) => ms.map((m) => m.textContent));
      assert(texts.includes(m1) && texts.includes(m2), `offline history: ${JSON.stringify(texts)}`);
      await A.page.waitForFunction(() => /failed/.test(document.querySelector('#status')?.textContent || ''),
        null, { timeout: 30000 });
      await shot(A, '11-offline');
    });
  }
}

await s.finish(main, `; screenshots in ${ART}`);
