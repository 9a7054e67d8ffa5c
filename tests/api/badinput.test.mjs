// Bad input, table-driven: well over 60 malformed, hostile or merely odd requests against the
// running Worker. Each row states the status and error code it must get; after every row the
// site's counts (site, each room, the room list) must be exactly what they were, and the server
// must still answer GET /v1/count with 200.
//
// errors.test.mjs holds the contract's error cases one by one (shapes, CORS, bots, the rate
// limit); this file sweeps the input space: every ping field wrong in every way, wrong methods
// and paths, bodies that are too big, truncated, not UTF-8 or nested too deep, huge headers,
// odd content types, bad query strings (the socket endpoint included), requests that break
// HTTP itself, and bad socket messages.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import {
  ALLOWED_ORIGIN,
  LOCKED_SITE,
  assertError,
  isCount,
  refusedUpgrade,
  siteSessions,
  startWorker,
  uid,
  waitFor,
} from '../kit/harness.mjs';

let w;
/** The site every row aims at (so a wrongly accepted ping would show in its count). */
let S;
let baseline;
let tried = 0;

before(async () => {
  // A long ttl: the baseline sessions must not expire while the table runs.
  w = await startWorker({ vars: { PRESENCE_HEARTBEAT_SECONDS: '30', PRESENCE_TTL_SECONDS: '300' } });
  S = w.site();
  await w.join(S, { room: '/', session: uid('s'), visitor: uid('v') });
  await w.join(S, { room: '/b', session: uid('s'), visitor: uid('v') });
  baseline = await snapshot();
  assert.deepEqual(baseline.site, { sessions: 2, visitors: 2 });
});
after(async () => {
  console.log(`# bad inputs tried: ${tried}`);
  await w?.stop();
});

const T = { timeout: 120_000 };

/** Everything a rejected request could have changed on the site. */
async function snapshot() {
  const c = await w.count(S);
  const rooms = await w.rooms(S, 1000);
  const slash = await w.count(S, '/');
  return { site: c.site, rooms: rooms.rooms, slash: slash.room };
}

async function assertUnchanged(what) {
  const now = await snapshot();
  assert.deepEqual(now, baseline, `${what}: the counts changed`);
}

// ---------------------------------------------------------------------------------------------
// Request builders

const good = () => ({ site: S, room: '/', session: uid('s'), visitor: uid('v'), event: 'join' });
/** A valid ping with some fields replaced; `undefined` drops a field. */
const withFields = (over) => JSON.stringify({ ...good(), ...over });
/** A ping body written by hand (for duplicate keys and broken JSON): `%S`, `%ID` and `%V` are filled in. */
const handJson = (text) => text.replaceAll('%S', S).replaceAll('%ID', uid('s')).replaceAll('%V', uid('v'));
const JSON_CT = { 'content-type': 'application/json' };

/** Bytes of a valid ping whose room string holds `bytes` (raw, possibly not UTF-8). */
function withRawRoomBytes(bytes) {
  return Buffer.concat([
    Buffer.from(`{"site":"${S}","room":"/`),
    Buffer.from(bytes),
    Buffer.from(`","session":"${uid('s')}","event":"join"}`),
  ]);
}

/** A ping padded with spaces to exactly `size` bytes. */
function padded(size) {
  const json = JSON.stringify(good());
  const out = json.slice(0, -1) + ' '.repeat(size - json.length) + '}';
  assert.equal(Buffer.byteLength(out), size);
  return out;
}

/** A ping carrying `value` under an extra field "x", placed first so the object is otherwise valid. */
const withExtra = (value) => `{"x":${value},"site":"${S}","session":"${uid('s')}","event":"join"}`;

function streamOf(bytes, chunk = 65536) {
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.subarray(i, i + chunk));
      c.close();
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Running rows

/**
 * A row is one of
 *   { name, method?, path, headers?, body?, status, code }      HTTP request (code null: no body)
 *   { name, live: rawQuery, headers?, status, code }             WebSocket upgrade, must be refused
 *   { name, raw: text, runtimeOnly: true }                        raw bytes on a TCP connection
 * Bodies and queries are functions, built when the row runs (fresh session ids every time).
 */
