// GET /v1/live: the WebSocket protocol (counts on open, ping/pong, sockets as sessions, refusals).

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import {
  ALLOWED_ORIGIN,
  LOCKED_SITE,
  assertError,
  assertWithin,
  isCount,
  siteSessions,
  startWorker,
  uid,
  waitFor,
} from '../kit/harness.mjs';

let w;
before(async () => {
  w = await startWorker({
    vars: { PRESENCE_HEARTBEAT_SECONDS: '1', PRESENCE_TTL_SECONDS: '10', BROADCAST_INTERVAL_MS: '500' },
  });
});
after(() => w?.stop());

const T = { timeout: 30_000 };
/** "At once": the first count must follow the open this closely. */
const AT_ONCE_MS = 500;

test('on open a socket gets the current site and room counts at once', T, async () => {
  const site = w.site();
  await w.join(site, { room: '/a', session: uid('s'), visitor: uid('v') });
  await w.join(site, { room: '/b', session: uid('s'), visitor: uid('v') });

  const live = await w.openLive({ site, room: '/a' });
  const { msg, at } = await live.next(isCount, 2000);
  assertWithin(at - live.openedAt, AT_ONCE_MS, 'first count after open');
  assert.equal(msg.type, 'count');
  assert.deepEqual(msg.site, { sessions: 2, visitors: 2 });
  assert.deepEqual(msg.room, { room: '/a', sessions: 1, visitors: 1 });
  await live.close();
});

test('a socket that names no room gets site counts without a room', T, async () => {
  const site = w.site();
  await w.join(site, { room: '/a', session: uid('s') });
  const live = await w.openLive({ site });
  const { msg } = await live.next(isCount, 2000);
  assert.deepEqual(msg.site, { sessions: 1, visitors: 1 });
  assert.ok(!('room' in msg), `no "room" in ${JSON.stringify(msg)}`);
  await live.close();
});

test('a count message carries only the documented fields', T, async () => {
  const site = w.site();
  const live = await w.openLive({ site, room: '/' });
  const { msg } = await live.next(isCount, 2000);
  const allowed = new Set(['type', 'site', 'room', 'heartbeat_ms', 'ttl_ms', 'signal_ttl_ms']);
  for (const key of Object.keys(msg)) assert.ok(allowed.has(key), `unexpected field "${key}" in ${JSON.stringify(msg)}`);
  assert.deepEqual(Object.keys(msg.site).sort(), ['sessions', 'visitors']);
  assert.deepEqual(Object.keys(msg.room).sort(), ['room', 'sessions', 'visitors']);
  if ('heartbeat_ms' in msg) assert.equal(msg.heartbeat_ms, 1000);
  if ('ttl_ms' in msg) assert.equal(msg.ttl_ms, 10_000);
  await live.close();
});

test('the text "ping" is answered with "pong"', T, async () => {
  const site = w.site();
  const live = await w.openLive({ site }, { autoPing: false });
  await live.next(isCount, 2000);
  for (let i = 0; i < 3; i++) {
    const sent = performance.now();
    live.send('ping');
    const { at } = await live.next((m) => m === 'pong', 2000);
    assertWithin(at - sent, 1000, `pong ${i + 1}`);
  }
  await live.close();
});

test('a socket with a session counts itself as a live session in its room', T, async () => {
  const site = w.site();
  const visitor = uid('v');
  const live = await w.openLive({ site, room: '/here', session: uid('s'), visitor });
  const { msg } = await live.next(isCount, 2000);
  assert.deepEqual(msg.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(msg.room, { room: '/here', sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site, '/here')).room, { room: '/here', sessions: 1, visitors: 1 });

  // The same visitor in a second tab: 2 sessions, 1 visitor.
  const second = await w.openLive({ site, room: '/here', session: uid('s'), visitor });
  await second.next(isCount, 2000);
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 1 });
  await second.close();
  await live.close();
});

test('a socket session without a visitor counts as its own visitor', T, async () => {
  const site = w.site();
  const a = await w.openLive({ site, session: uid('s') });
  const b = await w.openLive({ site, session: uid('s') });
  await a.next(isCount, 2000);
  await b.next(isCount, 2000);
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 2 });
  await a.close();
  await b.close();
});

test('a socket without a session is not counted', T, async () => {
  const site = w.site();
  const live = await w.openLive({ site, room: '/' });
  const { msg } = await live.next(isCount, 2000);
  assert.deepEqual(msg.site, { sessions: 0, visitors: 0 });
  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 });
  await live.close();
});

