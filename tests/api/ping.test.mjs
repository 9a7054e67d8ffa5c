// POST /v1/ping, GET /v1/count and GET /v1/rooms: what is counted, and how.
// TTL is long here (60 s) so that nothing expires while a test runs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALLOWED_ORIGIN, LOCKED_SITE, startWorker, uid } from '../kit/harness.mjs';

let w;
before(async () => {
  w = await startWorker({
    vars: { PRESENCE_HEARTBEAT_SECONDS: '20', PRESENCE_TTL_SECONDS: '60' },
  });
});
after(() => w?.stop());

const T = { timeout: 30_000 };

test('a join answers 200 with site and room counts that include the pinging session', T, async () => {
  const site = w.site();
  const body = await w.join(site, { room: '/pricing', session: uid('s'), visitor: uid('v') });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(body.room, { room: '/pricing', sessions: 1, visitors: 1 });
});

test('heartbeat_ms and ttl_ms in the ping answer reflect the configured vars', T, async () => {
  const site = w.site();
  const body = await w.join(site, { session: uid('s') });
  assert.equal(body.heartbeat_ms, 20_000);
  assert.equal(body.ttl_ms, 60_000);
});

test('room defaults to "/"', T, async () => {
  const site = w.site();
  const body = await w.join(site, { session: uid('s'), visitor: uid('v') });
  assert.deepEqual(body.room, { room: '/', sessions: 1, visitors: 1 });
  const c = await w.count(site, '/');
  assert.deepEqual(c.room, { room: '/', sessions: 1, visitors: 1 });
});

test('GET /v1/count gives the site counts, and the room only when asked', T, async () => {
  const site = w.site();
  await w.join(site, { room: '/a', session: uid('s'), visitor: uid('v') });
  await w.join(site, { room: '/b', session: uid('s'), visitor: uid('v') });

  const siteOnly = await w.count(site);
  assert.deepEqual(siteOnly.site, { sessions: 2, visitors: 2 });
  assert.ok(!('room' in siteOnly), `no "room" without ?room: ${JSON.stringify(siteOnly)}`);

  const withRoom = await w.count(site, '/a');
  assert.deepEqual(withRoom.site, { sessions: 2, visitors: 2 });
  assert.deepEqual(withRoom.room, { room: '/a', sessions: 1, visitors: 1 });

  const empty = await w.count(site, '/nobody-here');
  assert.deepEqual(empty.room, { room: '/nobody-here', sessions: 0, visitors: 0 });
});

test('a site nobody pinged counts zero', T, async () => {
  const site = w.site();
  const c = await w.count(site, '/');
  assert.deepEqual(c.site, { sessions: 0, visitors: 0 });
  assert.deepEqual(c.room, { room: '/', sessions: 0, visitors: 0 });
});

test('two sessions of one visitor count as 2 sessions and 1 visitor', T, async () => {
  const site = w.site();
  const visitor = uid('v');
  await w.join(site, { room: '/', session: uid('s'), visitor });
  const body = await w.join(site, { room: '/', session: uid('s'), visitor });
  assert.deepEqual(body.site, { sessions: 2, visitors: 1 });
  assert.deepEqual(body.room, { room: '/', sessions: 2, visitors: 1 });
  assert.deepEqual((await w.count(site)).site, { sessions: 2, visitors: 1 });
});

test('a session without a visitor counts as its own visitor', T, async () => {
  const site = w.site();
  const visitor = uid('v');
  await w.join(site, { session: uid('s') });
  await w.join(site, { session: uid('s') });
  await w.join(site, { session: uid('s'), visitor });
  const body = await w.join(site, { session: uid('s'), visitor });
  assert.deepEqual(body.site, { sessions: 4, visitors: 3 });
});

test('the same join twice counts once', T, async () => {
  const site = w.site();
  const fields = { room: '/x', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const body = await w.join(site, fields);
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(body.room, { room: '/x', sessions: 1, visitors: 1 });
});

test('a heartbeat for an unknown session is a join', T, async () => {
  const site = w.site();
  const body = await w.heartbeat(site, { room: '/h', session: uid('s'), visitor: uid('v') });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(body.room, { room: '/h', sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site, '/h')).room, { room: '/h', sessions: 1, visitors: 1 });
});

