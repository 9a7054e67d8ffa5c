// For developers, in a real browser (Debian's Chromium driven by playwright-core) against the real
// Worker in workerd: the ES module and the classic script behave the same on the same page;
// tokens that expire are renewed through getToken / token-url with no gap in tracking or status,
// and a fresh token refused too still ends in the error state; the documented React hooks render
// live data.
//
// Test pages are served by a proxy in front of the Worker (tests/kit/proxy-kit.mjs), so that they
// load /herenow.js and /herenow.mjs from the Worker's files exactly as a site would, and may open
// sockets to 127.0.0.1 (a page made up by page.route may not: local network access checks).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { build } from 'esbuild';

import { mintToken } from '../../scripts/token.mjs';
import { contextWithoutWebSockets, browserSuite, recordPings, setHidden, USER_AGENT } from '../kit/browser-kit.mjs';
import { ROOT, sleep, uid, waitFor } from '../kit/harness.mjs';

const SECRET = randomBytes(32).toString('hex');
const GRACE_MS = 1000;
const LEEWAY_S = 30; // the server accepts a token this long past its exp

const now = () => Math.floor(Date.now() / 1000);
const sign = (claims, secret = SECRET) => mintToken({ secret, claims: { site: 'demo', exp: now() + 3600, ...claims } });
const trackToken = (sub, extra = {}, secret) => sign({ sub, scope: 'track', ...extra }, secret);
const watchToken = (extra = {}, secret) => sign({ sub: 'agent:dev', scope: 'watch', watch: ['customer:*', 'user:*'], rooms: ['/dev/*', 'chat:*'], ...extra }, secret);
/** A token the server still accepts for `seconds` (exp in the past, inside the leeway). */
const endsIn = (seconds) => ({ exp: now() - LEEWAY_S + seconds });

let worker;
let browser;
let proxy;

browserSuite(
  {
    proxy: true,
    vars: {
      SITES: JSON.stringify({ demo: { origins: ['*'], secret_env: 'T_SECRET' }, ready: { origins: ['*'] } }),
      T_SECRET: SECRET,
      LEAVE_GRACE_MS: String(GRACE_MS),
      PRESENCE_HEARTBEAT_SECONDS: '2',
      PRESENCE_TTL_SECONDS: '6',
      BROADCAST_INTERVAL_MS: '300',
    },
  },
  (s) => ({ worker, browser, proxy } = s),
);

async function serverStatus(entity) {
  const res = await worker.request(`/v1/status?site=demo&entity=${encodeURIComponent(entity)}`, {
    headers: { authorization: `Bearer ${watchToken()}` },
  });
  assert.equal(res.status, 200, res.text);
  return res.body.entities[entity];
}

/** A new page with `html` served at a fresh path of the proxy; `routes` (path -> handler) answer its fetches. */
async function openPage(html, { context, routes = {} } = {}) {
  const ctx = context ?? (await browser.newContext({ userAgent: USER_AGENT }));
  const page = await ctx.newPage();
  const warnings = [];
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  page.on('pageerror', (e) => warnings.push('pageerror: ' + e.message));
  const sockets = [];
  page.on('websocket', (ws) => sockets.push({ url: ws.url() }));
  const pagePath = `/dev-test/${uid('p')}.html`;
  proxy.pages.set(pagePath, html);
  for (const [p, handler] of Object.entries(routes)) await page.route(proxy.base + p, handler);
  await page.goto(proxy.base + pagePath);
  return { page, ctx, warnings, sockets };
}

// ---------------------------------------------------------------------------------------------
// The module and the script

const SCRIPT_HEAD = `<script src="/herenow.js" data-site="demo" data-track="false"></script>
<script>window.api = window.herenow;</script>`;
const MODULE_HEAD = `<script type="module">
import herenow, * as exports from '/herenow.mjs';
exports.configure({ site: 'demo' });
window.api = herenow;
window.moduleExports = Object.keys(exports).sort();
window.sameAsWindow = herenow === window.herenow;
</script>`;

/** The same page through either build: elements, and the API driven from the test. */
const presencePage = (head, { room, entity, watch, readers }) => `<!doctype html><html lang="en"><head>${head}</head><body>
<here-now id="count" room="${room}"></here-now>
<here-now-status id="status" entity="${entity}" token="${watch}"></here-now-status>
<here-now-members id="members" room="${room}" token="${readers}"></here-now-members>
</body></html>`;

