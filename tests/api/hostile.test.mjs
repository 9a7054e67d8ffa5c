// Hostile clients, against the real Worker in workerd with real sockets: what one client address
// (CF-Connecting-IP, as Cloudflare sets it; an IPv6 address by its /64) can do to the counts, to
// other visitors and to the bill is bounded, what it is refused changes nothing, and the honest
// visitors at other addresses are unaffected. Each attack of the contract's "Hostile clients"
// and "Tokens on open sockets" sections, with what the attacker gets before and after.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertError, isCount, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';
import { SECRET, SECRET_ENV, isStatus, signJwt } from '../kit/entities-kit.mjs';

const PER_ADDRESS_SESSIONS = 5;
const PER_ADDRESS_SOCKETS = 4;
const MAX_ROOMS = 5;
const LEEWAY_S = 30;

let w;
let sharded;

const sites = () =>
  JSON.stringify({
    h1: { origins: ['*'] },
    h2: { origins: ['*'] },
    h3: { origins: ['*'] },
    h4: { origins: ['*'] },
    h5: { origins: ['*'] },
    h6: { origins: ['*'] },
    ent: { origins: ['*'], secret_env: SECRET_ENV },
    ent2: { origins: ['*'], secret_env: SECRET_ENV },
    big: { origins: ['*'], shards: 4 },
    ready: { origins: ['*'] },
    forge: { origins: ['https://good.example'] },
    forged: { origins: ['*'] },
  });

const vars = {
  SITES: sites(),
  [SECRET_ENV]: SECRET,
  MAX_SESSIONS_PER_ADDRESS: String(PER_ADDRESS_SESSIONS),
  MAX_SOCKETS_PER_ADDRESS: String(PER_ADDRESS_SOCKETS),
  MAX_ROOMS: String(MAX_ROOMS),
  LEAVE_GRACE_MS: '300',
  HERENOW_TEST_HOOKS: 'true',
};

before(async () => {
  [w, sharded] = await Promise.all([startWorker({ vars }), startWorker({ vars })]);
});

after(async () => {
  await w?.stop();
  await sharded?.stop();
});

const from = (ip) => ({ headers: { 'cf-connecting-ip': ip } });
const join = (worker, site, ip, fields = {}) =>
  worker.ping(site, { session: uid('s'), visitor: uid('v'), event: 'join', ...fields }, from(ip));

test('one address adds at most MAX_SESSIONS_PER_ADDRESS sessions; more are 429 too_many_from_address and count nothing; other addresses are counted', async () => {
  const answers = [];
  for (let i = 0; i < PER_ADDRESS_SESSIONS + 5; i++) answers.push(await join(w, 'h1', '198.51.100.7', { room: '/a' }));
  const accepted = answers.filter((r) => r.status === 200);
  assert.equal(accepted.length, PER_ADDRESS_SESSIONS);
  for (const r of answers.filter((r) => r.status !== 200)) assertError(r, 429, 'too_many_from_address');
  assert.equal((await w.count('h1')).site.sessions, PER_ADDRESS_SESSIONS, 'the refused joins counted nothing');
  // ten other addresses: each counted (the site is far below its own ceiling)
  for (let i = 1; i <= 10; i++) assert.equal((await join(w, 'h1', `203.0.113.${i}`, { room: '/a' })).status, 200);
  assert.equal((await w.count('h1')).site.sessions, PER_ADDRESS_SESSIONS + 10);
  console.log(`# hostile: one address joined ${answers.length} times: ${accepted.length} counted, ${answers.length - accepted.length} refused 429`);
});

test('an IPv6 /64 is one address: two addresses of one /64 share the ceiling, another /64 has its own', async () => {
  let accepted = 0;
  for (let i = 0; i < PER_ADDRESS_SESSIONS + 4; i++) {
    const ip = `2001:db8:7:1::${(i + 1).toString(16)}`; // every one another address of the /64
    if ((await join(w, 'h2', ip)).status === 200) accepted += 1;
  }
  assert.equal(accepted, PER_ADDRESS_SESSIONS, 'one /64, one ceiling');
  assert.equal((await join(w, 'h2', '2001:db8:7:2::1')).status, 200, 'the next /64 is another address');
  assert.equal((await w.count('h2')).site.sessions, PER_ADDRESS_SESSIONS + 1);
});

