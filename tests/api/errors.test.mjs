// Rejected requests: every error has the contract's status, code and JSON shape, and a rejected
// request changes no count. Also CORS, bots and the rate limit.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import {
  ALLOWED_ORIGIN,
  LOCKED_SITE,
  RATE_LIMIT_SITE,
  assertError,
  sleep,
  startWorker,
  uid,
} from '../kit/harness.mjs';

let w;
before(async () => {
  w = await startWorker({
    // the rate limit test joins 700 sessions from one client: past the per-address ceiling
    // (64 by default), which has tests of its own (hostile.test.mjs)
    vars: { PRESENCE_HEARTBEAT_SECONDS: '20', PRESENCE_TTL_SECONDS: '60', MAX_SESSIONS_PER_ADDRESS: '100000' },
  });
});
after(() => w?.stop());

const T = { timeout: 30_000 };
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const HEADLESS_CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36';
const BINGBOT = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';
const AHREFSBOT = 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

/** A site with one live session in room "/", to check that rejected requests change nothing. */
async function siteWithOneSession() {
  const site = w.site();
  await w.join(site, { room: '/', session: uid('s'), visitor: uid('v') });
  return site;
}

async function assertUnchanged(site, room = '/') {
  const c = await w.count(site, room);
  assert.deepEqual(c.site, { sessions: 1, visitors: 1 }, `site ${site} count changed`);
  assert.deepEqual(c.room, { room, sessions: 1, visitors: 1 }, `site ${site} room count changed`);
}

function postRaw(body, headers = { 'content-type': 'application/json' }) {
  return w.request('/v1/ping', { method: 'POST', headers, body });
}

/** A body the Worker refuses unread (413): on a connection of its own (see the harness). */
function postTooLarge(body, headers = { 'content-type': 'application/json' }) {
  return w.requestOnOwnConnection('/v1/ping', { method: 'POST', headers, body });
}

test('malformed or non-object JSON bodies are 400 bad_request and change no count', T, async () => {
  const site = await siteWithOneSession();
  const bodies = ['', '{', `{"site":"${site}",`, 'not json', '[]', 'null', '"join"', '42', `[{"site":"${site}"}]`];
  for (const body of bodies) {
    const res = await postRaw(body);
    assertError(res, 400, 'bad_request');
  }
  await assertUnchanged(site);
});

