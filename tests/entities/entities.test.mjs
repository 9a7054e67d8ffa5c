// Entities (private presence): tokens, watch lists, online/offline with a leave grace, sessions
// per entity, last_seen, and privacy in public answers. Restarts are in entities-restart.test.mjs.
// TTL 3 s, heartbeat 1 s, LEAVE_GRACE_MS 1500, BROADCAST_INTERVAL_MS 300.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import {
  ALLOWED_ORIGIN,
  assertError,
  assertWithin,
  isCount,
  siteSessions,
  sleep,
  startWorker,
  uid,
  waitFor,
} from '../kit/harness.mjs';
import {
  LOCKED_ENTITY_SITE,
  PLAIN_SITE,
  assertStatusShape,
  brokenTokens,
  entitySites,
  entityStatus,
  entityVars,
  isOffline,
  isOnlineWith,
  isStatus,
  mustStatus,
  openWatch,
  signJwt,
  status,
  statusesSince,
  trackClaims,
  trackToken,
  tracked,
  watchClaims,
  watchToken,
} from '../kit/entities-kit.mjs';

let w;
const nextSite = entitySites();
before(async () => {
  w = await startWorker({ vars: entityVars() });
});
after(() => w?.stop());

const T = { timeout: 60_000 };
const grace = () => Number(w.vars.LEAVE_GRACE_MS);
/** Status messages are not throttled; a change must reach a watcher this fast. */
const STATUS_PROMPT_MS = 1000;
/** The offline status may come this much after the grace has run out (alarm slack included). */
const OFFLINE_SLACK_MS = 1000;
/** ... and not earlier than this much before the grace has run out. */
const OFFLINE_EARLY_MS = 100;
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

/** Opens a socket that is a live session carrying `entity` with a valid track token. */
function openTracked(site, entity, { room = '/', session = uid('s'), visitor = uid('v'), autoPing = true, token } = {}) {
  return w.openLive({ site, room, session, visitor, entity, token: token ?? trackToken(site, entity) }, { autoPing });
}

/** Opens a watcher and consumes its count and its first status for each entity (returned by id). */
async function watcher(site, entities) {
  const sock = await openWatch(w, site, entities);
  await sock.next(isCount, 2000);
  const first = {};
  for (let i = 0; i < entities.length; i++) {
    const { msg } = await sock.next(isStatus(), 2000);
    first[msg.entity] = msg;
  }
  assert.deepEqual(Object.keys(first).sort(), [...entities].sort(), 'one status per watched entity on open');
  return { sock, first };
}

/**
 * Waits for the next status of `entity` on `sock`, which must be the offline one, and checks it
 * came no earlier than grace - 100 ms and no later than grace + 1000 ms after `endSentAt` (the
 * performance.now() at which the last session's end was sent).
 */
async function expectOfflineAfterGrace(sock, entity, endSentAt, what) {
  const { msg, at } = await sock.next(isStatus(entity), grace() + OFFLINE_SLACK_MS + 5000);
  assert.equal(msg.online, false, `${what}: the first status after the end must be the offline one, got ${JSON.stringify(msg)}`);
  assert.equal(msg.sessions, 0, `${what}: ${JSON.stringify(msg)}`);
  assertStatusShape(msg);
  const after = at - endSentAt;
  assert.ok(
    after >= grace() - OFFLINE_EARLY_MS,
    `${what}: offline ${after.toFixed(0)} ms after the end, before the grace of ${grace()} ms had passed`,
  );
  assertWithin(after, grace() + OFFLINE_SLACK_MS, `${what}: offline status after the end`);
  return msg;
}

/** Asserts that `sock` received no status message for `entity` at or after `since`. */
function assertNoStatusSince(sock, since, entity, what) {
  const got = statusesSince(sock, since, entity);
  assert.deepEqual(
    got.map((e) => ({ after: Math.round(e.at - since), msg: e.msg })),
    [],
    `${what}: expected no status message`,
  );
}

// ---------------------------------------------------------------------------------------------
// Tokens on POST /v1/ping and on session sockets

