// `npm run dev` itself: scripts/dev.sh (set-up, .dev.vars, the demo links with fresh tokens) and
// `wrangler dev` with its proxy, serving the demo. Every other test file runs the built Worker
// through Miniflare directly; this one keeps the README's first command covered. It serves the
// build that is in build/ (HERENOW_SKIP_BUILD=1: no rebuild while other files use it) and keeps
// its state in a directory of its own.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';

import { ROOT, waitFor, withTimeout } from '../kit/harness.mjs';

const state = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-dev-'));
let child;
let output = '';
let exited = null;

after(async () => {
  if (child && !exited) {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM'); // wrangler and its workerd children: one process group
    } catch {
      // already gone
    }
    await withTimeout(gone, 5000, 'wrangler dev to stop').catch(() => process.kill(-child.pid, 'SIGKILL'));
  }
  fs.rmSync(state, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test('npm run dev serves the demo page, the client and the API, and prints demo links whose tokens the Worker accepts', { timeout: 120_000 }, async () => {
  const port = await freePort();
  child = spawn('bash', [path.join(ROOT, 'scripts', 'dev.sh'), '--port', String(port), '--persist-to', state], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HERENOW_SKIP_BUILD: '1', WRANGLER_SEND_METRICS: 'false', CI: '1' },
  });
  child.stdout.setEncoding('utf8').on('data', (c) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (output += c));
  child.once('exit', (code, signal) => (exited = { code, signal }));
  const base = `http://127.0.0.1:${port}`;

  const { elapsed } = await waitFor(
    async () => {
      if (exited) throw new Error(`npm run dev exited ${JSON.stringify(exited)}:\n${output}`);
      const res = await fetch(`${base}/v1/count?site=demo`, { signal: AbortSignal.timeout(2000) });
      return res.status === 200 && (await res.json());
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `npm run dev to answer on ${base} (output so far: ${output.slice(-2000)})` },
  );
  console.log(`# npm run dev answered ${(elapsed / 1000).toFixed(1)} s after it was started`);

  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<here-now\b/, 'the demo page uses the counter element');
  const client = await fetch(`${base}/herenow.js`);
  assert.equal(client.status, 200);
  assert.match(client.headers.get('content-type') ?? '', /javascript/);

  // The chat link carries a track token signed with the secret dev.sh keeps in .dev.vars.
  assert.match(output, new RegExp(`== herenow demo on ${base}/`));
  const chat = /customer chat \(tracks customer:conv_123\): +(\S+)/.exec(output);
  assert.ok(chat, `a chat link is printed:\n${output}`);
  const token = new URLSearchParams(new URL(chat[1]).hash.slice(1)).get('token');
  const ping = await fetch(`${base}/v1/ping`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ site: 'demo', room: '/chat', session: 's_devsmoke1', visitor: 'v_devsmoke1', event: 'join', entity: 'customer:conv_123', token }),
  });
  assert.equal(ping.status, 200, await ping.clone().text());
  assert.equal((await ping.json()).site.sessions, 1);
});
