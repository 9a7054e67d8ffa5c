// The browser client's one reconnecting link (src/browser/link.js), in a real browser (Debian's
// Chromium driven by playwright-core) against the real Worker in workerd, with the network
// turned against it: sockets cut right after they open, a half-open socket (a connection that
// goes silent without closing), a server that stops answering, and the browser going offline.
// The tracked session, a count-only feed and an entity status feed all ride on the same link
// code, so each must recover within the same bounds.
//
// Bounds, with the Worker's heartbeat H = 2 s (the link's pong timeout is one heartbeat):
// - a silent socket is replaced within H + H (ping interval + pong timeout) + a backoff (<= 1 s);
// - 3 losses in a row (maxRetries) fall back to HTTP, after backoffs of at most 1 s and 2 s;
// - a failed HTTP exchange is retried within 1 s + a backoff.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { mintToken } from '../../scripts/token.mjs';
import { browserSuite, USER_AGENT } from '../kit/browser-kit.mjs';
import { sleep, uid, waitFor } from '../kit/harness.mjs';

const SECRET = randomBytes(32).toString('hex');
const HEARTBEAT_MS = 2000;
const ENTITY = 'customer:link_1';

let worker;
let browser;
let proxy;

browserSuite(
  {
    proxy: true,
    vars: {
      SITES: JSON.stringify({ demo: { origins: ['*'], secret_env: 'T_SECRET' }, ready: { origins: ['*'] } }),
      T_SECRET: SECRET,
      PRESENCE_HEARTBEAT_SECONDS: String(HEARTBEAT_MS / 1000),
      PRESENCE_TTL_SECONDS: '6',
      LEAVE_GRACE_MS: '1000',
    },
  },
  (s) => ({ worker, browser, proxy } = s),
);

const exp = () => Math.floor(Date.now() / 1000) + 3600;
const watchToken = () =>
  mintToken({ secret: SECRET, claims: { site: 'demo', sub: 'agent:link', scope: 'watch', watch: ['customer:*'], exp: exp() } });
const trackToken = () => mintToken({ secret: SECRET, claims: { site: 'demo', sub: ENTITY, scope: 'track', exp: exp() } });

/**
 * A page served through the proxy that tracks itself in `room` and shows #tracked (the
 * tracker's own feed), and optionally #other (a count-only feed of `room`/other) and #status
 * (a status feed of ENTITY). Records the WebSockets it opens and the HTTP pings it sends.
 */
async function openPage(room, { other = false, status = false } = {}) {
  const context = await browser.newContext({ userAgent: USER_AGENT });
  const page = await context.newPage();
  const path = `/link-test-${uid('p')}.html`;
  const url = proxy.base + path;
  const html = `<!doctype html><html lang="en"><head>
<script src="/herenow.js" data-site="demo" data-room="${room}" defer></script></head><body>
<here-now id="tracked" room="${room}"></here-now>
${other ? `<here-now id="other" room="${room}/other"></here-now>` : ''}
${status ? `<here-now-status id="status" entity="${ENTITY}" token="${watchToken()}"></here-now-status>` : ''}
</body></html>`;
  proxy.pages.set(path, html);
  const sockets = []; // {feed, at}
  const pings = []; // {event, at}
  page.on('websocket', (ws) => {
    const u = ws.url();
    sockets.push({ feed: u.includes('session=') ? 'tracker' : u.includes('watch=') ? 'status' : 'counts', at: Date.now() });
  });
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/v1/ping')) {
      let event = null;
      try {
        event = JSON.parse(r.postData()).event;
      } catch {
        // not ours
      }
      pings.push({ event, at: Date.now() });
    }
  });
  const openedAt = Date.now();
  await page.goto(url);
  return { page, context, sockets, pings, openedAt };
}

const state = (page, id) =>
  page.evaluate((id) => {
    const el = document.getElementById(id);
    return el && { state: el.getAttribute('data-state'), text: el.textContent };
  }, id);

async function roomSessions(room) {
  return (await worker.count('demo', room)).room.sessions;
}

/** Waits until every element is live, i.e. each feed has heard from the server. */
async function allLive(page, ids, timeoutMs) {
  return waitFor(async () => {
    for (const id of ids) if ((await state(page, id))?.state !== 'live') return false;
    return true;
  }, { timeoutMs, what: `${ids.join(', ')} live` });
}

