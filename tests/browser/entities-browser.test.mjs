// Entities in a real browser (Debian's Chromium driven by playwright-core) against the real Worker
// in workerd: the customer's chat page carries customer:conv_123 with a track token, and the
// agent's console shows that customer's status live with <here-now-status>: online when the page
// opens, offline ("Last seen ...") only after LEAVE_GRACE_MS once it closes, never offline during
// a reload.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';

import { mintToken } from '../../scripts/token.mjs';
import { browserSuite, USER_AGENT } from '../kit/browser-kit.mjs';
import { sleep, waitFor } from '../kit/harness.mjs';


const SECRET = randomBytes(32).toString('hex');
const GRACE_MS = 1500;
const CUSTOMER = 'customer:conv_123';
const CHAT_ROOM = 'chat:conv_123';

const exp = () => Math.floor(Date.now() / 1000) + 3600;
const trackToken = (secret = SECRET) =>
  mintToken({ secret, claims: { site: 'demo', sub: CUSTOMER, scope: 'track', exp: exp() } });
const watchToken = () =>
  mintToken({ secret: SECRET, claims: { site: 'demo', sub: 'agent:test', scope: 'watch', watch: ['customer:*'], exp: exp() } });

let worker;
let browser;
let agentContext;
let agent; // the agent's console, open through every test
let customer; // the customer's chat page while it is open

browserSuite(
  {
    vars: {
      // the demo site with a secret for its tokens, plus the harness's readiness probe
      SITES: JSON.stringify({ demo: { origins: ['*'], secret_env: 'T_SECRET' }, ready: { origins: ['*'] } }),
      T_SECRET: SECRET,
      LEAVE_GRACE_MS: String(GRACE_MS),
      PRESENCE_HEARTBEAT_SECONDS: '2',
      PRESENCE_TTL_SECONDS: '6',
    },
  },
  async (s) => {
    ({ worker, browser } = s);
    agentContext = await browser.newContext({ userAgent: USER_AGENT });
    agent = await agentContext.newPage();
    await agent.goto(`${worker.base}/agent.html#token=${watchToken()}`);
    // Record every value #customer-status's data-status and data-state ever take (old values too,
    // so that a flip and its undo within one task are both seen), with the time (epoch ms).
    await agent.evaluate(() => {
      const el = document.getElementById('customer-status');
      const log = (window.statusLog = []);
      const now = () => ({ status: el.getAttribute('data-status'), state: el.getAttribute('data-state'), text: el.textContent });
      log.push({ at: Date.now(), ...now() });
      new MutationObserver((records) => {
        const at = Date.now();
        for (const r of records) {
          if (r.type === 'attributes') log.push({ at, [r.attributeName === 'data-status' ? 'status' : 'state']: r.oldValue, old: true });
        }
        log.push({ at, ...now() });
      }).observe(el, { attributes: true, attributeOldValue: true, attributeFilter: ['data-status', 'data-state'], childList: true, characterData: true, subtree: true });
    });
  },
);

const shown = async (page = agent) =>
  page.evaluate(() => {
    const el = document.getElementById('customer-status');
    return { status: el.getAttribute('data-status'), state: el.getAttribute('data-state'), text: el.textContent };
  });
const statusLog = () => agent.evaluate(() => window.statusLog);

async function openCustomer(token = trackToken(), context) {
  const ctx = context ?? (await browser.newContext({ userAgent: USER_AGENT }));
  const page = await ctx.newPage();
  const warnings = [];
  page.on('console', (m) => {
    if (m.type() === 'warning') warnings.push(m.text());
  });
  await page.goto(`${worker.base}/chat.html#token=${token}`);
  return { page, ctx, warnings };
}

async function serverStatus(entity = CUSTOMER) {
  const res = await worker.request(`/v1/status?site=demo&entity=${encodeURIComponent(entity)}`, {
    headers: { authorization: `Bearer ${watchToken()}` },
  });
  assert.equal(res.status, 200, `GET /v1/status: ${res.text}`);
  return res.body.entities[entity];
}