test('missing or invalid ping fields are 400 bad_request and change no count', T, async () => {
  const site = await siteWithOneSession();
  const ok = () => ({ site, room: '/', session: uid('s'), visitor: uid('v'), event: 'join' });
  const cases = {
    'no site': { ...ok(), site: undefined },
    'no session': { ...ok(), session: undefined },
    'no event': { ...ok(), event: undefined },
    'site with a space': { ...ok(), site: 'bad site' },
    'site with a slash': { ...ok(), site: 'a/b' },
    'empty site': { ...ok(), site: '' },
    'site of 65 chars': { ...ok(), site: 'a'.repeat(65) },
    'empty room': { ...ok(), room: '' },
    'room of 257 chars': { ...ok(), room: `/${'r'.repeat(256)}` },
    'room with a newline': { ...ok(), room: '/a\nb' },
    'room with a NUL': { ...ok(), room: '/a\u0000b' },
    'room with DEL': { ...ok(), room: '/a\u007fb' },
    'room with a tab': { ...ok(), room: '/a\tb' },
    'session of 7 chars': { ...ok(), session: 's234567' },
    'session of 65 chars': { ...ok(), session: 's'.repeat(65) },
    'session with a dot': { ...ok(), session: 's_1234.5678' },
    'session with a space': { ...ok(), session: 's_1234 5678' },
    'visitor of 7 chars': { ...ok(), visitor: 'v234567' },
    'visitor of 65 chars': { ...ok(), visitor: 'v'.repeat(65) },
    'visitor with a colon': { ...ok(), visitor: 'v_1234:5678' },
    'unknown event': { ...ok(), event: 'bogus' },
    'event in capitals': { ...ok(), event: 'JOIN' },
    'site is a number': { ...ok(), site: 123 },
    'room is a number': { ...ok(), room: 5 },
    'session is a number': { ...ok(), session: 12345678 },
    'visitor is a boolean': { ...ok(), visitor: true },
    'event is a number': { ...ok(), event: 1 },
    'event is an array': { ...ok(), event: ['join'] },
  };
  for (const [name, fields] of Object.entries(cases)) {
    const res = await postRaw(JSON.stringify(fields));
    assert.equal(res.status, 400, `${name}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
  await assertUnchanged(site);
});

test('a ping with another content type is 400 bad_request and changes no count', T, async () => {
  const site = await siteWithOneSession();
  const body = JSON.stringify({ site, session: uid('s'), event: 'join' });
  for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/html']) {
    const res = await postRaw(body, { 'content-type': type });
    assert.equal(res.status, 400, `${type}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
  await assertUnchanged(site);
});

test('a ping body over 1 KiB is 413 too_large and changes no count; exactly 1 KiB is accepted', T, async () => {
  const site = await siteWithOneSession();
  const pad = (fields, size) => {
    const json = JSON.stringify(fields);
    return json.slice(0, -1) + ' '.repeat(size - json.length) + '}';
  };
  const tooBig = pad({ site, session: uid('s'), event: 'join' }, 1025);
  assert.equal(Buffer.byteLength(tooBig), 1025);
  assertError(await postTooLarge(tooBig), 413, 'too_large');
  assertError(await postTooLarge(pad({ site, session: uid('s'), event: 'join' }, 100_000)), 413, 'too_large');
  await assertUnchanged(site);

  const exact = pad({ site, room: '/', session: uid('s'), event: 'join' }, 1024);
  assert.equal(Buffer.byteLength(exact), 1024);
  const res = await postRaw(exact);
  assert.equal(res.status, 200, `a 1024-byte body: ${res.text}`);
  assert.deepEqual(res.body.site, { sessions: 2, visitors: 2 });
});

test('a ping for an unconfigured site is 403 unknown_site', T, async () => {
  const res = await w.ping('not-configured.example', { session: uid('s'), event: 'join' });
  assertError(res, 403, 'unknown_site');
});

test('GETs for an unconfigured site are 403 unknown_site', T, async () => {
  assertError(await w.request('/v1/count?site=nope.example'), 403, 'unknown_site');
  assertError(await w.request('/v1/rooms?site=nope.example'), 403, 'unknown_site');
});

test('GETs without a valid site are 400 bad_request', T, async () => {
  for (const path of [
    '/v1/count',
    '/v1/rooms',
    '/v1/count?site=',
    '/v1/count?room=/',
    `/v1/count?site=${encodeURIComponent('bad site')}`,
    `/v1/count?site=${'a'.repeat(65)}`,
    `/v1/rooms?site=${encodeURIComponent('a/b')}`,
  ]) {
    assertError(await w.request(path), 400, 'bad_request');
  }
});

test('GET /v1/count with an invalid room is 400 bad_request', T, async () => {
  const site = w.site();
  for (const room of ['', '/a\nb', `/${'r'.repeat(256)}`]) {
    const res = await w.request(`/v1/count?site=${site}&room=${encodeURIComponent(room)}`);
    assertError(res, 400, 'bad_request');
  }
});

test('GET /v1/rooms with a limit that is not an integer >= 1 is 400 bad_request', T, async () => {
  const site = w.site();
  for (const limit of ['0', '-1', 'abc', '1.5', '1e3', ' 5', '0x10', 'ten']) {
    const res = await w.request(`/v1/rooms?site=${site}&limit=${encodeURIComponent(limit)}`);
    assert.equal(res.status, 400, `limit=${JSON.stringify(limit)}: ${res.text}`);
    assertError(res, 400, 'bad_request');
  }
});

test('a request from an origin the site does not list is 403 forbidden_origin and changes no count', T, async () => {
  await w.join(LOCKED_SITE, { room: '/', session: uid('s'), visitor: uid('v') });
  const before = await w.count(LOCKED_SITE);
  const evil = { origin: 'https://evil.example' };
  assertError(await w.ping(LOCKED_SITE, { session: uid('s'), event: 'join' }, { headers: evil }), 403, 'forbidden_origin');
  // A listed origin must match exactly: scheme, host and port.
  for (const origin of ['http://allowed.example', 'https://allowed.example:8443', 'https://sub.allowed.example', 'null']) {
    const res = await w.ping(LOCKED_SITE, { session: uid('s'), event: 'join' }, { headers: { origin } });
    assert.equal(res.status, 403, `Origin ${origin}: ${res.text}`);
    assertError(res, 403, 'forbidden_origin');
  }
  assertError(await w.request(`/v1/count?site=${LOCKED_SITE}`, { headers: evil }), 403, 'forbidden_origin');
  assertError(await w.request(`/v1/rooms?site=${LOCKED_SITE}`, { headers: evil }), 403, 'forbidden_origin');
  assert.deepEqual((await w.count(LOCKED_SITE)).site, before.site);
});

test('a listed origin and a request without Origin are both allowed', T, async () => {
  const before = (await w.count(LOCKED_SITE)).site.sessions;
  const listed = await w.ping(LOCKED_SITE, { session: uid('s'), event: 'join' }, { headers: { origin: ALLOWED_ORIGIN } });
  assert.equal(listed.status, 200, listed.text);
  const none = await w.ping(LOCKED_SITE, { session: uid('s'), event: 'join' });
  assert.equal(none.status, 200, none.text);
  assert.equal((await w.count(LOCKED_SITE)).site.sessions, before + 2);
});

test('responses to an allowed origin carry Access-Control-Allow-Origin echoing it', T, async () => {
  const open = w.site();
  const anyOrigin = 'https://any-page.example';
  const cases = [
    [LOCKED_SITE, ALLOWED_ORIGIN],
    [open, anyOrigin],
  ];
  for (const [site, origin] of cases) {
    const headers = { origin };
    const ping = await w.ping(site, { session: uid('s'), event: 'join' }, { headers });
    assert.equal(ping.status, 200, ping.text);
    assert.equal(ping.headers.get('access-control-allow-origin'), origin, `ping ${site}`);
    const count = await w.request(`/v1/count?site=${site}`, { headers });
    assert.equal(count.headers.get('access-control-allow-origin'), origin, `count ${site}`);
    const rooms = await w.request(`/v1/rooms?site=${site}`, { headers });
    assert.equal(rooms.headers.get('access-control-allow-origin'), origin, `rooms ${site}`);
  }
});

test('an error answered to an allowed origin carries Access-Control-Allow-Origin, so the page can read it', T, async () => {
  const res = await w.ping(LOCKED_SITE, { session: 'short', event: 'join' }, { headers: { origin: ALLOWED_ORIGIN } });
  assertError(res, 400, 'bad_request');
  assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN);
});

test('an OPTIONS preflight from an allowed origin is 204 with the allowed methods and headers', T, async () => {
  const open = w.site();
  for (const [path, method, origin] of [
    ['/v1/ping', 'POST', ALLOWED_ORIGIN],
    [`/v1/count?site=${LOCKED_SITE}`, 'GET', ALLOWED_ORIGIN],
    [`/v1/rooms?site=${open}`, 'GET', 'https://any-page.example'],
  ]) {
    const res = await w.request(path, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'content-type',
      },
    });
    assert.equal(res.status, 204, `OPTIONS ${path} from ${origin}: ${res.text}`);
    assert.equal(res.headers.get('access-control-allow-origin'), origin, `OPTIONS ${path}: allow-origin`);
    const methods = (res.headers.get('access-control-allow-methods') ?? '').toUpperCase();
    assert.ok(methods.includes(method), `OPTIONS ${path}: allow-methods "${methods}" lacks ${method}`);
    const allowHeaders = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    assert.ok(allowHeaders.includes('content-type'), `OPTIONS ${path}: allow-headers "${allowHeaders}"`);
  }
});

