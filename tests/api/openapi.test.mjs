// The OpenAPI document (public/openapi.json, served at GET /v1/openapi.json): the Worker serves
// exactly that file, it is a valid OpenAPI 3.1 document whose schemas compile strictly, its limits
// are the contract's, and real answers of every endpoint - successes and an error of every code -
// validate against it. (The harness checks every answer of every test file the same way; this file
// makes sure each operation and each code is exercised at least once.) That the file is what the
// code derives, with every route, method, error code and limit of src/, is `cargo test`'s
// (src/openapi/tests.rs).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';

import { ALLOWED_ORIGIN, RATE_LIMIT_SITE, ROOT, assertBadgeRefusal, assertError, isCount, sleep, startWorker, uid, waitFor } from '../kit/harness.mjs';
import {
  LOCKED_ENTITY_SITE,
  PLAIN_SITE,
  SECRET,
  SECRET_ENV,
  entitySites,
  entitySitesConfig,
  isStatus,
  nowSeconds,
  signJwt,
  trackToken,
  watchToken,
} from '../kit/entities-kit.mjs';
import { OPENAPI_PATH, openapiDocument, openapiStats } from '../kit/openapi-check.mjs';

// What the code derives (`cargo test` fails unless the file is exactly that; `npm run openapi`
// writes it).
const documentText = fs.readFileSync(OPENAPI_PATH, 'utf8');
const doc = JSON.parse(documentText);

// ---------------------------------------------------------------------------------------------
// The document itself