async function runRow(row) {
  tried += 1;
  if (row.raw !== undefined) return runRaw(row);
  if (row.live !== undefined) {
    const res = await refusedRaw(row.live, row.headers);
    assertError(res, row.status, row.code);
    return;
  }
  const body = typeof row.body === 'function' ? row.body() : row.body;
  const method = row.method ?? (body === undefined ? 'GET' : 'POST');
  const path = typeof row.path === 'function' ? row.path() : row.path;
  const init = { method, headers: row.headers ?? (body === undefined ? {} : JSON_CT) };
  if (body !== undefined) init.body = body;
  if (body instanceof ReadableStream) init.duplex = 'half';
  // a body the Worker refuses unread goes on a connection of its own (see the harness)
  const res = row.status === 413
    ? await w.requestOnOwnConnection(path, { ...init, timeoutMs: 20_000 })
    : await w.request(path, { ...init, timeoutMs: 20_000 });
  if (row.status === 200 || row.status === 204) {
    assert.equal(res.status, row.status, `${row.name}: ${method} ${path}: ${res.text.slice(0, 300)}`);
  } else if (row.code === null) {
    // HEAD: the status is all there is.
    assert.equal(res.status, row.status, `${row.name}: ${method} ${path}`);
    assert.equal(res.text, '', `${row.name}: a HEAD answer has no body`);
  } else {
    assert.equal(res.status, row.status, `${row.name}: ${method} ${path}: ${res.text.slice(0, 300)}`);
    assertError(res, row.status, row.code);
  }
}

/**
 * Opens GET /v1/live?<rawQuery> as a WebSocket exactly as written (no re-encoding) and expects
 * the upgrade to be refused; answers in the shape of harness request().
 */
function refusedRaw(rawQuery, headers = {}) {
  const q = typeof rawQuery === 'function' ? rawQuery() : rawQuery;
  return refusedUpgrade(`${w.wsBase}/v1/live?${q}`, { headers });
}

/**
 * Writes raw bytes (a request that breaks HTTP itself) and reads whatever comes back. The
 * runtime may answer such requests itself (plain text, before our code runs) or drop the
 * connection; what must never come back is a 5xx from our code, i.e. our JSON error shape.
 */
function sendRaw(text, { halfClose = true, waitMs = 5000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(w.port, '127.0.0.1');
    let out = '';
    let settled = false;
    const done = (how) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const statusLine = out.split('\r\n')[0];
      const m = statusLine.match(/^HTTP\/1\.[01] (\d{3})/);
      const sep = out.indexOf('\r\n\r\n');
      resolve({ how, status: m ? Number(m[1]) : null, head: sep >= 0 ? out.slice(0, sep) : out, body: sep >= 0 ? out.slice(sep + 4) : '' });
    };
    const timer = setTimeout(() => done('timeout'), waitMs);
    sock.setEncoding('latin1');
    sock.on('data', (d) => (out += d));
    sock.on('connect', () => {
      sock.write(Buffer.from(typeof text === 'function' ? text() : text, 'latin1'));
      if (halfClose) sock.end();
    });
    sock.on('close', () => done('closed'));
    sock.on('error', () => done('error'));
  });
}

async function runRaw(row) {
  const res = await sendRaw(row.raw);
  const what = `${row.name}: got ${res.status ?? 'no answer'} (${res.how}) ${res.body.slice(0, 200)}`;
  if (row.status !== undefined) {
    assert.equal(res.status, row.status, what);
    // The body may come chunked: look for the code rather than parse it.
    if (row.code) assert.ok(res.body.includes(`"code":"${row.code}"`), `${what}: code ${row.code}`);
    return;
  }
  // runtimeOnly: any answer the runtime chooses, or none, but not a 5xx of ours.
  if (res.status !== null && res.status >= 500) {
    let ours = false;
    try {
      ours = typeof JSON.parse(res.body)?.error?.code === 'string';
    } catch {
      // plain text: the runtime's own answer
    }
    assert.ok(!ours, `${what}: a 5xx from our code`);
  }
  row.seen = `${res.status ?? 'no answer'} (${res.how})`;
}

// ---------------------------------------------------------------------------------------------
// The table

