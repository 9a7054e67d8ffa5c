// Signals in a real browser (Debian's Chromium, playwright-core) against the real Worker in
// workerd: the customer types in the demo's chat page (herenow.signal('typing') on every
// keystroke), and the agent's console shows "typing..." (<here-now-status>, and its own
// "Ada is typing..." line from watch()) without a flicker while they type, and no longer within
// the ttl after they stop, or at once when they send. Its screenshot is docs/agent-typing.png.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { mintToken } from '../../scripts/token.mjs';
import { launchChromium, USER_AGENT } from '../kit/browser-kit.mjs';
import { ROOT, sleep, startWorker, waitFor } from '../kit/harness.mjs';

const SECRET = randomBytes(32).toString('hex');
const SIGNAL_TTL_MS = 3000;
const INTERVAL = 300;
const CUSTOMER = 'customer:conv_123';

const exp = () => Math.floor(Date.now() / 1000) + 3600;
const trackToken = () =>
  mintToken({ secret: SECRET, claims: { site: 'demo', sub: CUSTOMER, scope: 'track', exp: exp(), info: { name: 'Ada Lovelace' } } });
const watchToken = () =>
  mintToken({ secret: SECRET, claims: { site: 'demo', sub: 'agent:test', scope: 'watch', watch: ['customer:*'], exp: exp() } });

let worker;
let browser;
let agent;
let customer;
const customerWarnings = [];

