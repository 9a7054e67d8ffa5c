// Restart: stored sessions count again after the Durable Object restarts, until they heartbeat
// (then they live on) or expire one ttl later. Two wrangler starts on one persisted directory.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { assertWithin, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';

const vars = { PRESENCE_HEARTBEAT_SECONDS: '1', PRESENCE_TTL_SECONDS: '3', BROADCAST_INTERVAL_MS: '500' };
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-restart-'));
let w;
after(async () => {
  await w?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('after a restart stored sessions count again at once, then expire one ttl later unless they heartbeat', { timeout: 150_000 }, async () => {
  w = await startWorker({ vars, persistDir: stateDir });
  const site = w.site();
  const visitor = uid('v');
  const kept = { room: '/kept', session: uid('s'), visitor };
  const dropped = { room: '/dropped', session: uid('s'), visitor: uid('v') };
  const left = { room: '/left', session: uid('s'), visitor: uid('v') };
  await w.join(site, kept);
  await w.join(site, dropped);
  await w.join(site, left);
  await w.leave(site, left); // an end is stored too: it must not come back
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 2 });

  await w.stop();
  w = await startWorker({ vars, persistDir: stateDir });
  assert.equal(w.site(), site, 'the same site key after the restart');

  // The first request after the restart wakes the object: both stored sessions count again,
  // although the restart took longer than their ttl.
  const woke = performance.now();
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 2 }, 'stored sessions count at once');
  assert.deepEqual((await w.count(site, '/left')).room, { room: '/left', sessions: 0, visitors: 0 });

  const beats = w.keepAlive(site, [kept]);
  await w.heartbeat(site, kept);
  // Still counted shortly before one ttl has passed.
  await sleep(Math.max(0, w.ttlMs - 1000 - (performance.now() - woke)));
  assert.equal((await w.count(site)).site.sessions, 2, 'the silent stored session counts until its ttl');

  await waitFor(async () => (await w.count(site)).site.sessions === 1, {
    timeoutMs: w.ttlMs + 2000 + 5000,
    intervalMs: 100,
    what: 'the silent stored session to expire',
  });
  assertWithin(performance.now() - woke, w.ttlMs + 2000, 'expiry of a stored session that does not heartbeat');
  assert.deepEqual((await w.count(site, '/kept')).room, { room: '/kept', sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site, '/dropped')).room, { room: '/dropped', sessions: 0, visitors: 0 });

  // The heartbeating one lives on past another ttl.
  await sleep(w.ttlMs + 500);
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 }, 'the heartbeating session lives on');
  await beats.stop();
  assert.deepEqual(beats.errors, []);
});