test('one address holds at most MAX_SOCKETS_PER_ADDRESS sockets; the next upgrade is 429; other addresses connect', async () => {
  const attacker = from('198.51.100.20');
  const held = [];
  for (let i = 0; i < PER_ADDRESS_SOCKETS; i++) held.push(await w.openLive({ site: 'h3' }, attacker));
  const refused = await w.refusedLive({ site: 'h3' }, attacker);
  assertError(refused, 429, 'too_many_from_address');
  const refusedSession = await w.refusedLive({ site: 'h3', session: uid('s'), visitor: uid('v') }, attacker);
  assertError(refusedSession, 429, 'too_many_from_address');
  const honest = await w.openLive({ site: 'h3', session: uid('s'), visitor: uid('v') }, from('203.0.113.50'));
  await honest.next((m) => isCount(m) && m.site.sessions === 1, 3_000);
  // one closes: the address may open one again
  await held.pop().close();
  await waitFor(async () => (await w.openLive({ site: 'h3' }, attacker).then((s) => held.push(s), () => null)) !== null, { timeoutMs: 3_000, what: 'a place for the address again' });
  for (const s of held) s.terminate();
  honest.terminate();
});

test('on a sharded site an address is one object: its ceiling holds for the site, however it names its visitors', async () => {
  let accepted = 0;
  for (let i = 0; i < PER_ADDRESS_SESSIONS + 11; i++) {
    // visitor ids chosen to spread over the objects: placement follows the address instead
    if ((await join(sharded, 'big', '198.51.100.30', { visitor: `v_spread_${i}` })).status === 200) accepted += 1;
  }
  assert.equal(accepted, PER_ADDRESS_SESSIONS);
  for (let i = 1; i <= 8; i++) assert.equal((await join(sharded, 'big', `203.0.113.${100 + i}`)).status, 200);
  await waitFor(async () => (await sharded.count('big')).site.sessions === PER_ADDRESS_SESSIONS + 8, { timeoutMs: 3_000, what: 'the totals over the shards' });
});

test('rooms made up by one address cannot fold a room with visitors from more addresses into ~other', async () => {
  for (const [worker, site] of [[w, 'h4'], [sharded, 'big']]) {
    // the attack: sockets of one address, each a session in a made-up room, kept alive
    const junk = [];
    for (let i = 0; i < PER_ADDRESS_SOCKETS; i++) junk.push(await worker.openLive({ site, room: `/junk/${i}`, session: uid('s'), visitor: uid('v') }, from('198.51.100.40')));
    for (let i = PER_ADDRESS_SOCKETS; i < MAX_ROOMS + 3; i++) await join(worker, site, `198.51.100.${41 + i}`, { room: `/junk/${i}` });
    // a real room: two visitors at two other addresses
    await join(worker, site, '203.0.113.201', { room: '/real' });
    await join(worker, site, '203.0.113.202', { room: '/real' });
    const { value: real } = await waitFor(async () => {
      const c = (await worker.count(site, '/real')).room;
      return c.sessions === 2 ? c : null;
    }, { timeoutMs: 5_000, what: `${site}: /real counted under its name` });
    assert.deepEqual(real, { room: '/real', sessions: 2, visitors: 2 });
    const rooms = await worker.rooms(site, 1000);
    assert.ok(rooms.rooms.some((r) => r.room === '/real' && r.sessions === 2), JSON.stringify(rooms));
    assert.ok(rooms.rooms.filter((r) => r.room !== '~other').length <= MAX_ROOMS, 'at most MAX_ROOMS named');
    for (const s of junk) s.terminate();
  }
});

test('a socket that sends more than 20 texts in 10 s is closed 1008 too_many_messages; other sockets and counts are unaffected', async () => {
  const honest = await w.openLive({ site: 'h5', session: uid('s'), visitor: uid('v') }, from('203.0.113.60'));
  await honest.next((m) => isCount(m) && m.site.sessions === 1, 3_000);
  const flood = await w.openLive({ site: 'h5', session: uid('s'), visitor: uid('v') }, from('198.51.100.60'));
  await honest.next((m) => isCount(m) && m.site.sessions === 2, 3_000);
  for (let i = 0; i < 2_000 && flood.isOpen; i++) flood.send(i % 2 ? 'away' : 'back');
  const { code, reason } = await flood.closed;
  assert.equal(code, 1008);
  assert.equal(reason, 'too_many_messages');
  await honest.next((m) => isCount(m) && m.site.sessions === 1, 3_000);
  assert.ok(honest.isOpen, 'the honest socket stays');
  const t0 = performance.now();
  await w.count('h5');
  console.log(`# hostile: a flood socket closed 1008; a count read after it took ${Math.round(performance.now() - t0)} ms`);
  honest.terminate();
});

