// Tokens in production: a secret rotated with no moment when valid tokens are refused, `kid`
// picking one secret, 30 s of clock-skew leeway on exp and nbf, a lifetime of at most 7 days,
// and `aud`. Each phase of the rotation is a deploy with another SITES, on the same state.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { assertError, startWorker, uid, waitFor } from '../kit/harness.mjs';
import { isStatus, nowSeconds, signJwt, status } from '../kit/entities-kit.mjs';

const SITE = 'rot';
const OLD = randomBytes(32).toString('hex');
const NEW = randomBytes(32).toString('hex');
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-tokens-'));

/** A worker whose site `rot` lists these secret names (newest first). */
function startWith(secretEnv) {
  return startWorker({
    persistDir: stateDir,
    vars: {
      SITES: JSON.stringify({ [SITE]: { origins: ['*'], secret_env: secretEnv }, ready: { origins: ['*'] } }),
      HERENOW_SECRET_OLD: OLD,
      HERENOW_SECRET_NEW: NEW,
      LEAVE_GRACE_MS: '500',
    },
  });
}

const track = (entity, { secret, kid, ...extra } = {}) =>
  signJwt({ site: SITE, sub: entity, scope: 'track', exp: nowSeconds() + 600, ...extra }, { secret, header: kid ? { alg: 'HS256', typ: 'JWT', kid } : undefined });
const watch = (entities, { secret, kid, ...extra } = {}) =>
  signJwt({ site: SITE, sub: 'agent:1', scope: 'watch', watch: entities, exp: nowSeconds() + 600, ...extra }, { secret, header: kid ? { alg: 'HS256', typ: 'JWT', kid } : undefined });

/** The answer of a tracked join, a status read and a watching socket for one token pair. */
async function tryEverywhere(w, { trackToken, watchToken, entity = `user:${uid('u')}` }) {
  const ping = await w.ping(SITE, { session: uid('s'), event: 'join', entity, token: trackToken });
  const st = await status(w, SITE, [entity], watchToken);
  let socket;
  try {
    const live = await w.openLive({ site: SITE, watch: entity, token: watchToken });
    await live.next(isStatus(entity), 2000);
    await live.close();
    socket = 101;
  } catch {
    socket = (await w.refusedLive({ site: SITE, watch: entity, token: watchToken })).status;
  }
  return { ping: ping.status, status: st.status, socket, pingRes: ping, statusRes: st };
}

