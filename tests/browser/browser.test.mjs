// The demo page in a real browser (Debian's Chromium driven by playwright-core) against the
// real Worker in workerd: the <here-now> counter follows tabs opening and closing.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { browserSuite, USER_AGENT } from '../kit/browser-kit.mjs';
import { sleep, waitFor } from '../kit/harness.mjs';

let worker;
let browser;

browserSuite(
  {
    vars: {
      // the demo site, plus the harness's readiness probe
      SITES: JSON.stringify({ demo: { origins: ['*'] }, ready: { origins: ['*'] } }),
      PRESENCE_HEARTBEAT_SECONDS: '2',
      PRESENCE_TTL_SECONDS: '6',
    },
  },
  (s) => ({ worker, browser } = s),
);

async function openDemo(context) {
  const page = await context.newPage();
  await page.goto(`${worker.base}/`);
  return page;
}

const shown = (page) => page.locator('#online').innerText();

test('the demo page in three tabs shows 3, and closing one shows 2 within a few seconds', async () => {
  const context = await browser.newContext({ userAgent: USER_AGENT });
  try {
    const tabs = [await openDemo(context), await openDemo(context), await openDemo(context)];
    // one browser: three sessions (tabs), one visitor; the main counter counts sessions or
    // visitors as the page chose, so assert on the server too
    const { elapsed: upIn } = await waitFor(
      async () => (await shown(tabs[0])) === '3 online now' && (await shown(tabs[2])) === '3 online now',
      { timeoutMs: 10_000, what: 'every tab shows 3' },
    );
    const count = (await worker.request('/v1/count?site=demo')).body;
    assert.equal(count.site.sessions, 3);
    assert.equal(count.site.visitors, 1, 'three tabs of one browser are one visitor');

    await tabs[2].close();
    const { elapsed: downIn } = await waitFor(
      async () => (await shown(tabs[0])) === '2 online now' && (await shown(tabs[1])) === '2 online now',
      { timeoutMs: 5_000, what: 'the other tabs show 2' },
    );
    assert.ok(downIn <= 5_000, `closing a tab took ${downIn} ms to show`);
    console.log(`# browser: 3 tabs shown in ${Math.round(upIn)} ms, a close shown in ${Math.round(downIn)} ms`);
  } finally {
    await context.close();
  }
});

test('the element shows a quiet fallback when the server cannot be reached', async () => {
  const context = await browser.newContext({ userAgent: USER_AGENT });
  try {
    const page = await context.newPage();
    // the page from the worker, but an element pointed at a port nobody listens on
    await page.goto(`${worker.base}/`);
    await page.evaluate(() => {
      const el = document.createElement('here-now');
      el.id = 'dead';
      el.setAttribute('site', 'demo');
      el.setAttribute('endpoint', 'http://127.0.0.1:9');
      el.setAttribute('text-offline', 'offline');
      document.body.append(el);
    });
    await waitFor(
      async () => (await page.locator('#dead').getAttribute('data-state')) === 'offline',
      { timeoutMs: 20_000, what: 'the element reports offline' },
    );
    assert.equal(await page.locator('#online').getAttribute('data-state'), 'live');
  } finally {
    await context.close();
  }
});

test('a single-page navigation moves the tracked session without a gap: another viewer never sees it leave', async () => {
  const context = await browser.newContext({ userAgent: USER_AGENT });
  const viewer = await worker.openLive({ site: 'demo', room: '/spa/a' });
  try {
    const page = await context.newPage();
    await page.goto(`${worker.base}/`);
    // the demo page tracks itself; track() with another room moves that one session
    await page.evaluate(() => window.herenow.track({ site: 'demo', room: '/spa/a' }));
    // the tabs of earlier tests have ended (at most a ttl): this tab is the whole site
    await viewer.next((m) => m.type === 'count' && m.site.sessions === 1 && m.room?.sessions === 1, 15_000);
    const since = performance.now();
    // each navigation is a new socket for the same session; the old one closes cleanly
    for (let i = 0; i < 11; i++) {
      await page.evaluate((room) => window.herenow.setRoom(room), i % 2 ? '/spa/a' : '/spa/b');
      await sleep(300);
    }
    await waitFor(async () => (await worker.count('demo', '/spa/b')).room.sessions === 1, { timeoutMs: 5_000, what: 'the tab in /spa/b' });
    await sleep(worker.intervalMs + 250);
    const sites = viewer.countsSince(since).map((e) => e.msg.site.sessions);
    assert.ok(sites.length > 0, 'the viewer heard the room changes');
    assert.deepEqual([...new Set(sites)], [1], `the site count never dipped: ${JSON.stringify(sites)}`);
    console.log(`# browser: 11 navigations, ${sites.length} count messages to a viewer, the site always 1`);
  } finally {
    viewer.terminate();
    await context.close();
  }
});
