// Signals ("Ada is typing..."), in workerd: over HTTP pings and tracked sockets, to watch sockets,
// GET /v1/status and members, on one object and on a site of 4 objects; their renewals, ends and
// expiry (SIGNAL_TTL_MS 2000 here), the per-session limits (429 rate_limited), bad names (400
// bad_request), and privacy (nobody without a watch token for the entity sees them). The last
// tests measure the signal -> watcher latency over 200 signals and print it.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';

import { assertError, assertWithin, isCount, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';
import {
  SECRET_ENV,
  assertStatusShape,
  entitySitesConfig,
  entitySites,
  entityVars,
  isStatus,
  mustStatus,
  openWatch,
  signJwt,
  trackToken,
  watchClaims,
  watchToken,
} from '../kit/entities-kit.mjs';

const SIGNAL_TTL_MS = 2000;
const INTERVAL = 300;
/** The contract: a status message on every change within BROADCAST_INTERVAL_MS + 250 ms. */
const PROMISE_MS = INTERVAL + 250;
/** A site of 4 objects: a shard's report reaches the coordinator within its own promise. */
const SHARDED = 'sig4';
const SHARDED_PROMISE_MS = INTERVAL + 1250;
/** A signal's end may come this much after its ttl ran out (the alarm's slack). */
const EXPIRY_SLACK_MS = 1000;

let w;
const nextSite = entitySites();
before(async () => {
  const sites = entitySitesConfig();
  sites[SHARDED] = { origins: ['*'], secret_env: SECRET_ENV, shards: 4 };
  w = await startWorker({
    vars: entityVars({
      SITES: JSON.stringify(sites),
      SIGNAL_TTL_MS: String(SIGNAL_TTL_MS),
      BROADCAST_INTERVAL_MS: String(INTERVAL),
      PRESENCE_TTL_SECONDS: '10',
      PRESENCE_HEARTBEAT_SECONDS: '2',
      HERENOW_TEST_HOOKS: 'true',
    }),
  });
});
after(() => w?.stop());

const T = { timeout: 90_000 };

/** A client address per name, so that sessions spread over a sharded site's objects. */
const addressOf = (name) => {
  let h = 7;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `10.${(h >> 16) & 255}.${(h >> 8) & 255}.${h & 255}`;
};
const from = (name) => ({ headers: { 'cf-connecting-ip': addressOf(name) } });

/** A tracked session over HTTP: its pings (join, signal, signal_end...). */
function httpSession(site, entity, { room = '/chat', session = uid('s'), visitor = uid('v') } = {}) {
  const token = trackToken(site, entity);
  const ping = (event, extra = {}) => w.ping(site, { room, session, visitor, event, entity, token, ...extra }, from(session));
  return {
    session,
    ping,
    signal: (name, on = true) => ping(on ? 'signal' : 'signal_end', { signal: name }),
  };
}

/** A tracked session over a socket (its first count message consumed). */
async function socketSession(site, entity, { room = '/chat', session = uid('s') } = {}) {
  const sock = await w.openLive({ site, room, session, visitor: uid('v'), entity, token: trackToken(site, entity) }, from(session));
  await sock.next(isCount, 3000);
  return sock;
}

/** A watcher of `entities`, its first statuses consumed. */
async function watcher(site, entities) {
  const sock = await openWatch(w, site, entities);
  await sock.next(isCount, 3000);
  for (let i = 0; i < entities.length; i++) await sock.next(isStatus(), 3000);
  return sock;
}

const signalled = (entity, signals) => (m) => isStatus(entity)(m) && JSON.stringify(m.signals) === JSON.stringify(signals);

/**
 * The first message on `sock` since its entry `from` (an index of `sock.received`) that matches
 * `predicate`, in whatever order messages came (nothing is consumed): `{msg, at}`.
 */
async function arrival(sock, predicate, from, timeoutMs) {
  let found;
  await waitFor(() => (found = sock.received.slice(from).find((e) => predicate(e.msg))) !== undefined, {
    timeoutMs,
    intervalMs: 5,
    what: `a matching message; seen: ${JSON.stringify(sock.received.slice(from).slice(-5))}`,
  });
  return found;
}

/** No status of `entity` arrives on `sock` within `ms`. */
async function quietFor(sock, entity, ms, what) {
  await assert.rejects(sock.next(isStatus(entity), ms), /no matching message/, what);
}

test('a signal over HTTP reaches a watcher within the promise, a renewal sends nothing, and it ends SIGNAL_TTL_MS after the last one', T, async () => {
  const site = nextSite();
  const entity = 'customer:1';
  const watch = await watcher(site, [entity]);
  const s = httpSession(site, entity);
  assert.equal((await s.ping('join')).status, 200);
  await watch.next(isStatus(entity), 3000); // online

  const sentAt = performance.now();
  const res = await s.signal('typing');
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.signal_ttl_ms, SIGNAL_TTL_MS, 'the answer says how long a signal lasts');
  const { msg, at } = await watch.next(isStatus(entity), 3000);
  assert.deepEqual(msg.signals, ['typing'], JSON.stringify(msg));
  assert.equal(msg.state, 'online');
  assertStatusShape(msg);
  assertWithin(at - sentAt, PROMISE_MS, 'signal -> watcher');
  // GET /v1/status shows it too
  assert.deepEqual((await mustStatus(w, site, [entity], watchToken(site, [entity])))[entity].signals, ['typing']);

  // renewed half a ttl later: nothing is sent; it lasts a ttl from the renewal
  await sleep(SIGNAL_TTL_MS / 2);
  const renewedAt = performance.now();
  assert.equal((await s.signal('typing')).status, 200);
  await quietFor(watch, entity, SIGNAL_TTL_MS - 300, 'a renewal sends nothing, and the signal outlives its first ttl');
  const end = await watch.next(isStatus(entity), SIGNAL_TTL_MS + EXPIRY_SLACK_MS);
  assert.deepEqual(end.msg.signals, [], JSON.stringify(end.msg));
  assert.equal(end.msg.state, 'online', 'still online: only the signal ended');
  const lasted = end.at - renewedAt;
  assert.ok(lasted >= SIGNAL_TTL_MS - 100, `ended ${lasted.toFixed(0)} ms after the renewal, before its ttl`);
  assertWithin(lasted, SIGNAL_TTL_MS + EXPIRY_SLACK_MS, 'the end after the ttl');
  await watch.close();
});