function pingFieldRows() {
  const rows = [];
  const bad = (name, over) => rows.push({ name, path: '/v1/ping', body: () => withFields(over), status: 400, code: 'bad_request' });
  // Type: every field that takes a string, given every other JSON type.
  const others = { number: 42, boolean: true, array: ['x_12345678'], object: { v: 'x' } };
  for (const field of ['site', 'room', 'session', 'visitor', 'event', 'entity']) {
    for (const [kind, value] of Object.entries(others)) bad(`${field} is a ${kind}`, { [field]: value });
  }
  // null stands for "absent": an error where the field is required (room and visitor are optional).
  for (const field of ['site', 'session', 'event']) bad(`${field} is null`, { [field]: null });
  bad('token is a number (with an entity)', { entity: 'user:1', token: 42 });
  bad('a token without an entity', { token: 'abc.def.ghi' });

  // Length, at the exact boundaries.
  bad('site empty', { site: '' });
  bad('site of 65 chars', { site: 's'.repeat(65) });
  bad('room empty', { room: '' });
  bad('room of 257 chars', { room: '/' + 'r'.repeat(256) });
  bad('room of 257 two-byte chars (counted in chars)', { room: 'é'.repeat(257) });
  bad('session empty', { session: '' });
  bad('session of 7 chars', { session: 's'.repeat(7) });
  bad('session of 65 chars', { session: 's'.repeat(65) });
  bad('visitor empty', { visitor: '' });
  bad('visitor of 7 chars', { visitor: 'v'.repeat(7) });
  bad('visitor of 65 chars', { visitor: 'v'.repeat(65) });
  bad('event empty', { event: '' });
  bad('entity empty', { entity: '' });
  bad('entity of 129 chars', { entity: 'e'.repeat(129) });
  // Valid shape, but not a configured site: the boundary itself (64 chars) passes validation.
  rows.push({ name: 'site of 64 chars (valid, unknown)', path: '/v1/ping', body: () => withFields({ site: 's'.repeat(64) }), status: 403, code: 'unknown_site' });
  rows.push({ name: 'site of 1 char (valid, unknown)', path: '/v1/ping', body: () => withFields({ site: 'x' }), status: 403, code: 'unknown_site' });
  rows.push({ name: 'site in other case (keys are exact)', path: '/v1/ping', body: () => withFields({ site: S.toUpperCase() }), status: 403, code: 'unknown_site' });

  // Charset.
  const charsets = {
    site: { space: 'a b', slash: 'a/b', unicode: 'caf\u00e9', control: 'a\u0001b', emoji: 'a\u{1F600}', percent: '%74%30%31', at: 'a@b', 'trailing newline': 'demo\n' },
    session: { space: 's_123 4567', slash: 's_123/4567', unicode: 's_1234567\u00e9', control: 's_123\u00004567', emoji: 's_1234567\u{1F600}', dot: 's_123.4567', plus: 's_123+4567' },
    visitor: { space: 'v_123 4567', slash: 'v_123/4567', unicode: 'v_1234567\u00fc', control: 'v_123\t4567', emoji: 'v_1234567\u{1F600}', colon: 'v_123:4567' },
    room: { 'line feed': '/a\nb', NUL: '/a\u0000b', escape: '/a\u001bb', DEL: '/a\u007fb', 'C1 control (NEL)': '/a\u0085b', 'carriage return': '/a\rb' },
    entity: { space: 'user 1', slash: 'user/1', emoji: 'user\u{1F600}', control: 'user\u0007' },
  };
  for (const [field, cases] of Object.entries(charsets)) {
    for (const [kind, value] of Object.entries(cases)) bad(`${field} with ${kind}`, { [field]: value });
  }
  for (const e of ['Join', ' join', 'join ', 'join\u0000', 'joined', 'ping', 'LEAVE', 'heart beat']) bad(`event ${JSON.stringify(e)}`, { event: e });

  // Missing.
  bad('no site', { site: undefined });
  bad('no session', { session: undefined });
  bad('no event', { event: undefined });
  bad('nothing but an event', { site: undefined, room: undefined, session: undefined, visitor: undefined });
  rows.push({ name: 'an empty object', path: '/v1/ping', body: '{}', status: 400, code: 'bad_request' });

  // The contract's valid session, but the entity feature is off for this site.
  rows.push({ name: 'an entity on a site without a secret', path: '/v1/ping', body: () => withFields({ entity: 'user:1', token: 'a.b.c' }), status: 403, code: 'entities_disabled' });

  // Duplicated keys (serde would otherwise keep the last one silently).
  const dup = (name, text) => rows.push({ name, path: '/v1/ping', body: () => handJson(text), status: 400, code: 'bad_request' });
  dup('site twice, same value', '{"site":"%S","site":"%S","session":"%ID","event":"join"}');
  dup('site twice, another site second', '{"site":"%S","site":"t59","session":"%ID","event":"join"}');
  dup('session twice', '{"site":"%S","session":"%ID","session":"%ID","event":"join"}');
  dup('event twice, join then leave', '{"site":"%S","session":"%ID","event":"join","event":"leave"}');
  dup('event twice, same value', '{"site":"%S","session":"%ID","event":"join","event":"join"}');
  dup('room twice', '{"site":"%S","room":"/","room":"/b","session":"%ID","event":"join"}');
  dup('visitor twice', '{"site":"%S","session":"%ID","visitor":"%V","visitor":"%V","event":"join"}');
  dup('an unknown field twice', '{"x":1,"x":2,"site":"%S","session":"%ID","event":"join"}');
  dup('site twice, the second escaped (\\u0069)', '{"site":"%S","s\\u0069te":"t59","session":"%ID","event":"join"}');
  return rows;
}