test('a forged, tampered, alg-none, expired, other-site, watch-scoped or other-entity track token is 401 bad_token on /v1/ping and changes nothing', T, async () => {
  const site = nextSite();
  const online = 'user:42';
  const unseen = 'user:7';
  // user:42 is online through a socket session; user:7 has never been seen.
  const liveSession = uid('s');
  const sock = await openTracked(site, online, { session: liveSession });
  await sock.next(siteSessions(1), 2000);
  const { sock: watch } = await watcher(site, [online, unseen]);
  const statusBefore = await mustStatus(w, site, [online, unseen], watchToken(site, [online, unseen]));
  assert.deepEqual({ ...statusBefore[online], last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  assert.deepEqual(statusBefore[unseen], { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });

  const since = performance.now();
  for (const entity of [online, unseen]) {
    const claims = trackClaims(site, entity);
    const bad = [
      ...brokenTokens(claims, signJwt(claims)),
      ['a watch token (wrong scope) naming the entity', watchToken(site, [entity], { sub: entity })],
      ['a watch token (wrong scope) for a pattern', watchToken(site, ['user:*'], { sub: entity })],
      ['a track token for another entity', trackToken(site, `${entity}0`)],
      ['a track token for the other test entity', trackToken(site, entity === online ? unseen : online)],
    ];
    for (const [name, token] of bad) {
      const attempts = [
        ['join of a new session', { room: '/', session: uid('s'), visitor: uid('v'), event: 'join' }],
        ['heartbeat of a new session', { room: '/', session: uid('s'), visitor: uid('v'), event: 'heartbeat' }],
      ];
      if (entity === online) attempts.push(['leave of its live socket session', { room: '/', session: liveSession, event: 'leave' }]);
      for (const [what, fields] of attempts) {
        const res = await w.ping(site, { ...fields, entity, token });
        assert.equal(res.status, 401, `${entity}, ${name}, ${what}: ${res.text}`);
        assertError(res, 401, 'bad_token');
      }
    }
  }
  const done = performance.now();
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 }, 'rejected pings changed the count');
  // Long enough for a wrongly accepted leave to have turned user:42 offline.
  await sleep(grace() + OFFLINE_SLACK_MS);
  const statusAfter = await mustStatus(w, site, [online, unseen], watchToken(site, [online, unseen]));
  assert.deepEqual({ ...statusAfter[online], last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] }, `${online} changed`);
  assert.deepEqual(statusAfter[unseen], { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] }, `${unseen} changed`);
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 }, 'rejected pings changed the count');
  assertNoStatusSince(watch, since, undefined, `the watcher, during and ${Math.round(performance.now() - done)} ms after the rejected pings`);
  await sock.close();
  await watch.close();
});

test('an entity without a token is 401 bad_token; a token without an entity and an invalid entity id are 400 bad_request; none changes anything', T, async () => {
  const site = nextSite();
  const entity = 'user:42';
  const { sock: watch } = await watcher(site, [entity]);
  const since = performance.now();
  const base = () => ({ room: '/', session: uid('s'), visitor: uid('v') });

  for (const event of ['join', 'heartbeat']) {
    const res = await w.ping(site, { ...base(), event, entity });
    assertError(res, 401, 'bad_token');
    const noEntity = await w.ping(site, { ...base(), event, token: trackToken(site, entity) });
    assert.equal(noEntity.status, 400, `${event} with a token and no entity: ${noEntity.text}`);
    assertError(noEntity, 400, 'bad_request');
  }

  const invalid = {
    'empty': '',
    '129 characters': `u:${'x'.repeat(127)}`,
    'a space': 'user 42',
    'a slash': 'user/42',
    'a hash': 'user#42',
    'a comma': 'user:4,2',
    'a star': 'user:*',
    'a plus': 'user+42',
    'a non-ASCII letter': 'usér:42',
    'a newline': 'user:42\n',
    'a NUL': 'user:\u000042',
  };
  for (const [name, id] of Object.entries(invalid)) {
    // The token is valid for exactly this id, so only the id's validity can refuse it.
    const res = await w.ping(site, { ...base(), event: 'join', entity: id, token: trackToken(site, id) });
    assert.equal(res.status, 400, `an entity id with ${name}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
  for (const [name, value] of [['a number', 42], ['an array', ['user:42']], ['an object', { id: 'user:42' }], ['null', null]]) {
    const res = await w.ping(site, { ...base(), event: 'join', entity: value, token: trackToken(site, entity) });
    assert.equal(res.status, 400, `entity as ${name}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
  for (const [name, value] of [['a number', 42], ['an array', [trackToken(site, entity)]], ['an object', {}]]) {
    const res = await w.ping(site, { ...base(), event: 'join', entity, token: value });
    assert.ok([400, 401].includes(res.status), `token as ${name}: ${res.text}`);
    assertError(res, res.status, res.status === 400 ? 'bad_request' : 'bad_token');
  }

  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 }, 'a rejected ping changed the count');
  assert.deepEqual(await entityStatus(w, site, entity), { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });
  assertNoStatusSince(watch, since, entity, 'the watcher');
  await watch.close();
});