test('signal_end and the session\'s end end a signal at once; nothing of it is stored', T, async () => {
  const site = nextSite();
  const entity = 'customer:2';
  const watch = await watcher(site, [entity]);
  const s = httpSession(site, entity);
  // the first signal of a new session joins it
  assert.equal((await s.signal('typing')).status, 200);
  await watch.next(signalled(entity, ['typing']), 3000);
  const rows = async () => (await w.request(`/v1/_test/memory?site=${site}`)).body.rows_written;
  const rowsAfterJoin = await rows();
  let sentAt = performance.now();
  assert.equal((await s.signal('typing', false)).status, 200);
  let got = await watch.next(isStatus(entity), 3000);
  assert.deepEqual(got.msg.signals, []);
  assertWithin(got.at - sentAt, PROMISE_MS, 'signal_end -> watcher');
  // ending a signal it does not hold changes nothing
  assert.equal((await s.signal('typing', false)).status, 200);
  await quietFor(watch, entity, PROMISE_MS + 200, 'an end of nothing sends nothing');
  // leaving while typing: the signal goes at once, the state waits for its grace
  assert.equal((await s.signal('typing')).status, 200);
  await watch.next(signalled(entity, ['typing']), 3000);
  assert.equal(await rows(), rowsAfterJoin, 'signals, their renewals and ends wrote nothing');
  sentAt = performance.now();
  assert.equal((await s.ping('leave')).status, 200);
  got = await watch.next(isStatus(entity), 3000);
  assert.deepEqual([got.msg.signals, got.msg.state], [[], 'online']);
  assertWithin(got.at - sentAt, PROMISE_MS, 'the leave ends the signal');
  await watch.close();
});

test('over a tracked socket: "signal <name>" and "signal-end <name>", refusals told as error messages', T, async () => {
  const site = nextSite();
  const entity = 'customer:3';
  const watch = await watcher(site, [entity]);
  const sock = await socketSession(site, entity);
  await watch.next(isStatus(entity), 3000); // online
  let sentAt = performance.now();
  sock.send('signal typing');
  let got = await watch.next(isStatus(entity), 3000);
  assert.deepEqual(got.msg.signals, ['typing']);
  assertWithin(got.at - sentAt, PROMISE_MS, 'socket signal -> watcher');
  sock.send('signal typing'); // a renewal
  await quietFor(watch, entity, PROMISE_MS + 200, 'a renewal on the socket sends nothing');
  sentAt = performance.now();
  sock.send('signal-end typing');
  got = await watch.next(isStatus(entity), 3000);
  assert.deepEqual(got.msg.signals, []);
  assertWithin(got.at - sentAt, PROMISE_MS, 'socket signal-end -> watcher');

  const isError = (code) => (m) => m?.type === 'error' && m.error?.code === code;
  await sleep(1000); // 'typing' began less than a second ago: a second passes before two new ones
  sock.send('signal Typing!');
  let bad = await sock.next(isError('bad_request'), 3000);
  assert.equal(bad.msg.signal, undefined, 'a bad name is not echoed');
  sock.send('signal ' + 'x'.repeat(33));
  bad = await sock.next(isError('bad_request'), 3000);
  assert.equal(bad.msg.signal, undefined, 'a bad name is not echoed');
  // two new ones in a second, the third refused
  sock.send('signal a');
  sock.send('signal b');
  sock.send('signal c');
  const refused = await sock.next(isError('rate_limited'), 3000);
  assert.match(refused.msg.error.message, /signals/);
  assert.equal(refused.msg.signal, 'c', 'the refusal names the refused signal, so a client can send it again');
  await waitFor(async () => JSON.stringify((await mustStatus(w, site, [entity], watchToken(site, [entity])))[entity].signals) === '["a","b"]', {
    timeoutMs: 2000,
    what: 'a and b held, c refused',
  });
  assert.ok(sock.isOpen, 'a refused signal does not close the socket');
  // the socket closes: its session ends, and its signals with it
  sentAt = performance.now();
  await sock.close();
  got = await watch.next(signalled(entity, []), 3000);
  assertWithin(got.at - sentAt, PROMISE_MS, 'a closed socket ends its signals');

  // a socket that carries no entity cannot signal
  const plain = await w.openLive({ site, room: '/chat', session: uid('s'), visitor: uid('v') });
  await plain.next(isCount, 3000);
  plain.send('signal typing');
  await plain.next(isError('bad_request'), 3000);
  await plain.close();
  await watch.close();
});

