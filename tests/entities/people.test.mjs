// People, not just numbers: away and back (over HTTP and over a socket), the away ttl, online
// since, member info signed into the track token, who is here (members, over HTTP and as a live
// feed), and webhooks delivered, signed, in order, retried and kept across a restart.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';

import { startReceiver } from '../../scripts/webhook-receiver.mjs';
import { assertError, assertWithin, isCount, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';
import {
  SECRET,
  SECRET_ENV,
  assertStatusFields,
  entitySitesConfig,
  entityVars,
  isStatus,
  mustStatus,
  nowSeconds,
  signJwt,
  trackClaims,
  watchClaims,
  watchToken,
} from '../kit/entities-kit.mjs';

const GRACE = 800;
const AWAY_TTL_S = 6;
const INTERVAL = 300;
const HOOKED = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-people-'));

// A site half way through a secret rotation: its newest secret (which signs webhooks) is listed
// first but not set yet; tokens are signed with the older one.
const ROTATING = 'h7';
const NEXT_SECRET_ENV = 'T_SECRET_NEXT';
const NEXT_SECRET = randomBytes(32).toString('hex');

let w;
let receiver;
/** The receiver of the rotating site: it checks signatures with the next secret. */
let rotatingReceiver;
/** What the receiver answers, per event type, while set (status code). */
let receiverAnswers = null;

function vars(port, { nextSecretSet = false } = {}) {
  const sites = entitySitesConfig();
  for (const key of HOOKED) {
    sites[key] = { origins: ['*'], secret_env: SECRET_ENV, webhook: { url: `http://127.0.0.1:${port}/hooks/herenow` } };
  }
  sites[ROTATING] = {
    origins: ['*'],
    secret_env: [NEXT_SECRET_ENV, SECRET_ENV],
    webhook: { url: `http://127.0.0.1:${rotatingReceiver.port}/hooks/herenow` },
  };
  return entityVars({
    ...(nextSecretSet ? { [NEXT_SECRET_ENV]: NEXT_SECRET } : {}),
    SITES: JSON.stringify(sites),
    LEAVE_GRACE_MS: String(GRACE),
    AWAY_TTL_SECONDS: String(AWAY_TTL_S),
    BROADCAST_INTERVAL_MS: String(INTERVAL),
  });
}

before(async () => {
  receiver = await startReceiver({ secret: SECRET, answer: () => (receiverAnswers ? receiverAnswers() : 200) });
  rotatingReceiver = await startReceiver({ secret: NEXT_SECRET });
  w = await startWorker({ vars: vars(receiver.port), persistDir: stateDir });
});
after(async () => {
  await w?.stop();
  await receiver?.close();
  await rotatingReceiver?.close();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

let nextSite = 1;
const entitySite = () => `e${String(nextSite++).padStart(2, '0')}`;
const T = { timeout: 60_000 };

const track = (site, entity, extra) => signJwt(trackClaims(site, entity, extra));
const fieldsOf = (site, entity, extra = {}, tokenExtra) => ({
  room: '/',
  session: uid('s'),
  visitor: uid('v'),
  entity,
  token: track(site, entity, tokenExtra),
  ...extra,
});
const statusOf = async (site, entity) => (await mustStatus(w, site, [entity], watchToken(site, [entity])))[entity];
const ping = (site, fields, event) => w.mustPing(site, { ...fields, event });

// ---------------------------------------------------------------------------------------------
// Away

test('an entity page hidden over HTTP stops counting at once, shows away after the grace, and comes back with a heartbeat', T, async () => {
  const site = entitySite();
  const f = fieldsOf(site, 'user:1', { room: '/docs' });
  await ping(site, f, 'join');
  const since = (await statusOf(site, 'user:1')).online_since;
  const awayAt = performance.now();
  const body = await ping(site, f, 'away');
  assert.deepEqual(body.site, { sessions: 0, visitors: 0 }, 'the answer already leaves it out');
  assert.deepEqual((await w.count(site, '/docs')).room, { room: '/docs', sessions: 0, visitors: 0 });
  assert.equal((await statusOf(site, 'user:1')).state, 'online', 'within the grace nothing shows yet');
  const { value: away } = await waitFor(async () => {
    const s = await statusOf(site, 'user:1');
    return s.state === 'away' && s;
  }, { timeoutMs: GRACE + 3000, intervalMs: 50, what: 'state away' });
  assertWithin(performance.now() - awayAt, GRACE + 1000, 'away shown after the grace');
  assertStatusFields(away);
  assert.deepEqual([away.online, away.sessions, away.online_since], [true, 1, since], 'away is online, keeps its session and online_since');
  await ping(site, f, 'heartbeat');
  const back = await statusOf(site, 'user:1');
  assert.deepEqual([back.state, back.online_since], ['online', since], 'back at once, same online period');
  assert.deepEqual((await w.count(site, '/docs')).site, { sessions: 1, visitors: 1 });
});

test('a tracked socket sends away and back: counts drop and return within the interval, watchers see away then online', T, async () => {
  const site = entitySite();
  const entity = 'user:2';
  const watcher = await w.openLive({ site, watch: entity, token: watchToken(site, [entity]) });
  const counter = await w.openLive({ site });
  const live = await w.openLive({ site, room: '/', session: uid('s'), visitor: uid('v'), entity, token: track(site, entity) });
  await watcher.next((m) => isStatus(entity)(m) && m.state === 'online', 3000);
  await counter.next((m) => isCount(m) && m.site.sessions === 1, 3000);
  let sent = performance.now();
  live.send('away');
  const { at: dropped } = await counter.next((m) => isCount(m) && m.site.sessions === 0, 3000);
  assertWithin(dropped - sent, INTERVAL + 250, 'count without the away socket session');
  const { msg: away, at: awayAt } = await watcher.next((m) => isStatus(entity)(m), GRACE + 3000);
  assert.equal(away.state, 'away');
  assert.equal(away.online, true);
  assertWithin(awayAt - sent, GRACE + 1000, 'away status after the grace');
  sent = performance.now();
  live.send('back');
  const { msg: back, at: backAt } = await watcher.next((m) => isStatus(entity)(m), 3000);
  assert.equal(back.state, 'online');
  assertWithin(backAt - sent, INTERVAL + 250, 'online again at once');
  await counter.next((m) => isCount(m) && m.site.sessions === 1, 3000);
  for (const c of [live, watcher, counter]) await c.close();
});

test('an away session outlives the ttl and ends after AWAY_TTL_SECONDS of silence', T, async () => {
  const site = entitySite();
  const f = fieldsOf(site, 'user:3');
  await ping(site, f, 'join');
  await ping(site, f, 'away');
  const awayAt = performance.now();
  await sleep(w.ttlMs + 1500);
  const st = await statusOf(site, 'user:3');
  assert.deepEqual([st.state, st.sessions], ['away', 1], 'still away past the ttl');
  const { elapsed } = await waitFor(async () => (await statusOf(site, 'user:3')).state === 'offline', {
    timeoutMs: AWAY_TTL_S * 1000 + GRACE + 5000,
    intervalMs: 100,
    what: 'offline after the away ttl and the grace',
  });
  const total = elapsed + w.ttlMs + 1500;
  assert.ok(total >= AWAY_TTL_S * 1000 - 200, `not before the away ttl (${total.toFixed(0)} ms)`);
  assertWithin(performance.now() - awayAt, AWAY_TTL_S * 1000 + GRACE + 2000, 'away session expiry');
});

test('an anonymous page that goes away leaves, as with leave', T, async () => {
  const site = entitySite();
  const f = { room: '/', session: uid('s'), visitor: uid('v') };
  await w.join(site, f);
  const body = await ping(site, f, 'away');
  assert.deepEqual(body.site, { sessions: 0, visitors: 0 });
  await ping(site, f, 'away');
  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 }, 'an away for an unknown anonymous session changes nothing');
});

test('online_since is kept through a reload inside the grace', T, async () => {
  const site = entitySite();
  const f = fieldsOf(site, 'user:4');
  await ping(site, f, 'join');
  const first = (await statusOf(site, 'user:4')).online_since;
  await sleep(50);
  await ping(site, f, 'leave');
  await sleep(200);
  await ping(site, { ...f, session: uid('s') }, 'join');
  assert.equal((await statusOf(site, 'user:4')).online_since, first, 'a reload keeps the period');
});

// ---------------------------------------------------------------------------------------------
// Member info

test('member info comes from the track token, shows in status, and cannot be forged or oversized', T, async () => {
  const site = entitySite();
  const info = { name: 'Ada Lovelace', avatar: 'https://example.com/ada.png' };
  const f = fieldsOf(site, 'user:5', { room: '/team' }, { info });
  // a body field "info" is not read: the ping passes and the token's info counts
  await ping(site, { ...f, info: { name: 'Mallory' } }, 'join');
  const st = await statusOf(site, 'user:5');
  assert.deepEqual(st.info, info, 'the token info, not the body');
  const big = { name: 'x'.repeat(520) };
  for (const [what, bad] of [['over 512 bytes', big], ['a string', 'Ada'], ['an array', ['Ada']], ['a number', 5]]) {
    const f2 = fieldsOf(site, 'user:6', {}, { info: bad });
    const res = await w.ping(site, { ...f2, event: 'join' });
    assertError(res, 401, 'bad_token');
    const refused = await w.refusedLive({ site, session: uid('s'), entity: 'user:6', token: f2.token });
    assertError(refused, 401, 'bad_token');
    assert.equal((await statusOf(site, 'user:6')).state, 'offline', what);
  }
  // just at the limit is fine
  const name = 'n'.repeat(512 - JSON.stringify({ name: '' }).length);
  const ok = fieldsOf(site, 'user:7', {}, { info: { name } });
  await ping(site, ok, 'join');
  assert.equal((await statusOf(site, 'user:7')).info.name, name);
});

// ---------------------------------------------------------------------------------------------
// Members

const membersToken = (site, rooms, extra) => signJwt(watchClaims(site, [], { rooms, ...extra }));
const getMembers = (site, room, token) =>
  w.request(`/v1/members?${new URLSearchParams({ site, room })}`, { headers: { authorization: `Bearer ${token}` } });

test('GET /v1/members lists the entities in a room with faces, earliest first, plus anonymous counts; other rooms are not_watchable', T, async () => {
  const site = entitySite();
  const token = membersToken(site, ['/docs/*', 'support']);
  const a = fieldsOf(site, 'user:a', { room: '/docs/intro' }, { info: { name: 'Ada' } });
  const b = fieldsOf(site, 'user:b', { room: '/docs/intro' });
  await ping(site, a, 'join');
  await sleep(20);
  await ping(site, b, 'join');
  await ping(site, { ...b, session: uid('s') }, 'join');
  await w.join(site, { room: '/docs/intro', session: uid('s'), visitor: uid('v') });
  await ping(site, fieldsOf(site, 'user:c', { room: '/elsewhere' }), 'join');
  const res = await getMembers(site, '/docs/intro', token);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.body).sort(), ['anonymous', 'members', 'room']);
  assert.equal(res.body.room, '/docs/intro');
  assert.deepEqual(res.body.anonymous, { sessions: 1, visitors: 1 });
  const m = res.body.members;
  assert.deepEqual(m.map((x) => [x.entity, x.state, x.sessions]), [['user:a', 'online', 1], ['user:b', 'online', 2]]);
  assert.deepEqual(m[0].info, { name: 'Ada' });
  assert.equal(m[1].info, null);
  assert.ok(m[0].online_since <= m[1].online_since);
  for (const x of m) assert.deepEqual(Object.keys(x).sort(), ['entity', 'info', 'online_since', 'sessions', 'signals', 'state']);
  assertError(await getMembers(site, '/api', token), 403, 'not_watchable');
  assertError(await getMembers(site, 'support2', token), 403, 'not_watchable');
  assertError(await getMembers(site, '/docs/intro', watchToken(site, ['user:*'])), 403, 'not_watchable');
  assertError(await getMembers(site, '/docs/intro', track(site, 'user:a')), 401, 'bad_token');
  assertError(await w.request(`/v1/members?site=${site}&room=%2Fdocs%2Fintro`), 401, 'bad_token');
  assertError(await w.request(`/v1/members?site=${site}`, { headers: { authorization: `Bearer ${token}` } }), 400, 'bad_request');
  assertError(await w.refusedLive({ site, members: '/api', token }), 403, 'not_watchable');
});

