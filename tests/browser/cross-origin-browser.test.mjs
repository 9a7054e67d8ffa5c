// A page on the user's own site, in a real browser (Debian's Chromium driven by playwright-core)
// against the real Worker in workerd: the page is served from ANOTHER origin than the Worker's,
// and loads the client from the Worker's origin as docs/deploy.md tells a site to, both the ES
// module (an import across origins needs CORS: public/_headers) and the classic script tag.
// A page whose origin or site the deployment does not allow says so on the console, naming its
// origin and the SITES field to change.
//
// The other origin is a small HTTP server of this file on 127.0.0.1 (another port): Chromium lets
// a page open sockets to 127.0.0.1 only when the page itself comes from a local address (its
// local network access checks), which is also how a developer tries a page locally.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchChromium, USER_AGENT } from '../kit/browser-kit.mjs';
import { ROOT, startWorker, uid, waitFor } from '../kit/harness.mjs';

const INTERVAL_MS = 300;
/** The contract's bound for a join or leave to reach every subscriber, and room for a browser. */
const CHANGE_BOUND_MS = INTERVAL_MS + 250 + 1_500;

let worker;
let browser;
let site; // the other origin: {server, origin, pages}

before(async () => {
  site = await startPageServer();
  worker = await startWorker({
    vars: {
      SITES: JSON.stringify({
        // the site as docs/deploy.md configures it: only its own origin may use it
        'shop.example': { origins: [site.origin] },
        // a site that does not list the page's origin
        locked: { origins: ['https://allowed.example'] },
        ready: { origins: ['*'] },
      }),
      PRESENCE_HEARTBEAT_SECONDS: '2',
      PRESENCE_TTL_SECONDS: '6',
      BROADCAST_INTERVAL_MS: String(INTERVAL_MS),
    },
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise((resolve) => (site ? site.server.close(resolve) : resolve()));
});

/** An HTTP server on a free 127.0.0.1 port that serves the test's pages (path -> HTML). */
async function startPageServer() {
  const pages = new Map();
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const html = pages.get(req.url);
    if (html === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, pages, origin: `http://127.0.0.1:${server.address().port}` };
}

/** Opens `html` at a fresh path of the other origin; records console warnings and errors. */
async function openPage(html) {
  const context = await browser.newContext({ userAgent: USER_AGENT, viewport: { width: 720, height: 420 } });
  const page = await context.newPage();
  const console_ = [];
  page.on('console', (m) => (m.type() === 'warning' || m.type() === 'error') && console_.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console_.push('pageerror: ' + e.message));
  const pagePath = `/shop/${uid('p')}.html`;
  site.pages.set(pagePath, html);
  await page.goto(site.origin + pagePath);
  return { page, context, console: console_ };
}

/**
 * The user's page: the classic script tag tracks it and defines <here-now>; the ES module, imported
 * by URL from the Worker's origin, subscribes to the same room and writes the count itself.
 */
const shopPage = (room) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>A page on another origin</title>
<script src="${worker.base}/herenow.js" data-site="shop.example" data-room="${room}" defer></script>
<script type="module">
  import { subscribe, track } from '${worker.base}/herenow.mjs';
  window.moduleLoaded = typeof subscribe === 'function' && typeof track === 'function';
  subscribe({ site: 'shop.example', room: ${JSON.stringify(room)} }, (c) => {
    window.moduleCount = c ? c.room.sessions : null;
    document.getElementById('module-count').textContent = c ? String(c.room.sessions) : 'unreachable';
  });
</script>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem; color: #1d2330; }
  code { background: #eef1f6; padding: 0 .3em; border-radius: 3px; }
  .card { border: 1px solid #d5dae3; border-radius: 8px; padding: 1rem 1.25rem; max-width: 36rem; }
  here-now { font-weight: 600; color: #0a7a3d; }
  #module-count { font-weight: 600; }
</style></head><body>
<h1>A page on the user's site</h1>
<p>This page comes from <code id="page-origin"></code>; herenow runs on <code>${worker.base}</code>.</p>
<div class="card">
  <p>Script tag (<code>herenow.js</code>), element: <here-now id="element" room="${room}"></here-now></p>
  <p>ES module (<code>herenow.mjs</code>), <code>subscribe()</code>: <span id="module-count">…</span> in this room</p>
</div>
<script>document.getElementById('page-origin').textContent = location.origin;</script>
</body></html>`;

const shown = (page) =>
  page.evaluate(() => ({
    element: document.getElementById('element').textContent,
    elementState: document.getElementById('element').getAttribute('data-state'),
    module: window.moduleCount ?? null,
    moduleLoaded: window.moduleLoaded === true,
    tracking: window.herenow && window.herenow.tracking,
  }));

test('the client files are served for any origin: CORS and their content types', async () => {
  const expected = {
    '/herenow.js': /^text\/javascript\b/,
    '/herenow.mjs': /^text\/javascript\b/,
    '/herenow.d.ts': /^(text\/plain|application\/typescript)\b/,
  };
  for (const [file, type] of Object.entries(expected)) {
    const res = await fetch(worker.base + file, { headers: { origin: site.origin } });
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get('access-control-allow-origin'), '*', `${file}: readable from any origin`);
    assert.match(res.headers.get('content-type') ?? '', type, `${file}: content type`);
    await res.arrayBuffer();
  }
  // the rules file itself is not served
  const rules = await fetch(worker.base + '/_headers');
  assert.equal(rules.status, 404);
  await rules.arrayBuffer();
});

test('a page on another origin imports the module and uses the script tag from the Worker: both show the live count', async () => {
  const room = `/product/${uid('r')}`;
  const first = await openPage(shopPage(room));
  let second;
  try {
    // one page: tracked once (the script tag's tracker), counted by the server, shown by both builds
    await waitFor(async () => (await worker.count('shop.example', room)).room.sessions === 1, { timeoutMs: 8_000, what: 'the server counts the page' });
    await waitFor(async () => {
      const s = await shown(first.page);
      return s.moduleLoaded && s.module === 1 && s.element === '1 online now';
    }, { timeoutMs: 5_000, what: 'the page shows 1 through the element and the module' });

    // a second page of the same site: the server holds 2, and the first page follows at once
    second = await openPage(shopPage(room));
    await waitFor(async () => (await worker.count('shop.example', room)).room.sessions === 2, { timeoutMs: 8_000, what: 'the server counts both pages' });
    const started = Date.now();
    await waitFor(async () => {
      const s = await shown(first.page);
      return s.module === 2 && s.element === '2 online now';
    }, { timeoutMs: CHANGE_BOUND_MS, what: 'the first page shows 2' });
    const followed = Date.now() - started;

    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await first.page.screenshot({ path: path.join(ROOT, 'test-results', 'cross-origin.png'), animations: 'disabled' });
    const state = await shown(first.page);
    assert.equal(state.elementState, 'live');
    assert.deepEqual(state.tracking, { endpoint: worker.base, site: 'shop.example', room });
    assert.equal((await worker.count('shop.example', room)).room.sessions, 2, 'what the pages show is what the server holds');

    // the second page closes: its leave reaches the first page within the contract's bound
    await second.context.close();
    second = null;
    const closed = Date.now();
    await waitFor(async () => {
      const s = await shown(first.page);
      return s.module === 1 && s.element === '1 online now';
    }, { timeoutMs: CHANGE_BOUND_MS, what: 'the first page shows 1 after the other closed' });
    const left = Date.now() - closed;
    assert.equal((await worker.count('shop.example', room)).room.sessions, 1);

    assert.deepEqual(first.console, [], 'no CORS error, no warning');
    console.log(`# cross-origin: page ${site.origin} -> worker ${worker.base}; 2 shown ${followed} ms after the server held it, 1 shown ${left} ms after a close`);
  } finally {
    await second?.context.close();
    await first.context.close();
  }
});

/** A page of the other origin that tracks `siteKey` with the script tag and shows a count. */
const pageFor = (siteKey) => `<!doctype html><html><head>
<script src="${worker.base}/herenow.js" data-site="${siteKey}" defer></script></head>
<body><here-now id="element"></here-now></body></html>`;

/** The first herenow warning on the page's console, within `timeoutMs`. */
async function herenowWarning(p, timeoutMs) {
  await waitFor(() => p.console.some((line) => line.startsWith('warning: herenow:')), { timeoutMs, what: 'a herenow warning' });
  return p.console.find((line) => line.startsWith('warning: herenow:'));
}

test('a page whose origin the site does not allow is told its origin and the SITES field to change', async () => {
  const p = await openPage(pageFor('locked'));
  try {
    // the socket upgrades are refused first; the client then asks over HTTP, which says why
    const warning = await herenowWarning(p, 15_000);
    assert.match(warning, /forbidden_origin/);
    assert.ok(warning.includes(`This page's origin is ${site.origin}`), warning);
    assert.ok(warning.includes(`add "${site.origin}" to the "origins" of site "locked" in the SITES var`), warning);
    assert.equal(await p.page.evaluate(() => document.getElementById('element').getAttribute('data-state')), 'offline');
    assert.equal((await worker.count('locked')).site.sessions, 0, 'nothing counted');
    console.log(`# ${warning}`);
  } finally {
    await p.context.close();
  }
});

test('a page that names a site the deployment does not have is told the site key and that SITES lacks it', async () => {
  const p = await openPage(pageFor('no-such-site'));
  try {
    const warning = await herenowWarning(p, 15_000);
    assert.match(warning, /unknown_site/);
    assert.ok(warning.includes('The SITES var of the herenow deployment has no site "no-such-site"'), warning);
    assert.ok(warning.includes(`with "${site.origin}" in its "origins"`), warning);
    console.log(`# ${warning}`);
  } finally {
    await p.context.close();
  }
});