test('an OPTIONS preflight from a forbidden origin is 403 forbidden_origin', T, async () => {
  const res = await w.request(`/v1/count?site=${LOCKED_SITE}`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
  });
  assertError(res, 403, 'forbidden_origin');
});

test('an OPTIONS preflight naming an unknown site is 403 unknown_site, with or without an Origin', T, async () => {
  for (const headers of [{}, { origin: 'https://a.example', 'access-control-request-method': 'GET' }]) {
    const res = await w.request('/v1/count?site=no-such-site', { method: 'OPTIONS', headers });
    assertError(res, 403, 'unknown_site');
  }
});

test("a 405's Allow header names only methods its path answers (no HEAD for /v1/live)", T, async () => {
  const site = w.site();
  for (const [path, refused] of [
    ['/v1/ping', 'PUT'],
    [`/v1/count?site=${site}`, 'DELETE'],
    [`/v1/live?site=${site}`, 'HEAD'],
    [`/v1/live?site=${site}`, 'POST'],
  ]) {
    const res = await w.request(path, { method: refused });
    assert.equal(res.status, 405, `${refused} ${path}`);
    const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim()).filter(Boolean);
    assert.ok(allow.length > 0 && !allow.includes(refused), `${refused} ${path}: Allow "${allow}"`);
    for (const method of allow.filter((m) => m !== 'OPTIONS')) {
      const other = await w.request(path, { method, ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}) });
      assert.notEqual(other.status, 405, `${path}: Allow lists ${method}, which is refused`);
    }
  }
});