test('the members feed sends the list on open and each change within the interval + 250 ms: joins, leaves, moves, away', T, async () => {
  const site = entitySite();
  const room = 'support';
  const feed = await w.openLive({ site, members: room, token: membersToken(site, [room]) });
  const { msg: first } = await feed.next((m) => m?.type === 'members', 2000);
  assert.deepEqual(first, { type: 'members', room, members: [], anonymous: { sessions: 0, visitors: 0 } });
  const names = (m) => m.members.map((x) => `${x.entity}:${x.state}:${x.sessions}`);
  const step = async (what, act, expect) => {
    await sleep(INTERVAL + 50); // each change after a quiet interval
    const t0 = performance.now();
    await act();
    const { msg, at } = await feed.next((m) => m?.type === 'members' && expect(m), GRACE + 3000);
    return { msg, took: at - t0, what };
  };
  const a = fieldsOf(site, 'user:a', { room });
  let r = await step('join', () => ping(site, a, 'join'), (m) => names(m).join() === 'user:a:online:1');
  assertWithin(r.took, INTERVAL + 250, r.what);
  const anon = { room, session: uid('s'), visitor: uid('v') };
  r = await step('anonymous join', () => w.join(site, anon), (m) => m.anonymous.sessions === 1);
  assertWithin(r.took, INTERVAL + 250, r.what);
  const b = fieldsOf(site, 'user:b', { room: '/other' });
  await ping(site, b, 'join');
  r = await step('move in', () => ping(site, { ...b, room }, 'heartbeat'), (m) => names(m).includes('user:b:online:1'));
  assertWithin(r.took, INTERVAL + 250, r.what);
  r = await step('move out', () => ping(site, b, 'heartbeat'), (m) => !names(m).some((n) => n.startsWith('user:b')));
  assertWithin(r.took, INTERVAL + 250, r.what);
  r = await step('away (after the grace)', () => ping(site, a, 'away'), (m) => names(m).join() === 'user:a:away:1');
  assertWithin(r.took, GRACE + INTERVAL + 250, r.what);
  r = await step('leave (after the grace)', () => ping(site, a, 'leave'), (m) => m.members.length === 0);
  assertWithin(r.took, GRACE + INTERVAL + 250, r.what);
  await feed.close();
});

