// Silent death: a session with no sign of life stops counting within ttl + 2 s, and signs of life
// (HTTP heartbeats, socket pings) keep it. TTL is 3 s, heartbeat 1 s.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { assertWithin, isCount, siteSessions, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';

let w;
before(async () => {
  w = await startWorker({
    vars: { PRESENCE_HEARTBEAT_SECONDS: '1', PRESENCE_TTL_SECONDS: '3', BROADCAST_INTERVAL_MS: '500' },
  });
});
after(() => w?.stop());

const T = { timeout: 40_000 };
const deadline = () => w.ttlMs + 2000;

/** Polls GET /v1/count until the site has `sessions`; returns ms since `since` when seen. */
async function sessionsReach(site, sessions, since, what) {
  await waitFor(async () => (await w.count(site)).site.sessions === sessions, {
    timeoutMs: deadline() + 5000,
    intervalMs: 100,
    what,
  });
  return performance.now() - since;
}

test('the ping answer carries the configured heartbeat_ms and ttl_ms', T, async () => {
  const site = w.site();
  const body = await w.join(site, { session: uid('s') });
  assert.equal(body.heartbeat_ms, 1000);
  assert.equal(body.ttl_ms, 3000);
});

test('an HTTP session that stops heartbeating stops counting within ttl + 2 s', T, async () => {
  const site = w.site();
  const sub = await w.openLive({ site });
  await sub.next(isCount, 2000);
  await w.join(site, { room: '/', session: uid('s'), visitor: uid('v') });
  const joined = performance.now();
  await sub.next(siteSessions(1), 2000);

  // Still there well before the ttl.
  await sleep(w.ttlMs - 1500);
  assert.equal((await w.count(site)).site.sessions, 1, 'counted before its ttl ran out');

  assertWithin(await sessionsReach(site, 0, joined, 'the silent session to expire'), deadline(), 'GET /v1/count after silence');
  const { at } = await sub.next(siteSessions(0), deadline() + 2000);
  assertWithin(at - joined, deadline() + w.intervalMs + 250, 'the expiry reaching a subscriber');
  await sub.close();
});

test('an HTTP session that keeps heartbeating keeps counting past several ttls', T, async () => {
  const site = w.site();
  const fields = { room: '/', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const beats = w.keepAlive(site, [fields]);
  const start = performance.now();
  for (let round = 0; round < 100 && performance.now() - start < 2 * w.ttlMs + 2000; round++) {
    assert.equal((await w.count(site)).site.sessions, 1, `counted at ${(performance.now() - start).toFixed(0)} ms`);
    await sleep(250);
  }
  await beats.stop();
  assert.deepEqual(beats.errors, []);
});

test('a socket session that stops pinging but stays open stops counting within ttl + 2 s, and is closed', T, async () => {
  const site = w.site();
  const silent = await w.openLive({ site, session: uid('s'), visitor: uid('v') }, { autoPing: false });
  const opened = silent.openedAt;
  await silent.next(siteSessions(1), 2000);

  assertWithin(await sessionsReach(site, 0, opened, 'the silent socket to expire'), deadline(), 'GET /v1/count after socket silence');
  // The server's close frame; the TCP connection may linger after it (see LiveClient.whenNotOpen).
  const closing = await silent.whenNotOpen(deadline() + 2000);
  assertWithin(closing - opened, deadline(), 'the server closing the silent socket');
});

test('a socket session that keeps pinging keeps counting past several ttls', T, async () => {
  const site = w.site();
  const live = await w.openLive({ site, session: uid('s') }); // pings every heartbeat
  await live.next(siteSessions(1), 2000);
  const start = performance.now();
  for (let round = 0; round < 100 && performance.now() - start < 2 * w.ttlMs + 2000; round++) {
    assert.equal((await w.count(site)).site.sessions, 1, `counted at ${(performance.now() - start).toFixed(0)} ms`);
    assert.ok(live.isOpen, 'the pinging socket stays open');
    await sleep(250);
  }
  await live.close();
});

test('a subscriber socket that keeps pinging stays open past several ttls', T, async () => {
  const site = w.site();
  const sub = await w.openLive({ site });
  await sub.next(isCount, 2000);
  await sleep(2 * w.ttlMs + 1000);
  assert.ok(sub.isOpen, 'still open');
  sub.send('ping');
  await sub.next((m) => m === 'pong', 2000);
  await sub.close();
});

test('a socket killed without a close frame stops counting within ttl + 2 s', T, async () => {
  const site = w.site();
  const sub = await w.openLive({ site });
  await sub.next(isCount, 2000);
  const victim = await w.openLive({ site, session: uid('s'), visitor: uid('v') });
  await sub.next(siteSessions(1), 2000);
  const killed = performance.now();
  victim.terminate();
  assertWithin(await sessionsReach(site, 0, killed, 'the killed socket to expire'), deadline(), 'GET /v1/count after a kill');
  const { at } = await sub.next(siteSessions(0), deadline() + 2000);
  assertWithin(at - killed, deadline() + w.intervalMs + 250, 'the kill reaching a subscriber');
  await sub.close();
});

test('an HTTP session kept only by its socket pings outlives its HTTP ttl', T, async () => {
  // The same session over HTTP and a socket: the socket's pings are its signs of life.
  const site = w.site();
  const fields = { room: '/', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const live = await w.openLive({ site, ...fields });
  await live.next(siteSessions(1), 2000);
  await sleep(w.ttlMs + 2500);
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 });
  await live.close();
});