test('entity ids of 1 and 128 characters from the whole allowed set are accepted', T, async () => {
  const site = nextSite();
  const idsToTry = ['x', `A-Z.a_z:0@9-${'y'.repeat(116)}`, 'customer:conv_123', 'user@example.com', 'ABCxyz.019_:@-'];
  assert.equal(idsToTry[1].length, 128);
  for (const entity of idsToTry) {
    const body = await w.join(site, tracked(site, entity, { room: '/', session: uid('s'), visitor: uid('v') }));
    assert.equal(typeof body.site.sessions, 'number');
    const s = await entityStatus(w, site, entity);
    assert.equal(s.online, true, `${entity}: ${JSON.stringify(s)}`);
    assert.equal(s.sessions, 1, `${entity}: ${JSON.stringify(s)}`);
  }
  assert.equal((await w.count(site)).site.sessions, idsToTry.length);
});

test('the checks run in order: 400 validation, 403 unknown_site or forbidden_origin, 403 entities_disabled, 403 bot, then 401 bad_token', T, async () => {
  const site = nextSite();
  const entity = 'user:42';
  const forged = signJwt(trackClaims(site, entity), { secret: 'not the secret' });
  const s = () => ({ room: '/', session: uid('s'), visitor: uid('v'), event: 'join' });
  const cases = [
    ['an invalid entity id with a forged token', site, { ...s(), entity: 'user 42', token: forged }, {}, 400, 'bad_request'],
    ['an invalid session with a forged token', site, { ...s(), session: 'short', entity, token: forged }, {}, 400, 'bad_request'],
    ['an unknown site with a forged token', 'nope.example', { ...s(), entity, token: forged }, {}, 403, 'unknown_site'],
    ['a forbidden origin with a forged token', LOCKED_ENTITY_SITE, { ...s(), entity, token: forged }, { origin: 'https://evil.example' }, 403, 'forbidden_origin'],
    ['a site without a secret with a forged token', PLAIN_SITE, { ...s(), entity, token: forged }, {}, 403, 'entities_disabled'],
    ['a site without a secret and no token', PLAIN_SITE, { ...s(), entity }, {}, 403, 'entities_disabled'],
    ['a bot with a forged token', site, { ...s(), entity, token: forged }, { 'user-agent': GOOGLEBOT }, 403, 'bot'],
    ['a bot with a valid token', site, { ...s(), entity, token: trackToken(site, entity) }, { 'user-agent': GOOGLEBOT }, 403, 'bot'],
  ];
  for (const [name, target, fields, headers, code, errCode] of cases) {
    const res = await w.ping(target, fields, { headers });
    assert.equal(res.status, code, `${name}: ${res.text}`);
    assertError(res, code, errCode);
  }
  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 });
  assert.deepEqual(await entityStatus(w, site, entity), { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });

  // The locked site with its listed origin is fine.
  const ok = await w.ping(LOCKED_ENTITY_SITE, tracked(LOCKED_ENTITY_SITE, entity, s()), { headers: { origin: ALLOWED_ORIGIN } });
  assert.equal(ok.status, 200, ok.text);
});

test('a session socket with a missing or bad track token is refused with 401 bad_token and counts nothing', T, async () => {
  const site = nextSite();
  const entity = 'user:42';
  const { sock: watch } = await watcher(site, [entity]);
  const since = performance.now();
  const params = () => ({ site, room: '/', session: uid('s'), visitor: uid('v'), entity });

  const missing = await w.refusedLive(params());
  assertError(missing, 401, 'bad_token');
  const claims = trackClaims(site, entity);
  const bad = [
    ...brokenTokens(claims, signJwt(claims)),
    ['a watch token (wrong scope)', watchToken(site, [entity], { sub: entity })],
    ['a track token for another entity', trackToken(site, 'user:43')],
  ];
  for (const [name, token] of bad) {
    const res = await w.refusedLive({ ...params(), token });
    assert.equal(res.status, 401, `${name}: ${res.text}`);
    assertError(res, 401, 'bad_token');
  }
  const invalidId = await w.refusedLive({ ...params(), entity: 'user 42', token: trackToken(site, 'user 42') });
  assertError(invalidId, 400, 'bad_request');

  assert.deepEqual((await w.count(site)).site, { sessions: 0, visitors: 0 });
  assert.deepEqual(await entityStatus(w, site, entity), { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });
  assertNoStatusSince(watch, since, entity, 'the watcher');
  await watch.close();
});