test('sockets cut right after they open: the tracker falls back to HTTP pings after 3 tries, and the page keeps counting', async () => {
  const room = `/link/fallback-${uid('r')}`;
  // Only this page's tracker socket is cut, 300 ms after its upgrade (an unstable connection).
  proxy.policy = (c) => (c.kind === 'socket' && c.path.includes(encodeURIComponent(room)) ? { cutAfterMs: 300 } : 'pass');
  const p = await openPage(room);
  try {
    // 3 sockets (~0.3 s each) with backoffs of at most 1 s and 2 s between them, then a join.
    const { value: join } = await waitFor(() => p.pings.find((x) => x.event === 'join'), {
      timeoutMs: 8_000,
      what: 'an HTTP join',
    });
    const fellBackIn = join.at - p.openedAt;
    assert.ok(fellBackIn <= 6_000, `fell back to HTTP ${fellBackIn} ms after the page opened`);
    const tries = p.sockets.filter((s) => s.feed === 'tracker' && s.at <= join.at).length;
    assert.equal(tries, 3, 'maxRetries: three sockets, then HTTP');

    await waitFor(async () => (await roomSessions(room)) === 1, { timeoutMs: 3_000, what: 'the server counts the page' });
    await waitFor(async () => (await state(p.page, 'tracked'))?.text === '1 online now', { timeoutMs: 3_000, what: '"1 online now"' });

    // The page keeps counting over HTTP: a second session shows within a heartbeat or so.
    const other = { room, session: uid('s'), visitor: uid('v') };
    await worker.join('demo', other);
    const { elapsed: upIn } = await waitFor(async () => (await state(p.page, 'tracked'))?.text === '2 online now', {
      timeoutMs: HEARTBEAT_MS + 1_500,
      what: '"2 online now" over HTTP pings',
    });
    await worker.leave('demo', other);
    await waitFor(async () => (await state(p.page, 'tracked'))?.text === '1 online now', {
      timeoutMs: HEARTBEAT_MS + 1_500,
      what: 'back to "1 online now"',
    });
    const heartbeats = p.pings.filter((x) => x.event === 'heartbeat').length;
    assert.ok(heartbeats >= 1, 'HTTP heartbeats went out');
    // In the fallback, sockets are tried again only by the probe (every 60 s).
    assert.equal(p.sockets.filter((s) => s.feed === 'tracker').length, 3, 'no socket retried before the probe');
    console.log(`# link: HTTP fallback after 3 cut sockets in ${fellBackIn} ms; a join shown over HTTP in ${Math.round(upIn)} ms`);
  } finally {
    proxy.pass();
    await p.context.close();
  }
});

test('a half-open socket (silent, never closed) is replaced within two heartbeats for every feed, and the session never drops', async () => {
  const room = `/link/halfopen-${uid('r')}`;
  const p = await openPage(room, { other: true, status: true });
  const observer = await worker.openLive({ site: 'demo', room });
  try {
    await allLive(p.page, ['tracked', 'other', 'status'], 10_000);
    await waitFor(async () => (await roomSessions(room)) === 1, { timeoutMs: 3_000, what: 'the page is counted' });
    const before = p.sockets.length;
    const since = performance.now();
    const frozenAt = Date.now();
    const frozen = proxy.freeze((c) => c.kind === 'socket');
    assert.ok(frozen >= 3, `the page's three sockets were silenced (${frozen})`);

    // Each feed opens a new socket: its unanswered ping times out (<= 2 heartbeats), then a backoff.
    const bound = 2 * HEARTBEAT_MS + 1_000 + 500;
    const { value: fresh } = await waitFor(
      () => {
        const after = p.sockets.slice(before);
        const first = (feed) => after.find((s) => s.feed === feed);
        return first('tracker') && first('counts') && first('status') ? after : null;
      },
      { timeoutMs: bound + 2_000, what: 'a new socket for each feed' },
    );
    for (const feed of ['tracker', 'counts', 'status']) {
      const took = fresh.find((s) => s.feed === feed).at - frozenAt;
      assert.ok(took <= bound, `${feed}: a new socket ${took} ms after its connection went silent (bound ${bound} ms)`);
    }
    await allLive(p.page, ['tracked', 'other', 'status'], 2_000);

    // The new sockets carry on: changes reach every feed.
    const elsewhere = { room: `${room}/other`, session: uid('s'), visitor: uid('v') };
    await worker.join('demo', elsewhere);
    await waitFor(async () => (await state(p.page, 'other'))?.text === '1 online now', { timeoutMs: 2_000, what: 'the count-only feed follows' });
    await worker.join('demo', { room: '/elsewhere', session: uid('s'), visitor: uid('v'), entity: ENTITY, token: trackToken() });
    await waitFor(async () => (await state(p.page, 'status'))?.text === 'Online', { timeoutMs: 2_000, what: 'the status feed follows' });

    // The tracked session was never dropped: the server's ttl (6 s) never ran out on it.
    await sleep(500);
    const roomCounts = observer.countsSince(since).map((e) => e.msg.room?.sessions);
    assert.ok(!roomCounts.includes(0), `the room never counted 0: ${JSON.stringify(roomCounts)}`);
    assert.equal(await roomSessions(room), 1);
    console.log(`# link: half-open sockets replaced in ${fresh.map((s) => `${s.feed} ${s.at - frozenAt} ms`).join(', ')}`);
  } finally {
    await observer.close();
    await p.context.close();
  }
});