before(async () => {
  worker = await startWorker({
    vars: {
      SITES: JSON.stringify({ demo: { origins: ['*'], secret_env: 'T_SECRET' }, ready: { origins: ['*'] } }),
      T_SECRET: SECRET,
      SIGNAL_TTL_MS: String(SIGNAL_TTL_MS),
      BROADCAST_INTERVAL_MS: String(INTERVAL),
      LEAVE_GRACE_MS: '1500',
    },
  });
  browser = await launchChromium();
  const agentContext = await browser.newContext({ userAgent: USER_AGENT, viewport: { width: 1180, height: 760 } });
  agent = await agentContext.newPage();
  await agent.goto(`${worker.base}/agent.html#token=${watchToken()}`);
  // Every text #customer-status shows and whether the thread's typing line shows, with the time.
  await agent.evaluate(() => {
    const el = document.getElementById('customer-status');
    const line = document.getElementById('typing');
    const log = (window.typingLog = []);
    const now = () => ({ at: Date.now(), text: el.textContent, line: !line.hidden, signals: el.getAttribute('data-signals') });
    log.push(now());
    const observer = new MutationObserver(() => log.push(now()));
    observer.observe(el, { attributes: true, childList: true, characterData: true, subtree: true });
    observer.observe(line, { attributes: true });
  });
  const customerContext = await browser.newContext({ userAgent: USER_AGENT });
  customer = await customerContext.newPage();
  customer.on('console', (m) => {
    if (m.type() === 'warning' || m.type() === 'error') customerWarnings.push(m.text());
  });
  await customer.goto(`${worker.base}/chat.html#token=${trackToken()}`);
  await waitFor(async () => (await shown()).text === 'Online', { timeoutMs: 10_000, what: 'the agent sees the customer online' });
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

const shown = () =>
  agent.evaluate(() => {
    const el = document.getElementById('customer-status');
    return { text: el.textContent, line: !document.getElementById('typing').hidden, signals: el.getAttribute('data-signals') };
  });
const typingLog = () => agent.evaluate(() => window.typingLog);

/** Types `text` into the chat box a key every `everyMs`; answers when the last key went (epoch ms). */
async function typeSlowly(text, everyMs) {
  await customer.click('#text');
  for (const ch of text) {
    await customer.keyboard.type(ch);
    await sleep(everyMs);
  }
  return Date.now() - everyMs;
}

test('typing in the chat shows "typing..." on the agent console without a flicker, and it goes within the ttl after the typing stops', async () => {
  const mark = (await typingLog()).length;
  const firstKey = Date.now();
  const typing = typeSlowly('Does the ring come in brass as well?', 150); // about 5.4 s: past the ttl, so renewals must hold it
  await waitFor(async () => (await shown()).text === 'typing...', { timeoutMs: 3000, what: '"typing..." on the agent console' });
  const shownAfter = Date.now() - firstKey;
  const state = await shown();
  assert.equal(state.line, true, 'the thread says "Ada is typing..."');
  assert.equal(state.signals, 'typing');
  const lastKey = await typing;
  // while they typed it never went away
  const during = (await typingLog()).slice(mark).filter((e) => e.at > firstKey + shownAfter && e.at <= lastKey);
  assert.ok(!during.some((e) => e.text !== 'typing...'), `"typing..." held while typing: ${JSON.stringify(during)}`);

  // they stop: gone within the ttl (and the broadcast interval, and the alarm's slack)
  const { elapsed } = await waitFor(async () => (await shown()).text === 'Online', { timeoutMs: SIGNAL_TTL_MS + 3000, what: '"typing..." gone' });
  const goneAfter = Date.now() - lastKey;
  assert.ok(goneAfter <= SIGNAL_TTL_MS + INTERVAL + 1000, `gone ${goneAfter} ms after the last key (ttl ${SIGNAL_TTL_MS} ms)`);
  assert.equal((await shown()).line, false, 'the typing line is gone too');
  console.log(`# signals: "typing..." shown ${shownAfter} ms after the first key; gone ${goneAfter} ms after the last (waited ${Math.round(elapsed)} ms)`);
  assert.deepEqual(customerWarnings, []);
});

test('sending the message ends "typing..." at once; so does emptying the box', async () => {
  await typeSlowly('Thanks', 100);
  await waitFor(async () => (await shown()).text === 'typing...', { timeoutMs: 3000, what: '"typing..."' });
  let sent = Date.now();
  await customer.keyboard.press('Enter');
  await waitFor(async () => (await shown()).text === 'Online', { timeoutMs: 3000, what: '"typing..." gone after sending' });
  let after = Date.now() - sent;
  assert.ok(after <= INTERVAL + 250 + 500, `gone ${after} ms after sending`);

  await typeSlowly('Hm', 100);
  await waitFor(async () => (await shown()).text === 'typing...', { timeoutMs: 3000, what: '"typing..." again' });
  sent = Date.now();
  await customer.fill('#text', '');
  await customer.dispatchEvent('#text', 'input');
  await waitFor(async () => (await shown()).text === 'Online', { timeoutMs: 3000, what: '"typing..." gone after emptying the box' });
  after = Date.now() - sent;
  assert.ok(after <= INTERVAL + 250 + 500, `gone ${after} ms after emptying the box`);
  assert.deepEqual(customerWarnings, []);
});

test('typing again at once after a send and an emptied box shows "typing..." with a single key: the refused third begin is sent again after the second', async () => {
  // Three begins in one go (type, send, type, empty, type): the server takes 2 new signals a
  // second per session and refuses the third (an error message naming it). The client sends it
  // again when that second has passed, so "typing..." shows although no other key follows.
  const started = Date.now();
  await customer.evaluate(() => {
    for (let i = 0; i < 2; i++) {
      window.herenow.signal('typing');
      window.herenow.signalEnd('typing');
    }
    window.herenow.signal('typing');
  });
  // The first begin may show for a moment (its end follows within the broadcast interval):
  // what counts is the state once the second has passed, and when it last turned to typing.
  const mark = (await typingLog()).length;
  const bound = 1000 + INTERVAL + 250 + 750;
  await sleep(bound - (Date.now() - started));
  const state = await shown();
  const log = (await typingLog()).slice(mark);
  assert.equal(state.text, 'typing...', `"typing..." ${bound} ms after the third begin: ${JSON.stringify(log)}`);
  const lastOther = log.findLastIndex((e) => e.text !== 'typing...');
  const turned = log[lastOther + 1];
  const shownAfter = turned.at - started;
  console.log(`# signals: the refused third begin shown ${shownAfter} ms after it (changes: ${log.map((e) => e.text).join(' > ')})`);
  assert.ok(shownAfter >= 1000, `shown ${shownAfter} ms after it: after the refused second, by the retry`);
  await customer.evaluate(() => window.herenow.signalEnd('typing'));
  await waitFor(async () => (await shown()).text === 'Online', { timeoutMs: 3000, what: '"typing..." gone after signalEnd' });
  assert.deepEqual(customerWarnings, []);
});

test('a screenshot of the agent console while the customer types (test-results/screenshots/agent-typing.png)', async () => {
  // The customer types on until the checks are done: the signal lasts SIGNAL_TTL_MS from its
  // last renewal (at most one per half ttl), and a screenshot on a busy machine can outlast a
  // typing that stopped first. At most 150 keys (9 s or more).
  let typing = true;
  let keysDone = false;
  const keys = (async () => {
    await customer.click('#text');
    const text = 'Could you send the tracking number, please? ';
    for (let i = 0; typing && i < 150; i++) {
      await customer.keyboard.type(text[i % text.length]);
      await sleep(60);
    }
    keysDone = true;
  })();
  try {
    await waitFor(async () => (await shown()).line, { timeoutMs: 3000, what: 'the typing line' });
    const file = path.join(ROOT, 'test-results', 'screenshots', 'agent-typing.png');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await agent.locator('.console').screenshot({ path: file });
    assert.ok(fs.statSync(file).size > 10_000, 'a screenshot was written');
    assert.ok(!keysDone, 'the customer still types (150 keys were not enough)');
    const side = await agent.locator('here-now-status[entity="customer:conv_123"]').first().textContent();
    assert.equal(side, 'typing...', 'the conversation list says it too');
  } finally {
    typing = false;
    await keys;
  }
});