test('it is an OpenAPI 3.1.0 document (the official 3.1 schema, with Ajv) with the info, license and server the API promises', async () => {
  const result = await new Validator().validate(structuredClone(doc));
  assert.ok(result.valid, `not a valid OpenAPI 3.1 document: ${JSON.stringify(result.errors, null, 2)}`);
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(doc.jsonSchemaDialect, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(doc.info.title, 'herenow');
  assert.equal(doc.info.version, '1.0.0');
  assert.equal(doc.info.license.identifier, 'MIT');
  assert.ok(doc.info.description.length > 1000, 'a description that summarizes the contract');
  assert.deepEqual(doc.servers.map((s) => s.url), ['/']);
  // and the validator is not a yes-man
  const broken = structuredClone(doc);
  delete broken.info.version;
  broken.paths['/v1/count'].get.responses = 'none';
  assert.equal((await new Validator().validate(broken)).valid, false);
});

/** The JSON pointer of every Schema Object of the document. */
function schemaPointers() {
  const esc = (p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'));
  const out = [];
  const walk = (v, parts) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return;
    for (const [k, child] of Object.entries(v)) {
      const here = [...parts, k];
      const isSchema =
        (k === 'schema' && child && typeof child === 'object') || (parts.length === 2 && parts[0] === 'components' && parts[1] === 'schemas');
      if (isSchema) out.push(`#/${here.map(esc).join('/')}`);
      else if (k !== 'examples' && k !== 'example') walk(child, here);
    }
  };
  walk(doc, []);
  return out;
}

test('every schema of the document compiles in Ajv strict mode (JSON Schema 2020-12, no unknown keywords or formats)', () => {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  for (const keyword of ['components', 'paths', 'webhooks']) ajv.addKeyword({ keyword });
  ajv.addSchema({ $id: 'https://doc.invalid/openapi.json', components: doc.components, paths: doc.paths, webhooks: doc.webhooks });
  const pointers = schemaPointers();
  assert.ok(pointers.length > 100, `found ${pointers.length} schemas`);
  for (const ptr of pointers) assert.ok(ajv.getSchema(`https://doc.invalid/openapi.json${ptr}`), `no schema at ${ptr}`);
  for (const name of ['CountMessage', 'LiveServerMessage', 'PingRequest', 'WebhookEvent']) {
    assert.ok(pointers.includes(`#/components/schemas/${name}`), name);
  }
  assert.ok(pointers.some((p) => p.includes('requestBody')) && pointers.some((p) => p.startsWith('#/webhooks/')));
});

/** (status, code) pairs the document's error answers can carry. */
function errorCodesOfDocument() {
  const pairs = new Set();
  const visit = (status, response) => {
    const r = response.$ref ? doc.components.responses[response.$ref.split('/').pop()] : response;
    const schema = r.content?.['application/json']?.schema;
    const code = schema?.properties?.error?.properties?.code;
    if (!code) return;
    for (const c of code.enum ?? [code.const]) pairs.add(`${status} ${c}`);
  };
  for (const item of Object.values(doc.paths)) {
    for (const [k, op] of Object.entries(item)) {
      const responses = k === 'x-herenow-other-methods' ? op : op?.responses;
      if (!responses || typeof responses !== 'object') continue;
      for (const [status, r] of Object.entries(responses)) visit(status, r);
    }
  }
  return pairs;
}

test('the contract names every error code of the document', () => {
  const codes = doc.components.schemas.ErrorCode.enum;
  assert.ok(codes.length > 0);
  const contract = fs.existsSync(path.join(ROOT, '..', 'shared', 'CONTRACT.md')) ? fs.readFileSync(path.join(ROOT, '..', 'shared', 'CONTRACT.md'), 'utf8') : null;
  if (contract) for (const c of codes.filter((c) => c !== 'internal_error')) assert.ok(contract.includes(`\`${c}\``), `the contract names ${c}`);
});

test("the words' limits are exactly the contract's and src/api's", () => {
  const ajv = new Ajv2020({ strict: true });
  addFormats(ajv);
  ajv.addKeyword({ keyword: 'components' });
  ajv.addSchema({ $id: 'https://doc.invalid/w.json', components: { schemas: doc.components.schemas } });
  const ok = (name, value) => ajv.getSchema(`https://doc.invalid/w.json#/components/schemas/${name}`)(value);
  const cases = {
    SiteKey: [['example.com', 'a', 'A-z_0.9:x', 'a'.repeat(64)], ['', 'a'.repeat(65), 'a/b', 'a b', 'é', 'a@b']],
    Room: [['/', '/pricing', 'product:123', 'é'.repeat(256), 'a b', '~other', '\u00a0'], ['', 'é'.repeat(257), 'a\nb', '\u0000', '\u007f', '\u0085', 'a\tb']],
    SessionId: [['abcdefgh', 's_7f3a9c1e', 'A-_'.repeat(2) + 'xy', 'b'.repeat(64)], ['short', 'b'.repeat(65), 'has space!', 'abc.defgh', 'abcdefg:']],
    VisitorId: [['v_1b2c3d4e'], ['v', 'v'.repeat(65)]],
    EntityId: [['user:42', 'customer:conv_123', 'a@b.c-d', 'e'.repeat(128)], ['', 'e'.repeat(129), 'user 42', 'user/1', 'user*']],
    HistoryRange: [['1h', '24h', '7d'], ['', '1d', '7D', '1H']],
    PingEvent: [['join', 'heartbeat', 'leave', 'away'], ['jump', 'Join']],
  };
  for (const [name, [good, bad]] of Object.entries(cases)) {
    for (const v of good) assert.ok(ok(name, v), `${name} accepts ${JSON.stringify(v)}`);
    for (const v of bad) assert.ok(!ok(name, v), `${name} refuses ${JSON.stringify(v)}`);
  }
  const p = doc.components.parameters;
  assert.deepEqual(p.limit.schema, { type: 'integer', minimum: 1, default: 20 });
  assert.match(p.limit.description, /clamped to 1000/);
  assert.equal(p.range.schema.default, '1h');
  assert.equal(p.statusEntities.schema.maxItems, 100);
  assert.equal(p.statusEntities.explode, false);
  for (const name of ['site', 'membersRoom', 'statusEntities', 'upgrade']) assert.equal(p[name].required, true, name);
  assert.deepEqual(doc.components.schemas.PingRequest.required, ['site', 'session', 'event']);
  assert.equal(doc.components.schemas.PingRequest.properties.room.default, '/');
  assert.deepEqual(Object.keys(doc.paths['/v1/ping'].post.requestBody.content), ['application/json', 'text/plain']);
});

test("the live socket's messages are named schemas, referenced from GET /v1/live", () => {
  const live = doc.paths['/v1/live'].get;
  const s = doc.components.schemas;
  for (const name of ['CountMessage', 'StatusMessage', 'MembersMessage', 'PongMessage', 'PingText', 'AwayText', 'BackText']) {
    assert.ok(s[name], name);
    assert.ok(live.description.includes(`#/components/schemas/${name}`), `the description links ${name}`);
  }
  assert.deepEqual(live['x-herenow-socket'].serverMessages, { $ref: '#/components/schemas/LiveServerMessage' });
  assert.deepEqual(live['x-herenow-socket'].clientMessages, { $ref: '#/components/schemas/LiveClientMessage' });
  assert.deepEqual(Object.keys(live.responses).sort(), ['101', '400', '401', '403', '426', '429', '500', '503']);
  assert.deepEqual(live.security, [{}, { trackTokenQuery: [] }, { watchTokenQuery: [] }]);
  assert.equal(doc.components.securitySchemes.trackTokenQuery.in, 'query');
  assert.equal(doc.components.securitySchemes.watchToken.bearerFormat, 'JWT');
  assert.deepEqual(doc.paths['/v1/status'].get.security, [{ watchToken: [] }]);
  assert.deepEqual(doc.paths['/v1/rooms'].get.security, [{}, { statsToken: [] }]);
});

// ---------------------------------------------------------------------------------------------
// Real answers (the harness validates each one; the test asserts that each operation and each
// error code was seen, i.e. validated)

const STATS_SITE = 'pstats';
let w;
const nextSite = entitySites();

before(async () => {
  const sites = entitySitesConfig();
  sites[STATS_SITE] = { origins: ['*'], secret_env: SECRET_ENV, private_stats: true };
  sites[RATE_LIMIT_SITE] = { origins: ['*'] };
  w = await startWorker({
    vars: {
      SITES: JSON.stringify(sites),
      [SECRET_ENV]: SECRET,
      LEAVE_GRACE_MS: '300',
      MAX_SESSIONS: '3',
      MAX_SOCKETS: '4',
    },
  });
});
after(() => w?.stop());

/** The operations (and statuses) validated so far in this process. */
const seen = () => new Set(Object.keys(openapiStats.byOperation));

test('GET /v1/openapi.json serves this document, as JSON that any origin may read', async () => {
  const res = await w.request('/v1/openapi.json', { headers: { origin: 'https://anywhere.example' } });
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.deepEqual(res.body, openapiDocument());
  assert.ok(res.text === documentText, 'the Worker serves public/openapi.json exactly');
  assert.equal((await w.request('/v1/openapi.json', { method: 'HEAD' })).status, 200);
  assertError(await w.request('/v1/openapi.json', { method: 'POST', body: '{}' }), 405, 'method_not_allowed');
});

test('every path of the document is a real route (none answers the 404 of unknown paths)', async () => {
  for (const [p, item] of Object.entries(doc.paths)) {
    if (p.includes('{')) continue;
    const method = item.post ? 'POST' : 'GET';
    const res = await w.request(p, method === 'POST' ? { method, body: '' } : {});
    assert.notEqual(res.body?.error?.code, 'not_found', `${method} ${p}: ${res.status} ${res.text}`);
  }
});

test('successful answers of every endpoint validate: ping (JSON and text/plain, every event, an entity), count, rooms, history, status, members, badge, preflights', async () => {
  const site = nextSite();
  const entity = 'user:ada';
  const s1 = { session: uid('s'), visitor: uid('v') };
  const track = trackToken(site, entity, { info: { name: 'Ada', avatar: 'https://example.com/a.png' } });
  await w.mustPing(site, { ...s1, room: '/docs', event: 'join', entity, token: track });
  // a session that carries an entity is touched only with its token
  await w.mustPing(site, { ...s1, room: '/docs', event: 'heartbeat', entity, token: track });
  const beacon = await w.request('/v1/ping', {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body: JSON.stringify({ site, room: '/', session: uid('s'), event: 'join' }),
  });
  assert.equal(beacon.status, 200, beacon.text);
  await w.mustPing(site, { session: uid('s'), room: '/x', event: 'leave' });
  await w.mustPing(site, { ...s1, room: '/docs', event: 'away', entity, token: track });
  await w.mustPing(site, { ...s1, room: '/docs', event: 'heartbeat', entity, token: track });

  await w.count(site);
  await w.count(site, '/docs');
  await w.rooms(site);
  await w.rooms(site, 1);
  for (const range of ['1h', '24h', '7d']) {
    const res = await w.request(`/v1/history?site=${site}&range=${range}`);
    assert.equal(res.status, 200, res.text);
  }
  assert.equal((await w.request(`/v1/history?site=${site}`)).status, 200);
  const statsToken = signJwt({ site: STATS_SITE, sub: 'owner', scope: 'stats', exp: nowSeconds() + 600 });
  for (const p of [`/v1/rooms?site=${STATS_SITE}`, `/v1/history?site=${STATS_SITE}&range=24h`]) {
    const res = await w.request(p, { headers: { authorization: `Bearer ${statsToken}` } });
    assert.equal(res.status, 200, `${p}: ${res.text}`);
  }

  const watch = watchToken(site, ['user:*'], { rooms: ['/docs'] });
  const auth = { authorization: `Bearer ${watch}` };
  const st = await w.request(`/v1/status?site=${site}&entity=${entity},user:never`, { headers: auth });
  assert.equal(st.status, 200, st.text);
  assert.equal(st.body.entities[entity].state, 'online');
  assert.equal(st.body.entities['user:never'].last_seen, null);
  const members = await w.request(`/v1/members?site=${site}&room=%2Fdocs`, { headers: auth });
  assert.equal(members.status, 200, members.text);
  assert.equal(members.body.members[0].info.name, 'Ada');

  const badge = await w.request(`/v1/badge.svg?site=${site}&label=${encodeURIComponent('<b>readers</b>')}`);
  assert.equal(badge.status, 200, badge.text);
  assert.match(badge.headers.get('content-type'), /^image\/svg\+xml/);
  assert.equal((await w.request(`/v1/badge.svg?site=${site}&room=%2Fnobody`)).status, 200);
  assert.equal((await w.request(`/v1/count?site=${site}`, { method: 'HEAD' })).status, 200);

  for (const p of ['/v1/ping', `/v1/count?site=${site}`, `/v1/status?site=${site}`, `/v1/live?site=${site}`, '/v1/nope']) {
    const res = await w.request(p, { method: 'OPTIONS', headers: { origin: ALLOWED_ORIGIN, 'access-control-request-method': 'GET' } });
    assert.equal(res.status, 204, `OPTIONS ${p}: ${res.text}`);
  }

  const s = seen();
  for (const key of [
    'POST /v1/ping 200',
    'GET /v1/count 200',
    'HEAD /v1/count 200',
    'GET /v1/rooms 200',
    'GET /v1/history 200',
    'GET /v1/status 200',
    'GET /v1/members 200',
    'GET /v1/badge.svg 200',
    'OPTIONS /v1/ping 204',
    'OPTIONS /v1/{unknown} 204',
  ]) {
    assert.ok(s.has(key), `validated: ${key} (seen: ${[...s].join(', ')})`);
  }
});

test('live sockets: the 101, count, status and members messages, pong, away and back all validate', async () => {
  const site = nextSite();
  const entity = 'user:grace';
  const watch = watchToken(site, [entity], { rooms: ['/room'] });
  const counter = await w.openLive({ site, room: '/room' }, { autoPing: false });
  const watcher = await w.openLive({ site, watch: entity, token: watch }, { autoPing: false });
  const membersSock = await w.openLive({ site, members: '/room', token: watch }, { autoPing: false });
  try {
    await counter.next((m) => isCount(m) && m.heartbeat_ms > 0);
    await watcher.next(isStatus(entity));
    await membersSock.next((m) => m?.type === 'members');
    // a socket that carries a session with an entity: counts, then away and back
    const carrier = await w.openLive(
      { site, room: '/room', session: uid('s'), visitor: uid('v'), entity, token: trackToken(site, entity, { info: { name: 'Grace' } }) },
      { autoPing: false },
    );
    await watcher.next((m) => isStatus(entity)(m) && m.state === 'online', 3000);
    await membersSock.next((m) => m?.type === 'members' && m.members.length === 1, 3000);
    carrier.send('ping');
    await carrier.next((m) => m === 'pong');
    carrier.send('away');
    await watcher.next((m) => isStatus(entity)(m) && m.state === 'away', 3000);
    carrier.send('back');
    await watcher.next((m) => isStatus(entity)(m) && m.state === 'online', 3000);
    await carrier.close();
    await watcher.next((m) => isStatus(entity)(m) && m.state === 'offline', 3000);
    await counter.next((m) => isCount(m) && m.room?.sessions === 0, 3000);
  } finally {
    for (const c of [counter, watcher, membersSock]) await c.close();
  }
  const m = openapiStats.byMessage;
  for (const type of ['count', 'status', 'members', 'pong']) assert.ok(m[type] > 0, `validated ${type} messages: ${JSON.stringify(m)}`);
  assert.ok(seen().has('GET /v1/live 101'));
});

test('an error answer of every code validates against its operation (each code the Worker can be made to answer)', { timeout: 120_000 }, async () => {
  const site = nextSite();
  const ping = (fields, opts) => w.ping(site, { session: uid('s'), event: 'join', ...fields }, opts);
  const watch = watchToken(site, ['user:1'], { rooms: ['/a'] });

  // 400
  assertError(await w.request('/v1/count?site=a/b'), 400, 'bad_request');
  assertError(await w.request('/v1/count?site=t01&site=t02'), 400, 'bad_request');
  assertError(await ping({ event: 'jump' }), 400, 'bad_request');
  assertError(await w.request(`/v1/rooms?site=${site}&limit=0`), 400, 'bad_request');
  assertError(await w.request(`/v1/rooms?site=${site}&limit=${'0'.repeat(20)}`), 400, 'bad_request');
  assertError(await w.request(`/v1/history?site=${site}&range=1d`), 400, 'bad_request');
  assertError(await w.request(`/v1/status?site=${site}`, { headers: { authorization: `Bearer ${watch}` } }), 400, 'bad_request');
  assertError(await w.request(`/v1/members?site=${site}`, { headers: { authorization: `Bearer ${watch}` } }), 400, 'bad_request');
  assertBadgeRefusal(await w.request('/v1/badge.svg'), 400, 'bad_request');
  assertError(await w.request('/v1/openapi.json?x=%zz'), 400, 'bad_request');
  assertError(await w.request('/v1/nope?x=%zz'), 400, 'bad_request');
  assertError(await w.request('/v1/count?x=%zz', { method: 'DELETE' }), 400, 'bad_request');
  assertError(await w.request('/v1/count?x=%zz', { method: 'OPTIONS' }), 400, 'bad_request');
  assertError(await w.refusedLive({ site, visitor: uid('v') }), 400, 'bad_request');
  // 401
  assertError(await ping({ entity: 'user:1', token: 'a.b.c' }), 401, 'bad_token');
  assertError(await w.request(`/v1/status?site=${site}&entity=user:1`), 401, 'bad_token');
  assertError(await w.request(`/v1/members?site=${site}&room=%2Fa`, { headers: { authorization: 'Bearer x.y.z' } }), 401, 'bad_token');
  assertError(await w.request(`/v1/rooms?site=${STATS_SITE}`), 401, 'bad_token');
  assertError(await w.request(`/v1/history?site=${STATS_SITE}`), 401, 'bad_token');
  assertError(await w.refusedLive({ site, watch: 'user:1', token: 'x.y.z' }), 401, 'bad_token');
  // 403
  assertError(await w.ping('nope.example', { session: uid('s'), event: 'join' }), 403, 'unknown_site');
  assertError(await w.request('/v1/count?site=nope.example'), 403, 'unknown_site');
  assertBadgeRefusal(await w.request('/v1/badge.svg?site=nope.example'), 403, 'unknown_site');
  assertError(await w.refusedLive({ site: 'nope.example' }), 403, 'unknown_site');
  const evil = { origin: 'https://evil.example' };
  assertError(await w.ping(LOCKED_ENTITY_SITE, { session: uid('s'), event: 'join' }, { headers: evil }), 403, 'forbidden_origin');
  assertError(await w.request(`/v1/rooms?site=${LOCKED_ENTITY_SITE}`, { headers: evil }), 403, 'forbidden_origin');
  assertError(await w.request(`/v1/status?site=${LOCKED_ENTITY_SITE}&entity=user:1`, { headers: evil }), 403, 'forbidden_origin');
  assertError(await w.request(`/v1/live?site=${LOCKED_ENTITY_SITE}`, { method: 'OPTIONS', headers: evil }), 403, 'forbidden_origin');
  assertError(await w.refusedLive({ site: LOCKED_ENTITY_SITE }, { headers: evil }), 403, 'forbidden_origin');
  const googlebot = { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' };
  assertError(await ping({}, { headers: googlebot }), 403, 'bot');
  assertError(await w.refusedLive({ site, session: uid('s') }, { headers: googlebot }), 403, 'bot');
  assertError(await w.ping(PLAIN_SITE, { session: uid('s'), event: 'join', entity: 'user:1', token: 'a.b.c' }), 403, 'entities_disabled');
  assertError(await w.request(`/v1/members?site=${PLAIN_SITE}&room=%2F`, { headers: { authorization: `Bearer ${watch}` } }), 403, 'entities_disabled');
  assertError(await w.refusedLive({ site: PLAIN_SITE, watch: 'user:1', token: 'a.b.c' }), 403, 'entities_disabled');
  assertError(await w.request(`/v1/status?site=${site}&entity=user:2`, { headers: { authorization: `Bearer ${watch}` } }), 403, 'not_watchable');
  assertError(await w.request(`/v1/members?site=${site}&room=%2Fb`, { headers: { authorization: `Bearer ${watch}` } }), 403, 'not_watchable');
  assertError(await w.refusedLive({ site, watch: 'user:2', token: watch }), 403, 'not_watchable');
  // 404, 405, 413, 426
  for (const p of ['/v1', '/v1/', '/v1/nope', '/v1/ping/extra', '/v1/Count']) assertError(await w.request(p), 404, 'not_found');
  assertError(await w.request('/v1/nope', { method: 'POST', body: '{}' }), 404, 'not_found');
  assert.equal((await w.request('/v1/nope', { method: 'HEAD' })).status, 404);
  for (const [method, p, allow] of [
    ['GET', '/v1/ping', 'POST, OPTIONS'],
    ['PUT', `/v1/count?site=${site}`, 'GET, HEAD, OPTIONS'],
    ['POST', `/v1/live?site=${site}`, 'GET, OPTIONS'],
    ['DELETE', `/v1/badge.svg?site=${site}`, 'GET, HEAD, OPTIONS'],
    ['PATCH', `/v1/members?site=${site}`, 'GET, HEAD, OPTIONS'],
  ]) {
    const res = await w.request(p, { method, ...(method === 'GET' ? {} : { body: '{}' }) });
    assertError(res, 405, 'method_not_allowed');
    assert.equal(res.headers.get('allow'), allow, `${method} ${p}`);
  }
  assert.equal((await w.request(`/v1/live?site=${site}`, { method: 'HEAD' })).status, 405);
  assertError(await ping({ pad: 'x'.repeat(2000) }), 413, 'too_large');
  assertError(await w.request(`/v1/live?site=${site}`), 426, 'upgrade_required');

  // 503: the ceilings (MAX_SESSIONS is 3 and MAX_SOCKETS 4 on this worker)
  const full = nextSite();
  for (let i = 0; i < 3; i++) await w.mustPing(full, { session: uid('s'), event: 'join' });
  assertError(await w.ping(full, { session: uid('s'), event: 'join' }), 503, 'site_full');
  assertError(await w.refusedLive({ site: full, session: uid('s') }), 503, 'site_full');
  const socky = nextSite();
  const socks = [];
  for (let i = 0; i < 4; i++) socks.push(await w.openLive({ site: socky }, { autoPing: false }));
  assertError(await w.refusedLive({ site: socky }), 503, 'too_many_sockets');
  for (const c of socks) await c.close();

  // 429: the limiter counts 600 a minute per client, kind (pings, sockets) and site, in windows
  // aligned to the minute
  const untilLimited = async (attempt) => {
    for (let round = 0; round < 1400; round += 10) {
      const answers = await Promise.all(Array.from({ length: 10 }, attempt));
      const limited = answers.find((r) => r.status === 429);
      if (limited) return limited;
    }
    return null;
  };
  const pingLimited = await untilLimited(() => w.ping(RATE_LIMIT_SITE, { session: uid('s'), event: 'leave' }));
  assert.ok(pingLimited, 'no ping was rate limited');
  assertError(pingLimited, 429, 'rate_limited');
  // sockets: with the site's sockets all taken, each try is a 503 until the limiter refuses it
  const holders = [];
  for (let i = 0; i < 4; i++) holders.push(await w.openLive({ site: RATE_LIMIT_SITE }, { autoPing: false }));
  const liveLimited = await untilLimited(() => w.refusedLive({ site: RATE_LIMIT_SITE }));
  for (const c of holders) await c.close();
  assert.ok(liveLimited, 'no upgrade was rate limited');
  assertError(liveLimited, 429, 'rate_limited');

  const s = seen();
  const expected = [
    'GET /v1/count 400', 'POST /v1/ping 400', 'GET /v1/rooms 400', 'GET /v1/history 400', 'GET /v1/status 400',
    'GET /v1/members 400', 'GET /v1/badge.svg 400', 'GET /v1/openapi.json 400', 'GET /v1/{unknown} 400',
    'DELETE /v1/count 400', 'OPTIONS /v1/count 400', 'GET /v1/live 400',
    'POST /v1/ping 401', 'GET /v1/status 401', 'GET /v1/members 401', 'GET /v1/rooms 401', 'GET /v1/history 401', 'GET /v1/live 401',
    'POST /v1/ping 403', 'GET /v1/count 403', 'GET /v1/badge.svg 403', 'GET /v1/live 403', 'GET /v1/rooms 403', 'GET /v1/status 403',
    'OPTIONS /v1/live 403', 'GET /v1/members 403',
    'GET /v1/{unknown} 404', 'POST /v1/{unknown} 404', 'HEAD /v1/{unknown} 404',
    'GET /v1/ping 405', 'PUT /v1/count 405', 'POST /v1/live 405', 'DELETE /v1/badge.svg 405', 'PATCH /v1/members 405', 'HEAD /v1/live 405',
    'POST /v1/ping 413', 'GET /v1/live 426', 'POST /v1/ping 429', 'GET /v1/live 429', 'POST /v1/ping 503', 'GET /v1/live 503',
  ];
  const missing = expected.filter((k) => !s.has(k));
  assert.deepEqual(missing, [], `not validated: ${missing.join(', ')}`);
});

test('500 internal_error: a Worker whose SITES is broken answers every /v1 path with it, and those answers validate', { timeout: 120_000 }, async () => {
  // SITES that is not a JSON object breaks every site: every request is a 500
  const broken = await startWorker({
    vars: { SITES: '{"ready":{"origins":["*"]}' },
    readyStatus: 500,
  });
  try {
    const requests = [
      ['GET', '/v1/count?site=ready'],
      ['POST', '/v1/ping'],
      ['GET', '/v1/rooms?site=ready'],
      ['GET', '/v1/history?site=ready'],
      ['GET', '/v1/status?site=ready&entity=user:1'],
      ['GET', '/v1/members?site=ready&room=%2F'],
      ['GET', '/v1/live?site=ready'],
      ['GET', '/v1/badge.svg?site=ready'],
      ['GET', '/v1/openapi.json'],
      ['GET', '/v1/nope'],
      ['OPTIONS', '/v1/count?site=ready'],
      ['DELETE', '/v1/count'],
    ];
    for (const [method, p] of requests) {
      const res = await broken.request(p, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
      if (method === 'GET' && p.startsWith('/v1/badge.svg')) assertBadgeRefusal(res, 500, 'internal_error');
      else assertError(res, 500, 'internal_error');
    }
    assertError(await broken.refusedLive({ site: 'ready' }), 500, 'internal_error');
  } finally {
    await broken.stop();
  }
  const s = seen();
  for (const key of ['GET /v1/count 500', 'GET /v1/badge.svg 500', 'POST /v1/ping 500', 'GET /v1/live 500', 'GET /v1/openapi.json 500', 'GET /v1/{unknown} 500', 'OPTIONS /v1/count 500', 'DELETE /v1/count 500']) {
    assert.ok(s.has(key), `validated: ${key}`);
  }
});

test('a broken entry in SITES takes down only its own site (500, logged with why); the other sites answer', { timeout: 120_000 }, async () => {
  // private_stats without secret_env, and a webhook to a plain http:// host: both entries fail
  const w = await startWorker({
    vars: {
      SITES: JSON.stringify({
        ready: { origins: ['*'] },
        stats: { origins: ['*'], private_stats: true },
        hooked: { origins: ['*'], secret_env: 'S', webhook: { url: 'http://hooks.example/h' } },
      }),
    },
  });
  try {
    for (const site of ['stats', 'hooked']) {
      assertError(await w.request(`/v1/count?site=${site}`), 500, 'internal_error');
      assertError(await w.ping(site, { room: '/', session: 'sess_broken_1', event: 'join' }), 500, 'internal_error');
      assertError(await w.refusedLive({ site }), 500, 'internal_error');
    }
    assert.deepEqual((await w.count('ready')).site, { sessions: 0, visitors: 0 });
    await w.mustPing('ready', { room: '/', session: 'sess_fine_1', event: 'join' });
    assert.equal((await w.count('ready')).site.sessions, 1, 'the valid site counts');
    assertError(await w.request('/v1/count?site=nowhere'), 403, 'unknown_site');
    const logs = w.logs();
    assert.match(logs, /SITES, site "stats": private_stats needs secret_env/);
    assert.match(logs, /SITES, site "hooked": webhook url "http:\/\/hooks\.example\/h" must be https:\/\//);
  } finally {
    await w.stop();
  }
});

test('every error code of the document was answered and validated in this file', () => {
  const table = [...errorCodesOfDocument()].map((pair) => Number(pair.split(' ')[0]));
  const statuses = new Set(Object.keys(openapiStats.byOperation).map((k) => Number(k.split(' ').pop())));
  for (const status of new Set(table)) assert.ok(statuses.has(status), `an answer with status ${status} was validated`);
  // and the harness really validates: a made-up answer is refused
  return import('../kit/openapi-check.mjs').then(({ checkAnswer, takeViolations }) => {
    const headers = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store' });
    assert.throws(
      () => checkAnswer({ method: 'GET', path: '/v1/count?site=x', status: 200, headers, text: '{"site":{"sessions":1}}' }),
      /does not validate against GET \/v1\/count responses\.200 application\/json[\s\S]*visitors/,
    );
    assert.throws(
      () => checkAnswer({ method: 'GET', path: '/v1/count?site=x', status: 418, headers, text: '{}' }),
      /a status the document does not list/,
    );
    assert.throws(
      () => checkAnswer({ method: 'GET', path: '/v1/count?site=x', status: 403, headers, text: '{"error":{"code":"bot","message":"x"}}' }),
      /must be equal to one of the allowed values/,
    );
    assert.equal(checkAnswer({ method: 'GET', path: '/dashboard.html', status: 200, headers, text: '<html>' }), false);
    assert.equal(checkAnswer({ method: 'GET', path: '/v1/_test/memory', status: 200, headers, text: '{}' }), false);
    takeViolations(); // the made-up ones above are not this test's failures
  });
});
