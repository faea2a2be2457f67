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
import path from 'node:path';
import * as h from './harness.mjs';

const { s, ZONE, ART, RUN, work, profile, create, cluster, startPair } =
  h.localCluster('bootstrap');
const { assert, check } = s;
const { text, addContact } = h;
const publish = h.publishRecord;
const bootstrapAction = (p, id) => h.settingsAction(p, id, 'bootstrap-note');

async function discover(p, address, signer, autoPin) {
  await p.page.fill('#discover-address', address);
  await p.page.fill('#discover-spk', signer);
  await p.page.setChecked('#discover-autopin', autoPin);
  return bootstrapAction(p, 'bootstrap-discover');
}

async function main() {
  const { A, B } = await startPair();
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
    await h.sendThroughCluster(alice, bob, {
      fromAddress: `${ua}@${ZONE}`, toAddress: `${ub}@${ZONE}`, body: `b1 ${RUN}`, otherNode: B.url,
    });
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

await s.finish(main);