/** What a page shows and its callbacks last said, with times replaced by their type. */
const snapshot = (page) =>
  page.evaluate(() => {
    const el = (id) => document.getElementById(id);
    const timeless = (v) => JSON.parse(JSON.stringify(v ?? null, (k, x) => (k === 'last_seen' || k === 'online_since' ? typeof x : x)));
    return {
      count: [el('count').getAttribute('data-state'), el('count').textContent],
      status: [el('status').getAttribute('data-status'), el('status').textContent],
      members: [el('members').getAttribute('data-state'), el('members').getAttribute('data-count'), [...el('members').children].map((c) => c.getAttribute('aria-label'))],
      identity: window.api.identity,
      tracking: window.api.tracking && window.api.tracking.room,
      counts: timeless(window.seen.counts.at(-1)),
      status_cb: timeless(window.seen.status.at(-1)),
      members_cb: timeless(window.seen.members.at(-1)),
    };
  });

async function drive(head, label) {
  const room = `/dev/${label}-${uid('r')}`;
  const entity = `customer:${label}_${randomBytes(3).toString('hex')}`;
  const watch = watchToken();
  const readers = watchToken();
  const p = await openPage(presencePage(head, { room, entity, watch, readers }));
  try {
    await p.page.waitForFunction(() => window.api && customElements.get('here-now-members'));
    await p.page.evaluate(({ room, entity, watch, readers }) => {
      window.seen = { counts: [], status: [], members: [] };
      window.api.subscribe({ room }, (c) => window.seen.counts.push(c));
      window.api.watch({ entities: [entity], token: watch }, (s) => window.seen.status.push(s));
      window.api.members({ room, token: readers }, (m) => window.seen.members.push(m));
    }, { room, entity, watch, readers });
    const at = async (what, check, timeoutMs = GRACE_MS + 4_000) => {
      await waitFor(async () => check(await snapshot(p.page)), { timeoutMs, what: `${label}: ${what}` });
      const s = await snapshot(p.page);
      return JSON.parse(JSON.stringify(s).replaceAll(room, '<room>').replaceAll(entity, '<entity>'));
    };
    const steps = [];
    // the site is shared with the other tests of this file: a session of an earlier page may
    // still be ending (at most a ttl of 6 s), so both builds start from an empty site
    steps.push(await at('nobody there', (s) => s.count[0] === 'live' && s.status[0] === 'offline' && s.members[0] === 'live' && s.counts?.site.sessions === 0, 15_000));
    await p.page.evaluate(([room, entity, token]) => window.api.track({ room, entity, token }), [room, entity, trackToken(entity, { info: { name: 'Ada Lovelace' } })]);
    steps.push(await at('tracked', (s) => s.status[0] === 'online' && s.members[1] === '1' && s.counts?.room.sessions === 1 && s.count[1] === '1 online now'));
    await setHidden(p.page, true);
    steps.push(await at('hidden: away', (s) => s.status[0] === 'away' && s.members_cb?.members[0]?.state === 'away' && s.counts?.room.sessions === 0));
    await setHidden(p.page, false);
    steps.push(await at('shown: online', (s) => s.status[0] === 'online' && s.members_cb?.members[0]?.state === 'online' && s.counts?.room.sessions === 1));
    await p.page.evaluate((room) => window.api.setRoom(room + '/next'), room);
    // the session moved: out of the room, still on the site
    steps.push(await at('moved away from the room', (s) => s.members[1] === '0' && s.counts?.room.sessions === 0 && s.counts?.site.sessions === 1 && s.status[0] === 'online'));
    await p.page.evaluate(() => window.api.stop());
    // the counts feed moves from the tracker's socket to one of its own: its first message may
    // still hold the session that is leaving; the next one (within the interval) does not
    steps.push(await at('stopped', (s) => s.status[0] === 'offline' && s.tracking === null && s.counts?.site.sessions === 0 && s.count[1] === '0 online now'));
    const extra = await p.page.evaluate(() => ({
      keys: Object.keys(window.api).sort(),
      moduleExports: window.moduleExports ?? null,
      sameAsWindow: window.sameAsWindow ?? null,
      trackerSockets: 0,
    }));
    extra.trackerSockets = p.sockets.filter((s) => s.url.includes('session=')).length;
    assert.deepEqual(p.warnings, [], `${label}: no warning`);
    return { steps, extra };
  } finally {
    await p.ctx.close();
  }
}

