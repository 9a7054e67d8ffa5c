// Faults: what happens to live sessions when things break. Each test provokes one fault in the
// middle of traffic (HTTP sessions kept alive by heartbeats, socket sessions pinging, and a
// subscriber socket) and reports `# sessions lost (<fault>): N`; the goal, and the assertion, is 0.
//
// - a Rust panic inside the Durable Object (the Wasm instance resets: state must come back from
//   SQLite rows and socket attachments);
// - an alarm handler that fails (the runtime retries it): a silent session must still expire;
// - sockets dropped without a close frame;
// - the local runtime restarted with its persisted state;
// - the per-site ceilings (MAX_SESSIONS, MAX_ROOMS, MAX_SOCKETS): refusals, grouping, no count
//   changed by a refusal.
//
// The test hooks (/v1/_test/panic, /v1/_test/fail-alarm) exist only with HERENOW_TEST_HOOKS=true.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import {
  assertError,
  assertWithin,
  isCount,
  siteSessions,
  sleep,
  startWorker,
  uid,
  waitFor,
} from '../kit/harness.mjs';

const VARS = {
  HERENOW_TEST_HOOKS: 'true',
  PRESENCE_HEARTBEAT_SECONDS: '1',
  PRESENCE_TTL_SECONDS: '4',
  BROADCAST_INTERVAL_MS: '500',
};

let w;
before(async () => {
  w = await startWorker({ vars: VARS });
});
after(() => w?.stop());

const T = { timeout: 120_000 };

// ---------------------------------------------------------------------------------------------
// Helpers

/** K HTTP session field sets in `room`. */
const httpSessions = (k, room = '/') => Array.from({ length: k }, () => ({ room, session: uid('s'), visitor: uid('v') }));

/**
 * Polls `read` (an async number) every `everyMs` for `ms`; answers { min, max, samples, values }.
 * A failed read counts as a sample of -1 (so it shows as a loss, never hides one).
 */
async function sample(read, ms, everyMs = 100) {
  const values = [];
  const end = performance.now() + ms;
  for (let i = 0; i < 10_000 && performance.now() < end; i++) {
    values.push(await read().catch(() => -1));
    await sleep(everyMs);
  }
  return { min: Math.min(...values), max: Math.max(...values), samples: values.length, values };
}

const siteCount = (worker, site) => async () => (await worker.count(site)).site.sessions;
const roomCount = (worker, site, room) => async () => (await worker.count(site, room)).room.sessions;

/** Opens `fields.length` socket sessions (pinging every heartbeat). */
async function openSocketSessions(worker, site, list) {
  const out = [];
  for (const f of list) out.push(await worker.openLive({ site, room: f.room, session: f.session, visitor: f.visitor }));
  return out;
}

function reportLost(fault, lost) {
  console.log(`# sessions lost (${fault}): ${lost}`);
  assert.equal(lost, 0, `sessions lost (${fault})`);
}

// ---------------------------------------------------------------------------------------------

