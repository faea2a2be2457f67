// Bootstrap discovery in the web client, in real headless Chromium: two
// dmp-nodes form a cluster (manifest signed by dmp-cluster), the zone
// operator's signed bootstrap record at _dmp.<zone> names it (after an
// entry with no manifest, so the walk has to move on). In Settings →
// Bootstrap, a wrong signer key pins nothing and says why (pin and
// discover), as do a missing record and a walk where every entry fails;
// the right key pins; Fetch shows the record; Discover with
// Auto-pin pins and enables the cluster, and a message sent afterwards
// reaches both nodes and is received; after reload and unlock the pinned
// manifest is refreshed to a newer seq without a click.
//
// Environment:
//   DMP_NODE_BIN     the dmp-node binary (default target/debug/dmp-node)
//   DMP_CLUSTER_BIN  the dmp-cluster binary (default target/debug/dmp-cluster)
//   DMP_DIST         the Trunk output directory (default: dist)
//   DMP_ARTIFACTS    where screenshots go (default: test-artifacts/browser/bootstrap)
//   CHROMIUM         browser binary (default: /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ZONE = 'mesh.test';
const NODE_BIN = process.env.DMP_NODE_BIN || 'target/debug/dmp-node';
const CLUSTER_BIN = process.env.DMP_CLUSTER_BIN || 'target/debug/dmp-cluster';
const DIST = path.resolve(process.env.DMP_DIST || 'dist');
const ART = process.env.DMP_ARTIFACTS || 'test-artifacts/browser/bootstrap';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUN = Math.random().toString(36).slice(2, 8);
fs.mkdirSync(ART, { recursive: true });

const cleanups = [];
let failures = 0;
let passed = 0;
const log = (...a) => console.log('[bootstrap]', ...a);
function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures++;
    log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    throw e;
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dmp-web-bootstrap-'));
cleanups.push(() => fs.rmSync(work, { recursive: true, force: true }));

