// The badge for pages without JavaScript, and the log lines a person can search: an SVG
// "online now | N" that follows the count, is cached at most 10 s, sized from its text and never
// turns a label into markup; one JSON log line per refused request, with no personal data.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchChromium, USER_AGENT } from '../kit/browser-kit.mjs';
import { LOCKED_SITE, ROOT, startWorker, uid, waitFor } from '../kit/harness.mjs';

let w;
before(async () => {
  w = await startWorker();
});
after(() => w?.stop());

const badge = (params) => w.request(`/v1/badge.svg?${new URLSearchParams(params)}`);
const texts = (svg) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
const width = (svg) => Number(/^<svg[^>]* width="([0-9.]+)"/.exec(svg)[1]);

test('the badge shows the live count of the site or a room, as SVG cached at most 10 s', async () => {
  const site = w.site();
  let res = await badge({ site });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^image\/svg\+xml/);
  const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control'))[1]);
  assert.ok(maxAge > 0 && maxAge <= 10, `cached at most 10 s (${res.headers.get('cache-control')})`);
  assert.deepEqual(texts(res.text), ['online now', 'online now', '0', '0']);
  for (let i = 0; i < 3; i++) await w.join(site, { room: i ? '/docs' : '/', session: uid('s') });
  res = await badge({ site });
  assert.deepEqual(texts(res.text).slice(2), ['3', '3']);
  res = await badge({ site, room: '/docs', label: 'reading the docs' });
  assert.deepEqual(texts(res.text), ['reading the docs', 'reading the docs', '2', '2']);
  assert.ok(width(res.text) > width((await badge({ site })).text), 'a longer label makes a wider badge');
});

test('a refused badge is an image too: its status, its label, and what is wrong (an unknown site, a refused origin, a bad query)', async () => {
  const site = w.site();
  const refused = async (res, status, code, words, label = 'online now') => {
    assert.equal(res.status, status, res.text);
    assert.match(res.headers.get('content-type'), /^image\/svg\+xml/);
    assert.equal(res.headers.get('herenow-error'), code);
    assert.equal(res.headers.get('cache-control'), 'no-store', 'a refusal is not cached: a fixed config shows at once');
    assert.deepEqual(texts(res.text), [label, label, words, words]);
  };
  await refused(await badge({ site: 'nope.example' }), 403, 'unknown_site', 'unknown site');
  await refused(await badge({ site: 'nope.example', label: 'here now' }), 403, 'unknown_site', 'unknown site', 'here now');
  await refused(await badge({ site, room: '' }), 400, 'bad_request', 'bad request');
  await refused(await badge({}), 400, 'bad_request', 'bad request');
  const locked = await w.request(`/v1/badge.svg?site=${LOCKED_SITE}`, { headers: { origin: 'https://elsewhere.example' } });
  await refused(locked, 403, 'forbidden_origin', 'origin refused');
  // a method an <img> never uses is answered as any API refusal: JSON
  const posted = await w.request(`/v1/badge.svg?site=${site}`, { method: 'POST' });
  assert.equal(posted.status, 405);
  assert.equal(posted.body.error.code, 'method_not_allowed');
});

test('a hostile label is escaped text, and the badge renders in a browser (screenshot)', async () => {
  const site = w.site();
  await w.join(site, { session: uid('s') });
  const label = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';
  const res = await badge({ site, label });
  assert.equal(res.status, 200);
  assert.ok(!res.text.includes('<script') && !res.text.includes('<img'), res.text);
  assert.equal(res.headers.get('content-security-policy')?.includes("default-src 'none'"), true);
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ userAgent: USER_AGENT })).newPage();
    const dialogs = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss();
    });
    const url = (l) => `${w.base}/v1/badge.svg?${new URLSearchParams({ site, ...(l ? { label: l } : {}) })}`;
    await page.goto(url(label)); // opened on its own, as a document
    const html = await page.context().newPage();
    html.on('dialog', (d) => {
      dialogs.push(d.message());
      d.dismiss();
    });
    await html.setContent(
      `<body style="margin:16px;background:#fff"><p><img id="a" src="${url()}"></p>` +
        `<p><img id="b" src="${url('people reading this page right now')}"></p>` +
        `<p><img id="c" src="${url(label)}"></p>` +
        `<p><img id="d" src="${w.base}/v1/badge.svg?site=nope.example"></p></body>`,
    );
    await waitFor(() => html.evaluate(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0)), {
      timeoutMs: 5000,
      what: 'the badges to load as images',
    });
    const sizes = await html.evaluate(() => [...document.images].map((i) => [i.naturalWidth, i.naturalHeight]));
    assert.ok(sizes.every(([wd, h]) => h === 20 && wd > 60), `every badge, the refused one too, is a picture: ${JSON.stringify(sizes)}`);
    assert.ok(sizes[1][0] > sizes[0][0] + 100, 'sized from the text');
    assert.deepEqual(dialogs, [], 'no script ran, opened on its own or as an image');
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await html.screenshot({ path: path.join(ROOT, 'test-results', 'badges.png'), clip: { x: 0, y: 0, width: 520, height: 190 } });
  } finally {
    await browser.close();
  }
});

test('each refused request logs one JSON line with its code, route and site, and nothing personal', async () => {
  const site = w.site();
  const before = w.logs().length;
  const session = uid('s');
  await w.ping(site, { session: 'bad', event: 'join' });
  await w.ping(site, { session, event: 'join' }, { headers: { 'user-agent': 'Googlebot/2.1' } });
  await w.request('/v1/nothing-here');
  await w.request(`/v1/count?site=${site}`, { method: 'POST', body: '{}' });
  const lines = await waitFor(() => {
    const found = w
      .logs()
      .slice(before)
      .split('\n')
      .map((l) => /\{"code".*\}|\{.*"herenow":"(refused|error)".*\}/.exec(l)?.[0])
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return found.length >= 4 && found;
  }, { timeoutMs: 5000, what: 'four log lines' });
  const got = lines.value.map((l) => [l.herenow, l.code, l.status, l.route, l.site]);
  assert.deepEqual(got.slice(0, 4), [
    ['refused', 'bad_request', 400, '/v1/ping', null],
    ['refused', 'bot', 403, '/v1/ping', site],
    ['refused', 'not_found', 404, '/v1/*', null],
    ['refused', 'method_not_allowed', 405, '/v1/count', null],
  ]);
  const text = JSON.stringify(lines.value);
  for (const secret of [session, 'Googlebot', '127.0.0.1', 'nothing-here']) assert.ok(!text.includes(secret), `no ${secret} in ${text}`);
  for (const l of lines.value) assert.deepEqual(Object.keys(l).sort(), ['code', 'herenow', 'route', 'site', 'status']);
});