test('a panic inside the Durable Object mid-traffic loses no session, and everything keeps working', T, async () => {
  const site = w.site();
  const bystander = w.site(); // the panic resets the whole Wasm instance: other sites' objects too
  const K = 5;
  const M = 4;
  const http = httpSessions(K, '/http');
  const sock = httpSessions(M, '/sock');
  for (const f of http) await w.join(site, f);
  const beats = w.keepAlive(site, http);
  const sockets = await openSocketSessions(w, site, sock);
  const watcher = await w.openLive({ site, room: '/sock' });
  const byHttp = httpSessions(2, '/');
  for (const f of byHttp) await w.join(bystander, f);
  const byBeats = w.keepAlive(bystander, byHttp);
  const bySock = await w.openLive({ site: bystander, session: uid('s'), visitor: uid('v') });
  await waitFor(async () => (await w.count(site)).site.sessions === K + M, { what: `${K + M} sessions` });
  await waitFor(async () => (await w.count(bystander)).site.sessions === 3, { what: 'the bystander site' });
  await sleep(1500); // traffic flowing: heartbeats and pings

  const logMark = w.logs().length;
  const res = await w.request(`/v1/_test/panic?site=${site}`);
  assert.equal(res.status, 202, res.text);
  await waitFor(() => w.logs().slice(logMark).includes('test hook: a panic'), {
    timeoutMs: 5000,
    what: 'the panic to show in the runtime log',
  });

  // Over more than a ttl (so HTTP sessions restored from rows must have been confirmed by their
  // heartbeats, not merely restored), every session keeps counting, exactly once.
  const after = await sample(siteCount(w, site), w.ttlMs + 2000);
  const byAfter = await sample(siteCount(w, bystander), 500);
  const lost = Math.max(0, K + M - after.min) + Math.max(0, 3 - byAfter.min);
  console.log(`# panic: counts after it min ${after.min} max ${after.max} over ${after.samples} samples (expected ${K + M}); bystander min ${byAfter.min}`);
  console.log(`# panic: heartbeats refused around it: ${beats.errors.length + byBeats.errors.length}`);
  reportLost('panic', lost);
  assert.equal(after.max, K + M, 'no session counted twice after the panic');
  assert.ok(sockets.every((s) => s.isOpen) && watcher.isOpen && bySock.isOpen, 'every socket is still open');
  assert.deepEqual((await w.count(site, '/http')).room, { room: '/http', sessions: K, visitors: K });
  assert.deepEqual((await w.count(site, '/sock')).room, { room: '/sock', sessions: M, visitors: M });

  // And it keeps working: a join counts, a leave uncounts, a socket close uncounts, and the
  // subscriber hears each of them.
  const extra = { room: '/sock', session: uid('s'), visitor: uid('v') };
  assert.equal((await w.join(site, extra)).site.sessions, K + M + 1);
  await watcher.next(siteSessions(K + M + 1), 3000);
  assert.equal((await w.leave(site, extra)).site.sessions, K + M);
  await watcher.next(siteSessions(K + M), 3000);
  await sockets[0].close();
  await watcher.next(siteSessions(K + M - 1), 3000);
  sockets[1].send('ping');
  await sockets[1].next((m) => m === 'pong', 3000);

  await beats.stop();
  await byBeats.stop();
  for (const s of [...sockets, watcher, bySock]) await s.close();
});

test('an alarm that fails is retried: a silent session still stops counting', T, async () => {
  // Alone on its site: the only alarm is the silent session's expiry, and that is the one that fails.
  const site = w.site();
  const silent = { room: '/silent', session: uid('s'), visitor: uid('v') };
  await w.join(site, silent);
  const lastSign = performance.now();
  const logMark = w.logs().length;
  const res = await w.request(`/v1/_test/fail-alarm?site=${site}`);
  assert.equal(res.status, 202, res.text);
  await waitFor(async () => (await w.count(site)).site.sessions === 0, {
    timeoutMs: w.ttlMs + 20_000,
    intervalMs: 100,
    what: 'the silent session to expire after a failed alarm',
  });
  const took = performance.now() - lastSign; // from its last sign of life
  assert.ok(w.logs().slice(logMark).includes('this alarm fails'), 'the alarm did fail (runtime log)');
  console.log(`# failed alarm: the silent session stopped counting ${(took / 1000).toFixed(1)} s after its last sign of life (ttl ${w.ttlMs / 1000} s)`);
  assertWithin(took, w.ttlMs + 15_000, 'expiry despite a failed alarm');
  reportLost('alarm retry, alone', 0);

  // Mid-traffic: HTTP sessions heartbeating, a socket session pinging, a subscriber. Whichever
  // alarm fails next, the silent one still goes and nobody else does.
  const busy = w.site();
  const K = 4;
  const kept = httpSessions(K, '/kept');
  for (const f of kept) await w.join(busy, f);
  const beats = w.keepAlive(busy, kept);
  const sock = await w.openLive({ site: busy, room: '/kept', session: uid('s'), visitor: uid('v') });
  const watcher = await w.openLive({ site: busy });
  const quiet = { room: '/silent', session: uid('s'), visitor: uid('v') };
  await w.join(busy, quiet);
  const quietSign = performance.now();
  const mark2 = w.logs().length;
  assert.equal((await w.request(`/v1/_test/fail-alarm?site=${busy}`)).status, 202);

  const keptSamples = [];
  await waitFor(
    async () => {
      keptSamples.push(await roomCount(w, busy, '/kept')().catch(() => -1));
      return (await w.count(busy, '/silent')).room.sessions === 0;
    },
    { timeoutMs: w.ttlMs + 20_000, intervalMs: 100, what: 'the silent session to expire mid-traffic' },
  );
  const took2 = performance.now() - quietSign;
  const later = await sample(roomCount(w, busy, '/kept'), 2000);
  const min = Math.min(...keptSamples, later.min);
  assert.ok(w.logs().slice(mark2).includes('this alarm fails'), 'the alarm did fail mid-traffic (runtime log)');
  console.log(`# failed alarm mid-traffic: silent session gone after ${(took2 / 1000).toFixed(1)} s; kept sessions min ${min} of ${K + 1}`);
  assertWithin(took2, w.ttlMs + 15_000, 'expiry mid-traffic despite a failed alarm');
  await watcher.next(siteSessions(K + 1), 5000);
  reportLost('alarm retry', Math.max(0, K + 1 - min));
  await beats.stop();
  assert.deepEqual(beats.errors, []);
  await sock.close();
  await watcher.close();
});

