// Bot filtering with headless browsers blocked too (BLOCK_HEADLESS): nothing a bot sends is
// counted, over HTTP or as a socket session; a bot may still watch counts.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertError, startWorker, uid } from './harness.mjs';

const HEADLESS_CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36';
const SLACKBOT = 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)';
const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

let w;
before(async () => {
  w = await startWorker({ vars: { BLOCK_HEADLESS: 'true' } });
});
after(() => w?.stop());

test('with BLOCK_HEADLESS a HeadlessChrome ping is 403 bot and counts nothing', async () => {
  const site = w.site();
  const res = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': HEADLESS_CHROME } });
  assertError(res, 403, 'bot');
  const ok = await w.ping(site, { session: uid('s'), event: 'join' }, { headers: { 'user-agent': CHROME } });
  assert.equal(ok.status, 200);
  assert.equal((await w.count(site)).site.sessions, 1);
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