let w;
after(async () => {
  await w?.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('a rotation end to end: old only, then new and old, then new only, no valid token refused on the way', { timeout: 120_000 }, async () => {
  // 1. Before: only the old secret.
  w = await startWith('HERENOW_SECRET_OLD');
  let r = await tryEverywhere(w, { entity: 'user:a', trackToken: track('user:a', { secret: OLD }), watchToken: watch(['user:a'], { secret: OLD }) });
  assert.deepEqual([r.ping, r.status, r.socket], [200, 200, 101], 'old tokens before the rotation');
  r = await tryEverywhere(w, { entity: 'user:b', trackToken: track('user:b', { secret: NEW }), watchToken: watch(['user:b'], { secret: NEW }) });
  assert.deepEqual([r.ping, r.status, r.socket], [401, 401, 401], 'the new secret is not listed yet');
  await w.stop({ keepState: true });

  // 2. The new secret added first: tokens of both verify, with or without kid.
  w = await startWith(['HERENOW_SECRET_NEW', 'HERENOW_SECRET_OLD']);
  for (const [name, secret, kid] of [
    ['old', OLD, undefined],
    ['new', NEW, undefined],
    ['old with kid', OLD, 'HERENOW_SECRET_OLD'],
    ['new with kid', NEW, 'HERENOW_SECRET_NEW'],
  ]) {
    const e = `user:${uid('u')}`;
    r = await tryEverywhere(w, { entity: e, trackToken: track(e, { secret, kid }), watchToken: watch([e], { secret, kid }) });
    assert.deepEqual([r.ping, r.status, r.socket], [200, 200, 101], `${name} while both are listed`);
  }
  // a kid is checked against the secret it names only; an unknown kid is refused
  for (const [name, secret, kid] of [
    ['old secret under the new kid', OLD, 'HERENOW_SECRET_NEW'],
    ['an unknown kid', NEW, 'HERENOW_SECRET_2024'],
  ]) {
    const e = `user:${uid('u')}`;
    r = await tryEverywhere(w, { entity: e, trackToken: track(e, { secret, kid }), watchToken: watch([e], { secret, kid }) });
    assert.deepEqual([r.ping, r.status, r.socket], [401, 401, 401], name);
    assertError(r.pingRes, 401, 'bad_token');
    assertError(r.statusRes, 401, 'bad_token');
  }
  await w.stop({ keepState: true });

  // 3. The old secret removed once its tokens expired: they are refused, the new ones pass.
  w = await startWith(['HERENOW_SECRET_NEW']);
  r = await tryEverywhere(w, { entity: 'user:c', trackToken: track('user:c', { secret: OLD }), watchToken: watch(['user:c'], { secret: OLD }) });
  assert.deepEqual([r.ping, r.status, r.socket], [401, 401, 401], 'old tokens after the removal');
  r = await tryEverywhere(w, { entity: 'user:c', trackToken: track('user:c', { secret: NEW, kid: 'HERENOW_SECRET_OLD' }), watchToken: watch(['user:c'], { secret: NEW, kid: 'HERENOW_SECRET_OLD' }) });
  assert.deepEqual([r.ping, r.status, r.socket], [401, 401, 401], 'a kid naming the removed secret');
  r = await tryEverywhere(w, { entity: 'user:d', trackToken: track('user:d', { secret: NEW }), watchToken: watch(['user:d'], { secret: NEW }) });
  assert.deepEqual([r.ping, r.status, r.socket], [200, 200, 101], 'new tokens after the removal');
});

test('exp and nbf have 30 s of leeway on both sides, exp at most 7 days ahead, aud must be the string herenow', { timeout: 60_000 }, async () => {
  if (!w || w.exited) w = await startWith(['HERENOW_SECRET_NEW']);
  // each case's times are taken from the clock when its tokens are made (a loaded machine takes
  // seconds over the whole list), 2 s inside and outside the 30 s leeway (whole seconds, as JWTs)
  const cases = [
    ['exp 28 s ago', (now) => ({ exp: now - 28 }), 200],
    ['exp 32 s ago', (now) => ({ exp: now - 32 }), 401],
    ['nbf 28 s ahead', (now) => ({ nbf: now + 28 }), 200],
    ['nbf 32 s ahead', (now) => ({ nbf: now + 32 }), 401],
    ['exp 7 days ahead, less a minute', (now) => ({ exp: now + 7 * 86400 - 60 }), 200],
    ['exp 7 days ahead, and a minute', (now) => ({ exp: now + 7 * 86400 + 60 }), 401],
    ['aud herenow', { aud: 'herenow' }, 200],
    ['aud a list with herenow (the contract: only the string)', { aud: ['billing', 'herenow'] }, 401],
    ['aud a list of just herenow', { aud: ['herenow'] }, 401],
    ['aud of another service', { aud: 'billing' }, 401],
    ['aud in capitals', { aud: 'HERENOW' }, 401],
  ];
  for (const [name, claims, expected] of cases) {
    const extra = typeof claims === 'function' ? claims(nowSeconds()) : claims;
    const e = `user:${uid('u')}`;
    const r = await tryEverywhere(w, { entity: e, trackToken: track(e, { secret: NEW, ...extra }), watchToken: watch([e], { secret: NEW, ...extra }) });
    const socket = expected === 200 ? 101 : expected;
    assert.deepEqual([r.ping, r.status, r.socket], [expected, expected, socket], name);
    if (expected === 401) {
      assertError(r.pingRes, 401, 'bad_token');
      assertError(r.statusRes, 401, 'bad_token');
    }
  }
  // a token without exp is refused too, and a refused ping counts nothing: measured on a quiet
  // site (the cases' sessions above expire one ttl after their join, and one expiring between
  // the two reads made the count fall while the refused ping added nothing)
  await waitFor(async () => (await w.count(SITE)).site.sessions === 0, { timeoutMs: 15_000, what: "the cases' sessions to expire" });
  const before = (await w.count(SITE)).site;
  const noExp = { site: SITE, sub: 'user:x', scope: 'track' };
  const res = await w.ping(SITE, { session: uid('s'), event: 'join', entity: 'user:x', token: signJwt(noExp, { secret: NEW }) });
  assertError(res, 401, 'bad_token');
  assert.deepEqual((await w.count(SITE)).site, before);
});
