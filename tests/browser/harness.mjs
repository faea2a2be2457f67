// What every browser test script shares: the check/assert/cleanup runner,
// Chromium profiles, local dmp-nodes, and the messenger actions the
// scripts drive (create an identity, add a contact, send, wait for a
// message). The scripts import from here; each keeps only its own checks.
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/// The Chromium flags for a quiet, sandbox-free headless run.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A test run: `check` counts and logs each named check, `cleanups` run in
// reverse at the end, `finish(main)` runs everything and exits with the
// right code.
export function suite(tag) {
  const s = {
    passed: 0,
    failures: 0,
    cleanups: [],
    log: (...a) => console.log(`[${tag}]`, ...a),
    assert(cond, msg) { if (!cond) throw new Error(msg); },
    async check(name, fn) {
      const t0 = Date.now();
      try {
        await fn();
        s.passed++;
        s.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        s.failures++;
        s.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
        throw Object.assign(e instanceof Error ? e : new Error(String(e)), { logged: true });
      }
    },
    // A temp dir removed at the end.
    tempDir(prefix) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      s.cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
    async finish(main, summary = '') {
      let code = 0;
      try {
        await main();
      } catch (e) {
        code = 1;
        // A failed check has said why; anything else (setup) says it here.
        if (!e?.logged) s.log(`FAIL setup: ${e && e.stack ? e.stack : e}`);
      }
      for (const c of s.cleanups.reverse()) { try { await c(); } catch { /* best effort */ } }
      s.log(`${s.passed} passed, ${s.failures} failed${summary}`);
      process.exit(code || (s.failures ? 1 : 0));
    },
  };
  return s;
}

// A fresh Chromium profile (its own storage); closed and removed at the end.
export async function launchProfile(s, name, { chromiumBin, viewport = { width: 1100, height: 900 } } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dmp-web-${name}-`));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumBin || process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, viewport, args: CHROMIUM_ARGS,
  });
  s.cleanups.push(async () => { await ctx.close().catch(() => {}); fs.rmSync(dir, { recursive: true, force: true }); });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => s.log(`${name} page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  return { name, ctx, page };
}

