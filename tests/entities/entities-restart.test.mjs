// Entities across a restart of the local runtime (two wrangler starts on one persisted directory):
// an offline entity keeps its last_seen exactly; an entity online at the restart comes back online
// (its stored session counts again for one ttl), then turns offline after ttl + grace if silent.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { assertWithin, isCount, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';
import { entitySites, entityVars, isStatus, mustStatus, openWatch, tracked, watchToken } from '../kit/entities-kit.mjs';

const vars = { ...entityVars(), HERENOW_TEST_HOOKS: 'true' };
const grace = Number(vars.LEAVE_GRACE_MS);
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-entities-restart-'));
let w;
after(async () => {
  await w?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('last_seen survives a restart; an entity online at the restart comes back online, then turns offline after ttl + grace if silent', { timeout: 180_000 }, async () => {
  w = await startWorker({ vars, persistDir: stateDir });
  const site = entitySites()();
  const gone = 'user:gone';
  const here = 'user:here';
  const token = watchToken(site, ['user:*']);

  // user:gone joins, leaves, and turns offline once the grace has passed.
  const goneFields = tracked(site, gone, { room: '/', session: uid('s'), visitor: uid('v') });
  const goneJoinWall = Date.now();
  await w.join(site, goneFields);
  await w.leave(site, goneFields);
  const goneLeaveWall = Date.now();
  const { value: goneBefore } = await waitFor(
    async () => {
      const s = (await mustStatus(w, site, [gone], token))[gone];
      return s.online ? false : s;
    },
    { timeoutMs: grace + 5000, intervalMs: 100, what: `${gone} to turn offline after the grace` },
  );
  assert.equal(goneBefore.sessions, 0);
  assert.ok(
    goneBefore.last_seen >= goneJoinWall - 100 && goneBefore.last_seen <= goneLeaveWall + 100,
    `${gone} last_seen ${goneBefore.last_seen} is between its join (${goneJoinWall}) and leave (${goneLeaveWall})`,
  );

  // user:here joins over HTTP right before the stop, well inside its ttl.
  const hereFields = tracked(site, here, { room: '/', session: uid('s'), visitor: uid('v') });
  const hereJoinWall = Date.now();
  await w.join(site, hereFields);
  const hereBefore = (await mustStatus(w, site, [here], token))[here];
  assert.equal(hereBefore.online, true);
  assert.equal(hereBefore.sessions, 1);
  const stopWall = Date.now();

  await w.stop();
  w = await startWorker({ vars, persistDir: stateDir });

  // The first request after the restart wakes the object, unless the alarm it left pending
  // (overdue now) woke it as the runtime started: its stored sessions count for one ttl from
  // then. The object says when it loaded.
  const requested = performance.now();
  const after1 = await mustStatus(w, site, [gone, here, 'user:never'], token);
  const { loaded_at: loadedAt } = (await w.request(`/v1/_test/memory?site=${site}`)).body;
  const woke = requested - Math.max(0, Date.now() - (performance.now() - requested) - loadedAt);
  assert.deepEqual(after1[gone], { online: false, state: 'offline', sessions: 0, last_seen: goneBefore.last_seen, online_since: null, info: null, signals: [] }, `${gone} after the restart`);
  assert.deepEqual(after1['user:never'], { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });
  assert.equal(after1[here].online, true, `${here} is online again after the restart: ${JSON.stringify(after1[here])}`);
  assert.equal(after1[here].sessions, 1, `${here}: ${JSON.stringify(after1[here])}`);
  assert.ok(
    after1[here].last_seen >= hereJoinWall - 100 && after1[here].last_seen <= Date.now(),
    `${here} last_seen ${after1[here].last_seen} (joined ${hereJoinWall})`,
  );
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 }, 'its stored session counts again');

  const watch = await openWatch(w, site, [here, gone], { token });
  await watch.next(isCount, 2000);
  const opening = {};
  for (let i = 0; i < 2; i++) {
    const { msg } = await watch.next(isStatus(), 2000);
    opening[msg.entity] = msg;
  }
  assert.equal(opening[here].online, true, JSON.stringify(opening[here]));
  assert.equal(opening[here].sessions, 1, JSON.stringify(opening[here]));
  assert.deepEqual(opening[gone], { type: 'status', entity: gone, online: false, state: 'offline', sessions: 0, last_seen: goneBefore.last_seen, online_since: null, info: null, signals: [] });

  // Still online shortly before one ttl has passed since the wake.
  await sleep(Math.max(0, w.ttlMs - 1000 - (performance.now() - woke)));
  assert.equal((await mustStatus(w, site, [here], token))[here].online, true, `${here} before one ttl after the wake`);

  // Then offline after ttl + grace, with last_seen still its last real sign of life (the join).
  const bound = w.ttlMs + grace + 2000;
  const { msg, at } = await watch.next(isStatus(here), bound + 5000);
  assert.equal(msg.online, false, `the next status of ${here} is the offline one: ${JSON.stringify(msg)}`);
  assert.equal(msg.sessions, 0);
  assertWithin(at - woke, bound, `${here} offline after the wake`);
  assert.ok(at - woke >= w.ttlMs + grace - 100, `${here} offline ${Math.round(at - woke)} ms after the wake, before ttl + grace`);
  assert.ok(
    msg.last_seen >= hereJoinWall - 100 && msg.last_seen <= stopWall + 100,
    `${here} last_seen ${msg.last_seen} must be its last sign of life before the stop (joined ${hereJoinWall}, stopped ${stopWall}), not a time it was not there`,
  );
  const final = await mustStatus(w, site, [gone, here], token);
  assert.deepEqual(final[here], { online: false, state: 'offline', sessions: 0, last_seen: msg.last_seen, online_since: null, info: null, signals: [] });
  assert.deepEqual(final[gone], { online: false, state: 'offline', sessions: 0, last_seen: goneBefore.last_seen, online_since: null, info: null, signals: [] });
  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 });
  await watch.close();
});