test('a site without secret_env answers entity pings, /v1/status and entity sockets with 403 entities_disabled', T, async () => {
  const entity = 'user:42';
  // `plain`, and a harness site (t01) that has no secret either.
  for (const site of [PLAIN_SITE, w.site()]) {
    const before = (await w.count(site)).site;
    const s = () => ({ room: '/', session: uid('s'), visitor: uid('v') });
    assertError(await w.ping(site, { ...s(), event: 'join', entity, token: trackToken(site, entity) }), 403, 'entities_disabled');
    assertError(await status(w, site, [entity], watchToken(site, [entity])), 403, 'entities_disabled');
    assertError(await w.refusedLive({ site, ...s(), entity, token: trackToken(site, entity) }), 403, 'entities_disabled');
    assertError(await w.refusedLive({ site, watch: entity, token: watchToken(site, [entity]) }), 403, 'entities_disabled');
    assert.deepEqual((await w.count(site)).site, before, `${site}: a refused entity request changed the count`);
    // Plain presence still works there.
    const body = await w.join(site, s());
    assert.equal(body.site.sessions, before.sessions + 1);
  }
});

// ---------------------------------------------------------------------------------------------
// Watch tokens: /v1/status and watching sockets

test('/v1/status and watching sockets refuse missing, malformed, forged, expired, other-site and track tokens with 401 bad_token', T, async () => {
  const site = nextSite();
  const entity = 'user:42';
  const valid = watchToken(site, [entity]);
  for (const [name, authorization] of [
    ['no Authorization header', undefined],
    ['"Bearer" alone', 'Bearer'],
    ['"Bearer " and nothing', 'Bearer '],
    ['Basic credentials', `Basic ${Buffer.from('agent:secret').toString('base64')}`],
    ['the token without "Bearer "', valid],
    ['another scheme with the token', `Token ${valid}`],
  ]) {
    const res = await status(w, site, [entity], undefined, { authorization });
    assert.equal(res.status, 401, `${name}: ${res.text}`);
    assertError(res, 401, 'bad_token');
  }
  const claims = watchClaims(site, [entity]);
  const bad = [
    ...brokenTokens(claims, signJwt(claims)),
    ['a track token for the entity (wrong scope)', trackToken(site, entity)],
    ['a track token with a watch list (wrong scope)', signJwt({ ...claims, scope: 'track' })],
  ];
  for (const [name, token] of bad) {
    const res = await status(w, site, [entity], token);
    assert.equal(res.status, 401, `GET /v1/status, ${name}: ${res.text}`);
    assertError(res, 401, 'bad_token');
    const sock = await w.refusedLive({ site, watch: entity, token });
    assert.equal(sock.status, 401, `watching socket, ${name}: ${sock.text}`);
    assertError(sock, 401, 'bad_token');
  }
  const noToken = await w.refusedLive({ site, watch: entity });
  assertError(noToken, 401, 'bad_token');

  // The valid token is fine on both.
  assert.deepEqual(await mustStatus(w, site, [entity], valid), { [entity]: { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] } });
  const sock = await openWatch(w, site, [entity], { token: valid });
  await sock.next(isStatus(entity), 2000);
  await sock.close();
});

test('an entity outside the token\'s watch list is 403 not_watchable, on /v1/status and on a watching socket', T, async () => {
  const site = nextSite();
  const token = watchToken(site, ['user:42']);
  for (const list of [['user:7'], ['user:42', 'user:7'], ['user:7', 'user:42'], ['agent:7']]) {
    const res = await status(w, site, list, token);
    assert.equal(res.status, 403, `GET /v1/status for ${list}: ${res.text}`);
    assertError(res, 403, 'not_watchable');
    const sock = await w.refusedLive({ site, watch: list.join(','), token });
    assert.equal(sock.status, 403, `watching socket for ${list}: ${sock.text}`);
    assertError(sock, 403, 'not_watchable');
  }
  const empty = watchToken(site, []);
  assertError(await status(w, site, ['user:42'], empty), 403, 'not_watchable');
  assertError(await w.refusedLive({ site, watch: 'user:42', token: empty }), 403, 'not_watchable');
});

test('a watch pattern ending in * allows ids with that prefix; any other pattern is one exact id', T, async () => {
  const site = nextSite();
  const token = watchToken(site, ['customer:*', 'user:42']);
  const allowed = ['customer:1', 'customer:conv_123', 'customer:a:b@c', 'user:42'];
  const refused = ['customers:1', 'customer', 'custome:1', 'Customer:1', 'xcustomer:1', 'user:1', 'user:4', 'user:420', 'USER:42'];
  for (const entity of allowed) {
    const res = await status(w, site, [entity], token);
    assert.equal(res.status, 200, `${entity}: ${res.text}`);
  }
  assert.deepEqual(Object.keys(await mustStatus(w, site, allowed, token)).sort(), [...allowed].sort());
  for (const entity of refused) {
    const res = await status(w, site, [entity], token);
    assert.equal(res.status, 403, `${entity}: ${res.text}`);
    assertError(res, 403, 'not_watchable');
  }
  const sock = await openWatch(w, site, ['customer:1', 'user:42'], { token });
  await sock.next(isCount, 2000);
  await sock.next(isStatus('customer:1'), 2000);
  await sock.close();
  for (const entity of ['customers:1', 'user:1']) {
    assertError(await w.refusedLive({ site, watch: entity, token }), 403, 'not_watchable');
  }
});