// A fresh open-mode dmp-node on free ports, its database in `work`;
// resolves to { url, proc, stop } once it prints its HTTP and DNS lines.
export async function startNode(s, { bin, work, name, zone, webDir }) {
  const args = ['--db-path', path.join(work, `${name}.db`), '--http-port', '0', '--dns-port', '0'];
  if (webDir) args.push('--web-dir', webDir);
  const proc = spawn(bin, args, {
    env: { ...process.env, DMP_AUTH_MODE: 'open', DMP_SERVED_ZONE: zone, DMP_HTTP_RATE: '0', DMP_HTTP_BURST: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => { if (proc.exitCode === null) proc.kill('SIGTERM'); };
  s.cleanups.push(stop);
  let out = '', err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((ok, bad) => {
    const t = setTimeout(() => bad(new Error(`${name} did not start: ${err}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^dmp-node .* listening on (http\S+)/m);
      if (m && /^dns: /m.test(out)) { clearTimeout(t); ok(m[1].replace(/\/+$/, '')); }
    });
    proc.on('exit', (c) => { clearTimeout(t); bad(new Error(`${name} exited ${c}: ${err}`)); });
  });
  return { url, proc, stop };
}

// The live record count of a node.
export async function records(url) {
  const r = await fetch(`${url}/stats`);
  return (await r.json()).records;
}

// Publish one TXT value at `name` on an open node.
export async function publishRecord(url, name, wire) {
  const r = await fetch(`${url}/v1/records/${name}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: wire, ttl: 86400 }),
  });
  if (!(r.status === 201 || r.status === 200 || r.status === 204)) {
    throw new Error(`publishing ${name} to ${url} answered HTTP ${r.status}: ${await r.text()}`);
  }
}

// The trimmed text of `sel`.
export const text = (p, sel) => p.page.textContent(sel).then((t) => (t || '').trim());

// Create an identity in the setup screen and wait for the first poll.
export async function createIdentity(p, { app, node, zone, user, pass }) {
  await p.page.goto(app);
  await p.page.fill('#username', user);
  await p.page.fill('#domain', zone);
  await p.page.fill('#node', node);
  await p.page.fill('#pass', pass);
  await p.page.fill('#pass2', pass);
  await p.page.click('#create');
  await p.page.waitForSelector('#me', { timeout: 60000 });
  await p.page.waitForFunction(() => /Last checked/.test(document.querySelector('#status')?.textContent || ''),
    null, { timeout: 60000 });
}

// Look up `address`, pin its key, and open the thread.
export async function addContact(p, address) {
  await p.page.click('#add-contact');
  await p.page.fill('#contact-address', address);
  await p.page.click('#lookup');
  await p.page.waitForSelector('#contact-fingerprint, #contact-error', { timeout: 30000 });
  const err = await p.page.$('#contact-error');
  if (err) throw new Error(`lookup of ${address} failed: ${await err.textContent()}`);
  await p.page.click('#pin');
  await p.page.waitForSelector('#thread-title');
}

// Send and wait for the message's final status ("sent" or the error).
export async function sendAndWait(p, body) {
  await p.page.fill('#compose', body);
  await p.page.click('#send');
  const h = await p.page.waitForFunction((t) => {
    const m = [...document.querySelectorAll('#messages .msg.out')]
      .find((x) => x.querySelector('.text')?.textContent === t);
    const meta = m?.querySelector('.meta')?.textContent || '';
    return m && !/sending$/.test(meta) ? meta : null;
  }, body, { timeout: 60000 });
  return (await h.jsonValue()).replace(/^.*?· /, '');
}

// Wait until the conversation with `from` previews `body` (background
// polling brought it in).
export async function waitForPreview(p, from, body) {
  await p.page.waitForFunction(({ from, body }) => {
    const conv = [...document.querySelectorAll('button.conv')].find((b) => b.querySelector('.who')?.textContent === from);
    return conv && conv.querySelector('.preview')?.textContent === body;
  }, { from, body }, { timeout: 90000 });
}

// Click a Settings control and read the note (`#<noteId>`) it leaves.
export async function settingsAction(p, id, noteId) {
  await p.page.click(`#${id}`);
  const h = await p.page.waitForFunction((n) => {
    const el = document.querySelector(`#${n}`);
    return el ? [el.className, el.textContent] : null;
  }, noteId, { timeout: 30000 });
  const [cls, note] = await h.jsonValue();
  return { error: /error/.test(cls), text: note };
}

// The setting of the scripts that run their own local cluster of open
// dmp-nodes (cluster.mjs, bootstrap.mjs): paths from the environment
// (DMP_NODE_BIN, DMP_CLUSTER_BIN, DMP_DIST, DMP_ARTIFACTS), a run id, a work
// dir, and the helpers bound to them.
export function localCluster(tag) {
  const s = suite(tag);
  const zone = 'mesh.test';
  const nodeBin = process.env.DMP_NODE_BIN || 'target/debug/dmp-node';
  const clusterBin = process.env.DMP_CLUSTER_BIN || 'target/debug/dmp-cluster';
  const art = process.env.DMP_ARTIFACTS || `test-artifacts/browser/${tag}`;
  fs.mkdirSync(art, { recursive: true });
  const work = s.tempDir(`dmp-web-${tag}-`);
  const dist = path.resolve(process.env.DMP_DIST || 'dist');
  const run = Math.random().toString(36).slice(2, 8);
  return {
    s,
    ZONE: zone,
    ART: art,
    RUN: run,
    work,
    profile: (name) => launchProfile(s, name),
    create: (p, app, node, user, pass) => createIdentity(p, { app, node, zone, user, pass }),
    // The dmp-cluster operator tool; its trimmed stdout.
    cluster: (...args) => execFileSync(clusterBin, args, { encoding: 'utf8' }).trim(),
    // After checking the builds: node a (serving the web client) and node b.
    async startPair() {
      for (const f of [nodeBin, clusterBin, path.join(dist, 'index.html')]) {
        s.assert(fs.existsSync(f), `${f} is missing: build dmp-node (cargo build -p dmp-node --bins) and dist/ (trunk build --release)`);
      }
      const A = await startNode(s, { bin: nodeBin, work, name: 'node-a', zone, webDir: dist });
      const B = await startNode(s, { bin: nodeBin, work, name: 'node-b', zone });
      s.log(`node a ${A.url}, node b ${B.url}, run ${run}`);
      return { A, B };
    },
  };
}

// In cluster mode: `from` sends `body` to `toAddress`; the send must say
// "sent", node `otherNode` (not the one the sender registered on) must gain
// records, and `to` must get the message from `fromAddress`.
export async function sendThroughCluster(from, to, { fromAddress, toAddress, body, otherNode }) {
  const before = await records(otherNode);
  await from.page.click(`button.conv:has(.who:text-is("${toAddress}"))`);
  const st = await sendAndWait(from, body);
  if (st !== 'sent') throw new Error(`${body}: ${st}`);
  const after = await records(otherNode);
  if (!(after > before)) throw new Error(`${otherNode} got no records (${before} -> ${after})`);
  await waitForPreview(to, fromAddress, body);
}