test('the ES module and the classic script drive the same page the same way: elements, callbacks, away, rooms, stop', async () => {
  const script = await drive(SCRIPT_HEAD, 'script');
  const module = await drive(MODULE_HEAD, 'module');
  assert.deepEqual(module.steps, script.steps, 'the same at every step');
  assert.deepEqual(module.extra.keys, script.extra.keys, 'window.herenow has the same members');
  assert.deepEqual(script.extra.keys, ['configure', 'identify', 'identity', 'members', 'session', 'setRoom', 'signal', 'signalEnd', 'stop', 'subscribe', 'track', 'tracking', 'visitor', 'watch']);
  assert.equal(module.extra.sameAsWindow, true, 'the default export is window.herenow');
  // the module's exports are the ones public/herenow.d.ts declares
  const dts = fs.readFileSync(path.join(ROOT, 'public', 'herenow.d.ts'), 'utf8');
  const declared = [...new Set([...dts.matchAll(/^ {2}export function (\w+)/gm)].map((m) => m[1]))];
  assert.deepEqual(module.extra.moduleExports, [...declared, 'default'].sort());
  console.log(`# developer: ${script.steps.length} checkpoints equal in both builds; module exports ${module.extra.moduleExports.join(', ')}`);
  // the last snapshot, for the record
  assert.deepEqual(script.steps[1].status, ['online', 'Online']);
  assert.deepEqual(script.steps[1].members_cb.members.map((m) => m.info.name), ['Ada Lovelace']);
});

