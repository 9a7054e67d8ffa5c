// The owner's dashboard (public/dashboard.html) in a real Chromium against the Worker in workerd:
// the live number follows a join and a leave, the rooms follow the server, and the chart marks
// the peak that /v1/history reports for a week of known load (played in seconds with the clock
// test hook); private stats with no token, a refused one, an expired one and one from
// `npm run token`; an unknown site; a site with no data yet; a server that cannot be reached
// (and comes back), then one that is stopped. Screenshots in light and dark, desktop and phone,
// go to test-results/ for a person to look at.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { browserSuite, USER_AGENT } from '../kit/browser-kit.mjs';
import { PEAK_DAY, PEAK_HOUR, playWeek } from '../kit/dashboard-kit.mjs';
import { SECRET, SECRET_ENV, nowSeconds, signJwt } from '../kit/entities-kit.mjs';
import { assertWithin, LOCKED_SITE, ROOT, sitesConfig, uid, waitFor } from '../kit/harness.mjs';
import { TestProxy } from '../kit/proxy-kit.mjs';

const PRIVATE = 'private';
/** The site with a week of known load (named like a real one: it is in the README's screenshot). */
const WEEK = 'shop.example';
const SHOTS = path.join(ROOT, 'test-results');
const INTERVAL_MS = 300;

function sites() {
  const s = sitesConfig();
  s[PRIVATE] = { origins: ['*'], secret_env: SECRET_ENV, private_stats: true };
  s[WEEK] = { origins: ['*'] };
  return s;
}

let w;
let browser;
const week = WEEK;
let weekLoad;

browserSuite(
  {
    vars: {
      SITES: JSON.stringify(sites()),
      [SECRET_ENV]: SECRET,
      HERENOW_TEST_HOOKS: 'true',
      // HTTP sessions outlive the clock's jumps (the load heartbeats them once a day)
      PRESENCE_TTL_SECONDS: '86400',
      PRESENCE_HEARTBEAT_SECONDS: '1',
      BROADCAST_INTERVAL_MS: String(INTERVAL_MS),
    },
  },
  async (s) => {
    ({ worker: w, browser } = s);
    weekLoad = await playWeek(w, week);
    console.log(`# dashboard: a week of load in ${weekLoad.requests} requests, ${weekLoad.ms} ms`);
  },
);

/** A page of the dashboard; `errors` collects uncaught page errors (there must be none). */
async function open(query, { base = w.base, viewport = { width: 1200, height: 820 }, colorScheme = 'light', timezoneId = 'Asia/Kolkata', deviceScaleFactor = 1 } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, timezoneId, deviceScaleFactor, locale: 'en-US', userAgent: USER_AGENT });
  const page = await context.newPage();
  const errors = [];
  const urls = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => urls.push({ url: r.url(), auth: r.headers().authorization ?? null }));
  await page.goto(`${base}/dashboard.html${query}`);
  return { page, context, errors, urls };
}

/** The text of an element (HTML or SVG), with white space collapsed. */
const text = async (page, selector) => (await page.locator(selector).textContent()).replace(/\s+/g, ' ').trim();
const attr = (page, selector, name) => page.locator(selector).getAttribute(name);