test('a clean close of a session socket removes its session at once', T, async () => {
  const site = w.site();
  const live = await w.openLive({ site, session: uid('s') });
  await live.next(isCount, 2000);
  assert.equal((await w.count(site)).site.sessions, 1);
  const closedAt = performance.now();
  await live.close();
  const { elapsed } = await waitFor(async () => (await w.count(site)).site.sessions === 0, {
    timeoutMs: 5000,
    intervalMs: 25,
    what: 'the closed socket session to stop counting',
  });
  assertWithin(performance.now() - closedAt, w.intervalMs + 250, `count after close (polled ${elapsed.toFixed(0)} ms)`);
});

test('the same session id over HTTP and over a socket counts once', T, async () => {
  const site = w.site();
  const session = uid('s');
  const visitor = uid('v');
  await w.join(site, { room: '/', session, visitor });
  const live = await w.openLive({ site, room: '/', session, visitor });
  const { msg } = await live.next(isCount, 2000);
  assert.deepEqual(msg.site, { sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 });
  // And a heartbeat over HTTP while the socket is open adds nothing either.
  const body = await w.heartbeat(site, { room: '/', session, visitor });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  await live.close();
});

test('a socket opened first and the same session over HTTP after it count once', T, async () => {
  const site = w.site();
  const session = uid('s');
  const visitor = uid('v');
  const live = await w.openLive({ site, room: '/', session, visitor });
  await live.next(siteSessions(1), 2000);
  const body = await w.join(site, { room: '/', session, visitor });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  await live.close();
});

test('an allowed origin may open a socket on a locked site', T, async () => {
  const live = await w.openLive({ site: LOCKED_SITE }, { headers: { origin: ALLOWED_ORIGIN } });
  const { msg } = await live.next(isCount, 2000);
  assert.equal(typeof msg.site.sessions, 'number');
  await live.close();
});

test('an invalid live query is refused with the HTTP JSON error, not a socket', T, async () => {
  const site = w.site();
  const cases = [
    [{}, 400, 'bad_request'],
    [{ site: 'bad site' }, 400, 'bad_request'],
    [{ site: 'a'.repeat(65) }, 400, 'bad_request'],
    [{ site, room: '' }, 400, 'bad_request'],
    [{ site, room: '/a\nb' }, 400, 'bad_request'],
    [{ site, room: `/${'r'.repeat(256)}` }, 400, 'bad_request'],
    [{ site, session: 'short' }, 400, 'bad_request'],
    [{ site, session: 's_1234.5678' }, 400, 'bad_request'],
    [{ site, session: uid('s'), visitor: 'v' }, 400, 'bad_request'],
    [{ site: 'not-configured.example' }, 403, 'unknown_site'],
  ];
  for (const [params, status, code] of cases) {
    const res = await w.refusedLive(params);
    assert.equal(res.status, status, `${JSON.stringify(params)}: ${res.text}`);
    assertError(res, status, code);
  }
  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 });
});

test('a socket from a forbidden origin is refused with 403 forbidden_origin', T, async () => {
  const res = await w.refusedLive({ site: LOCKED_SITE, session: uid('s') }, { headers: { origin: 'https://evil.example' } });
  assertError(res, 403, 'forbidden_origin');
});

test('a clean close (1000, 1001) ends its session at once even while it also heartbeats over HTTP', T, async () => {
  for (const code of [1000, 1001]) {
    const site = w.site();
    const fields = { room: '/', session: uid('s'), visitor: uid('v') };
    await w.join(site, fields);
    const live = await w.openLive({ site, ...fields });
    await live.next(siteSessions(1), 2000);
    await w.heartbeat(site, fields);
    const closedAt = performance.now();
    await live.close(code);
    await waitFor(async () => (await w.count(site)).site.sessions === 0, {
      timeoutMs: 5000,
      intervalMs: 25,
      what: `the session to end after a clean close ${code}`,
    });
    assertWithin(performance.now() - closedAt, w.intervalMs + 250, `count after a clean close ${code}`);
  }
});

test('a dropped connection (no close frame) leaves the HTTP hold to run out', T, async () => {
  const site = w.site();
  const fields = { room: '/', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const live = await w.openLive({ site, ...fields });
  await live.next(siteSessions(1), 2000);
  live.terminate();
  // well after the object saw the connection end, the HTTP hold still counts the session
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await w.count(site)).site.sessions, 1, 'the HTTP hold keeps it');
  const { elapsed } = await waitFor(async () => (await w.count(site)).site.sessions === 0, {
    timeoutMs: w.ttlMs + 5000,
    intervalMs: 100,
    what: 'the HTTP hold to run out',
  });
  assertWithin(elapsed + 1500, w.ttlMs + 2000, 'end of the HTTP hold after a dropped socket');
});