test('the agent console shows a customer who was never here as offline, then online once the chat opens', async () => {
  await waitFor(async () => (await shown()).state === 'live', { timeoutMs: 10_000, what: 'the status element is live' });
  assert.deepEqual(await shown(), { status: 'offline', state: 'live', text: 'Offline' });
  const other = await agent.locator('here-now-status[entity="customer:conv_456"]').textContent();
  assert.equal(other, 'Not here', 'the second demo entity: never seen');

  const start = Date.now();
  customer = await openCustomer();
  const { elapsed } = await waitFor(async () => (await shown()).status === 'online', {
    timeoutMs: 5_000,
    what: 'the agent sees the customer online',
  });
  assert.equal((await shown()).text, 'Online');
  assert.equal(await customer.page.evaluate(() => window.herenow.identity), CUSTOMER);
  const s = await serverStatus();
  assert.equal(s.online, true);
  assert.equal(s.sessions, 1);
  assert.deepEqual(customer.warnings, [], 'no warning on the customer page');
  console.log(`# entities: online shown ${Date.now() - start} ms after opening the chat (${Math.round(elapsed)} ms after load)`);
});

test('a second tab of the customer shows "Online on 2 devices", and closing it leaves them online', async () => {
  const second = await openCustomer(trackToken(), customer.ctx);
  await waitFor(async () => (await shown()).text === 'Online on 2 devices', {
    timeoutMs: 5_000,
    what: 'the agent sees two sessions',
  });
  const mark = (await statusLog()).length;
  await second.page.close();
  await waitFor(async () => (await shown()).text === 'Online', { timeoutMs: 5_000, what: 'back to one session' });
  await sleep(GRACE_MS + 500);
  const seen = (await statusLog()).slice(mark);
  assert.ok(!seen.some((e) => e.status === 'offline'), `never offline: ${JSON.stringify(seen)}`);
  assert.equal((await shown()).status, 'online');
});

test('a reload of the customer page within the grace never shows the customer offline', async () => {
  const mark = (await statusLog()).length;
  for (let i = 0; i < 2; i++) {
    await customer.page.reload();
    await waitFor(() => customer.page.evaluate(() => window.herenow?.identity === 'customer:conv_123'), {
      timeoutMs: 5_000,
      what: 'the reloaded page carries the customer again',
    });
  }
  // Past the grace: had the reloaded page not carried the entity again, the customer would be gone.
  await sleep(GRACE_MS + 2_000);
  const seen = (await statusLog()).slice(mark);
  assert.ok(
    seen.every((e) => e.status !== 'offline' && e.state !== 'loading' && e.state !== 'unreachable'),
    `the agent's view never left "online": ${JSON.stringify(seen)}`,
  );
  assert.deepEqual(await shown(), { status: 'online', state: 'live', text: 'Online' });
  const s = await serverStatus();
  assert.equal(s.online, true);
  assert.equal(s.sessions, 1, 'the reloaded tab is one session');
});

test('closing the customer page shows "Last seen ..." on the agent console only after the grace', async () => {
  const mark = (await statusLog()).length;
  const closedAt = Date.now();
  await customer.page.close();
  await customer.ctx.close();
  customer = null;

  await sleep(Math.max(0, closedAt + GRACE_MS / 2 - Date.now()));
  assert.equal((await shown()).status, 'online', `still online at grace/2 (${GRACE_MS / 2} ms) after the close`);

  await waitFor(async () => (await shown()).status === 'offline', {
    timeoutMs: Math.max(0, closedAt + GRACE_MS + 3_000 - Date.now()),
    what: 'the agent sees the customer offline within grace + 3 s',
  });
  const seen = (await statusLog()).slice(mark);
  const first = seen.find((e) => e.status === 'offline');
  const after = first.at - closedAt;
  assert.ok(after >= GRACE_MS - 100, `offline shown ${after} ms after the close, before the grace (${GRACE_MS} ms) ran out`);
  assert.ok(after <= GRACE_MS + 3_000, `offline shown ${after} ms after the close`);
  const now = await shown();
  assert.match(now.text, /^Last seen (now|\d+ seconds? ago)$/);
  assert.equal(now.state, 'live');
  const s = await serverStatus();
  assert.equal(s.online, false);
  assert.equal(typeof s.last_seen, 'number');
  assert.ok(Math.abs(s.last_seen - closedAt) < 5_000, `last_seen ${s.last_seen} is about the close (${closedAt})`);
  console.log(`# entities: offline shown ${after} ms after the close (grace ${GRACE_MS} ms)`);
});