test('the module and the script on one page: one herenow, one tracker (whichever loads first runs the page)', async () => {
  const room = `/dev/both-${uid('r')}`;
  const p = await openPage(`<!doctype html><html><head>${MODULE_HEAD}
<script src="/herenow.js" data-site="demo" data-room="${room}" defer></script></head><body></body></html>`);
  try {
    await p.page.waitForFunction(() => window.api);
    await p.page.evaluate((room) => window.api.track({ site: 'demo', room }), room);
    await waitFor(async () => (await worker.count('demo', room)).room.sessions === 1, { timeoutMs: 5_000, what: 'tracked once' });
    await sleep(500);
    assert.equal(p.sockets.filter((s) => s.url.includes('session=')).length, 1, 'one tracker socket');
    assert.equal(await p.page.evaluate(() => window.sameAsWindow), true);
  } finally {
    await p.ctx.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Tokens that renew

/** A page that tracks `entity` with a getToken served by the test; its calls are in `calls`. */
async function trackedWithGetToken({ entity, first, mint, context }) {
  const calls = [];
  const room = `/dev/renew-${uid('r')}`;
  const p = await openPage(`<!doctype html><html><head>${SCRIPT_HEAD}</head><body></body></html>`, { context });
  await p.page.exposeFunction('mintTrackToken', () => {
    calls.push(Date.now());
    return mint();
  });
  await p.page.evaluate(([room, entity, first]) => {
    window.api.track({ site: 'demo', room, entity, token: first, getToken: () => window.mintTrackToken() });
  }, [room, entity, first]);
  return { ...p, calls, room };
}

/** Polls the server for `entity` every 200 ms for `ms`; returns every state seen. */
async function watchServer(entity, ms) {
  const states = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    states.push((await serverStatus(entity)).state);
    await sleep(200);
  }
  return states;
}

test('over HTTP pings, a track token that expires is renewed through getToken before the server would refuse it: every ping accepted, the entity online throughout', async () => {
  const entity = `user:renew_http_${randomBytes(3).toString('hex')}`;
  const ctx = await contextWithoutWebSockets(browser);
  const p = await trackedWithGetToken({
    entity,
    context: ctx,
    first: trackToken(entity, endsIn(5)), // by this browser's clock it expired 25 s ago
    mint: () => trackToken(entity, { exp: now() + 8 }), // 8 s of life: renewed 0.8 s before exp
  });
  try {
    const pings = recordPings(p.page);
    await waitFor(async () => (await serverStatus(entity)).state === 'online', { timeoutMs: 8_000, what: 'online over HTTP' });
    const start = Date.now();
    const states = await watchServer(entity, 15_000);
    assert.ok(states.every((s) => s === 'online'), `online throughout: ${states.join(',')}`);
    const sent = pings.filter((x) => x.at >= start);
    assert.ok(sent.length >= 6, `heartbeats went on (${sent.length})`);
    assert.deepEqual(sent.filter((x) => x.status !== null && x.status !== 200), [], 'every ping accepted');
    assert.ok(sent.every((x) => x.entity === entity), 'each carries the entity');
    assert.ok(new Set(sent.map((x) => x.token)).size >= 2, 'with renewed tokens');
    // the first token was due at once; then one renewal per 7.2 s (8 s less a tenth)
    assert.ok(p.calls.length >= 3, `getToken calls: ${p.calls.length}`);
    const gaps = p.calls.slice(1).map((t, i) => t - p.calls[i]);
    assert.ok(gaps.slice(1).every((g) => g >= 5_500 && g <= 8_000), `renewals before exp: ${gaps.join(', ')} ms apart`);
    assert.equal(await p.page.evaluate(() => window.api.identity), entity);
    assert.deepEqual(p.warnings, []);
  } finally {
    await ctx.close();
  }
});

test('on a socket, a track token that expired is renewed: a reconnect after its end carries the new token and the entity stays online', async () => {
  const entity = `user:renew_ws_${randomBytes(3).toString('hex')}`;
  const first = trackToken(entity, endsIn(4));
  const p = await trackedWithGetToken({ entity, first, mint: () => trackToken(entity, { exp: now() + 600 }) });
  try {
    await waitFor(async () => (await serverStatus(entity)).state === 'online', { timeoutMs: 5_000, what: 'online' });
    await sleep(5_000); // the first token's end at the server
    const before = p.sockets.length;
    await p.page.evaluate((room) => window.api.setRoom(room + '/next'), p.room);
    await waitFor(async () => (await worker.count('demo', p.room + '/next')).room.sessions === 1, { timeoutMs: 5_000, what: 'the session in its new room' });
    const fresh = p.sockets.slice(before).filter((s) => s.url.includes('session='));
    assert.equal(fresh.length, 1, 'one new socket, accepted at once');
    assert.ok(!fresh[0].url.includes(first), 'it carries the renewed token');
    const st = await serverStatus(entity);
    assert.deepEqual([st.state, st.sessions], ['online', 1]);
    assert.equal(await p.page.evaluate(() => window.api.identity), entity, 'never anonymous');
    assert.equal(p.calls.length, 1, 'one renewal (the new token lives 10 minutes)');
    assert.deepEqual(p.warnings, []);
  } finally {
    await p.ctx.close();
  }
});

test('on open sockets, tokens renewed in-band again and again keep the tracked socket and a watch socket open past each token\'s end: no close, no reconnect, online throughout', { timeout: 90_000 }, async () => {
  // This browser's clock runs 25 s behind the server's. Each token lives 8 s by its own claims
  // (iat, exp), so the page renews it 7.2 s after it arrived (a tenth of its life before exp);
  // the server ends a socket's rights at exp + 30 s of leeway, which is 13 s after the token
  // was minted. Without a renewal on the socket, each socket would close 4001 after 13 s.
  const SKEW_MS = -25_000;
  const entity = `user:renew_ws_many_${randomBytes(3).toString('hex')}`;
  const short = (claims) => sign({ iat: now() - 25, exp: now() - 25 + 8, ...claims });
  const ctx = await browser.newContext({ userAgent: USER_AGENT });
  await ctx.addInitScript((skew) => {
    const Real = Date;
    class Skewed extends Real {
      constructor(...args) {
        if (args.length === 0) super(Real.now() + skew);
        else super(...args);
      }
      static now() {
        return Real.now() + skew;
      }
    }
    window.Date = Skewed;
  }, SKEW_MS);
  const sockets = [];
  ctx.on('page', (page) =>
    page.on('websocket', (ws) => {
      const s = { url: ws.url(), tokens: 0, closedAt: null };
      sockets.push(s);
      ws.on('framesent', (f) => typeof f.payload === 'string' && f.payload.startsWith('token ') && (s.tokens += 1));
      ws.on('close', () => (s.closedAt = Date.now()));
    }),
  );
  const p = await trackedWithGetToken({ entity, context: ctx, first: short({ sub: entity, scope: 'track' }), mint: () => short({ sub: entity, scope: 'track' }) });
  try {
    await p.page.exposeFunction('mintWatchToken', () => short({ sub: 'agent:dev', scope: 'watch', watch: [entity] }));
    await p.page.evaluate((entity) => {
      window.watched = [];
      window.api.watch({ entities: [entity], getToken: () => window.mintWatchToken() }, (s) => window.watched.push(s.state ?? s.error));
    }, entity);
    await waitFor(async () => (await serverStatus(entity)).state === 'online', { timeoutMs: 8_000, what: 'online' });
    await waitFor(() => p.page.evaluate(() => window.watched.includes('online')), { timeoutMs: 8_000, what: 'the watch feed sees it online' });
    const start = Date.now();
    const states = await watchServer(entity, 32_000); // past two tokens' ends at the server
    assert.ok(states.every((s) => s === 'online'), `online throughout: ${states.join(',')}`);
    const tracked = sockets.filter((s) => s.url.includes('session='));
    const watching = sockets.filter((s) => s.url.includes('watch='));
    assert.equal(tracked.length, 1, `one tracked socket, never reconnected: ${JSON.stringify(tracked)}`);
    assert.equal(watching.length, 1, `one watch socket, never reconnected: ${JSON.stringify(watching)}`);
    for (const s of [...tracked, ...watching]) {
      assert.equal(s.closedAt, null, `${s.url.slice(0, 60)}... still open`);
      assert.ok(s.tokens >= 3, `${s.tokens} renewals sent on ${s.url.slice(0, 60)}...`);
    }
    const seen = await p.page.evaluate(() => window.watched);
    assert.ok(seen.every((x) => x === 'online' || x === 'offline'), `the watch feed never failed: ${seen.join(',')}`);
    assert.equal(await p.page.evaluate(() => window.api.identity), entity, 'never anonymous');
    assert.deepEqual(p.warnings, []);
    console.log(`# developer: ${Math.round((Date.now() - start) / 1000)} s past the tokens' ends: ${tracked[0].tokens} and ${watching[0].tokens} in-band renewals, no close`);
  } finally {
    await ctx.close();
  }
});

test('a track token the server refuses (bad_token) is replaced through getToken at once, and the page is never anonymous', async () => {
  const entity = `user:refused_${randomBytes(3).toString('hex')}`;
  const forged = trackToken(entity, {}, randomBytes(32).toString('hex')); // a fine exp, a bad signature
  const p = await trackedWithGetToken({ entity, first: forged, mint: () => trackToken(entity) });
  try {
    const { elapsed } = await waitFor(async () => (await serverStatus(entity)).state === 'online', { timeoutMs: 5_000, what: 'online with the fresh token' });
    assert.equal(p.calls.length, 1);
    assert.equal(await p.page.evaluate(() => window.api.identity), entity);
    assert.deepEqual(p.warnings, [], 'no "dropped" warning');
    console.log(`# developer: a refused track token replaced and online in ${Math.round(elapsed)} ms`);
  } finally {
    await p.ctx.close();
  }
});

test('<here-now-status> and <here-now-members> with token-url renew their watch token: a feed reconnected after the old token ended stays live', async () => {
  const entity = `customer:tu_${randomBytes(3).toString('hex')}`;
  const other = `customer:tu2_${randomBytes(3).toString('hex')}`;
  const room = `/dev/tu-${uid('r')}`;
  const first = watchToken(endsIn(4));
  let served = 0;
  const p = await openPage(`<!doctype html><html><head>${SCRIPT_HEAD}</head><body>
<here-now-status id="s1" entity="${entity}" token="${first}" token-url="/dev-token/watch"></here-now-status>
<here-now-members id="m1" room="${room}" token="${first}" token-url="/dev-token/watch"></here-now-members>
</body></html>`, {
    routes: {
      '/dev-token/watch': (route) => {
        served++;
        route.fulfill({ contentType: 'application/json', body: JSON.stringify({ token: watchToken({ exp: now() + 600 }) }) });
      },
    },
  });
  try {
    const states = () => p.page.evaluate(() => [...document.querySelectorAll('here-now-status, here-now-members')].map((e) => `${e.id}:${e.getAttribute('data-state')}`));
    await waitFor(async () => (await states()).every((s) => s.endsWith(':live')), { timeoutMs: 5_000, what: 'live' });
    await sleep(5_000); // the attributes' tokens end at the server
    const before = p.sockets.length;
    // New elements: the status feed reconnects for the new entity, the members element subscribes anew.
    await p.page.evaluate(([other, room]) => {
      const s = document.createElement('here-now-status');
      s.id = 's2';
      s.setAttribute('entity', other);
      s.setAttribute('token-url', '/dev-token/watch');
      const m = document.getElementById('m1');
      m.setAttribute('room', room + '/b');
      document.body.append(s);
    }, [other, room]);
    await sleep(1_500);
    await waitFor(async () => (await states()).every((s) => s.endsWith(':live')), { timeoutMs: 3_000, what: 'all live after the reconnect' });
    assert.deepEqual(await states(), ['s1:live', 'm1:live', 's2:live']);
    // renewed ahead of time: the new sockets carry the fresh token, none was refused first
    const later = p.sockets.slice(before);
    assert.deepEqual(later.map((x) => (x.url.includes('members=') ? 'members' : 'status')).sort(), ['members', 'status'], 'one new socket each');
    assert.ok(later.every((x) => !x.url.includes(first)), 'with the renewed token');
    assert.equal(served, 1, 'one renewal, shared by both elements (the same token-url)');
    assert.deepEqual(p.warnings, []);
  } finally {
    await p.ctx.close();
  }
});

test('a fresh token that is refused too ends in the error state, without asking again and again', async () => {
  const wrong = randomBytes(32).toString('hex');
  let served = 0;
  const p = await openPage(`<!doctype html><html><head>${SCRIPT_HEAD}</head><body>
<here-now-status id="s" entity="customer:nope" token="${watchToken({}, wrong)}" token-url="/dev-token/bad"></here-now-status>
</body></html>`, {
    routes: {
      '/dev-token/bad': (route) => {
        served++;
        route.fulfill({ contentType: 'text/plain', body: watchToken({}, wrong) });
      },
    },
  });
  try {
    await waitFor(async () => (await p.page.locator('#s').getAttribute('data-state')) === 'error', { timeoutMs: 5_000, what: 'the error state' });
    assert.equal(await p.page.locator('#s').textContent(), 'Status unavailable');
    await sleep(3_000);
    assert.equal(await p.page.locator('#s').getAttribute('data-state'), 'error');
    assert.equal(served, 1, 'one fresh token tried');
    assert.ok(p.warnings.some((w) => /bad_token/.test(w)), JSON.stringify(p.warnings));
  } finally {
    await p.ctx.close();
  }
});

// ---------------------------------------------------------------------------------------------
// The documented React hooks

test("the documented React hooks (useHereNow, useEntityStatus, useMembers) render live data in a React app", async () => {
  // The hooks in docs/browser.md are examples/react/use-herenow.js, word for word.
  const hooks = fs.readFileSync(path.join(ROOT, 'examples', 'react', 'use-herenow.js'), 'utf8');
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'browser.md'), 'utf8');
  assert.ok(doc.includes('```js\n' + hooks + '```'), 'docs/browser.md shows examples/react/use-herenow.js as it is');

  const bundle = await build({
    entryPoints: [path.join(ROOT, 'tests', 'react', 'app.jsx')],
    bundle: true,
    format: 'esm',
    jsx: 'automatic',
    external: ['herenow'],
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'warning',
  });
  proxy.pages.set('/dev-test/app.js', { contentType: 'text/javascript', body: bundle.outputFiles[0].text });
  const entity = 'customer:conv_123';
  const props = { site: 'demo', room: 'chat:conv_123', entity, token: watchToken(), readers: watchToken() };
  const app = await openPage(`<!doctype html><html><head>
<script type="importmap">{"imports":{"herenow":"/herenow.mjs"}}</script>
<script type="application/json" id="props">${JSON.stringify(props)}</script>
<script type="module" src="/dev-test/app.js"></script></head><body><div id="root"></div></body></html>`);
  const customerCtx = await browser.newContext({ userAgent: USER_AGENT });
  try {
    const view = () => app.page.evaluate(() => ['count', 'status', 'name', 'members'].map((id) => document.getElementById(id)?.textContent));
    await waitFor(async () => JSON.stringify(await view()) === JSON.stringify(['0', 'offline', '', '']), { timeoutMs: 5_000, what: 'nobody there' });
    const customer = await customerCtx.newPage();
    await customer.goto(`${worker.base}/chat.html#token=${trackToken(entity, { info: { name: 'Ada Lovelace' } })}`);
    await waitFor(async () => JSON.stringify(await view()) === JSON.stringify(['1', 'online', 'Ada Lovelace', entity]), { timeoutMs: 5_000, what: 'the customer, live' });
    await setHidden(customer, true);
    await waitFor(async () => JSON.stringify(await view()) === JSON.stringify(['0', 'away', 'Ada Lovelace', entity]), { timeoutMs: GRACE_MS + 3_000, what: 'away' });
    await customerCtx.close();
    await waitFor(async () => JSON.stringify(await view()) === JSON.stringify(['0', 'offline', 'Ada Lovelace', '']), { timeoutMs: GRACE_MS + 3_000, what: 'gone' });
    assert.deepEqual(app.warnings, []);
  } finally {
    await customerCtx.close().catch(() => {});
    await app.ctx.close();
  }
});
