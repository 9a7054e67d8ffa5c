// The Worker as docs/deploy.md configures it for production, in workerd: the documented SITES
// (its placeholder replaced by a domain of one's own), no DEMO_PAGES, no .dev.vars demo site.
// It serves no open site and no demo page; the API, the client files and the owner's dashboard
// stay.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ROOT, startWorker } from '../kit/harness.mjs';

const OWN = 'shop.herenow-user.dev';
let worker;
let sites;

before(async () => {
  const guide = fs.readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const line = guide.match(/^SITES = '(.*)'$/m);
  assert.ok(line, 'docs/deploy.md shows the SITES line of the production config');
  sites = JSON.parse(line[1].replaceAll('example.com', OWN));
  // no "ready" site in production: the harness waits for its 403 unknown_site instead of a 200
  // the harness turns the demo pages on for the other tests: off, as in production (unset)
  worker = await startWorker({ vars: { SITES: JSON.stringify(sites), HERENOW_SECRET_EXAMPLE: 'a'.repeat(64), DEMO_PAGES: 'false' }, readyStatus: 403 });
});

after(async () => {
  await worker?.stop();
});

const get = async (p, headers = {}) => {
  const res = await fetch(worker.base + p, { headers, redirect: 'manual' });
  const body = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', cors: res.headers.get('access-control-allow-origin'), body };
};

test('no open site: the demo site is unknown, and only the documented origins may use the site', async () => {
  assert.deepEqual(Object.keys(sites), [OWN]);
  const demo = await get('/v1/count?site=demo');
  assert.equal(demo.status, 403);
  assert.equal(JSON.parse(demo.body).error.code, 'unknown_site');
  for (const origin of sites[OWN].origins) {
    const ok = await get(`/v1/count?site=${OWN}`, { origin });
    assert.equal(ok.status, 200, origin);
    assert.equal(ok.cors, origin);
  }
  const other = await get(`/v1/count?site=${OWN}`, { origin: 'https://elsewhere.herenow-user.dev' });
  assert.equal(other.status, 403);
  assert.equal(JSON.parse(other.body).error.code, 'forbidden_origin');
});

test('the client files and the owner\'s dashboard are served', async () => {
  for (const file of ['/herenow.js', '/herenow.mjs', '/herenow.d.ts']) {
    const res = await get(file, { origin: `https://${OWN}` });
    assert.equal(res.status, 200, file);
    assert.equal(res.cors, '*', file);
  }
  const dashboard = await get('/dashboard');
  assert.equal(dashboard.status, 200);
  assert.match(dashboard.type, /^text\/html/);
});

test('no demo page: /, /chat.html, /agent.html, /team.html, /product.html and /avatars/ answer 404', async () => {
  const served = [];
  for (const p of ['/', '/index.html', '/chat.html', '/chat', '/agent.html', '/agent', '/team.html', '/team', '/product.html', '/product', '/avatars/ada.svg']) {
    const res = await get(p);
    if (res.status !== 404) served.push(`${p}: ${res.status}`);
  }
  assert.deepEqual(served, [], 'demo paths answered');
});