test('when the server stops answering every feed says so, and each comes back when it returns', async () => {
  const room = `/link/down-${uid('r')}`;
  const p = await openPage(room, { other: true, status: true });
  try {
    await allLive(p.page, ['tracked', 'other', 'status'], 10_000);
    // The path to the server is lost: open sockets go silent, anything new is refused.
    const downAt = Date.now();
    proxy.policy = () => 'refuse';
    proxy.freeze((c) => c.kind === 'socket');
    proxy.cut((c) => c.kind === 'http');

    // Half-open detection (<= 2 heartbeats), 3 refused sockets (backoffs <= 1 + 2 s, or less),
    // then a failed HTTP exchange.
    const downBound = 2 * HEARTBEAT_MS + 3_500 + 1_500;
    const { elapsed: downIn } = await waitFor(
      async () =>
        (await state(p.page, 'tracked')).state === 'offline' &&
        (await state(p.page, 'other')).state === 'offline' &&
        (await state(p.page, 'status')).state === 'unreachable',
      { timeoutMs: downBound, what: 'every feed says the server is unreachable' },
    );
    assert.equal((await state(p.page, 'status')).text, 'Status unavailable');

    const backAt = Date.now();
    proxy.pass();
    // Each feed is in its HTTP fallback now; its next exchange comes within 1 s + a backoff.
    const { elapsed: backIn } = await waitFor(async () => {
      for (const id of ['tracked', 'other', 'status']) if ((await state(p.page, id)).state !== 'live') return false;
      return true;
    }, { timeoutMs: 7_000, what: 'every feed live again' });
    assert.equal((await state(p.page, 'tracked')).text, '1 online now');
    await waitFor(async () => (await roomSessions(room)) === 1, { timeoutMs: 3_000, what: 'the server counts the page again' });
    console.log(`# link: unreachable shown ${Math.round(downIn)} ms after the server went away, live again ${Math.round(backIn)} ms after it returned (${backAt - downAt} ms down)`);
  } finally {
    proxy.pass();
    await p.context.close();
  }
});

test('the browser going offline is noticed within one pong timeout, and coming back online brings the counts back at once', async () => {
  const room = `/link/offline-${uid('r')}`;
  const p = await openPage(room, { other: true });
  try {
    await allLive(p.page, ['tracked', 'other'], 10_000);
    const before = p.sockets.length;
    const offlineAt = Date.now();
    await p.context.setOffline(true); // Chromium keeps the open sockets, silent: half-open
    // The offline event sends a ping at once; unanswered after one heartbeat, the socket is replaced.
    const { value: retry } = await waitFor(() => p.sockets.slice(before).find((s) => s.feed === 'tracker'), {
      timeoutMs: HEARTBEAT_MS + 3_000,
      what: 'a new tracker socket',
    });
    assert.ok(retry.at - offlineAt <= HEARTBEAT_MS + 1_000 + 500, `replaced ${retry.at - offlineAt} ms after going offline`);
    await waitFor(async () => (await state(p.page, 'tracked')).state === 'offline' && (await state(p.page, 'other')).state === 'offline', {
      timeoutMs: 6_000,
      what: 'both counters offline',
    });

    const onlineAt = Date.now();
    await p.context.setOffline(false);
    const { elapsed } = await waitFor(
      async () => (await state(p.page, 'tracked')).state === 'live' && (await state(p.page, 'other')).state === 'live',
      { timeoutMs: 1_500, what: 'both counters live within 1.5 s of the online event' },
    );
    assert.equal((await state(p.page, 'tracked')).text, '1 online now');
    console.log(`# link: socket replaced ${retry.at - offlineAt} ms after going offline; live ${Math.round(elapsed)} ms after online (${onlineAt - offlineAt} ms offline)`);
  } finally {
    await p.context.close();
  }
});