function bodyRows() {
  const rows = [];
  const bad = (name, body, headers) => rows.push({ name, path: '/v1/ping', body, headers, status: 400, code: 'bad_request' });
  const big = (name, body, headers) => rows.push({ name, path: '/v1/ping', body, headers, status: 413, code: 'too_large' });

  // Not a JSON object, or not JSON.
  bad('whitespace only', '   \n\t ');
  bad('true', 'true');
  bad('a string', '"join"');
  bad('a list of one valid ping', () => `[${JSON.stringify(good())}]`);
  bad('truncated in a key', () => handJson('{"site":"%S","sess'));
  bad('truncated after a value', () => handJson('{"site":"%S","session":"%ID","event":"join"'));
  bad('truncated inside a string', () => handJson('{"site":"%S","session":"%ID","event":"jo'));
  bad('trailing garbage', () => JSON.stringify(good()) + 'x');
  bad('two objects', () => JSON.stringify(good()) + JSON.stringify(good()));
  bad('a trailing comma', () => JSON.stringify(good()).slice(0, -1) + ',}');
  bad('single quotes', () => `{'site':'${S}','session':'${uid('s')}','event':'join'}`);
  bad('unquoted keys', () => `{site:"${S}",session:"${uid('s')}",event:"join"}`);
  bad('a comment', () => `/* hi */${JSON.stringify(good())}`);
  bad('NaN in an extra field', () => withExtra('NaN'));
  bad('a lone surrogate escape in room', () => handJson('{"site":"%S","room":"/\\ud800","session":"%ID","event":"join"}'));
  bad('a NUL byte before the JSON', () => `\u0000${JSON.stringify(good())}`);

  // Invalid UTF-8.
  bad('a 0xff byte in room', () => withRawRoomBytes([0xff]));
  bad('an overlong "/" (C0 AF)', () => withRawRoomBytes([0xc0, 0xaf]));
  bad('a truncated 3-byte sequence', () => withRawRoomBytes([0xe2, 0x82]));
  bad('a UTF-8-encoded surrogate (ED A0 80)', () => withRawRoomBytes([0xed, 0xa0, 0x80]));
  bad('a 0xfe byte outside any string', () => Buffer.concat([Buffer.from(JSON.stringify(good())), Buffer.from([0xfe])]));
  bad('Latin-1 instead of UTF-8 (E9)', () => withRawRoomBytes([0x63, 0x61, 0x66, 0xe9]));

  // Deep JSON.
  big('10000 nested arrays (20000 bytes)', '['.repeat(10_000) + ']'.repeat(10_000));
  bad('200 nested arrays inside 1 KiB', () => withExtra('['.repeat(200) + ']'.repeat(200)));
  bad('150 nested objects inside 1 KiB', () => withExtra('{"a":'.repeat(150) + '1' + '}'.repeat(150)));
  bad('300 nested arrays as the room', () => withFields({ room: undefined }).slice(0, -1) + `,"room":${'['.repeat(300)}${']'.repeat(300)}}`);

  // Size.
  big('1025 bytes as text/plain', () => padded(1025), { 'content-type': 'text/plain;charset=UTF-8' });
  big('1025 bytes of multi-byte room', () => {
    const base = JSON.stringify({ ...good(), room: '' });
    const room = '\u00e9'.repeat(Math.ceil((1025 - Buffer.byteLength(base)) / 2));
    return JSON.stringify({ ...good(), room });
  });
  big('1 MB with its Content-Length', () => padded(1 << 20));
  big('1 MB streamed without a Content-Length', () => streamOf(new Uint8Array(1 << 20).fill(0x20)));
  big('5 MB streamed without a Content-Length', () => streamOf(new Uint8Array(5 << 20).fill(0x7b)));

  // Content types.
  const form = () => `site=${S}&session=${uid('s')}&event=join`;
  bad('form-urlencoded with form fields', form, { 'content-type': 'application/x-www-form-urlencoded' });
  bad('multipart with a JSON part', () => {
    const b = 'XyZ';
    return `--${b}\r\nContent-Disposition: form-data; name="ping"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(good())}\r\n--${b}--\r\n`;
  }, { 'content-type': 'multipart/form-data; boundary=XyZ' });
  for (const type of ['application/xml', 'text/xml', 'text/html; charset=utf-8', 'application/octet-stream', 'image/png', 'application/json-patch+json', 'application/jsonx', 'text/plain2', 'json']) {
    bad(`content type ${type}`, () => JSON.stringify(good()), { 'content-type': type });
  }
  bad('XML that names the fields', () => `<ping><site>${S}</site><session>${uid('s')}</session><event>join</event></ping>`, { 'content-type': 'application/xml' });
  return rows;
}

