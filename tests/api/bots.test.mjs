// Bot filtering when a site lets headless browsers count (BLOCK_HEADLESS=false, for its own
// end-to-end tests): a HeadlessChrome ping then counts, while crawlers, preview fetchers and
// automation tools stay bots, over HTTP and as socket sessions; a bot may still watch counts.
// The default (headless browsers are bots) is checked in errors.test.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertError, startWorker, uid } from '../kit/harness.mjs';

const HEADLESS_CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36';
const PHANTOMJS =
  'Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1';
const SLACKBOT = 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)';
const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

let w;
before(async () => {
  w = await startWorker({ vars: { BLOCK_HEADLESS: 'false' } });
});
after(() => w?.stop());

test('with BLOCK_HEADLESS=false a HeadlessChrome ping counts, and automation tools are still 403 bot', async () => {
  const site = w.site();
  const headless = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': HEADLESS_CHROME } });
  assert.equal(headless.status, 200, headless.text);
  const ok = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': CHROME } });
  assert.equal(ok.status, 200);
  const phantom = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': PHANTOMJS } });
  assertError(phantom, 403, 'bot');
  assert.equal((await w.count(site)).site.sessions, 2);
});

test('a bot cannot open a socket session, but may watch the counts', async () => {
  const site = w.site();
  const res = await w.refusedLive(
    { site, session: uid('s'), visitor: uid('v') },
    { headers: { 'user-agent': SLACKBOT } },
  );
  assertError(res, 403, 'bot');
  assert.equal((await w.count(site)).site.sessions, 0);
  const watcher = await w.openLive({ site }, { headers: { 'user-agent': SLACKBOT } });
  const { msg: first } = await watcher.next((m) => m.type === 'count', 2000);
  assert.deepEqual(first.site, { sessions: 0, visitors: 0 });
  watcher.close();
});