test('a refused track token is dropped with one warning, and the page is still counted anonymously', async () => {
  const before = (await worker.request(`/v1/count?site=demo&room=${CHAT_ROOM}`)).body.room.sessions;
  const bad = await openCustomer(trackToken(randomBytes(32).toString('hex')));
  try {
    await waitFor(() => bad.warnings.some((w) => /bad_token/.test(w)), { timeoutMs: 10_000, what: 'a bad_token warning' });
    await waitFor(
      async () => (await worker.request(`/v1/count?site=demo&room=${CHAT_ROOM}`)).body.room.sessions === before + 1,
      { timeoutMs: 10_000, what: 'the page is counted anonymously' },
    );
    assert.equal(await bad.page.evaluate(() => window.herenow.identity), null);
    assert.equal(bad.warnings.length, 1, `one warning: ${JSON.stringify(bad.warnings)}`);
    await sleep(500);
    assert.equal((await shown()).status, 'offline', 'the customer is not online through a bad token');
  } finally {
    await bad.ctx.close();
  }
});

test('herenow.identify() carries the entity from then on, and identify(null) drops it', async () => {
  const ctx = await browser.newContext({ userAgent: USER_AGENT });
  try {
    const page = await ctx.newPage();
    await page.goto(`${worker.base}/chat.html`); // no token: anonymous
    await page.waitForFunction(() => window.herenow?.tracking);
    await sleep(500);
    assert.equal((await shown()).status, 'offline');
    await page.evaluate((t) => window.herenow.identify('customer:conv_123', t), trackToken());
    await waitFor(async () => (await shown()).status === 'online', { timeoutMs: 5_000, what: 'online after identify()' });
    const droppedAt = Date.now();
    await page.evaluate(() => window.herenow.identify(null));
    await waitFor(async () => (await shown()).status === 'offline', { timeoutMs: GRACE_MS + 3_000, what: 'offline after identify(null)' });
    assert.ok(Date.now() - droppedAt >= GRACE_MS - 100, 'offline after the grace');
    // the page itself is still counted, anonymously
    const count = (await worker.request(`/v1/count?site=demo&room=${CHAT_ROOM}`)).body;
    assert.equal(count.room.sessions, 1);
  } finally {
    await ctx.close();
  }
});

test('without WebSockets the customer page carries its entity in HTTP pings, and its leave beacon ends it', async () => {
  const ctx = await browser.newContext({ userAgent: USER_AGENT });
  try {
    await ctx.addInitScript(() => {
      window.WebSocket = class {
        constructor() {
          throw new Error('WebSockets are blocked here');
        }
      };
    });
    const page = await ctx.newPage();
    await page.goto(`${worker.base}/chat.html#token=${trackToken()}`);
    // three failed sockets (backoff with jitter, at most 0.5 + 1 + 2 s), then HTTP pings
    await waitFor(async () => (await shown()).status === 'online', { timeoutMs: 8_000, what: 'online over HTTP pings' });
    const closedAt = Date.now();
    await page.close({ runBeforeUnload: true });
    await waitFor(async () => (await shown()).status === 'offline', {
      timeoutMs: GRACE_MS + 3_000,
      what: 'offline after the leave beacon and the grace',
    });
    assert.ok(Date.now() - closedAt >= GRACE_MS - 100, 'offline only after the grace');
  } finally {
    await ctx.close();
  }
});

test('a status element whose server cannot be reached says so', async () => {
  await agent.evaluate(() => {
    const el = document.createElement('here-now-status');
    el.id = 'dead';
    el.setAttribute('entity', 'customer:conv_123');
    el.setAttribute('token', document.getElementById('customer-status').getAttribute('token'));
    el.setAttribute('endpoint', 'http://127.0.0.1:9');
    document.body.append(el);
  });
  await waitFor(async () => (await agent.locator('#dead').getAttribute('data-state')) === 'unreachable', {
    timeoutMs: 10_000,
    what: 'the element reports unreachable',
  });
  assert.equal(await agent.locator('#dead').textContent(), 'Status unavailable');
  assert.equal(await agent.locator('#dead').getAttribute('data-status'), null);
  assert.equal((await shown()).state, 'live', 'the other elements are unaffected');
  await agent.evaluate(() => document.getElementById('dead').remove());
});

test('without WebSockets the status element polls GET /v1/status with the watch token', async () => {
  const ctx = await browser.newContext({ userAgent: USER_AGENT });
  try {
    await ctx.addInitScript(() => {
      window.WebSocket = class {
        constructor() {
          throw new Error('WebSockets are blocked here');
        }
      };
    });
    const page = await ctx.newPage();
    await page.goto(`${worker.base}/agent.html#token=${watchToken()}`);
    await waitFor(async () => (await shown(page)).state === 'live', { timeoutMs: 5_000, what: 'a status by polling' });
    const s = await shown(page);
    assert.equal(s.status, 'offline');
    assert.match(s.text, /^Last seen /);
  } finally {
    await ctx.close();
  }
});