test('a flood of /v1/count reads from one address reaches the object about once a second', async () => {
  await join(w, 'h6', '203.0.113.70');
  // raw requests, 64 at a time (the harness's request checks each answer against the document:
  // too slow for a flood); each answer still must be a 200
  const one = async () => {
    const res = await fetch(`${w.base}/v1/count?site=h6`, from('198.51.100.70'));
    await res.arrayBuffer();
    assert.equal(res.status, 200);
  };
  const flood = async (ms) => {
    const started = performance.now();
    let reads = 0;
    while (performance.now() - started < ms) {
      await Promise.all(Array.from({ length: 64 }, one));
      reads += 64;
      await sleep(Math.max(0, reads - (performance.now() - started)));
    }
    return { reads, seconds: (performance.now() - started) / 1000 };
  };
  const objectReads = async () => (await w.request('/v1/_test/memory?site=h6')).body.count_reads;
  // the first second: the reads before the flood is seen, and those already on their way
  const first = await objectReads();
  await flood(1_000);
  const before = await objectReads();
  const { reads, seconds } = await flood(4_000);
  const reached = (await objectReads()) - before;
  console.log(`# hostile: ${before - first} reads reached the object in the flood's first second; then ${reads} reads in ${seconds.toFixed(1)} s (${Math.round(reads / seconds)}/s), ${reached} reached the object (${(reached / seconds).toFixed(2)}/s)`);
  // the Worker serves copies once a key is read more than 50 times a second in an isolate: the
  // flood must pass that for the test to say anything (this machine's driver and runtime reach
  // 130-1,000 a second, depending on the load)
  assert.ok(reads / seconds >= 100, `the flood ran (${Math.round(reads / seconds)}/s)`);
  // a copy lives 1 s and is renewed by one read once it is 800 ms old: 1.25 a second, and one
  // more when a renewal came late
  assert.ok(reached <= Math.ceil(seconds * 1.25) + 2, `${reached} reads reached the object in ${seconds.toFixed(1)} s`);
  // the answers stay right: the first session ended in the flood (the test's ttl is 3 s, the
  // flood 5 s), and a new join shows within a copy's life
  await waitFor(async () => (await w.count('h6')).site.sessions === 0, { timeoutMs: 1_500, what: 'the first session gone' });
  const joined = performance.now();
  await join(w, 'h6', '203.0.113.71');
  await waitFor(async () => (await w.count('h6')).site.sessions === 1, { timeoutMs: 1_500, what: 'the new count' });
  console.log(`# hostile: a join during the flood's copies showed in ${Math.round(performance.now() - joined)} ms`);
});

test('private reads are rate-limited per address: /v1/rooms past the limit is 429 rate_limited', { timeout: 60_000 }, async () => {
  // The local rate limiter (Miniflare's) counts in windows of the wall clock's minutes: 620 reads
  // split by a minute's turn would stay under 600 in each. Start with 20 s of the minute left.
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await sleep(left + 200);
  const answers = [];
  for (let i = 0; i < 620; i += 20) {
    answers.push(...(await Promise.all(Array.from({ length: 20 }, () => w.request('/v1/rooms?site=h6', from('198.51.100.80'))))));
  }
  const limited = answers.filter((r) => r.status === 429);
  assert.ok(limited.length >= 15, `${limited.length} of ${answers.length} refused`);
  for (const r of limited) assertError(r, 429, 'rate_limited');
  assert.equal((await w.request('/v1/rooms?site=h6', from('203.0.113.80'))).status, 200, 'another address reads');
});

// ---- tokens on open sockets ----

const nowS = () => Math.floor(Date.now() / 1000);
/** Token claims whose rights end `inS` seconds from now (exp in the past, inside the leeway). */
const endsIn = (inS) => nowS() - LEEWAY_S + inS;
const watchToken = (exp, extra = {}) => signJwt({ site: 'ent', sub: 'agent:1', scope: 'watch', watch: ['user:*'], rooms: ['/docs'], exp, ...extra });
const trackToken = (entity, exp, site = 'ent') => signJwt({ site, sub: entity, scope: 'track', exp });