test('a heartbeat of a known session changes no count', T, async () => {
  const site = w.site();
  const fields = { room: '/h', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const body = await w.heartbeat(site, fields);
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(body.room, { room: '/h', sessions: 1, visitors: 1 });
});

test('a heartbeat with another room moves the session', T, async () => {
  const site = w.site();
  const session = uid('s');
  const visitor = uid('v');
  await w.join(site, { room: '/from', session, visitor });
  const body = await w.heartbeat(site, { room: '/to', session, visitor });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(body.room, { room: '/to', sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site, '/from')).room, { room: '/from', sessions: 0, visitors: 0 });
  assert.deepEqual((await w.count(site, '/to')).room, { room: '/to', sessions: 1, visitors: 1 });
});

test('a join with another room moves the session too, it does not add one', T, async () => {
  const site = w.site();
  const session = uid('s');
  await w.join(site, { room: '/one', session });
  const body = await w.join(site, { room: '/two', session });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site, '/one')).room, { room: '/one', sessions: 0, visitors: 0 });
});

test('a leave removes the session at once', T, async () => {
  const site = w.site();
  const fields = { room: '/bye', session: uid('s'), visitor: uid('v') };
  await w.join(site, { room: '/bye', session: uid('s'), visitor: uid('v') });
  await w.join(site, fields);
  const body = await w.leave(site, fields);
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual(body.room, { room: '/bye', sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site, '/bye')).room, { room: '/bye', sessions: 1, visitors: 1 });
});

test('a leave keeps the visitor while another of its sessions lives', T, async () => {
  const site = w.site();
  const visitor = uid('v');
  const first = { session: uid('s'), visitor };
  await w.join(site, first);
  await w.join(site, { session: uid('s'), visitor });
  const body = await w.leave(site, first);
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
});

test('a leave for an unknown session changes nothing', T, async () => {
  const site = w.site();
  await w.join(site, { room: '/', session: uid('s'), visitor: uid('v') });
  const body = await w.leave(site, { room: '/', session: uid('s'), visitor: uid('v') });
  assert.deepEqual(body.site, { sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 });
});

test('sites are separate: a session on one site is not counted on another', T, async () => {
  const a = w.site();
  const b = w.site();
  await w.join(a, { session: uid('s') });
  assert.deepEqual((await w.count(a)).site, { sessions: 1, visitors: 1 });
  assert.deepEqual((await w.count(b)).site, { sessions: 0, visitors: 0 });
});

test('rooms and ids at the edges of the allowed lengths are accepted', T, async () => {
  const site = w.site();
  const room = `/${'r'.repeat(255)}`; // 256 characters
  const body = await w.join(site, { room, session: 'a'.repeat(8), visitor: 'B'.repeat(64) });
  assert.deepEqual(body.room, { room, sessions: 1, visitors: 1 });
  const unicode = await w.join(site, { room: 'product:123/ünï cödé ✓', session: `s-_${'9'.repeat(61)}` });
  assert.equal(unicode.room.room, 'product:123/ünï cödé ✓');
  assert.deepEqual(unicode.site, { sessions: 2, visitors: 2 });
});

test('a body sent as text/plain (navigator.sendBeacon) is accepted', T, async () => {
  const site = w.site();
  const res = await w.request('/v1/ping', {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body: JSON.stringify({ site, room: '/beacon', session: uid('s'), event: 'join' }),
  });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body.room, { room: '/beacon', sessions: 1, visitors: 1 });
});

test('application/json with a charset is accepted', T, async () => {
  const site = w.site();
  const res = await w.request('/v1/ping', {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ site, session: uid('s'), event: 'join' }),
  });
  assert.equal(res.status, 200, res.text);
});

test('GET /v1/rooms lists rooms busiest first with their counts', T, async () => {
  const site = w.site();
  const shared = uid('v');
  for (let i = 0; i < 3; i++) await w.join(site, { room: '/three', session: uid('s'), visitor: shared });
  for (let i = 0; i < 1; i++) await w.join(site, { room: '/one', session: uid('s') });
  for (let i = 0; i < 2; i++) await w.join(site, { room: '/two', session: uid('s') });

  const body = await w.rooms(site);
  assert.deepEqual(body.site, { sessions: 6, visitors: 4 });
  assert.deepEqual(body.rooms, [
    { room: '/three', sessions: 3, visitors: 1 },
    { room: '/two', sessions: 2, visitors: 2 },
    { room: '/one', sessions: 1, visitors: 1 },
  ]);
});