test('a ping from an obvious crawler is 403 bot and counts nothing', T, async () => {
  const site = await siteWithOneSession();
  for (const ua of [GOOGLEBOT, BINGBOT, AHREFSBOT]) {
    const res = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': ua } });
    assert.equal(res.status, 403, `${ua}: ${res.text}`);
    assertError(res, 403, 'bot');
  }
  await assertUnchanged(site);
});

test('a headless browser that names itself is 403 bot and counts nothing (the default)', T, async () => {
  // Scrapers must not inflate a counter; BLOCK_HEADLESS=false lets a site's own end-to-end
  // tests through (checked in bots.test.mjs).
  const site = await siteWithOneSession();
  const res = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': HEADLESS_CHROME } });
  assertError(res, 403, 'bot');
  await assertUnchanged(site);
});

test('a bot cannot end a session either', T, async () => {
  const site = w.site();
  const fields = { room: '/', session: uid('s'), visitor: uid('v') };
  await w.join(site, fields);
  const res = await w.ping(site, { ...fields, event: 'leave' }, { headers: { 'user-agent': GOOGLEBOT } });
  assertError(res, 403, 'bot');
  await assertUnchanged(site);
});

test('browsers, curl and servers are not bots', T, async () => {
  const site = w.site();
  for (const ua of [FIREFOX, 'curl/8.5.0', 'node']) {
    const res = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': ua } });
    assert.equal(res.status, 200, `${ua}: ${res.text}`);
  }
  assert.equal((await w.count(site)).site.sessions, 3);
});

test('a wrong method is 405 method_not_allowed', T, async () => {
  const site = w.site();
  for (const [method, path] of [
    ['GET', '/v1/ping'],
    ['PUT', '/v1/ping'],
    ['DELETE', '/v1/ping'],
    ['POST', `/v1/count?site=${site}`],
    ['POST', `/v1/rooms?site=${site}`],
  ]) {
    const res = await w.request(path, { method, ...(method === 'GET' ? {} : { body: '{}' }) });
    assert.equal(res.status, 405, `${method} ${path}: ${res.text}`);
    assertError(res, 405, 'method_not_allowed');
  }
});

test('an unknown /v1/ path is 404 not_found', T, async () => {
  for (const path of ['/v1/nope', '/v1/', '/v1/ping/extra', '/v1/counts?site=t01']) {
    const res = await w.request(path);
    assert.equal(res.status, 404, `GET ${path}: ${res.text}`);
    assertError(res, 404, 'not_found');
  }
});

test('GET /v1/live without a WebSocket upgrade is 426 upgrade_required', T, async () => {
  const site = w.site();
  assertError(await w.request(`/v1/live?site=${site}`), 426, 'upgrade_required');
});

test('more than 600 pings a minute from one client to one site are 429 rate_limited and count nothing', { timeout: 90_000 }, async () => {
  // Miniflare's local limiter counts in fixed windows aligned to the minute: start the burst
  // early in a window, so that all of it falls into one window.
  const intoWindow = Date.now() % 60_000;
  if (intoWindow > 35_000) await sleep(60_000 - intoWindow + 200);

  const site = RATE_LIMIT_SITE;
  const total = 700;
  const concurrency = 8;
  const statuses = new Map();
  const rejected = [];
  let accepted = 0;
  let nextIndex = 0;
  const start = performance.now();
  const runner = async () => {
    for (let round = 0; round < total; round++) {
      const i = nextIndex++;
      if (i >= total) return;
      const res = await w.ping(site, { room: '/', session: uid('s'), event: 'join' });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 200) accepted += 1;
      else rejected.push(res);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, runner));
  const elapsed = performance.now() - start;
  const summary = `statuses ${JSON.stringify(Object.fromEntries(statuses))} in ${elapsed.toFixed(0)} ms`;

  assert.ok(rejected.length > 0, `no ping was rejected: ${summary}`);
  for (const res of rejected) assertError(res, 429, 'rate_limited');
  assert.ok(accepted <= 600, `more than 600 accepted: ${summary}`);
  // Every accepted join is a distinct session; the rejected ones must not have counted.
  const c = await w.count(site);
  assert.deepEqual(c.site, { sessions: accepted, visitors: accepted }, summary);
});