test('limits and bad names over HTTP: 429 rate_limited and 400 bad_request, and nothing changes', T, async () => {
  const site = nextSite();
  const entity = 'customer:4';
  const s = httpSession(site, entity);
  assert.equal((await s.ping('join')).status, 200);
  assert.equal((await s.signal('typing')).status, 200);
  assert.equal((await s.signal('recording')).status, 200);
  const third = await s.signal('drawing');
  assertError(third, 429, 'rate_limited');
  assert.equal((await s.signal('typing')).status, 200, 'a renewal is never refused');
  const status = async () => (await mustStatus(w, site, [entity], watchToken(site, [entity])))[entity];
  assert.deepEqual((await status()).signals, ['recording', 'typing'], 'the refused one changed nothing');

  for (const bad of ['', 'Typing', 'ty ping', 'x'.repeat(33), 'émoji']) {
    assertError(await s.signal(bad), 400, 'bad_request');
  }
  // the event needs its signal, the signal its event, and a signal its entity's token
  assertError(await s.ping('signal'), 400, 'bad_request');
  assertError(await s.ping('join', { signal: 'typing' }), 400, 'bad_request');
  const anon = { room: '/chat', session: s.session, visitor: uid('v'), event: 'signal', signal: 'typing' };
  assertError(await w.ping(site, anon), 400, 'bad_request');
  // another entity's track token does not touch this session
  const other = await w.ping(site, { ...anon, entity: 'customer:5', token: trackToken(site, 'customer:5') }, from(s.session));
  assertError(other, 401, 'bad_token');
  // an anonymous session holds no signals, and a refused signal joins nobody
  const before = (await w.count(site)).site.sessions;
  const lone = { room: '/chat', session: uid('s'), visitor: uid('v'), event: 'signal', signal: 'typing' };
  assertError(await w.ping(site, lone), 400, 'bad_request');
  assert.equal((await w.count(site)).site.sessions, before, 'nobody joined');
  assert.deepEqual((await status()).signals, ['recording', 'typing']);
});

test('privacy: counts and other entities\' watchers see no signal; members show them per member, never for the anonymous', T, async () => {
  const site = nextSite();
  const entity = 'customer:6';
  const counter = await w.openLive({ site, room: '/chat' });
  await counter.next(isCount, 3000);
  const other = await watcher(site, ['customer:7']);
  const readers = signJwt(watchClaims(site, ['customer:*'], { rooms: ['/chat'] }));
  const members = await w.openLive({ site, members: '/chat', token: readers });
  await members.next((m) => m?.type === 'members', 3000);
  // a watch token for another entity cannot watch this one
  const refused = await w.request(`/v1/status?site=${site}&entity=${encodeURIComponent(entity)}`, {
    headers: { authorization: `Bearer ${watchToken(site, ['customer:7'])}` },
  });
  assert.ok([401, 403].includes(refused.status), `${refused.status} ${refused.text}`);

  const s = httpSession(site, entity);
  assert.equal((await s.ping('join')).status, 200);
  const anon = { room: '/chat', session: uid('s'), visitor: uid('v') };
  assert.equal((await w.ping(site, { ...anon, event: 'join' })).status, 200);
  await members.next((m) => m?.type === 'members' && m.members.length === 1 && m.anonymous.sessions === 1, 3000);
  const sentAt = performance.now();
  assert.equal((await s.signal('typing')).status, 200);
  const got = await members.next((m) => m?.type === 'members' && m.members[0]?.signals?.includes('typing'), 3000);
  assertWithin(got.at - sentAt, PROMISE_MS, 'signal -> members');
  assert.deepEqual(got.msg.members[0].signals, ['typing']);
  assert.deepEqual(Object.keys(got.msg.anonymous).sort(), ['sessions', 'visitors'], 'the anonymous are numbers only');
  // GET /v1/members says the same
  const listed = await w.request(`/v1/members?site=${site}&room=%2Fchat`, { headers: { authorization: `Bearer ${readers}` } });
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.body.members.map((m) => m.signals), [['typing']]);

  await sleep(PROMISE_MS + 200);
  const texts = [...counter.received, ...other.received].map((e) => JSON.stringify(e.msg));
  assert.ok(!texts.some((t) => t.includes('typing')), `no count or other watcher heard of it: ${texts.join(' ')}`);
  const count = JSON.stringify(await w.count(site, '/chat'));
  assert.ok(!count.includes('signal') && !count.includes('typing'), count);
  for (const c of [counter, other, members]) await c.close();
});