// ---------------------------------------------------------------------------------------------
// Webhooks

const eventsFor = (entity) => receiver.events.filter((e) => e.entity === entity);

test('webhooks: online, away, offline delivered in order, signed, with the status; a reload inside the grace sends none', T, async () => {
  const site = 'h1';
  const entity = 'user:w1';
  const f = fieldsOf(site, entity, { room: '/' }, { info: { name: 'Wen' } });
  const t0 = Date.now();
  await ping(site, f, 'join');
  await waitFor(() => eventsFor(entity).length === 1, { timeoutMs: 3000, what: 'entity.online' });
  // a reload: leave and join inside the grace
  await ping(site, f, 'leave');
  await sleep(100);
  await ping(site, f, 'join');
  await sleep(GRACE + 700);
  assert.equal(eventsFor(entity).length, 1, 'a reload inside the grace sends nothing');
  await ping(site, f, 'away');
  await waitFor(() => eventsFor(entity).length === 2, { timeoutMs: GRACE + 3000, what: 'entity.away' });
  await ping(site, f, 'leave');
  await waitFor(() => eventsFor(entity).length === 3, { timeoutMs: GRACE + 3000, what: 'entity.offline' });
  const got = eventsFor(entity);
  assert.deepEqual(got.map((e) => e.type), ['entity.online', 'entity.away', 'entity.offline']);
  for (const e of got) {
    assert.deepEqual(Object.keys(e).sort(), ['at', 'entity', 'id', 'receivedAt', 'site', 'status', 'type']);
    assert.equal(e.site, site);
    assert.ok(e.at >= t0 && e.at <= Date.now(), 'at is epoch ms');
    assertStatusFields(e.status);
    assert.ok(e.receivedAt - e.at < 2000, `delivered within 2 s (${e.receivedAt - e.at} ms)`);
  }
  assert.deepEqual(got.map((e) => e.status.state), ['online', 'away', 'offline']);
  assert.deepEqual(got[0].status.info, { name: 'Wen' });
  assert.equal(new Set(got.map((e) => e.id)).size, 3, 'unique ids');
  assert.equal(receiver.state.refused, 0, 'every signature verified');
});