test('sockets killed without a close frame go away within ttl + 2 s; the others are unaffected', T, async () => {
  const site = w.site();
  const K = 4;
  const M = 7;
  const J = 3; // dropped: the TCP connection ends without a close frame
  const H = 1; // half-open: the connection stays, but nothing more comes from the client
  const http = httpSessions(K, '/http');
  for (const f of http) await w.join(site, f);
  const beats = w.keepAlive(site, http);
  const sockets = await openSocketSessions(w, site, httpSessions(M, '/sock'));
  const watcher = await w.openLive({ site });
  const doomedWatcher = await w.openLive({ site, room: '/sock' });
  await waitFor(async () => (await w.count(site)).site.sessions === K + M, { what: `${K + M} sessions` });
  await sleep(1500);

  const killedAt = performance.now();
  for (const s of sockets.slice(0, J)) s.terminate();
  doomedWatcher.terminate(); // a subscriber without a session: nothing counted changes
  for (const s of sockets.slice(J, J + H)) {
    s.stopPinging();
    s.ws._socket.pause(); // reads nothing more either: a tab frozen or a network gone quiet
  }
  const during = [];
  const read = async () => {
    const n = (await w.count(site)).site.sessions;
    during.push(n);
    return n;
  };
  const dropped = await waitFor(async () => (await read()) <= K + M - J, {
    timeoutMs: w.ttlMs + 10_000,
    intervalMs: 100,
    what: 'the dropped sockets to stop counting',
  });
  const silent = await waitFor(async () => (await read()) === K + M - J - H, {
    timeoutMs: w.ttlMs + 10_000,
    intervalMs: 100,
    what: 'the half-open socket to stop counting',
  });
  const goneAfter = performance.now() - killedAt;
  console.log(
    `# killed sockets: ${J} dropped stopped counting ${dropped.elapsed.toFixed(0)} ms after the kill, ${H} half-open after ${goneAfter.toFixed(0)} ms (bound ${w.ttlMs + 2000} ms)`,
  );
  assertWithin(goneAfter, w.ttlMs + 2000, 'sockets killed without a close frame');
  assert.ok(silent.elapsed >= 0);
  await watcher.next(siteSessions(K + M - J - H), 3000);

  // The rest stays counted for another ttl and more.
  const later = await sample(siteCount(w, site), w.ttlMs + 1000);
  const min = Math.min(...during, later.min);
  reportLost('sockets killed', Math.max(0, K + M - J - H - min));
  assert.equal(later.max, K + M - J - H, 'the killed sockets do not come back');
  assert.ok(sockets.slice(J + H).every((s) => s.isOpen) && watcher.isOpen, 'the other sockets are still open');
  assert.deepEqual((await w.count(site, '/http')).room.sessions, K);
  await beats.stop();
  assert.deepEqual(beats.errors, []);
  for (const s of sockets.slice(J, J + H)) s.terminate();
  for (const s of [...sockets.slice(J + H), watcher]) await s.close();
});

