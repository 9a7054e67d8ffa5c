// Shared pieces of the entity tests: the sites they configure, a tiny HS256 JWT minter (also for
// deliberately broken tokens), and verbs for /v1/status, tracked pings and watching sockets.
// Not a test file itself (tests/*.test.mjs is what runs).

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { ALLOWED_ORIGIN, sitesConfig } from './harness.mjs';

/** The Worker var holding the entity sites' secret; its value is random per test run. */
export const SECRET_ENV = 'T_SECRET';
export const SECRET = randomBytes(32).toString('hex');
/** A site without `secret_env`: entity requests are 403 entities_disabled. */
export const PLAIN_SITE = 'plain';
/** A site with a secret that only ALLOWED_ORIGIN (or no Origin) may use. */
export const LOCKED_ENTITY_SITE = 'elocked';
export const ENTITY_SITE_COUNT = 30;

/** SITES for an entity test worker: the harness sites, e01..e30 with a secret, plain, elocked. */
export function entitySitesConfig() {
  const sites = sitesConfig();
  for (let i = 1; i <= ENTITY_SITE_COUNT; i++) {
    sites[entitySiteKey(i)] = { origins: ['*'], secret_env: SECRET_ENV };
  }
  sites[PLAIN_SITE] = { origins: ['*'] };
  sites[LOCKED_ENTITY_SITE] = { origins: [ALLOWED_ORIGIN], secret_env: SECRET_ENV };
  return sites;
}

export function entitySiteKey(i) {
  return `e${String(i).padStart(2, '0')}`;
}

/** Worker vars for entity tests: small ttl and grace so that every wait is short. */
export function entityVars(overrides = {}) {
  return {
    SITES: JSON.stringify(entitySitesConfig()),
    [SECRET_ENV]: SECRET,
    PRESENCE_TTL_SECONDS: '3',
    PRESENCE_HEARTBEAT_SECONDS: '1',
    LEAVE_GRACE_MS: '1500',
    BROADCAST_INTERVAL_MS: '300',
    ...overrides,
  };
}

/** Hands out e01, e02, ... (one Durable Object each, so tests cannot see each other). */
export function entitySites() {
  let next = 1;
  return () => {
    assert.ok(next <= ENTITY_SITE_COUNT, `only ${ENTITY_SITE_COUNT} entity sites are configured`);
    return entitySiteKey(next++);
  };
}

// ---------------------------------------------------------------------------------------------
// JWT (HS256), written here on purpose: the tests must not trust the project's own minting code.

