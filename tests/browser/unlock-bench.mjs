// Time to unlock an identity in headless Chromium: from the Unlock click
// until the messenger shows (Argon2id in the worker + opening the sealed
// vault). Also the time from navigation to the first rendered screen.
// Env: DMP_APP_URL (the client, served by a node), DMP_NODE_URL, DMP_ZONE,
// DMP_RUNS (default 5), CHROMIUM. Prints one JSON line.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM_ARGS } from './harness.mjs';

const APP = process.env.DMP_APP_URL;
const NODE = process.env.DMP_NODE_URL || APP;
const ZONE = process.env.DMP_ZONE || 'mesh.test';
const RUNS = Number(process.env.DMP_RUNS || 5);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmp-web-bench-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: CHROMIUM_ARGS,
});
try {
  const page = ctx.pages()[0] || await ctx.newPage();
  const pass = 'benchmark passphrase';
  await page.goto(APP);
  await page.fill('#username', `bench-${Math.random().toString(36).slice(2, 8)}`);
  await page.fill('#domain', ZONE);
  await page.fill('#node', NODE);
  await page.fill('#pass', pass);
  await page.fill('#pass2', pass);
  await page.click('#create');
  await page.waitForSelector('#me', { timeout: 60000 });
  const unlock = [], firstScreen = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = Date.now();
    await page.reload();
    await page.waitForSelector('#unlock-pass', { timeout: 30000 });
    firstScreen.push(Date.now() - t0);
    await page.fill('#unlock-pass', pass);
    const t1 = Date.now();
    await page.click('#unlock');
    await page.waitForSelector('#me', { timeout: 60000 });
    unlock.push(Date.now() - t1);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(JSON.stringify({ runs: RUNS, unlock_ms: unlock, unlock_median_ms: median(unlock),
    first_screen_ms: firstScreen, first_screen_median_ms: median(firstScreen) }));
} finally {
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