test('the runtime restarted mid-traffic with persisted state: no session lost, each counted once', { timeout: 180_000 }, async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-faults-restart-'));
  let first;
  let second;
  let cur;
  let stopped = false;
  const errors = { before: 0, during: 0, after: 0 };
  let phase = 'before';
  try {
    first = await startWorker({ vars: VARS, persistDir: stateDir });
    cur = first;
    const site = first.site();
    const K = 5;
    const M = 3;
    const http = httpSessions(K, '/http');
    const sock = httpSessions(M, '/sock');
    for (const f of http) await first.join(site, f);
    // Heartbeats that follow whichever worker is current, through the restart.
    const loop = (async () => {
      for (let round = 0; round < 1000 && !stopped; round++) {
        await sleep(first.heartbeatMs);
        for (const f of http) {
          if (stopped) break;
          const res = await cur.ping(site, { ...f, event: 'heartbeat' }).catch((e) => e);
          if (res instanceof Error || res.status !== 200) errors[phase] += 1;
        }
      }
    })();
    await openSocketSessions(first, site, sock);
    await waitFor(async () => (await first.count(site)).site.sessions === K + M, { what: `${K + M} sessions` });
    await sleep(1500);

    phase = 'during';
    const downAt = performance.now();
    await first.stop({ keepState: true }); // its sockets drop with it
    second = await startWorker({ vars: VARS, persistDir: stateDir });
    cur = second;
    const downMs = performance.now() - downAt;
    // The socket sessions reconnect, with the same session ids, as the tracker does.
    const socks2 = await openSocketSessions(second, site, sock);
    phase = 'after';
    const reconnected = performance.now();

    // From the first answer on, and for longer than a ttl (restored rows must be confirmed by
    // heartbeats and by the reconnected sockets to outlive it): exactly K + M.
    const s = await sample(siteCount(second, site), second.ttlMs + 3000);
    console.log(
      `# restart: down ${(downMs / 1000).toFixed(1)} s; counts after it min ${s.min} max ${s.max} over ${s.samples} samples (expected ${K + M}); heartbeats refused before/during/after: ${errors.before}/${errors.during}/${errors.after}`,
    );
    reportLost('runtime restart', Math.max(0, K + M - s.min));
    assert.equal(s.max, K + M, 'a reconnected socket session counts once, not twice');
    assert.deepEqual((await second.count(site, '/sock')).room, { room: '/sock', sessions: M, visitors: M });
    assert.deepEqual((await second.count(site, '/http')).room, { room: '/http', sessions: K, visitors: K });
    assert.ok(socks2.every((x) => x.isOpen), 'the reconnected sockets stay open');
    assert.equal(errors.after, 0, 'no heartbeat refused after the restart');
    assert.ok(performance.now() - reconnected >= second.ttlMs);
    stopped = true;
    await loop;
  } finally {
    stopped = true;
    await first?.stop();
    await second?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

test('the ceilings: site_full, rooms grouped into ~other, too_many_sockets; a refusal changes no count', { timeout: 120_000 }, async () => {
  const c = await startWorker({
    vars: { PRESENCE_HEARTBEAT_SECONDS: '20', PRESENCE_TTL_SECONDS: '120', MAX_SESSIONS: '5', MAX_ROOMS: '3', MAX_SOCKETS: '4' },
  });
  let lost = 0;
  try {
    // --- MAX_SESSIONS = 5
    const full = c.site();
    const five = httpSessions(5, '/');
    for (const f of five) await c.join(full, f);
    const before = await c.count(full, '/');
    assertError(await c.ping(full, { room: '/', session: uid('s'), event: 'join' }), 503, 'site_full');
    assertError(await c.ping(full, { room: '/x', session: uid('s'), visitor: uid('v'), event: 'heartbeat' }), 503, 'site_full');
    assertError(await c.refusedLive({ site: full, session: uid('s'), visitor: uid('v') }), 503, 'site_full');
    assert.deepEqual(await c.count(full, '/'), before, 'refused sessions changed the count');
    // Known sessions keep working: a heartbeat, a room move, a socket carrying one of them.
    assert.equal((await c.heartbeat(full, five[0])).site.sessions, 5);
    const moved = await c.heartbeat(full, { ...five[1], room: '/moved' });
    assert.deepEqual(moved.room, { room: '/moved', sessions: 1, visitors: 1 });
    const known = await c.openLive({ site: full, room: '/', session: five[2].session, visitor: five[2].visitor });
    const viewer = await c.openLive({ site: full }); // counts only: no session, so no ceiling
    assert.deepEqual((await viewer.next(isCount)).msg.site, { sessions: 5, visitors: 5 });
    // A leave makes room for one new session, and only one.
    await c.leave(full, five[3]);
    assert.equal((await c.join(full, { room: '/', session: uid('s'), visitor: uid('v') })).site.sessions, 5);
    assertError(await c.ping(full, { room: '/', session: uid('s'), event: 'join' }), 503, 'site_full');
    const fullNow = (await c.count(full)).site.sessions;
    lost += Math.max(0, 5 - fullNow);
    assert.equal(fullNow, 5);
    await known.close();
    await viewer.close();

    // --- MAX_ROOMS = 3
    const roomy = c.site();
    const placed = [];
    for (const room of ['/r1', '/r2', '/r3', '/r4', '/r5']) {
      const res = await c.join(roomy, { room, session: uid('s'), visitor: uid('v') });
      placed.push(res.room);
    }
    for (const [i, r] of placed.slice(0, 3).entries()) {
      assert.deepEqual(r, { room: `/r${i + 1}`, sessions: 1, visitors: 1 }, 'the first 3 rooms are their own');
    }
    assert.deepEqual(placed[3], { room: '/r4', sessions: 1, visitors: 1, grouped_as: '~other' });
    assert.deepEqual(placed[4], { room: '/r5', sessions: 2, visitors: 2, grouped_as: '~other' });
    const listed = await c.rooms(roomy);
    assert.deepEqual(listed.site, { sessions: 5, visitors: 5 }, 'nothing dropped');
    const byName = Object.fromEntries(listed.rooms.map((r) => [r.room, r.sessions]));
    assert.deepEqual(byName, { '/r1': 1, '/r2': 1, '/r3': 1, '~other': 2 });
    const sumRooms = listed.rooms.reduce((n, r) => n + r.sessions, 0);
    lost += Math.max(0, 5 - sumRooms);
    assert.equal(sumRooms, 5, 'the rooms add up to the site');
    // A socket session in a fresh room would be a sixth session: refused, nothing changes.
    assertError(await c.refusedLive({ site: roomy, room: '/r6', session: uid('s'), visitor: uid('v') }), 503, 'site_full');
    assert.deepEqual((await c.rooms(roomy)).rooms, listed.rooms);

    // --- MAX_SOCKETS = 4
    const socky = c.site();
    const httpOne = { room: '/', session: uid('s'), visitor: uid('v') };
    await c.join(socky, httpOne);
    const open = [await c.openLive({ site: socky, session: uid('s'), visitor: uid('v') })];
    for (let i = 0; i < 3; i++) open.push(await c.openLive({ site: socky }));
    const sBefore = await c.count(socky);
    assert.deepEqual(sBefore.site, { sessions: 2, visitors: 2 });
    assertError(await c.refusedLive({ site: socky }), 503, 'too_many_sockets');
    assertError(await c.refusedLive({ site: socky, session: uid('s'), visitor: uid('v') }), 503, 'too_many_sockets');
    // Even a socket for the known HTTP session is a fifth socket.
    assertError(await c.refusedLive({ site: socky, session: httpOne.session, visitor: httpOne.visitor }), 503, 'too_many_sockets');
    assert.deepEqual(await c.count(socky), sBefore, 'refused sockets changed the count');
    assert.ok(open.every((s) => s.isOpen), 'the 4 sockets stay open');
    // One closes: one more fits.
    await open[3].close();
    const again = await waitFor(() => c.openLive({ site: socky }).catch(() => null), { timeoutMs: 5000, what: 'a socket to fit again' });
    open[3] = again.value;
    assertError(await c.refusedLive({ site: socky }), 503, 'too_many_sockets');
    const sockyNow = (await c.count(socky)).site.sessions;
    lost += Math.max(0, 2 - sockyNow);
    assert.equal(sockyNow, 2);
    for (const s of open) await s.close();
    reportLost('ceilings', lost);
    // the object's refusals are logged by the Worker as its own are: one JSON line each (a
    // warning: refused, not an error of ours)
    const refusals = c
      .logs()
      .split('\n')
      .map((l) => /\{.*"herenow":"refused".*\}/.exec(l)?.[0])
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const seen = (code, route, site) => refusals.some((l) => l.code === code && l.status === 503 && l.route === route && l.site === site);
    assert.ok(seen("site_full", "/v1/ping", full), 'site_full on /v1/ping is logged');
    assert.ok(seen('site_full', '/v1/live', roomy), 'site_full on /v1/live is logged');
    assert.ok(seen('too_many_sockets', '/v1/live', socky), 'too_many_sockets is logged');
  } finally {
    await c.stop();
  }
});