// A fresh open-mode dmp-node on free ports; resolves to { url, proc }.
async function startNode(name, webDir) {
  const args = ['--db-path', path.join(work, `${name}.db`), '--http-port', '0', '--dns-port', '0'];
  if (webDir) args.push('--web-dir', webDir);
  const proc = spawn(NODE_BIN, args, {
    env: { ...process.env, DMP_AUTH_MODE: 'open', DMP_SERVED_ZONE: ZONE, DMP_HTTP_RATE: '0', DMP_HTTP_BURST: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => { if (proc.exitCode === null) proc.kill('SIGTERM'); };
  cleanups.push(stop);
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

async function records(url) {
  const r = await fetch(`${url}/stats`);
  return (await r.json()).records;
}

const cluster = (...args) => execFileSync(CLUSTER_BIN, args, { encoding: 'utf8' }).trim();

async function profile(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dmp-web-${name}-`));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(async () => { await ctx.close().catch(() => {}); fs.rmSync(dir, { recursive: true, force: true }); });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('pageerror', (e) => log(`${name} page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  return { name, ctx, page };
}

async function create(p, app, node, user, pass) {
  await p.page.goto(app);
  await p.page.fill('#username', user);
  await p.page.fill('#domain', ZONE);
  await p.page.fill('#node', node);
  await p.page.fill('#pass', pass);
  await p.page.fill('#pass2', pass);
  await p.page.click('#create');
  await p.page.waitForSelector('#me', { timeout: 60000 });
  await p.page.waitForFunction(() => /Last checked/.test(document.querySelector('#status')?.textContent || ''),
    null, { timeout: 60000 });
}

async function addContact(p, address) {
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
async function sendAndWait(p, text) {
  await p.page.fill('#compose', text);
  await p.page.click('#send');
  const h = await p.page.waitForFunction((t) => {
    const m = [...document.querySelectorAll('#messages .msg.out')]
      .find((x) => x.querySelector('.text')?.textContent === t);
    const meta = m?.querySelector('.meta')?.textContent || '';
    return m && !/sending$/.test(meta) ? meta : null;
  }, text, { timeout: 60000 });
  return (await h.jsonValue()).replace(/^.*?· /, '');
}

async function waitForIncoming(p, from, text) {
  await p.page.waitForFunction(({ from, text }) => {
    const conv = [...document.querySelectorAll('button.conv')].find((b) => b.querySelector('.who')?.textContent === from);
    return conv && conv.querySelector('.preview')?.textContent === text;
  }, { from, text }, { timeout: 90000 });
}

const text = (p, sel) => p.page.textContent(sel).then((t) => (t || '').trim());

async function publish(url, name, wire) {
  const r = await fetch(`${url}/v1/records/${name}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: wire, ttl: 86400 }),
  });
  assert(r.status === 201 || r.status === 200 || r.status === 204,
    `publishing ${name} to ${url} answered HTTP ${r.status}: ${await r.text()}`);
}

// Click a Bootstrap control and read the note it leaves.
async function bootstrapAction(p, id) {
  await p.page.click(`#${id}`);
  const h = await p.page.waitForFunction(() => {
    const n = document.querySelector('#bootstrap-note');
    return n ? [n.className, n.textContent] : null;
  }, null, { timeout: 30000 });
  const [cls, text] = await h.jsonValue();
  return { error: /error/.test(cls), text };
}

async function discover(p, address, signer, autoPin) {
  await p.page.fill('#discover-address', address);
  await p.page.fill('#discover-spk', signer);
  await p.page.setChecked('#discover-autopin', autoPin);
  return bootstrapAction(p, 'bootstrap-discover');
}

async function main() {
  for (const f of [NODE_BIN, CLUSTER_BIN, path.join(DIST, 'index.html')]) {
    assert(fs.existsSync(f), `${f} is missing: build dmp-node (cargo build -p dmp-node --bins) and dist/ (trunk build --release)`);
  }
  const A = await startNode('node-a', DIST);
  const B = await startNode('node-b', null);
  log(`node a ${A.url}, node b ${B.url}, run ${RUN}`);
  const opKey = path.join(work, 'operator.key');
  const opSpk = cluster('keygen', '--out', opKey);
  const zoneKey = path.join(work, 'zone.key');
  const zoneSpk = cluster('keygen', '--out', zoneKey);
  const manifest = cluster('manifest', '--key', opKey, '--cluster', ZONE, '--seq', '1',
    '--node', `a=${A.url}`, '--node', `b=${B.url}`);
  // Priority 5 names a cluster with no manifest: the walk must skip it.
  const boot = cluster('bootstrap', '--key', zoneKey, '--domain', ZONE, '--seq', '3',
    '--entry', `10=${ZONE}=${opSpk}`, '--entry', `5=void.${ZONE}=${opSpk}`);
  // The manifest is published later: first every entry must fail.
  await publish(A.url, `_dmp.${ZONE}`, boot);

  const alice = await profile('alice');
  const bob = await profile('bob');
  const ua = `alice-${RUN}`, ub = `bob-${RUN}`;
  const pa = `boot pass ${RUN} a`;

  await check('two profiles on node a, contacts both ways', async () => {
    await Promise.all([create(alice, A.url, A.url, ua, pa),
      create(bob, A.url, A.url, ub, `boot pass ${RUN} b`)]);
    await addContact(alice, `${ub}@${ZONE}`);
    await addContact(bob, `${ua}@${ZONE}`);
  });

  await check('a wrong signer key pins nothing (pin and discover)', async () => {
    await alice.page.click('#settings');
    const wrong = 'ab'.repeat(32);
    await alice.page.fill('#bootstrap-domain', ZONE);
    await alice.page.fill('#bootstrap-spk', wrong);
    const r = await bootstrapAction(alice, 'bootstrap-pin');
    assert(r.error && /none verifies under the signer key/.test(r.text), `pin: expected a verification error, got ${JSON.stringify(r)}`);
    assert(!(await alice.page.$('#bootstrap-status')), 'no bootstrap pin after a failed pin');
    const d = await discover(alice, `${ub}@${ZONE}`, wrong, false);
    assert(d.error && /none verifies/.test(d.text), `discover: expected a verification error, got ${JSON.stringify(d)}`);
    const n = await discover(alice, `${ub}@${ZONE}`, '', true);
    assert(n.error && /no bootstrap signer is pinned/.test(n.text), `discover without a signer: ${JSON.stringify(n)}`);
    const a = await discover(alice, `${ub}@${ZONE}`, zoneSpk, true);
    assert(a.error && /auto-pin only pins/.test(a.text), `auto-pin without a pinned signer: ${JSON.stringify(a)}`);
    const none = await discover(alice, `x@sub.${ZONE}`, zoneSpk, false);
    assert(none.error && /no bootstrap record at _dmp\.sub\.mesh\.test/.test(none.text), `no record: ${JSON.stringify(none)}`);
    assert(!(await alice.page.$('#cluster-status')), 'no cluster pinned');
  });

  await check('pin the signer; Fetch shows seq, expiry and the entries', async () => {
    await alice.page.fill('#bootstrap-spk', zoneSpk);
    const r = await bootstrapAction(alice, 'bootstrap-pin');
    assert(!r.error, `pin failed: ${r.text}`);
    assert(await text(alice, '#bootstrap-pinned-domain') === ZONE, 'pinned domain shown');
    const f = await bootstrapAction(alice, 'bootstrap-fetch');
    assert(!f.error && /seq 3, 2 cluster/.test(f.text), `fetch: ${JSON.stringify(f)}`);
    assert(await text(alice, '#bootstrap-seq') === '3', 'seq 3 shown');
    const year = new Date(Date.now() + 365 * 86400e3).getUTCFullYear();
    const exp = await text(alice, '#bootstrap-exp');
    assert(new RegExp(`^${year}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC$`).test(exp), `expiry in a year: ${exp}`);
    const rows = await alice.page.$$eval('#bootstrap-entries tbody tr',
      (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
    assert(JSON.stringify(rows) === JSON.stringify([['5', `void.${ZONE}`, opSpk], ['10', ZONE, opSpk]]),
      `entries in priority order: ${JSON.stringify(rows)}`);
  });

  await check('every entry failing is reported entry by entry', async () => {
    const r = await discover(alice, `${ub}@${ZONE}`, '', true);
    assert(r.error && /^no cluster of the bootstrap record is usable: void\.mesh\.test: .*; mesh\.test: no cluster manifest verifies/.test(r.text),
      `expected the walk's error: ${JSON.stringify(r)}`);
    assert(!(await alice.page.$('#cluster-status')), 'no cluster pinned');
  });

  await check('discover with auto-pin: the cluster is pinned and on', async () => {
    await publish(A.url, `cluster.${ZONE}`, manifest);
    const before = await discover(alice, `${ub}@${ZONE}`, '', false);
    assert(!before.error && /not pinned/.test(before.text), `discover: ${JSON.stringify(before)}`);
    assert(!(await alice.page.$('#cluster-status')), 'discover without auto-pin pins nothing');
    const r = await discover(alice, `${ub}@${ZONE}`, '', true);
    assert(!r.error, `discover failed: ${r.text}`);
    const found = await text(alice, '#discover-cluster');
    assert(found.startsWith(`${ZONE} (priority 10`), `the priority-10 cluster was found: ${found}`);
    assert(await text(alice, '#cluster-base') === ZONE, 'cluster base shown');
    assert(await text(alice, '#cluster-mode') === 'on', 'cluster mode on');
    assert(await text(alice, '#cluster-seq') === '1', 'manifest seq 1');
    const nodes = await text(alice, '#cluster-nodes');
    assert(nodes.includes(A.url) && nodes.includes(B.url), `both nodes listed: ${nodes}`);
    await alice.page.screenshot({ path: path.join(ART, 'bootstrap-settings.png'), fullPage: true });
  });

  await check('a send after auto-pin goes through the cluster and is received', async () => {
    const before = await records(B.url);
    await alice.page.click(`button.conv:has(.who:text-is("${ub}@${ZONE}"))`);
    const st = await sendAndWait(alice, `b1 ${RUN}`);
    assert(st === 'sent', `b1: ${st}`);
    const after = await records(B.url);
    assert(after > before, `node b got the records (${before} -> ${after})`);
    await waitForIncoming(bob, `${ua}@${ZONE}`, `b1 ${RUN}`);
  });

  await check('after unlock the pinned manifest is refreshed to a higher seq by itself', async () => {
    const seq2 = cluster('manifest', '--key', opKey, '--cluster', ZONE, '--seq', '2',
      '--node', `a=${A.url}`, '--node', `b=${B.url}`);
    await publish(A.url, `cluster.${ZONE}`, seq2);
    await alice.page.reload();
    await alice.page.waitForSelector('#unlock-pass', { timeout: 30000 });
    await alice.page.fill('#unlock-pass', pa);
    await alice.page.click('#unlock');
    await alice.page.waitForSelector('#me', { timeout: 60000 });
    await alice.page.click('#settings');
    assert(await text(alice, '#bootstrap-pinned-domain') === ZONE, 'the bootstrap pin survives reload');
    await alice.page.waitForFunction(() => document.querySelector('#cluster-seq')?.textContent === '2',
      null, { timeout: 30000 });
    assert(/refreshed to seq 2/.test(await text(alice, '#cluster-refreshed')), 'the refresh is noted');
    assert(await text(alice, '#cluster-mode') === 'on', 'still on');
  });
}

let code = 0;
try {
  await main();
} catch {
  code = 1;
} finally {
  for (const c of cleanups.reverse()) { try { await c(); } catch { /* best effort */ } }
}
log(`${passed} passed, ${failures} failed`);
process.exit(code || (failures ? 1 : 0));