async function history(site, range, token) {
  const res = await w.request(`/v1/history?site=${site}&range=${range}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Waits until the chart shows `range` with a peak, and returns its data attributes. */
async function chartPeak(page, range) {
  await waitFor(async () => (await attr(page, '#chart svg', 'data-range')) === range && (await attr(page, '#chart svg', 'data-peak-sessions')) !== null, {
    timeoutMs: 5000,
    what: `the ${range} chart with a peak`,
  });
  const a = async (n) => attr(page, '#chart svg', n);
  return {
    points: Number(await a('data-points')),
    peak: { sessions: Number(await a('data-peak-sessions')), visitors: Number(await a('data-peak-visitors')), t: Number(await a('data-peak-t')) },
  };
}

test('the live number follows a join and a leave within the broadcast interval, and the rooms follow the server', { timeout: 60_000 }, async () => {
  const site = w.site();
  const people = [
    { room: '/', session: uid('s'), visitor: uid('v') },
    { room: '/pricing', session: uid('s'), visitor: uid('v') },
    { room: '/pricing', session: uid('s'), visitor: uid('v') },
  ];
  for (const p of people) await w.join(site, p);
  const { page, context, errors } = await open(`?site=${site}`);
  try {
    await waitFor(async () => (await text(page, '#online')) === '3 online now', { timeoutMs: 5000, what: '"3 online now"' });
    assert.equal(await text(page, '#visitors-n'), '3');
    assert.equal(await attr(page, '#online', 'aria-live'), 'polite', 'the number is announced');
    assert.equal(await attr(page, '#conn', 'data-state'), 'live');
    const shownRooms = () => page.locator('#rooms li').evaluateAll((lis) => lis.map((li) => [li.dataset.room, Number(li.dataset.sessions)]));
    await waitFor(async () => JSON.stringify(await shownRooms()) === JSON.stringify([['/pricing', 2], ['/', 1]]), { timeoutMs: 5000, what: 'the rooms' });

    // A join: the number within the interval + 250 ms (the contract) + the page's own time.
    const newcomer = { room: '/docs', session: uid('s'), visitor: uid('v') };
    let start = performance.now();
    await w.join(site, newcomer);
    const { elapsed: upIn } = await waitFor(async () => (await text(page, '#online')) === '4 online now', { timeoutMs: 3000, intervalMs: 25, what: '"4 online now"' });
    assertWithin(performance.now() - start, INTERVAL_MS + 250 + 700, 'a join shown on the dashboard');
    // The rooms follow within their 2 s throttle.
    const body = (await w.rooms(site)).rooms.map((r) => [r.room, r.sessions]);
    const { elapsed: roomsIn } = await waitFor(async () => JSON.stringify(await shownRooms()) === JSON.stringify(body), { timeoutMs: 4000, what: 'the rooms after a join' });
    assertWithin(roomsIn, 3500, 'the rooms after a join');

    start = performance.now();
    await w.leave(site, newcomer);
    await waitFor(async () => (await text(page, '#online')) === '3 online now', { timeoutMs: 3000, intervalMs: 25, what: '"3 online now" again' });
    assertWithin(performance.now() - start, INTERVAL_MS + 250 + 700, 'a leave shown on the dashboard');
    assert.match(await page.title(), /^3 online · t\d+ · herenow$/);
    assert.deepEqual(errors, []);
    console.log(`# dashboard: a join shown in ${Math.round(upIn)} ms, the rooms in ${Math.round(roomsIn)} ms`);
  } finally {
    await context.close();
  }
});