test('webhooks: a receiver answering 500 is retried until it answers 2xx, and order holds', T, async () => {
  const site = 'h2';
  const entity = 'user:w2';
  let failures = 0;
  receiverAnswers = () => (failures++ < 2 ? 500 : 200);
  try {
    const before = receiver.state.attempts;
    const f = fieldsOf(site, entity);
    await ping(site, f, 'join');
    await ping(site, f, 'leave');
    await waitFor(() => eventsFor(entity).length === 2, { timeoutMs: 15_000, intervalMs: 100, what: 'both events after retries' });
    assert.deepEqual(eventsFor(entity).map((e) => e.type), ['entity.online', 'entity.offline']);
    assert.ok(receiver.state.attempts - before >= 4, `2 refused tries, then 2 deliveries (${receiver.state.attempts - before} requests)`);
  } finally {
    receiverAnswers = null;
  }
});

test('webhooks: a receiver that does not answer within 10 s fails that try, which is tried again and delivered, in order', T, async () => {
  const site = 'h4';
  const entity = 'user:w4';
  const tries = [];
  receiverAnswers = () => {
    tries.push(Date.now());
    return tries.length === 1 ? 'hang' : 200;
  };
  try {
    const f = fieldsOf(site, entity);
    await ping(site, f, 'join');
    await ping(site, f, 'leave');
    await waitFor(() => eventsFor(entity).length === 2, { timeoutMs: 25_000, intervalMs: 100, what: 'both events after the stuck try' });
    assert.deepEqual(eventsFor(entity).map((e) => e.type), ['entity.online', 'entity.offline']);
    const wait = tries[1] - tries[0];
    // the docs: no answer in 10 s is a failure, tried again after 1 s
    assert.ok(wait >= 9_900 && wait <= 13_000, `the second try came ${wait} ms after the stuck one (10 s timeout, then 1 s)`);
    assert.equal(tries.length, 3, `one stuck try, then one delivery each (${tries.length} tries)`);
  } finally {
    receiverAnswers = null;
  }
});