function methodAndPathRows() {
  const rows = [];
  const paths = {
    '/v1/ping': () => '/v1/ping',
    '/v1/count': () => `/v1/count?site=${S}`,
    '/v1/rooms': () => `/v1/rooms?site=${S}`,
    '/v1/live': () => `/v1/live?site=${S}`,
    '/v1/status': () => `/v1/status?site=${S}&entity=user:1`,
  };
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    for (const [name, path] of Object.entries(paths)) {
      rows.push({ name: `${method} ${name}`, method, path, body: () => JSON.stringify(good()), status: 405, code: 'method_not_allowed' });
    }
  }
  rows.push({ name: 'POST /v1/live', method: 'POST', path: paths['/v1/live'], body: () => JSON.stringify(good()), status: 405, code: 'method_not_allowed' });
  rows.push({ name: 'POST /v1/status', method: 'POST', path: paths['/v1/status'], body: '{}', status: 405, code: 'method_not_allowed' });

  // HEAD and OPTIONS.
  rows.push({ name: 'HEAD /v1/ping', method: 'HEAD', path: '/v1/ping', status: 405, code: null });
  rows.push({ name: 'HEAD /v1/live', method: 'HEAD', path: paths['/v1/live'], status: 405, code: null });
  rows.push({ name: 'HEAD /v1/count (allowed, no body)', method: 'HEAD', path: paths['/v1/count'], status: 200, code: null });
  rows.push({ name: 'HEAD /v1/nope', method: 'HEAD', path: '/v1/nope', status: 404, code: null });
  rows.push({ name: 'HEAD /v1/count with a bad site', method: 'HEAD', path: '/v1/count?site=%zz', status: 400, code: null });
  rows.push({ name: 'OPTIONS with bad percent-encoding', method: 'OPTIONS', path: '/v1/count?site=%zz', status: 400, code: 'bad_request' });
  rows.push({ name: 'OPTIONS for an unknown site', method: 'OPTIONS', path: '/v1/count?site=nope.example', headers: { origin: 'https://a.example', 'access-control-request-method': 'GET' }, status: 403, code: 'unknown_site' });
  rows.push({ name: 'OPTIONS /v1/live of a locked site from another origin', method: 'OPTIONS', path: `/v1/live?site=${LOCKED_SITE}`, headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' }, status: 403, code: 'forbidden_origin' });
  rows.push({ name: 'OPTIONS preflight asking for DELETE (answered; the method is refused later)', method: 'OPTIONS', path: () => `/v1/count?site=${S}`, headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'DELETE' }, status: 204 });

  // Unknown paths.
  const nf = (name, path, method = 'GET', body) => rows.push({ name, method, path, body, status: 404, code: 'not_found' });
  nf('/v1', '/v1');
  nf('/v1/', '/v1/');
  nf('/v1/pingx', '/v1/pingx', 'POST', () => JSON.stringify(good()));
  nf('/v1/ping/ (trailing slash)', '/v1/ping/', 'POST', () => JSON.stringify(good()));
  nf('/v1//ping', '/v1//ping', 'POST', () => JSON.stringify(good()));
  nf('/v1/Ping', '/v1/Ping', 'POST', () => JSON.stringify(good()));
  nf('/V1/ping', '/V1/ping', 'POST', () => JSON.stringify(good()));
  nf('/v2/ping', '/v2/ping', 'POST', () => JSON.stringify(good()));
  nf('/v1/ping%00', '/v1/ping%00', 'POST', () => JSON.stringify(good()));
  nf('/v1/ping%2F', '/v1/ping%2F', 'POST', () => JSON.stringify(good()));
  nf('/v1/count/extra', () => `/v1/count/extra?site=${S}`);
  nf('/v1/live/x', () => `/v1/live/x?site=${S}`);
  nf('/v1/_test/panic without the test-hooks var', () => `/v1/_test/panic?site=${S}`);
  nf('/v1/_test/fail-alarm without the test-hooks var', () => `/v1/_test/fail-alarm?site=${S}`);
  nf('/api/v1/ping', '/api/v1/ping', 'POST', () => JSON.stringify(good()));
  return rows;
}