test('the chart marks the peak /v1/history reports, for 1h, 24h and 7d of a known week, and remembers the range', { timeout: 60_000 }, async () => {
  const { page, context, errors } = await open(`?site=${week}&range=1h`);
  try {
    for (const [range, truth, points] of [['1h', PEAK_HOUR, 60], ['24h', PEAK_DAY, 288], ['7d', PEAK_DAY, 168]]) {
      if (range !== '1h') await page.click(`button[data-range="${range}"]`);
      const shown = await chartPeak(page, range);
      const server = await history(week, range);
      assert.equal(shown.points, points, `${range}: one point per step`);
      assert.deepEqual(shown.peak, server.peak, `${range}: the marked peak is /v1/history's`);
      assert.equal(server.peak.sessions, truth, `${range}: the load's peak`);
      assert.equal(await text(page, '.hc-peak-value'), `Peak ${truth}`, `${range}: the peak's label`);
      assert.equal(await text(page, '#peak-n'), String(truth), `${range}: the peak tile`);
      assert.equal(await attr(page, `button[data-range="${range}"]`, 'aria-pressed'), 'true');
      assert.equal(await attr(page, '#history', 'data-state'), 'ready');

      // Axes: round counts from 0 going up; times on round minutes, hours or midnights of the
      // viewer's clock (Asia/Kolkata is UTC+5:30, so UTC-aligned ticks would show :30).
      const ys = await page.locator('.hc-grid text').evaluateAll((ts) => ts.map((t) => t.textContent));
      assert.equal(ys[0], '0');
      for (let i = 1; i < ys.length; i++) assert.ok(Number(ys[i]) > Number(ys[i - 1]) && Number.isInteger(Number(ys[i])), `${range}: y ticks ${ys}`);
      assert.ok(Number(ys.at(-1)) >= truth, `${range}: the axis reaches the peak`);
      const ticks = await page.locator('.hc-xaxis text').evaluateAll((ts) => ts.map((t) => {
        const d = new Date(Number(t.dataset.t));
        return { label: t.textContent, minutes: d.getHours() * 60 + d.getMinutes() };
      }));
      assert.ok(ticks.length >= 4, `${range}: at least 4 time ticks (${JSON.stringify(ticks)})`);
      const round = range === '1h' ? 5 : 60;
      for (const tick of ticks) assert.equal(tick.minutes % round, 0, `${range}: tick ${tick.label} is on a round local time`);
    }

    // The crosshair: the keys walk the steps; End is the step in progress.
    await page.focus('#chart');
    await page.keyboard.press('End');
    assert.match(await text(page, '.hc-tip'), /In progress/);
    // The pointer over the peak's step shows its values.
    const box = await page.locator('.hc-peak-dot').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + 40);
    await waitFor(async () => /Peak of the range/.test(await text(page, '.hc-tip')), { timeoutMs: 2000, what: 'the tooltip on the peak' });
    assert.match(await text(page, '.hc-tip'), new RegExp(`Sessions\\s*${PEAK_DAY}\\D`));
    // The text alternative names the peak.
    assert.match(await page.locator('#chart svg desc').textContent(), new RegExp(`Peak: ${PEAK_DAY} sessions`));

    // The choice stays in the URL (and the fragment is kept), and in localStorage.
    assert.match(page.url(), /[?&]range=7d/);
    await page.reload();
    await chartPeak(page, '7d');
    await page.goto(`${w.base}/dashboard.html?site=${week}`);
    await chartPeak(page, '7d');
    assert.equal(await attr(page, 'button[data-range="7d"]', 'aria-pressed'), 'true');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a site whose origins leave out the dashboard\'s own: the socket is refused, and the count comes by polling', { timeout: 30_000 }, async () => {
  // Browsers send Origin on every WebSocket but not on a same-origin GET: /v1/live refuses the
  // page (403 forbidden_origin) while /v1/count, /v1/rooms and /v1/history answer it.
  const person = { room: '/locked-room', session: uid('s'), visitor: uid('v') };
  await w.join(LOCKED_SITE, person);
  const { page, context, errors } = await open(`?site=${LOCKED_SITE}`);
  try {
    await waitFor(async () => (await text(page, '#conn-text')) === 'Live · every 5 s', { timeoutMs: 5000, what: 'the polling state' });
    assert.equal(await text(page, '#online'), '1 online now');
    await waitFor(async () => (await page.locator('#rooms li').first().getAttribute('data-room')) === '/locked-room', { timeoutMs: 5000, what: 'the rooms' });
    const start = performance.now();
    await w.leave(LOCKED_SITE, person);
    await waitFor(async () => (await text(page, '#online')) === '0 online now', { timeoutMs: 7000, what: 'the leave, by polling' });
    assertWithin(performance.now() - start, 6500, 'a leave shown by polling (every 5 s)');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a site with nobody yet says so instead of drawing a flat chart; an unknown site says so', { timeout: 30_000 }, async () => {
  const empty = await open(`?site=${w.site()}`);
  try {
    await waitFor(async () => (await attr(empty.page, '#history', 'data-state')) === 'empty', { timeoutMs: 5000, what: 'the empty state' });
    assert.match(await text(empty.page, '#history'), /No visits recorded in the last hour yet/);
    assert.equal(await attr(empty.page, '#rooms-card', 'data-state'), 'empty');
    assert.equal(await text(empty.page, '#online'), '0 online now');
    assert.deepEqual(empty.errors, []);
  } finally {
    await empty.context.close();
  }
  const unknown = await open('?site=no-such-site');
  try {
    await waitFor(async () => (await attr(unknown.page, 'body', 'data-state')) === 'refused', { timeoutMs: 5000, what: 'the refused state' });
    assert.match(await text(unknown.page, '#refused'), /doesn’t know the site “no-such-site”/);
    assert.equal(await unknown.page.locator('main').isVisible(), false, 'no numbers for an unknown site');
  } finally {
    await unknown.context.close();
  }
});

test('private stats: no token, a refused token and an expired one say so; a token from npm run token shows the data', { timeout: 60_000 }, async () => {
  await w.join(PRIVATE, { room: '/secret-path', session: uid('s'), visitor: uid('v') });
  const stats = (extra = {}) => signJwt({ site: PRIVATE, sub: 'owner', scope: 'stats', exp: nowSeconds() + 600, ...extra });
  const cases = [
    ['no token', '', 'private', /This site’s stats are private/],
    ['a forged token', `#token=${signJwt({ site: PRIVATE, sub: 'owner', scope: 'stats', exp: nowSeconds() + 600 }, { secret: 'not-the-secret' })}`, 'refused', /The stats token was refused/],
    ['a token of another site', `#token=${stats({ site: 't01' })}`, 'refused', /It is for the site “t01”, not “private”/],
    ['a watch token', `#token=${stats({ scope: 'watch', watch: ['*'] })}`, 'refused', /Its scope is “watch”/],
    ['an expired token', `#token=${stats({ exp: nowSeconds() - 600 })}`, 'expired', /The stats token expired at/],
  ];
  for (const [what, fragment, access, message] of cases) {
    const { page, context, errors, urls } = await open(`?site=${PRIVATE}${fragment}`);
    try {
      await waitFor(async () => (await attr(page, 'body', 'data-access')) === access, { timeoutMs: 5000, what: `${what}: data-access=${access}` });
      assert.match(await text(page, '#access-notice'), message, what);
      await waitFor(async () => (await attr(page, '#history', 'data-state')) === 'locked' && (await attr(page, '#rooms-card', 'data-state')) === 'locked', {
        timeoutMs: 5000,
        what: `${what}: the chart and the rooms locked`,
      });
      assert.equal(await page.locator('#rooms li').count(), 0, `${what}: no room is shown`);
      // The count stays public.
      await waitFor(async () => (await text(page, '#online')) === '1 online now', { timeoutMs: 5000, what: `${what}: the public count` });
      assert.deepEqual(errors, [], what);
      const token = fragment.slice('#token='.length);
      if (token) assert.ok(urls.every((u) => !u.url.includes(token)), `${what}: the token is in no URL`);
    } finally {
      await context.close();
    }
  }

  // The owner's token, as `npm run token -- --scope stats --site private` prints it, pasted
  // into the page's form.
  const minted = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'token.mjs'), '--scope', 'stats', '--site', PRIVATE], {
    env: { PATH: process.env.PATH, SITES: JSON.stringify(sites()), [SECRET_ENV]: SECRET },
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(minted.status, 0, minted.stderr);
  const token = minted.stdout.trim();
  const { page, context, errors, urls } = await open(`?site=${PRIVATE}`);
  try {
    await waitFor(async () => (await attr(page, 'body', 'data-access')) === 'private', { timeoutMs: 5000, what: 'the private notice' });
    await page.fill('#access-notice input', token);
    await page.click('#access-notice button[type="submit"]');
    await waitFor(async () => (await attr(page, 'body', 'data-access')) === 'token', { timeoutMs: 5000, what: 'access with the token' });
    await waitFor(async () => (await page.locator('#rooms li').first().getAttribute('data-room')) === '/secret-path', { timeoutMs: 5000, what: 'the private rooms' });
    const shown = await chartPeak(page, '1h');
    assert.deepEqual(shown.peak, (await history(PRIVATE, '1h', token)).peak);
    assert.equal(await page.locator('#access-notice').isVisible(), false);
    assert.match(await text(page, '#access'), /Private · token until/);
    const stats = urls.filter((u) => /\/v1\/(rooms|history)\?/.test(u.url) && u.auth);
    assert.ok(stats.length >= 2 && stats.every((u) => u.auth === `Bearer ${token}`), 'the token goes in the Authorization header');
    assert.ok(urls.every((u) => !u.url.includes(token)), 'the token is in no URL');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('screenshots: light and dark, desktop and a 390 px phone (test-results/dashboard-*.png)', { timeout: 60_000 }, async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const shots = [
    ['light', { width: 1200, height: 820 }, 'light', '24h', 1],
    ['dark', { width: 1200, height: 820 }, 'dark', '24h', 1],
    ['phone-light', { width: 390, height: 844 }, 'light', '1h', 2],
    ['phone-dark', { width: 390, height: 844 }, 'dark', '7d', 2],
  ];
  for (const [name, viewport, colorScheme, range, deviceScaleFactor] of shots) {
    const { page, context, errors } = await open(`?site=${week}&range=${range}`, { viewport, colorScheme, deviceScaleFactor, timezoneId: 'Europe/Berlin' });
    try {
      await chartPeak(page, range);
      await waitFor(async () => (await page.locator('#rooms li').count()) > 0, { timeoutMs: 5000, what: 'the rooms' });
      // Nothing wider than the viewport (a phone must not scroll sideways).
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow} px wider than the viewport`);
      const file = path.join(SHOTS, `dashboard-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      assert.ok(fs.statSync(file).size > 10_000, `${name}: a screenshot was written`);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  }
  console.log(`# dashboard: screenshots in ${path.relative(ROOT, SHOTS)}/dashboard-{light,dark,phone-light,phone-dark}.png`);
});

test('a server that cannot be reached: the page says so, keeps the last numbers dimmed, retries, and recovers; then the server is stopped', { timeout: 60_000 }, async () => {
  const site = w.site();
  await w.join(site, { room: '/', session: uid('s'), visitor: uid('v') });
  const proxy = await TestProxy.start(w.port);
  const { page, context, errors } = await open(`?site=${site}`, { base: proxy.base });
  let start;
  try {
    await waitFor(async () => (await text(page, '#online')) === '1 online now', { timeoutMs: 5000, what: 'the count through the proxy' });
    await waitFor(async () => (await attr(page, '#history', 'data-state')) === 'ready', { timeoutMs: 5000, what: 'the chart' });

    // Everything between the browser and the server is cut, and new connections refused.
    proxy.policy = () => 'refuse';
    start = performance.now();
    proxy.cut();
    await waitFor(async () => (await attr(page, 'body', 'data-conn')) === 'unreachable', { timeoutMs: 3000, intervalMs: 25, what: 'the unreachable state' });
    assertWithin(performance.now() - start, 2000, 'a cut connection shown as unreachable');
    assert.match(await text(page, '#conn-notice'), /Can’t reach the herenow server\. Retrying.* The numbers below are from /);
    assert.equal(await text(page, '#online'), '1 online now', 'the last number stays');
    assert.equal(await attr(page, '#history', 'data-state'), 'ready', 'the last chart stays');
    assert.equal(await text(page, '#conn-text'), 'Offline');

    // Back: within the backoff of the next tries (full jitter below 1 s, 2 s, 4 s).
    proxy.pass();
    start = performance.now();
    await waitFor(async () => (await attr(page, 'body', 'data-conn')) === 'live', { timeoutMs: 8000, what: 'live again' });
    assertWithin(performance.now() - start, 7500, 'the page recovered');
    assert.equal(await page.locator('#conn-notice').isVisible(), false);
  } finally {
    await context.close();
    await proxy.stop();
  }

  // The server itself stops (the page talks to it directly this time).
  const direct = await open(`?site=${site}`);
  try {
    await waitFor(async () => (await text(direct.page, '#online')) === '1 online now', { timeoutMs: 5000, what: 'the count' });
    await w.stop();
    start = performance.now();
    await waitFor(async () => (await attr(direct.page, 'body', 'data-conn')) === 'unreachable', { timeoutMs: 5000, intervalMs: 25, what: 'unreachable after the server stopped' });
    assertWithin(performance.now() - start, 4000, 'a stopped server shown as unreachable');
    assert.equal(await text(direct.page, '#online'), '1 online now', 'the last number stays');
    assert.deepEqual([...errors, ...direct.errors], []);
  } finally {
    await direct.context.close();
  }
});
