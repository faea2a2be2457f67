// Cluster mode of the web client in real headless Chromium: two dmp-nodes
// form a cluster (manifest signed by dmp-cluster), alice pins it in Settings
// and enables it, her writes fan out to both nodes, still succeed with one
// node stopped (quorum 1 of 2), union reads show a record stored on both
// nodes once and keep working with a node down, fail with a plain error naming the nodes
// when a refreshed manifest (higher seq) needs 2 of 3, a refresh to the same
// seq is refused, and the pin survives reload in the sealed vault.
//
// Environment:
//   DMP_NODE_BIN     the dmp-node binary (default target/debug/dmp-node)
//   DMP_CLUSTER_BIN  the dmp-cluster binary (default target/debug/dmp-cluster)
//   DMP_DIST         the Trunk output directory (default: dist)
//   DMP_ARTIFACTS    where screenshots go (default: test-artifacts/browser/cluster)
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
const ART = process.env.DMP_ARTIFACTS || 'test-artifacts/browser/cluster';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUN = Math.random().toString(36).slice(2, 8);
fs.mkdirSync(ART, { recursive: true });

const cleanups = [];
let failures = 0;
let passed = 0;
const log = (...a) => console.log('[cluster]', ...a);
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

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dmp-web-cluster-'));
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

async function publishManifest(url, wire) {
  const r = await fetch(`${url}/v1/records/cluster.${ZONE}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value: wire, ttl: 86400 }),
  });
  assert(r.status === 201 || r.status === 200 || r.status === 204,
    `publishing the manifest to ${url} answered HTTP ${r.status}: ${await r.text()}`);
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

async function clusterAction(p, id) {
  await p.page.click(`#${id}`);
  const h = await p.page.waitForFunction(() => {
    const n = document.querySelector('#cluster-note');
    return n ? [n.className, n.textContent] : null;
  }, null, { timeout: 30000 });
  const [cls, text] = await h.jsonValue();
  return { error: /error/.test(cls), text };
}

const text = (p, sel) => p.page.textContent(sel).then((t) => (t || '').trim());

async function main() {
  for (const f of [NODE_BIN, CLUSTER_BIN, path.join(DIST, 'index.html')]) {
    assert(fs.existsSync(f), `${f} is missing: build dmp-node (cargo build -p dmp-node --bins) and dist/ (trunk build --release)`);
  }
  const A = await startNode('node-a', DIST);
  const B = await startNode('node-b', null);
  log(`node a ${A.url}, node b ${B.url}, run ${RUN}`);
  const key = path.join(work, 'operator.key');
  const spk = cluster('keygen', '--out', key);
  const seq1 = cluster('manifest', '--key', key, '--cluster', ZONE, '--seq', '1',
    '--node', `a=${A.url}`, '--node', `b=${B.url}`);
  // seq 2 adds a node nobody listens on: 3 nodes, quorum 2.
  const seq2 = cluster('manifest', '--key', key, '--cluster', ZONE, '--seq', '2',
    '--node', `a=${A.url}`, '--node', `b=${B.url}`, '--node', 'c=http://127.0.0.1:9');
  await publishManifest(A.url, seq1);

  const alice = await profile('alice');
  const bob = await profile('bob');
  const ua = `alice-${RUN}`, ub = `bob-${RUN}`;
  const pa = `cluster pass ${RUN} a`;

  await check('two profiles on node a, contacts both ways', async () => {
    await Promise.all([create(alice, A.url, A.url, ua, pa), create(bob, A.url, A.url, ub, `cluster pass ${RUN} b`)]);
    await addContact(alice, `${ub}@${ZONE}`);
    await addContact(bob, `${ua}@${ZONE}`);
  });

  await check('a wrong operator key pins nothing', async () => {
    await alice.page.click('#settings');
    await alice.page.fill('#cluster-base-input', ZONE);
    await alice.page.fill('#cluster-spk', 'ab'.repeat(32));
    const r = await clusterAction(alice, 'cluster-pin');
    assert(r.error && /verif/.test(r.text), `expected a verification error, got ${JSON.stringify(r)}`);
    assert(!(await alice.page.$('#cluster-status')), 'no cluster status after a failed pin');
  });

  await check('pin: the manifest verifies, seq 1 and both nodes shown; enable', async () => {
    await alice.page.fill('#cluster-spk', spk);
    const r = await clusterAction(alice, 'cluster-pin');
    assert(!r.error, `pin failed: ${r.text}`);
    assert(await text(alice, '#cluster-seq') === '1', 'seq 1 shown');
    const nodes = await text(alice, '#cluster-nodes');
    assert(nodes.includes(A.url) && nodes.includes(B.url), `both nodes listed: ${nodes}`);
    assert(await text(alice, '#cluster-quorum') === '1 of 2', 'quorum 1 of 2');
    assert(await text(alice, '#cluster-mode') === 'off', 'mode stays off until enabled');
    const e = await clusterAction(alice, 'cluster-enable');
    assert(!e.error, `enable failed: ${e.text}`);
    assert(await text(alice, '#cluster-mode') === 'on', 'mode on');
    await alice.page.screenshot({ path: path.join(ART, 'cluster-settings.png'), fullPage: true });
  });

  await check('cluster mode: a send fans out to both nodes', async () => {
    const before = await records(B.url);
    await alice.page.click(`button.conv:has(.who:text-is("${ub}@${ZONE}"))`);
    const st = await sendAndWait(alice, `m1 ${RUN}`);
    assert(st === 'sent', `m1: ${st}`);
    const after = await records(B.url);
    assert(after > before, `node b got the records (${before} -> ${after})`);
    await waitForIncoming(bob, `${ua}@${ZONE}`, `m1 ${RUN}`);
  });

  await check('union reads: a reply stored on both nodes shows once', async () => {
    await bob.page.click('#settings');
    await bob.page.fill('#cluster-base-input', ZONE);
    await bob.page.fill('#cluster-spk', spk);
    assert(!(await clusterAction(bob, 'cluster-pin')).error, 'bob pins');
    assert(!(await clusterAction(bob, 'cluster-enable')).error, 'bob enables');
    await bob.page.click(`button.conv:has(.who:text-is("${ua}@${ZONE}"))`);
    const st = await sendAndWait(bob, `r0 ${RUN}`);
    assert(st === 'sent', `r0: ${st}`);
    await waitForIncoming(alice, `${ub}@${ZONE}`, `r0 ${RUN}`);
    await alice.page.click(`button.conv:has(.who:text-is("${ub}@${ZONE}"))`);
    await new Promise((ok) => setTimeout(ok, 6000)); // one more poll
    const n = await alice.page.$$eval('#messages .msg:not(.out) .text',
      (ms, t) => ms.filter((m) => m.textContent === t).length, `r0 ${RUN}`);
    assert(n === 1, `r0 shown ${n} times`);
  });

  await check('node b down: the send still succeeds on quorum 1 of 2', async () => {
    B.stop();
    await new Promise((ok) => B.proc.exitCode !== null ? ok() : B.proc.once('exit', ok));
    const st = await sendAndWait(alice, `m2 ${RUN}`);
    assert(st === 'sent', `m2: ${st}`);
    await waitForIncoming(bob, `${ua}@${ZONE}`, `m2 ${RUN}`);
    // Bob (cluster mode) replies; alice's union read gets it from node a.
    const r1 = await sendAndWait(bob, `r1 ${RUN}`);
    assert(r1 === 'sent', `r1: ${r1}`);
    await waitForIncoming(alice, `${ub}@${ZONE}`, `r1 ${RUN}`);
  });

  await check('refresh to seq 2 (3 nodes, quorum 2): the send fails naming the failed nodes', async () => {
    await publishManifest(A.url, seq2);
    await alice.page.click('#settings');
    const r = await clusterAction(alice, 'cluster-refresh');
    assert(!r.error, `refresh failed: ${r.text}`);
    assert(await text(alice, '#cluster-seq') === '2', 'seq 2 shown');
    assert(await text(alice, '#cluster-quorum') === '2 of 3', 'quorum 2 of 3');
    const again = await clusterAction(alice, 'cluster-refresh');
    assert(again.error && /not newer/.test(again.text), `same seq refused: ${JSON.stringify(again)}`);
    assert(await text(alice, '#cluster-seq') === '2', 'still seq 2');
    await alice.page.click(`button.conv:has(.who:text-is("${ub}@${ZONE}"))`);
    const st = await sendAndWait(alice, `m3 ${RUN}`);
    assert(/reached 1 of 3 nodes, 2 needed/.test(st) && /\bb: /.test(st) && /\bc: /.test(st),
      `m3 should fail naming nodes b and c: ${st}`);
    await alice.page.screenshot({ path: path.join(ART, 'cluster-quorum-failed.png'), fullPage: true });
  });

  await check('reload: the pinned cluster comes back from the sealed vault; disable', async () => {
    await alice.page.reload();
    await alice.page.waitForSelector('#unlock-pass', { timeout: 30000 });
    await alice.page.fill('#unlock-pass', pa);
    await alice.page.click('#unlock');
    await alice.page.waitForSelector('#me', { timeout: 60000 });
    await alice.page.click('#settings');
    assert(await text(alice, '#cluster-seq') === '2', 'seq 2 after reload');
    assert(await text(alice, '#cluster-mode') === 'on', 'still on after reload');
    const d = await clusterAction(alice, 'cluster-disable');
    assert(!d.error, `disable failed: ${d.text}`);
    assert(await text(alice, '#cluster-mode') === 'off', 'mode off');
    await alice.page.click(`button.conv:has(.who:text-is("${ub}@${ZONE}"))`);
    const st = await sendAndWait(alice, `m4 ${RUN}`);
    assert(st === 'sent', `m4 (single node again): ${st}`);
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