test('webhooks: a receiver that is down gets the events once it is back, also after the runtime restarts', { timeout: 120_000 }, async () => {
  const site = 'h3';
  const entity = 'user:w3';
  const port = receiver.port;
  await receiver.close();
  const f = fieldsOf(site, entity);
  await ping(site, f, 'join');
  await sleep(1500); // a few failed tries against a closed port
  // the runtime restarts while the event waits in the queue
  await w.stop({ keepState: true });
  receiver = await startReceiver({ port, secret: SECRET, answer: () => (receiverAnswers ? receiverAnswers() : 200) });
  w = await startWorker({ vars: vars(port), persistDir: stateDir });
  await w.count(site); // wakes the object (its alarm would too)
  await waitFor(() => eventsFor(entity).length >= 1, { timeoutMs: 40_000, intervalMs: 200, what: 'the queued event after the restart' });
  assert.equal(eventsFor(entity)[0].type, 'entity.online');
  assert.equal(receiver.state.refused, 0);
});

test('webhooks: while the signing secret is not set, events are kept (none sent unsigned), and delivered in order once it is', { timeout: 120_000 }, async () => {
  const entity = 'user:w7';
  const f = fieldsOf(ROTATING, entity); // its token is signed with the older, set secret
  await ping(ROTATING, f, 'join');
  await ping(ROTATING, f, 'leave');
  await sleep(GRACE + 2_500); // online and offline are both due long before this
  assert.equal(rotatingReceiver.state.attempts, 0, 'nothing was sent without the secret');
  await waitFor(() => /webhook secret not set: events are queued and held until it is/.test(w.logs()), {
    timeoutMs: 5_000,
    what: 'the log line naming the missing secret',
  });
  assert.match(w.logs(), new RegExp(`"secret_env":"${NEXT_SECRET_ENV}"`));
  // the secret is set (a deploy restarts the objects): the kept events go out, signed with it
  await w.stop({ keepState: true });
  w = await startWorker({ vars: vars(receiver.port, { nextSecretSet: true }), persistDir: stateDir });
  await w.count(ROTATING); // wakes the object (its alarm would too)
  const got = () => rotatingReceiver.events.filter((e) => e.entity === entity);
  await waitFor(() => got().length === 2, { timeoutMs: 30_000, intervalMs: 200, what: 'both kept events' });
  assert.deepEqual(got().map((e) => e.type), ['entity.online', 'entity.offline']);
  assert.equal(rotatingReceiver.state.refused, 0, 'every signature verified with the newest secret');
});
