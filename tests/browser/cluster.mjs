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
import path from 'node:path';
import * as h from './harness.mjs';

const { s, ZONE, ART, RUN, work, profile, create, cluster, startPair } =
  h.localCluster('cluster');
const { assert, check } = s;
const { text, sendAndWait, addContact, waitForPreview: waitForIncoming } = h;
const publishManifest = (url, wire) => h.publishRecord(url, `cluster.${ZONE}`, wire);
const clusterAction = (p, id) => h.settingsAction(p, id, 'cluster-note');

async function main() {
  const { A, B } = await startPair();
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
    await h.sendThroughCluster(alice, bob, {
      fromAddress: `${ua}@${ZONE}`, toAddress: `${ub}@${ZONE}`, body: `m1 ${RUN}`, otherNode: B.url,
    });
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

await s.finish(main);