export const b64url = (data) => Buffer.from(data).toString('base64url');
export const HS256 = { alg: 'HS256', typ: 'JWT' };
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** `header.payload.signature` with the signature HMAC(`algo`, secret) over the first two parts. */
export function signJwt(claims, { secret = SECRET, header = HS256, algo = 'sha256' } = {}) {
  const head = b64url(typeof header === 'string' ? header : JSON.stringify(header));
  const body = b64url(typeof claims === 'string' ? claims : JSON.stringify(claims));
  const sig = createHmac(algo, secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Claims of a track token for `entity` on `site`, valid for an hour unless overridden. */
export function trackClaims(site, entity, extra = {}) {
  return { site, sub: entity, scope: 'track', exp: nowSeconds() + 3600, ...extra };
}

/** Claims of a watch token for the patterns in `watch` on `site`, valid for an hour. */
export function watchClaims(site, watch, extra = {}) {
  return { site, sub: 'agent:7', scope: 'watch', watch, exp: nowSeconds() + 3600, ...extra };
}

export const trackToken = (site, entity, extra) => signJwt(trackClaims(site, entity, extra));
export const watchToken = (site, watch, extra) => signJwt(watchClaims(site, watch, extra));

/** Replaces the payload of a signed token, keeping its header and signature. */
export function withPayload(token, claims) {
  const [head, , sig] = token.split('.');
  return `${head}.${b64url(JSON.stringify(claims))}.${sig}`;
}

/**
 * Tokens that must each be refused with 401 bad_token when presented for `entity` on `site`
 * (`claims` and `validToken` are a correct token's claims and the token itself), whatever the
 * scope the valid one has. Returns [name, token] pairs.
 */
export function brokenTokens(claims, validToken) {
  const [head, body, sig] = validToken.split('.');
  const flip = (s) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
  const none = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
  const { exp, ...noExp } = claims;
  return [
    ['signed with another secret (forged)', signJwt(claims, { secret: randomBytes(32).toString('hex') })],
    ['signed with an empty secret', signJwt(claims, { secret: '' })],
    // The payload is exactly the right claims, the signature is a valid one for other claims.
    ['payload tampered after signing', withPayload(signJwt({ ...claims, sub: `${claims.sub}x`, ...(claims.watch ? { watch: ['other:1'] } : {}) }), claims)],
    ['payload re-encoded after signing (exp extended)', withPayload(validToken, { ...claims, exp: claims.exp + 1 })],
    ['signature altered', `${head}.${body}.${flip(sig)}`],
    ['signature missing', `${head}.${body}.`],
    ['signature of another token', `${head}.${body}.${signJwt({ ...claims, x: 1 }).split('.')[2]}`],
    ['alg none, no signature', `${none}.${body}.`],
    ['alg none, signed anyway', signJwt(claims, { header: { alg: 'none', typ: 'JWT' } })],
    ['alg HS512 (signed with HMAC-SHA512)', signJwt(claims, { header: { alg: 'HS512', typ: 'JWT' }, algo: 'sha512' })],
    ['alg RS256 header with an HS256 signature', signJwt(claims, { header: { alg: 'RS256', typ: 'JWT' } })],
    ['no alg in the header', signJwt(claims, { header: { typ: 'JWT' } })],
    ['expired an hour ago', signJwt({ ...claims, exp: nowSeconds() - 3600 })],
    ['expired a day ago', signJwt({ ...claims, exp: nowSeconds() - 86_400 })],
    ['no exp', signJwt(noExp)],
    ['exp more than 7 days ahead', signJwt({ ...claims, exp: nowSeconds() + 8 * 86_400 })],
    ['aud of another service', signJwt({ ...claims, aud: 'billing' })],
    ['a kid naming no secret of the site', signJwt(claims, { header: { alg: 'HS256', typ: 'JWT', kid: 'NOT_A_SECRET' } })],
    ['exp is a string', signJwt({ ...claims, exp: String(claims.exp) })],
    ['for another site', signJwt({ ...claims, site: claims.site === 'e30' ? 'e29' : 'e30' })],
    ['without a site claim', signJwt((({ site, ...rest }) => rest)(claims))],
    ...(claims.scope === 'track' ? [['without a sub claim', signJwt((({ sub, ...rest }) => rest)(claims))]] : []),
    ['without a scope claim', signJwt((({ scope, ...rest }) => rest)(claims))],
    ['scope in capitals', signJwt({ ...claims, scope: claims.scope.toUpperCase() })],
    ['not a JWT at all', 'not-a-token'],
    ['two parts', `${head}.${body}`],
    ['four parts', `${validToken}.${sig}`],
    ['header not base64url', `!!!.${body}.${sig}`],
    ['header not JSON', signJwt(claims, { header: 'not json' })],
    ['payload not JSON', signJwt('not json')],
    ['payload a JSON array', signJwt('[1,2,3]')],
  ];
}

// ---------------------------------------------------------------------------------------------
// Verbs

/** GET /v1/status?site&entity=<ids joined by ","> with `Authorization: Bearer <token>` (if any). */
export function status(w, site, entities, token, { headers = {}, authorization } = {}) {
  const q = new URLSearchParams({ site });
  if (entities !== undefined) q.set('entity', Array.isArray(entities) ? entities.join(',') : entities);
  const h = { ...headers };
  if (authorization !== undefined) h.authorization = authorization;
  else if (token !== undefined) h.authorization = `Bearer ${token}`;
  return w.request(`/v1/status?${q}`, { headers: h });
}

/** A /v1/status that must succeed; returns its `entities` object, checking the answer's shape. */
export async function mustStatus(w, site, entities, token) {
  const res = await status(w, site, entities, token);
  assert.equal(res.status, 200, `GET ${res.path}: ${res.text}`);
  assert.deepEqual(Object.keys(res.body), ['entities'], `GET ${res.path}: only "entities" (${res.text})`);
  const ids = Array.isArray(entities) ? entities : entities.split(',');
  assert.deepEqual(Object.keys(res.body.entities).sort(), [...new Set(ids)].sort(), `GET ${res.path}: one entry per id`);
  for (const [id, s] of Object.entries(res.body.entities)) {
    assert.deepEqual(Object.keys(s).sort(), STATUS_FIELDS, `${id}: fields (${res.text})`);
    assertStatusFields(s, `${id} (${res.text})`);
  }
  return res.body.entities;
}

/** The status of one entity (a watch token for exactly it is minted on the fly). */
export async function entityStatus(w, site, entity) {
  return (await mustStatus(w, site, [entity], watchToken(site, [entity])))[entity];
}

/** Fields of a ping that carries `entity` with a valid track token. */
export function tracked(site, entity, fields = {}) {
  return { ...fields, entity, token: trackToken(site, entity) };
}

/** Opens a watching socket for `entities` with a valid watch token (or `token`). */
export function openWatch(w, site, entities, { token, autoPing = true } = {}) {
  return w.openLive({ site, watch: entities.join(','), token: token ?? watchToken(site, entities) }, { autoPing });
}

export const isStatus = (entity) => (m) => typeof m === 'object' && m !== null && m.type === 'status' && (entity === undefined || m.entity === entity);
export const isOffline = (entity) => (m) => isStatus(entity)(m) && m.online === false;
export const isOnlineWith = (entity, sessions) => (m) => isStatus(entity)(m) && m.online === true && m.sessions === sessions;

/** Status messages a LiveClient received at or after `since` (performance.now() time). */
export function statusesSince(client, since, entity) {
  return client.received.filter((e) => e.at >= since && isStatus(entity)(e.msg));
}

/** The fields of an entity's status (contract: "Entities" and "away, online since, member info"). */
export const STATUS_FIELDS = ['info', 'last_seen', 'online', 'online_since', 'sessions', 'signals', 'state'];

/** Asserts the types of a status's fields and how they agree with each other. */
export function assertStatusFields(s, where = JSON.stringify(s)) {
  assert.equal(typeof s.online, 'boolean', `${where}: online`);
  assert.ok(['online', 'away', 'offline'].includes(s.state), `${where}: state`);
  assert.equal(s.online, s.state !== 'offline', `${where}: online is true for online and away`);
  assert.ok(Number.isInteger(s.sessions) && s.sessions >= 0, `${where}: sessions`);
  assert.ok(s.last_seen === null || Number.isInteger(s.last_seen), `${where}: last_seen`);
  if (s.state === 'offline') assert.equal(s.online_since, null, `${where}: online_since when offline`);
  else assert.ok(Number.isInteger(s.online_since), `${where}: online_since`);
  assert.ok(s.info === null || (typeof s.info === 'object' && !Array.isArray(s.info)), `${where}: info`);
  assert.ok(Array.isArray(s.signals) && s.signals.every((n) => /^[a-z0-9_-]{1,32}$/.test(n)), `${where}: signals`);
  if (s.state === 'offline') assert.deepEqual(s.signals, [], `${where}: no signals when offline`);
}

/** Asserts a status message's exact field set and types. */
export function assertStatusShape(msg) {
  assert.deepEqual(Object.keys(msg).sort(), ['entity', ...STATUS_FIELDS, 'type'].sort(), `fields of ${JSON.stringify(msg)}`);
  assertStatusFields(msg);
}