test('/v1/status needs a list of 1 to 100 valid entity ids: otherwise 400 bad_request', T, async () => {
  const site = nextSite();
  // Every invalid id below starts with "n:", so the pattern would match it: only validity refuses.
  const token = watchToken(site, ['n:*']);
  const cases = {
    'no entity parameter': undefined,
    'an empty list': '',
    'an empty id at the end': 'n:1,',
    'an empty id in the middle': 'n:1,,n:2',
    'an id with a space': 'n:1 2',
    'an id with a slash': 'n:1/2',
    'an id of 129 characters': `n:${'x'.repeat(127)}`,
    '101 ids': Array.from({ length: 101 }, (_, i) => `n:${i}`).join(','),
  };
  for (const [name, list] of Object.entries(cases)) {
    const res = await status(w, site, list, token);
    assert.equal(res.status, 400, `${name}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
  const hundred = Array.from({ length: 100 }, (_, i) => `n:${i}`);
  const all = await mustStatus(w, site, hundred, token);
  for (const id of hundred) assert.deepEqual(all[id], { online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] }, id);

  for (const [name, watch] of [['an empty watch list', ''], ['an id with a space', 'n:1 2']]) {
    const res = await w.refusedLive({ site, watch, token });
    assert.equal(res.status, 400, `watching socket with ${name}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
  const unknown = await status(w, 'nope.example', ['n:1'], token);
  assertError(unknown, 403, 'unknown_site');
});

// ---------------------------------------------------------------------------------------------
// Online, offline, the grace, sessions per entity, last_seen

test('a watching socket gets the count first, then one status per watched entity, then nothing while nothing changes', T, async () => {
  const site = nextSite();
  const fields = tracked(site, 'user:1', { room: '/', session: uid('s'), visitor: uid('v') });
  const joinedWall = Date.now();
  await w.join(site, fields);

  const sock = await openWatch(w, site, ['user:1', 'user:2']);
  const first = await sock.next(() => true, 2000);
  assert.ok(isCount(first.msg), `the first message is the count: ${JSON.stringify(first.msg)}`);
  assert.deepEqual(first.msg.site, { sessions: 1, visitors: 1 });
  assert.ok(!('room' in first.msg), 'a watcher without a room gets no room count');
  const statuses = [];
  for (let i = 0; i < 2; i++) {
    const { msg, at } = await sock.next(isStatus(), 2000);
    assertWithin(at - sock.openedAt, 500, `status ${i + 1} after open`);
    assertStatusShape(msg);
    statuses.push(msg);
  }
  const byId = Object.fromEntries(statuses.map((m) => [m.entity, m]));
  assert.deepEqual(Object.keys(byId).sort(), ['user:1', 'user:2']);
  assert.equal(byId['user:1'].online, true);
  assert.equal(byId['user:1'].sessions, 1);
  assert.ok(byId['user:1'].last_seen >= joinedWall - 100 && byId['user:1'].last_seen <= Date.now() + 100, `last_seen ${byId['user:1'].last_seen} is the join (${joinedWall})`);
  assert.deepEqual(byId['user:2'], { type: 'status', entity: 'user:2', online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });

  // A heartbeat changes neither online nor sessions: no status message.
  const quiet = performance.now();
  await w.heartbeat(site, fields);
  await sleep(1000);
  assertNoStatusSince(sock, quiet, undefined, 'a heartbeat and 1 s of quiet');
  await sock.close();
});

test('a tracked join turns the entity online at once, with sessions 1 and a recent last_seen, and is counted as a session', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const { sock, first } = await watcher(site, [entity]);
  assert.deepEqual(first[entity], { type: 'status', entity, online: false, state: 'offline', sessions: 0, last_seen: null, online_since: null, info: null, signals: [] });

  const fields = tracked(site, entity, { room: '/a', session: uid('s'), visitor: uid('v') });
  const sentWall = Date.now();
  const sent = performance.now();
  const body = await w.join(site, fields);
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  const { msg, at } = await sock.next(isStatus(entity), STATUS_PROMPT_MS + 3000);
  assertWithin(at - sent, STATUS_PROMPT_MS, 'the online status after the join');
  assert.equal(msg.online, true);
  assert.equal(msg.sessions, 1);
  assert.ok(msg.last_seen >= sentWall - 100 && msg.last_seen <= Date.now() + 100, `last_seen ${msg.last_seen} vs join at ${sentWall}`);

  const s = await entityStatus(w, site, entity);
  assert.deepEqual({ ...s, last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  assert.ok(s.last_seen >= sentWall - 100, `status last_seen ${s.last_seen}`);

  // While it heartbeats, last_seen stays recent.
  const beats = w.keepAlive(site, [fields]);
  await sleep(2500);
  const later = await entityStatus(w, site, entity);
  assert.equal(later.online, true);
  assert.ok(Date.now() - later.last_seen <= w.heartbeatMs + 1000, `last_seen ${Date.now() - later.last_seen} ms ago while heartbeating every ${w.heartbeatMs} ms`);
  await beats.stop();
  assert.deepEqual(beats.errors, []);
  await w.leave(site, fields);
  await sock.close();
});

test('after its last session leaves, an entity stays online through the grace, then turns offline once, within grace + 1000 ms', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const { sock } = await watcher(site, [entity]);
  const fields = tracked(site, entity, { room: '/', session: uid('s'), visitor: uid('v') });
  const joinedWall = Date.now();
  await w.join(site, fields);
  await sock.next(isOnlineWith(entity, 1), STATUS_PROMPT_MS);

  const leaveSent = performance.now();
  const leaveWall = Date.now();
  const body = await w.leave(site, fields);
  assert.equal(body.site.sessions, 0, 'the session itself ends at once');
  await sleep(Math.max(0, grace() / 2 - (performance.now() - leaveSent)));
  const mid = await entityStatus(w, site, entity);
  assert.equal(mid.online, true, `at grace/2 after the leave: ${JSON.stringify(mid)}`);
  assertNoStatusSince(sock, leaveSent, entity, 'the watcher at grace/2 after the leave');

  const off = await expectOfflineAfterGrace(sock, entity, leaveSent, 'after a leave');
  assert.ok(off.last_seen >= joinedWall - 100 && off.last_seen <= leaveWall + 1000, `last_seen ${off.last_seen} is the last sign of life (join ${joinedWall}, leave ${leaveWall})`);
  const s = await entityStatus(w, site, entity);
  assert.deepEqual(s, { online: false, state: 'offline', sessions: 0, last_seen: off.last_seen, online_since: null, info: null, signals: [] }, '/v1/status agrees with the offline message');

  // Exactly one offline message.
  const afterOff = performance.now();
  await sleep(grace());
  assertNoStatusSince(sock, afterOff, entity, 'after the offline message');
  await sock.close();
});

test('a clean close of the last session socket turns the entity offline after the grace, not before', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const { sock: watch } = await watcher(site, [entity]);
  const openWall = Date.now();
  const live = await openTracked(site, entity);
  await watch.next(isOnlineWith(entity, 1), STATUS_PROMPT_MS);
  assert.equal((await w.count(site)).site.sessions, 1);

  const closeSent = performance.now();
  const closeWall = Date.now();
  await live.close();
  await waitFor(async () => (await w.count(site)).site.sessions === 0, { timeoutMs: 2000, intervalMs: 25, what: 'the closed socket session to stop counting' });
  const mid = await entityStatus(w, site, entity);
  assert.equal(mid.online, true, `inside the grace: ${JSON.stringify(mid)}`);
  const off = await expectOfflineAfterGrace(watch, entity, closeSent, 'after a clean close');
  assert.ok(off.last_seen >= openWall - 100 && off.last_seen <= closeWall + 1000, `last_seen ${off.last_seen} (open ${openWall}, close ${closeWall})`);
  await watch.close();
});

test('a reload inside the grace (leave, then a new session 300 ms later) emits no status at all', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const visitor = uid('v');
  const { sock } = await watcher(site, [entity]);
  const first = tracked(site, entity, { room: '/', session: uid('s'), visitor });
  await w.join(site, first);
  await sock.next(isOnlineWith(entity, 1), STATUS_PROMPT_MS);

  const leaveSent = performance.now();
  await w.leave(site, first);
  await sleep(300);
  const second = tracked(site, entity, { room: '/', session: uid('s'), visitor });
  await w.join(site, second);
  const beats = w.keepAlive(site, [second]);
  await sleep(Math.max(0, 2 * grace() - (performance.now() - leaveSent)));
  // The last message said online with 1 session, which is true again: nothing to say.
  assertNoStatusSince(sock, leaveSent, entity, `the watcher for 2 x grace (${2 * grace()} ms) after the leave`);
  const s = await entityStatus(w, site, entity);
  assert.deepEqual({ ...s, last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  await beats.stop();
  assert.deepEqual(beats.errors, []);
  await sock.close();
});

test('a socket reconnect inside the grace (close, then a new socket session 300 ms later) emits no status at all', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const visitor = uid('v');
  const { sock: watch } = await watcher(site, [entity]);
  const a = await openTracked(site, entity, { visitor });
  await watch.next(isOnlineWith(entity, 1), STATUS_PROMPT_MS);

  const closeSent = performance.now();
  await a.close();
  await sleep(300);
  const b = await openTracked(site, entity, { visitor });
  await sleep(Math.max(0, 2 * grace() - (performance.now() - closeSent)));
  assertNoStatusSince(watch, closeSent, entity, `the watcher for 2 x grace (${2 * grace()} ms) after the close`);
  const s = await entityStatus(w, site, entity);
  assert.deepEqual({ ...s, last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  await b.close();
  await watch.close();
});

test('two socket sessions of one entity are sessions 2; closing one keeps it online with sessions 1 and no offline message', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const { sock: watch } = await watcher(site, [entity]);
  const a = await openTracked(site, entity, { room: '/a' });
  const b = await openTracked(site, entity, { room: '/b' });
  await watch.next(isOnlineWith(entity, 2), STATUS_PROMPT_MS + 1000);
  const s2 = await entityStatus(w, site, entity);
  assert.deepEqual({ ...s2, last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 2, last_seen: 0, online_since: 0, info: null, signals: [] });
  assert.equal((await w.count(site)).site.sessions, 2, 'both sessions count on the site');

  const closeSent = performance.now();
  await a.close();
  const { msg, at } = await watch.next(isStatus(entity), STATUS_PROMPT_MS + 3000);
  assert.deepEqual({ ...msg, last_seen: 0, online_since: 0 }, { type: 'status', entity, online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] }, 'the next status after one close');
  assertWithin(at - closeSent, STATUS_PROMPT_MS, 'sessions 1 after one of two closes');
  await sleep(Math.max(0, 2 * grace() - (performance.now() - closeSent)));
  assertNoStatusSince(watch, at + 1, entity, 'the watcher for 2 x grace after one of two sessions closed');
  const s1 = await entityStatus(w, site, entity);
  assert.deepEqual({ ...s1, last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });

  const lastSent = performance.now();
  await b.close();
  await expectOfflineAfterGrace(watch, entity, lastSent, 'after the second close');
  await watch.close();
});

test('an HTTP session and a socket session of one entity are sessions 2; the HTTP leave keeps it online with sessions 1', T, async () => {
  const site = nextSite();
  const entity = 'customer:conv_123';
  const { sock: watch } = await watcher(site, [entity]);
  const http = tracked(site, entity, { room: '/', session: uid('s'), visitor: uid('v') });
  await w.join(site, http);
  const live = await openTracked(site, entity);
  await watch.next(isOnlineWith(entity, 2), STATUS_PROMPT_MS + 1000);
  assert.equal((await entityStatus(w, site, entity)).sessions, 2);

  const leaveSent = performance.now();
  await w.leave(site, http);
  const { msg } = await watch.next(isStatus(entity), STATUS_PROMPT_MS + 3000);
  assert.deepEqual({ ...msg, last_seen: 0, online_since: 0 }, { type: 'status', entity, online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  await sleep(Math.max(0, 2 * grace() - (performance.now() - leaveSent)));
  assert.ok(!statusesSince(watch, leaveSent, entity).some((e) => isOffline(entity)(e.msg)), `no offline message: ${watch.describe()}`);
  assert.deepEqual({ ...(await entityStatus(w, site, entity)), last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  await live.close();
  await watch.close();
});

test('one session id over HTTP and over a socket counts once for its entity too', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const session = uid('s');
  const visitor = uid('v');
  await w.join(site, tracked(site, entity, { room: '/', session, visitor }));
  const live = await openTracked(site, entity, { session, visitor });
  await live.next(isCount, 2000);
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 });
  const s = await entityStatus(w, site, entity);
  assert.deepEqual({ ...s, last_seen: 0, online_since: 0 }, { online: true, state: 'online', sessions: 1, last_seen: 0, online_since: 0, info: null, signals: [] });
  await live.close();
});

test('a socket session carrying an entity that goes silent turns the entity offline within ttl + grace + 2 s', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const { sock: watch } = await watcher(site, [entity]);
  const openStart = performance.now();
  const openWall = Date.now();
  const silent = await openTracked(site, entity, { autoPing: false });
  await watch.next(isOnlineWith(entity, 1), STATUS_PROMPT_MS);

  await sleep(Math.max(0, w.ttlMs - 1000 - (performance.now() - openStart)));
  assert.equal((await entityStatus(w, site, entity)).online, true, 'still online before its ttl ran out');

  const bound = w.ttlMs + grace() + 2000;
  const { msg, at } = await watch.next(isStatus(entity), bound + 5000);
  assert.equal(msg.online, false, `the next status is the offline one: ${JSON.stringify(msg)}`);
  assert.equal(msg.sessions, 0);
  assertWithin(at - openStart, bound, 'offline after the socket went silent');
  assert.ok(at - openStart >= w.ttlMs + grace() - OFFLINE_EARLY_MS, `offline ${Math.round(at - openStart)} ms after the last sign of life, before ttl + grace`);
  // Its last sign of life was the open, not the expiry.
  assert.ok(msg.last_seen >= openWall - 100 && msg.last_seen <= openWall + 1000, `last_seen ${msg.last_seen} is the open (${openWall}), not the expiry`);
  assert.deepEqual(await entityStatus(w, site, entity), { online: false, state: 'offline', sessions: 0, last_seen: msg.last_seen, online_since: null, info: null, signals: [] });
  silent.terminate();
  await watch.close();
});

test('an HTTP session carrying an entity that stops heartbeating turns the entity offline within ttl + grace + 2 s', T, async () => {
  const site = nextSite();
  const entity = 'user:1';
  const { sock: watch } = await watcher(site, [entity]);
  const fields = tracked(site, entity, { room: '/', session: uid('s'), visitor: uid('v') });
  await w.join(site, fields);
  await w.heartbeat(site, fields);
  const lastBeat = performance.now();
  const lastBeatWall = Date.now();

  const bound = w.ttlMs + grace() + 2000;
  const { msg, at } = await watch.next(isOffline(entity), bound + 5000);
  assertWithin(at - lastBeat, bound, 'offline after the last heartbeat');
  assert.ok(msg.last_seen >= lastBeatWall - 1000 && msg.last_seen <= lastBeatWall + 100, `last_seen ${msg.last_seen} is the last heartbeat (${lastBeatWall})`);
  await watch.close();
});

// ---------------------------------------------------------------------------------------------
// Privacy

test('entity ids never appear in /v1/count, /v1/rooms, count messages or ping answers, yet their sessions are counted', T, async () => {
  const site = nextSite();
  const marks = [randomBytes(6).toString('hex'), randomBytes(6).toString('hex')];
  const entities = [`user:zq${marks[0]}`, `customer:conv_${marks[1]}`];
  const needles = [...entities, ...marks, 'entit', 'status', 'last_seen'];
  const exposed = (text, where) => {
    for (const n of needles) assert.ok(!text.includes(n), `${where} contains "${n}": ${text}`);
  };

  const roomSub = await w.openLive({ site, room: '/r' });
  const siteSub = await w.openLive({ site });
  await roomSub.next(isCount, 2000);
  await siteSub.next(isCount, 2000);

  const fields = tracked(site, entities[0], { room: '/r', session: uid('s'), visitor: uid('v') });
  const joined = await w.ping(site, { ...fields, event: 'join' });
  assert.equal(joined.status, 200, joined.text);
  exposed(joined.text, 'the ping answer');
  const hb = await w.ping(site, { ...fields, event: 'heartbeat' });
  exposed(hb.text, 'the heartbeat answer');
  const live = await openTracked(site, entities[1], { room: '/r' });
  const { msg: own } = await live.next(isCount, 2000);
  exposed(JSON.stringify(own), 'the count message of the entity socket itself');

  await roomSub.next(siteSessions(2), w.intervalMs + 2000);
  await siteSub.next(siteSessions(2), w.intervalMs + 2000);
  const count = await w.request(`/v1/count?site=${site}&room=${encodeURIComponent('/r')}`);
  assert.equal(count.status, 200);
  exposed(count.text, 'GET /v1/count');
  assert.deepEqual(count.body.room, { room: '/r', sessions: 2, visitors: 2 }, 'entity sessions are counted');
  const rooms = await w.request(`/v1/rooms?site=${site}`);
  assert.equal(rooms.status, 200);
  exposed(rooms.text, 'GET /v1/rooms');
  assert.deepEqual(rooms.body.rooms, [{ room: '/r', sessions: 2, visitors: 2 }]);

  // A watcher's own count message is the public one too.
  const { sock: watch } = await watcher(site, entities);
  exposed(JSON.stringify(watch.received.find((e) => isCount(e.msg)).msg), 'the count message of a watcher');

  const left = await w.ping(site, { ...fields, event: 'leave' });
  exposed(left.text, 'the leave answer');
  await live.close();
  await roomSub.next(siteSessions(0), w.intervalMs + 2000);
  for (const sub of [roomSub, siteSub, live]) {
    for (const { msg } of sub.received) exposed(typeof msg === 'string' ? msg : JSON.stringify(msg), 'a count message');
  }
  await roomSub.close();
  await siteSub.close();
  await watch.close();
});
