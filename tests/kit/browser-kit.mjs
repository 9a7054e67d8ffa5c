// Launching Debian's Chromium for the browser tests (playwright-core cannot download browsers
// here). Headless, sandbox-less (CI runs as root), no background networking (the network is
// closed), and background tabs keep their timers: each tab is a visible page in these tests.

import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { startWorker } from './harness.mjs';
import { TestProxy } from './proxy-kit.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** A desktop Chrome's User-Agent: the default one says "HeadlessChrome". */
export const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
    ],
  });
}

/**
 * The shared before/after of a browser test file: starts the Worker (`startWorker` options),
 * launches Chromium and, with `proxy: true`, a TestProxy in front of the Worker, once for the
 * file; then `ready({ worker, browser, proxy })` (the file's own set-up: pages it keeps open).
 * After the file, closes all three. Returns the same object, filled once `before` has run.
 */
export function browserSuite({ proxy = false, ...workerOptions } = {}, ready = async () => {}) {
  const suite = { worker: null, browser: null, proxy: null };
  before(async () => {
    suite.worker = await startWorker(workerOptions);
    suite.browser = await launchChromium();
    if (proxy) suite.proxy = await TestProxy.start(suite.worker.port);
    await ready(suite);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.proxy?.stop();
    await suite.worker?.stop();
  });
  return suite;
}

/**
 * Hides or shows a page as switching tabs does, as far as the page can tell: headless Chromium
 * keeps every page visible (no CDP call changes document.visibilityState), so this overrides
 * document.visibilityState and document.hidden and fires visibilitychange, which is exactly what
 * the client listens to and reads. Timers are not throttled by it (see launchChromium); freeze
 * the page with CDP Page.setWebLifecycleState for that.
 */
export function setHidden(page, hidden) {
  return page.evaluate((hidden) => {
    if (hidden) {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    } else {
      delete document.visibilityState; // the prototype's getters again
      delete document.hidden;
    }
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** A context whose pages cannot open WebSockets (the constructor throws): the HTTP fallback. */
export async function contextWithoutWebSockets(browser) {
  const context = await browser.newContext({ userAgent: USER_AGENT });
  await context.addInitScript(() => {
    window.WebSocket = class {
      constructor() {
        throw new Error('WebSockets are blocked here');
      }
    };
  });
  return context;
}

/** Records a page's POST /v1/ping events ({event, at, status}) into `into`. */
export function recordPings(page, into = []) {
  page.on('request', (r) => {
    if (r.method() !== 'POST' || !r.url().endsWith('/v1/ping')) return;
    let body = {};
    try {
      body = JSON.parse(r.postData());
    } catch {
      // not ours
    }
    const entry = { event: body.event, entity: body.entity ?? null, token: body.token ?? null, at: Date.now(), status: null };
    into.push(entry);
    r.response().then((res) => (entry.status = res ? res.status() : null)).catch(() => {});
  });
  return into;
}