test('a watch, members or tracked socket closes 4001 token_expired within 2 s of exp + leeway; a renewed one does not; a bad renewal changes nothing', { timeout: 60_000 }, async () => {
  const entity = `user:${uid('e')}`;
  const watcher = await w.openLive({ site: 'ent', watch: entity, token: watchToken(endsIn(4)) }, from('203.0.113.90'));
  const members = await w.openLive({ site: 'ent', members: '/docs', token: watchToken(endsIn(4)) }, from('203.0.113.90'));
  const session = uid('s');
  const tracked = await w.openLive({ site: 'ent', room: '/docs', session, visitor: uid('v'), entity, token: trackToken(entity, endsIn(4)) }, from('203.0.113.91'));
  const renewed = await w.openLive({ site: 'ent', watch: entity, token: watchToken(endsIn(4)) }, from('203.0.113.92'));
  const rightsEnd = Date.now() + 4_000;
  await watcher.next(isStatus(entity), 3_000);
  await renewed.next((m) => isStatus(entity)(m) && m.online, 3_000);
  // refused renewals: another sub, an earlier exp, garbage: an error message, nothing else
  for (const bad of [watchToken(endsIn(60), { sub: 'agent:2' }), watchToken(endsIn(1)), 'not.a.jwt']) {
    renewed.send(`token ${bad}`);
    const { msg } = await renewed.next((m) => m.type === 'error', 3_000);
    assert.equal(msg.error.code, 'bad_token');
  }
  renewed.send(`token ${watchToken(endsIn(120))}`);
  for (const s of [watcher, members, tracked]) {
    const at = await s.whenNotOpen(8_000);
    const { code, reason } = await s.closed;
    assert.deepEqual([code, reason], [4001, 'token_expired']);
    const late = Date.now() - (performance.now() - at) - rightsEnd;
    assert.ok(late <= 2_000, `closed ${late} ms after exp + leeway`);
  }
  // the tracked session ended as with a clean close: its entity goes offline after the grace
  await renewed.next((m) => isStatus(entity)(m) && m.online === false, 3_000);
  await sleep(1_000);
  assert.ok(renewed.isOpen, 'the renewed socket is open past the old exp + leeway');
  renewed.terminate();
});

test('a ping without its track token on a session that carries an entity is 401 and changes nothing', async () => {
  const entity = `user:${uid('e')}`;
  const session = uid('s');
  const visitor = uid('v');
  const token = trackToken(entity, nowS() + 600, 'ent2');
  await w.mustPing('ent2', { room: '/docs', session, visitor, event: 'join', entity, token }, from('203.0.113.95'));
  for (const event of ['heartbeat', 'leave', 'away', 'join']) {
    const res = await w.ping('ent2', { room: '/elsewhere', session, visitor, event }, from('198.51.100.95'));
    assertError(res, 401, 'bad_token');
    const other = await w.ping('ent2', { room: '/elsewhere', session, visitor, event, entity: 'user:evil', token: trackToken('user:evil', nowS() + 600, 'ent2') }, from('198.51.100.95'));
    assertError(other, 401, 'bad_token');
  }
  assert.deepEqual((await w.count('ent2', '/docs')).room, { room: '/docs', sessions: 1, visitors: 1 }, 'not moved, not ended');
  assert.equal((await w.count('ent2', '/elsewhere')).room.sessions, 0);
  const refused = await w.refusedLive({ site: 'ent2', session, visitor, room: '/elsewhere' }, from('198.51.100.95'));
  assertError(refused, 401, 'bad_token');
  await w.mustPing('ent2', { room: '/docs', session, visitor, event: 'leave', entity, token }, from('203.0.113.95'));
  assert.equal((await w.count('ent2', '/docs')).room.sessions, 0, 'with its token, it leaves');
});

test('the headers the Worker sets on its own call to an object (herenow-call, herenow-shard-call, herenow-origin), sent by a client, change nothing', async () => {
  // a call for another site, as the Worker would carry it (its placement, then base64url JSON)
  const forgedCall = (site) =>
    `0/1.${Buffer.from(JSON.stringify({ ping: { site, session: uid('s'), visitor: uid('v'), event: 'join', room: '/' } })).toString('base64url')}`;
  const forgery = {
    'herenow-call': forgedCall('forged'),
    'herenow-shard-call': forgedCall('forged'),
    'herenow-origin': 'https://evil.example',
  };
  const session = { session: uid('s'), visitor: uid('v'), event: 'join' };
  const res = await w.ping('forge', session, { headers: { origin: 'https://good.example', ...forgery } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://good.example');
  // without an Origin of its own, the forged one is not echoed either
  const bare = await w.ping('forge', { session: uid('s'), visitor: uid('v'), event: 'join' }, { headers: forgery });
  assert.equal(bare.status, 200, bare.text);
  assert.equal(bare.headers.get('access-control-allow-origin'), null);
  // a read with the forged headers answers its own site
  const read = await w.request('/v1/count?site=forge', { headers: forgery });
  assert.equal(read.status, 200, read.text);
  assert.equal(read.body.site.sessions, 2, 'the two real joins, counted once each');
  assert.equal((await w.count('forged')).site.sessions, 0, 'the forged calls reached no object');
});