function queryRows() {
  const rows = [];
  const q400 = (name, path) => rows.push({ name, path, status: 400, code: 'bad_request' });
  for (const ep of ['count', 'rooms']) {
    q400(`${ep}: no site`, `/v1/${ep}`);
    q400(`${ep}: site=%zz`, `/v1/${ep}?site=%zz`);
    q400(`${ep}: site=%ff (not UTF-8)`, `/v1/${ep}?site=%ff`);
    q400(`${ep}: site=% (cut escape)`, `/v1/${ep}?site=%`);
    q400(`${ep}: site=t0%3 (cut escape)`, `/v1/${ep}?site=t0%3`);
    q400(`${ep}: site repeated`, () => `/v1/${ep}?site=${S}&site=${S}`);
    q400(`${ep}: site with + (a space)`, `/v1/${ep}?site=a+b`);
    q400(`${ep}: site=caf%C3%A9`, `/v1/${ep}?site=caf%C3%A9`);
    q400(`${ep}: a bare "site"`, `/v1/${ep}?site`);
    rows.push({ name: `${ep}: an unknown site`, path: `/v1/${ep}?site=nope.example`, status: 403, code: 'unknown_site' });
  }
  q400('count: room repeated', () => `/v1/count?site=${S}&room=/&room=/b`);
  q400('count: room empty', () => `/v1/count?site=${S}&room=`);
  q400('count: room with %0A', () => `/v1/count?site=${S}&room=/a%0Ab`);
  q400('count: room with %00', () => `/v1/count?site=${S}&room=/a%00b`);
  q400('count: room with %C2%85 (C1 control)', () => `/v1/count?site=${S}&room=/a%C2%85b`);
  q400('count: room of 257 chars', () => `/v1/count?site=${S}&room=${'r'.repeat(257)}`);
  q400('count: room=%E2%82 (cut UTF-8)', () => `/v1/count?site=${S}&room=%E2%82`);
  q400('count: room=%zz', () => `/v1/count?site=${S}&room=%zz`);
  q400('count: a bad escape in an unknown parameter', () => `/v1/count?site=${S}&x=%zz`);
  q400('count: an unknown parameter repeated', () => `/v1/count?site=${S}&x=1&x=2`);
  for (const limit of ['0', '-1', 'abc', '', '%zz', '1%00', '+1', '5.0']) {
    q400(`rooms: limit=${limit}`, () => `/v1/rooms?site=${S}&limit=${limit}`);
  }
  q400('rooms: limit repeated', () => `/v1/rooms?site=${S}&limit=1&limit=2`);

  // The socket endpoint: every one of these must be refused before a socket opens.
  const live = (name, q, status = 400, code = 'bad_request', headers) => rows.push({ name: `live: ${name}`, live: q, status, code, headers });
  live('no site', 'room=/');
  live('site empty', 'site=');
  live('site=%zz', 'site=%zz');
  live('site=%ff', 'site=%ff');
  live('site with a space', 'site=a%20b');
  live('site repeated', () => `site=${S}&site=${S}`);
  live('an unknown site', 'site=nope.example', 403, 'unknown_site');
  live('session of 7 chars', () => `site=${S}&session=s234567`);
  live('session of 65 chars', () => `site=${S}&session=${'s'.repeat(65)}`);
  live('session with a space', () => `site=${S}&session=s_123%204567`);
  live('session=%zz', () => `site=${S}&session=%zz12345678`);
  live('session with %ff', () => `site=${S}&session=s_1234567%ff`);
  live('session repeated', () => `site=${S}&session=${uid('s')}&session=${uid('s')}`);
  live('visitor without session', () => `site=${S}&visitor=${uid('v')}`);
  live('visitor of 7 chars', () => `site=${S}&session=${uid('s')}&visitor=v234567`);
  live('visitor with a slash', () => `site=${S}&session=${uid('s')}&visitor=v_123%2F4567`);
  live('visitor repeated', () => `site=${S}&session=${uid('s')}&visitor=${uid('v')}&visitor=${uid('v')}`);
  live('room empty', () => `site=${S}&room=`);
  live('room with a line feed', () => `site=${S}&room=/a%0Ab&session=${uid('s')}`);
  live('room of 257 chars', () => `site=${S}&room=${'r'.repeat(257)}&session=${uid('s')}`);
  live('entity without session', () => `site=${S}&entity=user:1`);
  live('token alone', () => `site=${S}&token=abc`);
  live('watch on a site without a secret', () => `site=${S}&watch=user:1&token=abc`, 403, 'entities_disabled');
  live('a session from a crawler', () => `site=${S}&session=${uid('s')}`, 403, 'bot', { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' });
  live('a locked site from another origin', `site=${LOCKED_SITE}`, 403, 'forbidden_origin', { origin: 'https://evil.example' });
  return rows;
}

function headerRows() {
  const rows = [];
  const kb16 = 'h'.repeat(16 * 1024);
  rows.push({ name: 'a 16 KB header on GET /v1/count', path: () => `/v1/count?site=${S}`, headers: { 'x-filler': kb16 }, status: 200 });
  rows.push({ name: 'a 16 KB header on a bad ping', path: '/v1/ping', body: () => withFields({ event: 'nope' }), headers: { ...JSON_CT, 'x-filler': kb16 }, status: 400, code: 'bad_request' });
  // Raw: the answer echoes the Origin in Access-Control-Allow-Origin, past fetch's own 16 KB
  // limit for response headers.
  rows.push({ name: 'a 16 KB Origin on a locked site', raw: `GET /v1/count?site=${LOCKED_SITE} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://${'o'.repeat(16 * 1024)}.example\r\n\r\n`, status: 403, code: 'forbidden_origin' });
  rows.push({ name: 'a 16 KB User-Agent on a bad ping', path: '/v1/ping', body: () => withFields({ session: 'short' }), headers: { ...JSON_CT, 'user-agent': `Mozilla/5.0 ${'u'.repeat(16 * 1024)}` }, status: 400, code: 'bad_request' });
  rows.push({ name: 'a 16 KB Content-Type', path: '/v1/ping', body: () => JSON.stringify(good()), headers: { 'content-type': `application/${'x'.repeat(16 * 1024)}` }, status: 400, code: 'bad_request' });
  const many = {};
  for (let i = 0; i < 200; i++) many[`x-h${i}`] = 'v'.repeat(60);
  rows.push({ name: '200 extra headers on GET /v1/count', path: () => `/v1/count?site=${S}`, headers: many, status: 200 });
  rows.push({ name: 'a 16 KB header on a refused upgrade', live: () => `site=${S}&session=short`, headers: { 'x-filler': kb16 }, status: 400, code: 'bad_request' });
  // Past what the runtime reads at all: it answers by itself (431), before our code.
  rows.push({ name: 'a 128 KB header (the runtime refuses it)', raw: () => `GET /v1/count?site=${S} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: ${'h'.repeat(128 * 1024)}\r\n\r\n`, runtimeOnly: true });
  return rows;
}

/** Requests that break HTTP/1.1 itself, written as raw bytes. */
function rawRows() {
  const ping = () => JSON.stringify(good());
  const post = (headers, body) => () => `POST /v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n${body}`;
  return [
    { name: 'raw: a body shorter than its Content-Length (truncated, then half-closed)', raw: () => post(`Content-Type: application/json\r\nContent-Length: 500\r\n`, ping().slice(0, 40))(), runtimeOnly: true },
    { name: 'raw: Content-Length 1025 with a 2-byte body', raw: post('Content-Length: 1025\r\n', '{}'), runtimeOnly: true },
    { name: 'raw: Content-Length abc', raw: post('Content-Length: abc\r\n', '{}'), runtimeOnly: true },
    { name: 'raw: Content-Length -1', raw: post('Content-Length: -1\r\n', '{}'), runtimeOnly: true },
    { name: 'raw: Content-Length beyond 64 bits', raw: post('Content-Length: 99999999999999999999\r\n', '{}'), runtimeOnly: true },
    { name: 'raw: Content-Length and Transfer-Encoding together', raw: post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), runtimeOnly: true },
    { name: 'raw: a bad chunk size', raw: post('Transfer-Encoding: chunked\r\n', 'zz\r\nabc\r\n'), runtimeOnly: true },
    { name: 'raw: a chunked body of 2000 bytes', raw: () => post('Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n', `7d0\r\n${' '.repeat(2000)}\r\n0\r\n\r\n`)(), status: 413, code: 'too_large' },
    { name: 'raw: a header name with a space', raw: () => `GET /v1/count?site=${S} HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: y\r\n\r\n`, runtimeOnly: true },
    { name: 'raw: binary garbage instead of a request line', raw: '\u0000\u0001\u0002\u00ff HELLO\r\n\r\n', runtimeOnly: true },
    { name: 'raw: an unknown method', raw: () => `BREW /v1/count?site=${S} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, runtimeOnly: true },
    { name: 'raw: HTTP/1.0 without Host', raw: () => `GET /v1/count?site=${S} HTTP/1.0\r\n\r\n`, runtimeOnly: true },
    { name: 'raw: HTTP/1.0 with Host', raw: () => `GET /v1/count?site=${S} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`, status: 200 },
    { name: 'raw: a space in the path', raw: () => `GET /v1/count?site=${S} x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, runtimeOnly: true },
  ];
}

async function runTable(rows) {
  for (const row of rows) {
    await runRow(row);
    await assertUnchanged(row.name);
  }
}

test('bad ping fields: every field wrong in type, length, charset; missing; duplicated', T, async () => {
  const rows = pingFieldRows();
  assert.ok(rows.length >= 60, `only ${rows.length} field rows`);
  await runTable(rows);
});

test('bad ping bodies: not JSON objects, truncated, not UTF-8, nested too deep, too big, odd content types', T, async () => {
  await runTable(bodyRows());
});

test('wrong methods on every path, unknown paths, HEAD and OPTIONS', T, async () => {
  await runTable(methodAndPathRows());
});

test('bad query strings on /v1/count, /v1/rooms and the socket endpoint /v1/live', T, async () => {
  await runTable(queryRows());
});

test('huge and many headers: our answer, or the runtime refusing; never a 5xx of ours', T, async () => {
  const rows = headerRows();
  await runTable(rows);
  for (const row of rows.filter((r) => r.seen)) console.log(`# ${row.name}: ${row.seen}`);
});

test('requests that break HTTP itself: never a 5xx of ours, and the server keeps answering', T, async () => {
  const rows = rawRows();
  await runTable(rows);
  for (const row of rows.filter((r) => r.seen)) console.log(`# ${row.name}: ${row.seen}`);
});

test('bad socket messages: over 1 KiB closes with 1009 (and ends the session), junk is ignored', T, async () => {
  const site = w.site();
  const watcher = await w.openLive({ site });
  await watcher.next(siteSessions(0));
  const steady = await w.openLive({ site, session: uid('s'), visitor: uid('v') });
  await watcher.next(siteSessions(1), 3000);

  // Junk that is not too big: ignored, the socket and its session stay.
  const junk = ['', 'hello', '{"type":"count"}', 'x'.repeat(1024), 'p\u0000ing', '\u{1F600}'.repeat(256)];
  for (const text of junk) {
    tried += 1;
    steady.send(text);
  }
  tried += 1;
  steady.ws.send(Buffer.from([0, 1, 2, 255]));
  tried += 1;
  steady.ws.send(Buffer.alloc(1024, 7));
  steady.send('ping');
  await steady.next((m) => m === 'pong', 3000);
  assert.ok(steady.isOpen, 'junk of at most 1 KiB must not close the socket');

  // Too big, as text, as binary, far too big: each closes its socket with 1009.
  const tooBig = [
    ['text of 1025 bytes', 'x'.repeat(1025)],
    ['text of 1025 bytes in 2-byte chars (513 chars)', '\u00e9'.repeat(512) + 'x'],
    ['binary of 1025 bytes', Buffer.alloc(1025, 1)],
    ['binary of 1 MB', Buffer.alloc(1 << 20, 1)],
  ];
  for (const [name, payload] of tooBig) {
    tried += 1;
    const victim = await w.openLive({ site, session: uid('s'), visitor: uid('v') });
    await watcher.next(siteSessions(2), 3000);
    victim.ws.send(payload);
    const closed = await Promise.race([victim.closed, new Promise((r) => setTimeout(() => r(null), 5000))]);
    assert.ok(closed, `${name}: the socket was not closed`);
    assert.equal(closed.code, 1009, `${name}: close code`);
    await watcher.next(siteSessions(1), 3000);
    assert.deepEqual((await w.count(site)).site, { sessions: 1, visitors: 1 }, `${name}: the remaining session`);
  }
  assert.ok(steady.isOpen && watcher.isOpen, 'the other sockets are unaffected');
  await steady.close();
  await watcher.close();
  await assertUnchanged('bad socket messages (on another site)');
});

test('the boundaries themselves are accepted (so the rows above fail for the right reason)', T, async () => {
  // A separate site: these are valid and count.
  const site = w.site();
  const ok = [
    { room: '/', session: 's'.repeat(8), visitor: 'v'.repeat(8) },
    { room: 'r'.repeat(256), session: 's'.repeat(64), visitor: 'v'.repeat(64) },
    { room: '\u00e9'.repeat(256), session: 'S-_09azAZ', visitor: 'V-_09azAZ' },
    { room: '/\u{1F600} product:123 ?q=1#x', session: uid('s') },
  ];
  for (const fields of ok) await w.join(site, fields);
  for (const type of ['application/json', 'application/json; charset=utf-8', 'text/plain;charset=UTF-8', 'TEXT/PLAIN']) {
    const res = await w.request('/v1/ping', { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify({ site, session: uid('s'), event: 'join' }) });
    assert.equal(res.status, 200, `${type}: ${res.text}`);
  }
  assert.equal((await w.count(site)).site.sessions, ok.length + 4);
  assert.equal((await w.rooms(site, 1000000)).rooms.length, 4, 'a limit above the maximum is clamped, not refused');
});