test('GET /v1/rooms returns at most limit rooms, 20 by default, and clamps large limits', T, async () => {
  const site = w.site();
  // Room i has i+1 sessions for the first three rooms, so the top of the list is known.
  const rooms = Array.from({ length: 25 }, (_, i) => `/room-${String(i).padStart(2, '0')}`);
  for (const room of rooms) await w.join(site, { room, session: uid('s') });
  await w.join(site, { room: '/room-00', session: uid('s') });
  await w.join(site, { room: '/room-00', session: uid('s') });
  await w.join(site, { room: '/room-01', session: uid('s') });

  const byDefault = await w.rooms(site);
  assert.equal(byDefault.rooms.length, 20);
  assert.deepEqual(byDefault.site, { sessions: 28, visitors: 28 });
  assert.deepEqual(byDefault.rooms[0], { room: '/room-00', sessions: 3, visitors: 3 });
  assert.deepEqual(byDefault.rooms[1], { room: '/room-01', sessions: 2, visitors: 2 });

  const two = await w.rooms(site, 2);
  assert.deepEqual(two.rooms.map((r) => r.room), ['/room-00', '/room-01']);

  const one = await w.rooms(site, 1);
  assert.equal(one.rooms.length, 1);

  const huge = await w.rooms(site, 1_000_000);
  assert.equal(huge.rooms.length, 25);
  assert.deepEqual(new Set(huge.rooms.map((r) => r.room)), new Set(rooms));

  const res = await w.request(`/v1/rooms?site=${site}&limit=99999999999999999999`);
  assert.equal(res.status, 200, `limit=99999999999999999999: ${res.text}`);
  assert.equal(res.body.rooms.length, 25);
});

test('GET /v1/rooms leaves out rooms that emptied', T, async () => {
  const site = w.site();
  const gone = { room: '/gone', session: uid('s') };
  await w.join(site, gone);
  await w.join(site, { room: '/stays', session: uid('s') });
  await w.leave(site, gone);
  const body = await w.rooms(site);
  assert.deepEqual(body.rooms, [{ room: '/stays', sessions: 1, visitors: 1 }]);
});

test('GET /v1/rooms of a site nobody pinged is empty', T, async () => {
  const site = w.site();
  const body = await w.rooms(site);
  assert.deepEqual(body.site, { sessions: 0, visitors: 0 });
  assert.deepEqual(body.rooms, []);
});

// The Worker answers a ping whose length is declared (what browsers and sendBeacon send) as a
// chain of the runtime's promises, and one streamed without a Content-Length on its general
// way: the same steps, so the same answers, headers included.
test('a ping is answered alike with its length declared and streamed without one', T, async () => {
  const send = (body, streamed, origin) =>
    w.request('/v1/ping', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
      ...(streamed
        ? { body: new Blob([body]).stream(), duplex: 'half' }
        : { body }),
    });
  const headers = (res) => ['content-type', 'cache-control', 'vary', 'access-control-allow-origin'].map((h) => res.headers.get(h));
  const site = w.site();
  const [s, v] = [uid('s'), uid('v')];
  const cases = [
    // a session joins each way, in a room of its own: the answers carry the same counts
    [(n) => ({ site, room: `/both-${n}`, session: `${s}${n}`, visitor: v, event: 'join' }), 'https://a.example', 200],
    [() => ({ site, session: 'not ok!', event: 'join' }), undefined, 400],
    [() => ({ site: LOCKED_SITE, session: uid('s'), event: 'join' }), 'https://other.example', 403],
    [(n) => ({ site: LOCKED_SITE, room: `/${s}-${n}`, session: `${s}L${n}`, event: 'heartbeat' }), ALLOWED_ORIGIN, 200],
  ];
  for (const [make, origin, status] of cases) {
    const declared = await send(JSON.stringify(make(1)), false, origin);
    const streamed = await send(JSON.stringify(make(2)), true, origin);
    assert.equal(declared.status, status, declared.text);
    assert.equal(streamed.status, status, streamed.text);
    assert.deepEqual(headers(streamed), headers(declared));
    if (status === 200) {
      assert.deepEqual(Object.keys(streamed.body).sort(), Object.keys(declared.body).sort());
      assert.equal(streamed.body.room.sessions, declared.body.room.sessions);
    } else {
      assert.deepEqual(streamed.body, declared.body);
    }
  }
});
