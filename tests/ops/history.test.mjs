// History, peaks and private stats: /v1/history from a scripted load whose truth is known, with
// the object's clock moved (the clock test hook) so that minutes pass in seconds and the load
// starts far from a step boundary; the same answer after the runtime restarts; private stats
// refusing every token but a stats token of the site.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { assertError, sitesConfig, startWorker, uid, waitFor } from '../kit/harness.mjs';
import { SECRET, SECRET_ENV, nowSeconds, signJwt } from '../kit/entities-kit.mjs';

const MIN = 60_000;
const STEPS = { '1h': [60_000, 60], '24h': [300_000, 288], '7d': [3_600_000, 168] };
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-history-'));

function vars() {
  const sites = sitesConfig();
  sites.private = { origins: ['*'], secret_env: SECRET_ENV, private_stats: true };
  sites.other = { origins: ['*'], secret_env: SECRET_ENV };
  return {
    SITES: JSON.stringify(sites),
    [SECRET_ENV]: SECRET,
    HERENOW_TEST_HOOKS: 'true',
    // sessions outlive the clock jumps; history is what is under test
    PRESENCE_TTL_SECONDS: '86400',
    PRESENCE_HEARTBEAT_SECONDS: '1',
  };
}

let w;
before(async () => {
  w = await startWorker({ vars: vars(), persistDir: stateDir });
});
after(async () => {
  await w?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

/** Moves the site's object clock so that it reads `objectNow` (epoch ms) now. */
async function setClock(site, objectNow) {
  const offset = Math.round(objectNow - Date.now());
  const res = await w.request(`/v1/_test/clock?site=${site}&offset_ms=${offset}`);
  assert.equal(res.status, 200, res.text);
  return offset;
}

async function history(site, range, headers = {}) {
  const q = new URLSearchParams({ site });
  if (range !== undefined) q.set('range', range);
  return w.request(`/v1/history?${q}`, { headers });
}

/** The expected points of `range` at `now` from per-minute maxima (`minutes`: t -> [s, v]). */
function expected(range, now, minutes) {
  const [step, n] = STEPS[range];
  const last = now - (now % step);
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const t = last - i * step;
    let s = 0;
    let v = 0;
    for (const [m, [ms, mv]] of minutes) {
      if (m >= t && m < t + step) {
        s = Math.max(s, ms);
        v = Math.max(v, mv);
      }
    }
    out.push({ t, sessions: s, visitors: v });
  }
  return out;
}

function assertShape(body, range) {
  const [step, n] = STEPS[range];
  assert.deepEqual(Object.keys(body).sort(), ['peak', 'points', 'range', 'site', 'step_ms']);
  assert.equal(body.range, range);
  assert.equal(body.step_ms, step);
  assert.equal(body.points.length, n);
  for (const p of body.points) {
    assert.deepEqual(Object.keys(p).sort(), ['sessions', 't', 'visitors']);
    assert.equal(p.t % step, 0, 't is a multiple of step_ms');
  }
  for (let i = 1; i < n; i++) assert.equal(body.points[i].t - body.points[i - 1].t, step, 'oldest first, one step apart');
}

test('history holds each step\'s highest counts from a known load, across a restart, far from a step boundary', { timeout: 120_000 }, async () => {
  const site = w.site();
  await w.count(site); // the object exists
  // 37.5 s into a minute, 2 minutes into a 5-minute step
  const realMinute = Date.now() - (Date.now() % (5 * MIN));
  const M = realMinute - 30 * 24 * 3600_000 + 2 * MIN; // a month ago: nothing stored there
  const join = (room, visitor) => w.join(site, { room, session: uid('s'), visitor: visitor ?? uid('v') });
  const at = (t) => setClock(site, t);

  await at(M + 37_500);
  const v1 = uid('v');
  const s1 = { room: '/', session: uid('s'), visitor: v1 };
  await w.join(site, s1);
  await w.join(site, { room: '/', session: uid('s'), visitor: v1 }); // 2 tabs, 1 visitor
  await join('/a'); // minute 0: 3 sessions, 2 visitors

  await at(M + MIN + 12_000);
  const extra = [];
  for (let i = 0; i < 2; i++) extra.push({ room: '/b', session: uid('s'), visitor: uid('v') });
  for (const e of extra) await w.join(site, e); // 5 sessions, 4 visitors
  for (const e of extra) await w.leave(site, e);
  await w.leave(site, s1); // minute 1: max 5/4, closes at 2/2

  await at(M + 5 * MIN + 20_000); // minutes 2-4: quiet, they hold 2/2
  for (let i = 0; i < 5; i++) await join('/c'); // minute 5: 7 sessions, 7 visitors

  const now = M + 5 * MIN + 45_000;
  await at(now);
  const minutes = new Map([
    [M, [3, 2]],
    [M + MIN, [5, 4]],
    [M + 2 * MIN, [2, 2]],
    [M + 3 * MIN, [2, 2]],
    [M + 4 * MIN, [2, 2]],
    [M + 5 * MIN, [7, 7]],
  ]);
  for (const range of ['1h', '24h', '7d']) {
    const res = await history(site, range === '1h' ? undefined : range);
    assert.equal(res.status, 200, res.text);
    assertShape(res.body, range);
    assert.equal(res.body.site, site);
    assert.deepEqual(res.body.points, expected(range, now, minutes), `${range} points`);
    const [step] = STEPS[range];
    assert.deepEqual(res.body.peak, { sessions: 7, visitors: 7, t: (M + 5 * MIN) - ((M + 5 * MIN) % step) }, `${range} peak`);
  }

  // the minute ends (its row is stored by the alarm), then the runtime restarts
  const later = M + 6 * MIN + 10_000;
  const historyRows = async () => (await w.request(`/v1/_test/memory?site=${site}`)).body.history_rows_written;
  const rowsBefore = await historyRows();
  await at(later);
  await waitFor(async () => (await historyRows()) > rowsBefore, { timeoutMs: 5000, what: "the alarm to store the ended minute's history row" });
  await w.stop({ keepState: true });
  w = await startWorker({ vars: vars(), persistDir: stateDir });
  await w.count(site);
  await at(later + 1000);
  const res = await history(site);
  assert.equal(res.status, 200, res.text);
  // minute 6 holds the 7 sessions that came back from storage
  minutes.set(M + 6 * MIN, [7, 7]);
  assert.deepEqual(res.body.points, expected('1h', later + 1000, minutes), 'after the restart');
});

test('an empty range has every point at 0 and no peak; a bad range is 400', async () => {
  const site = 't59'; // the worker was restarted: its site counter began again at t01
  const res = await history(site, '7d');
  assert.equal(res.status, 200);
  assertShape(res.body, '7d');
  assert.ok(res.body.points.every((p) => p.sessions === 0 && p.visitors === 0));
  assert.equal(res.body.peak, null);
  for (const bad of ['1d', '', '60m', '1H']) assertError(await history(site, bad), 400, 'bad_request');
  assertError(await w.request(`/v1/history?site=nope`), 403, 'unknown_site');
  assertError(await w.request(`/v1/history?site=${site}`, { method: 'POST', body: '{}' }), 405, 'method_not_allowed');
});

test('private stats: /v1/rooms and /v1/history only with a stats token of the site; counts stay public', async () => {
  const site = 'private';
  await w.join(site, { room: '/secret-path', session: uid('s') });
  const stats = (extra = {}) => signJwt({ site, sub: 'owner', scope: 'stats', exp: nowSeconds() + 600, ...extra });
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  const refusals = [
    ['no token', {}],
    ['expired', bearer(stats({ exp: nowSeconds() - 120 }))],
    ['watch scope', bearer(stats({ scope: 'watch', watch: ['*'] }))],
    ['track scope', bearer(stats({ scope: 'track' }))],
    ['another site', bearer(stats({ site: 'other' }))],
    ['forged', bearer(signJwt({ site, sub: 'owner', scope: 'stats', exp: nowSeconds() + 600 }, { secret: 'not-the-secret' }))],
  ];
  for (const [what, headers] of refusals) {
    assertError(await w.request(`/v1/rooms?site=${site}`, { headers }), 401, 'bad_token');
    assertError(await history(site, '1h', headers), 401, 'bad_token');
    assert.ok(what);
  }
  const rooms = await w.request(`/v1/rooms?site=${site}`, { headers: bearer(stats()) });
  assert.equal(rooms.status, 200, rooms.text);
  assert.equal(rooms.body.rooms[0].room, '/secret-path');
  assert.equal((await history(site, '24h', bearer(stats()))).status, 200);
  assert.equal((await w.count(site)).site.sessions, 1, 'counts stay public');
  const live = await w.openLive({ site });
  await live.next((m) => m.type === 'count', 2000);
  await live.close();
  // a public site answers without a token
  assert.equal((await w.request(`/v1/rooms?site=other`)).status, 200);
});