test('a site of 4 objects: a signal from a session on any object reaches the coordinator\'s watchers within the sharded promise, and ends there', T, async () => {
  const entities = Array.from({ length: 8 }, (_, i) => `user:${i}`);
  const watch = await watcher(SHARDED, entities);
  const sessions = [];
  const mark = watch.received.length;
  for (const entity of entities) {
    const s = httpSession(SHARDED, entity);
    assert.equal((await s.ping('join')).status, 200);
    sessions.push(s);
  }
  for (const entity of entities) await arrival(watch, (m) => isStatus(entity)(m) && m.online, mark, 5000);
  await sleep(SHARDED_PROMISE_MS);
  const began = [];
  for (const [i, s] of sessions.entries()) {
    const from = watch.received.length;
    const sentAt = performance.now();
    assert.equal((await s.signal('typing')).status, 200);
    const got = await arrival(watch, signalled(entities[i], ['typing']), from, 5000);
    assertWithin(got.at - sentAt, SHARDED_PROMISE_MS, `${entities[i]}: signal -> watcher`);
    began.push({ entity: entities[i], at: sentAt, from: watch.received.length });
  }
  // each ends by the coordinator's alarm, a ttl after it began
  for (const b of began) {
    const end = await arrival(watch, signalled(b.entity, []), b.from, SIGNAL_TTL_MS + EXPIRY_SLACK_MS + 3000);
    const lasted = end.at - b.at;
    assert.ok(lasted >= SIGNAL_TTL_MS - 100, `${b.entity}: ended after ${lasted.toFixed(0)} ms, before its ttl`);
    assertWithin(lasted, SIGNAL_TTL_MS + EXPIRY_SLACK_MS + SHARDED_PROMISE_MS, `${b.entity}: its end`);
  }
  await watch.close();
});

/** Sends 200 signals from `n` tracked sockets (alternating with their ends) and measures when a watcher sees each. */
async function latency(site, n, rounds) {
  const entities = Array.from({ length: n }, (_, i) => `lat:${i}`);
  const watch = await watcher(site, entities);
  const socks = [];
  const mark = watch.received.length;
  for (const entity of entities) socks.push(await socketSession(site, entity));
  for (const entity of entities) await arrival(watch, (m) => isStatus(entity)(m) && m.online, mark, 5000);
  await sleep(1000);
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    for (const [on, word] of [[true, 'signal typing'], [false, 'signal-end typing']]) {
      const from = watch.received.length;
      const sent = new Map();
      for (const [i, sock] of socks.entries()) {
        sent.set(entities[i], performance.now());
        sock.send(word);
        await sleep(5);
      }
      for (const entity of entities) {
        const { at } = await arrival(watch, signalled(entity, on ? ['typing'] : []), from, 5000);
        if (on) samples.push(at - sent.get(entity));
      }
    }
    await sleep(600); // each session begins at most 2 new signals a second
  }
  for (const s of socks) await s.close();
  await watch.close();
  samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { n: samples.length, p50: q(0.5), p99: q(0.99), max: samples[samples.length - 1] };
}

test('latency: 200 signals from 25 sockets to a watcher, on one object and on 4', T, async () => {
  const one = await latency(nextSite(), 25, 8);
  const four = await latency(SHARDED, 25, 8);
  const line = (what, r) => `${what}: ${r.n} signals, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`;
  console.log(`# signal -> watcher latency\n# ${line('one object', one)}\n# ${line('4 objects', four)}`);
  assert.equal(one.n, 200);
  assert.equal(four.n, 200);
  assertWithin(one.p99, PROMISE_MS, 'one object: p99 within the promise');
  assertWithin(four.p99, SHARDED_PROMISE_MS, '4 objects: p99 within the sharded promise');
});
