// Integration test harness: runs the real Worker in workerd through `wrangler dev`, and gives
// tests small, well-named verbs to talk to it (ping, count, rooms, live sockets, waiting).
//
// One worker per test file: `before(() => startWorker({...}))`, `after(() => worker.stop())`.
// Every test takes its own site key from `worker.site()` (one Durable Object per site), so tests
// cannot see each other's sessions.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { checkAnswer, checkMessage, OpenApiViolation, takeViolations } from './openapi-check.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WRANGLER = path.join(ROOT, 'node_modules', '.bin', 'wrangler');
const SHIM = path.join(ROOT, 'build', 'worker', 'shim.mjs');

/** Sites every test worker knows: t01..t60 open to any origin, plus a few with a purpose. */
export const SITE_COUNT = 60;
export const LOCKED_SITE = 'locked';
export const ALLOWED_ORIGIN = 'https://allowed.example';
export const RATE_LIMIT_SITE = 'ratelimited';
/** The site the readiness probe asks for; a custom SITES must list it. */
export const READY_SITE = 'ready';

export function sitesConfig() {
  const sites = {};
  for (let i = 1; i <= SITE_COUNT; i++) sites[siteKey(i)] = { origins: ['*'] };
  sites[LOCKED_SITE] = { origins: [ALLOWED_ORIGIN] };
  sites[RATE_LIMIT_SITE] = { origins: ['*'] };
  sites[READY_SITE] = { origins: ['*'] };
  return sites;
}

function siteKey(i) {
  return `t${String(i).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Every answer and socket message against the OpenAPI document
//
// TestWorker.request(), the refused upgrades (refusedLive, refusedUpgrade, openLive) and every
// message a LiveClient receives are checked against public/openapi.json (tests/openapi-check.mjs).
// An answer that does not validate makes request() throw; a socket message that does not
// validate makes the client's next() reject; and either fails the test that received it (the
// hook below), even if the test caught the error.

const underTestRunner = Boolean(process.env.NODE_TEST_CONTEXT) || /\.test\.m?js$/.test(process.argv[1] ?? '');
if (underTestRunner) {
  afterEach(() => {
    const seen = takeViolations();
    if (seen.length > 0) {
      const first = seen.slice(0, 5).map((v) => v.message).join('\n\n');
      throw new OpenApiViolation(
        `${seen.length} answer(s) or message(s) during this test do not validate against public/openapi.json:\n\n${first}`,
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let idCounter = 0;
/** A fresh session or visitor id: `<prefix>_<counter><random>`, 8-64 chars of A-Za-z0-9_-. */
export function uid(prefix = 's') {
  idCounter += 1;
  return `${prefix}_${idCounter.toString(36)}${randomBytes(9).toString('base64url')}`;
}

/**
 * Polls `fn` until it returns a truthy value; returns `{ value, elapsed }` (ms since the call).
 * Throws after `timeoutMs`, with the last value (or error) in the message.
 */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const start = performance.now();
  const maxRounds = Math.ceil(timeoutMs / Math.max(intervalMs, 1)) + 10;
  let last;
  for (let round = 0; round < maxRounds; round++) {
    try {
      last = await fn();
      if (last) return { value: last, elapsed: performance.now() - start };
    } catch (err) {
      last = err;
    }
    if (performance.now() - start >= timeoutMs) break;
    await sleep(intervalMs);
  }
  const shown = last instanceof Error ? last.stack : JSON.stringify(last);
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${shown}`);
}

/** Asserts a measured duration is within its promised bound, with a readable failure. */
export function assertWithin(elapsedMs, boundMs, what) {
  assert.ok(
    elapsedMs <= boundMs,
    `${what}: took ${elapsedMs.toFixed(0)} ms, the bound is ${boundMs} ms`,
  );
}

/** Asserts an HTTP error response in the contract's shape: status, JSON, code, a message. */
export function assertError(res, status, code) {
  const where = `${res.method} ${res.path}`;
  assert.equal(res.status, status, `${where}: status (body: ${res.text})`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${where}: content-type`);
  assert.ok(res.body && typeof res.body === 'object', `${where}: body is JSON (${res.text})`);
  assert.deepEqual(Object.keys(res.body), ['error'], `${where}: body has only "error" (${res.text})`);
  assert.equal(res.body.error.code, code, `${where}: error code (body: ${res.text})`);
  assert.equal(typeof res.body.error.message, 'string', `${where}: error message is a string`);
  assert.ok(res.body.error.message.length > 0, `${where}: error message is not empty`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping the Worker

export const DEFAULT_VARS = {
  // the demo pages (the browser tests load them); a production deploy has none
  DEMO_PAGES: 'true',
  PRESENCE_HEARTBEAT_SECONDS: '1',
  PRESENCE_TTL_SECONDS: '3',
  BROADCAST_INTERVAL_MS: '500',
};

/** The kind of build in build/ ("production" or "test-hooks"), from scripts/build.sh. */
export function buildKind() {
  try {
    return fs.readFileSync(path.join(ROOT, 'build', 'KIND'), 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * wrangler.toml without its [build] section, beside it (so its relative paths hold): a test worker
 * runs the build that is there and never rebuilds or restarts when a source file changes.
 */
export function testConfig() {
  const file = path.join(ROOT, '.wrangler-test.toml');
  const source = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const withoutBuild = source.replace(/^\[build\]\n(?:(?!\[).*\n)*/m, '');
  const text = `# Generated by tests/harness.mjs from wrangler.toml, without [build]. Do not edit.\n${withoutBuild}`;
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) fs.writeFileSync(file, text);
  return file;
}

/** True when the Worker has been built (`bash scripts/build.sh`). */
export function workerIsBuilt() {
  return fs.existsSync(SHIM);
}

/**
 * Starts `wrangler dev` on a free 127.0.0.1 port and waits until the Worker answers.
 * `vars` override DEFAULT_VARS; `persistDir` reuses a state directory (restart tests), otherwise
 * a fresh one is made under os.tmpdir() and removed by stop(). `readyStatus`: the status of
 * `/v1/count?site=ready` that means ready (a worker with a broken SITES answers 500).
 */
export async function startWorker({ vars = {}, persistDir, readyTimeoutMs = 60_000, readyStatus = 200 } = {}) {
  if (!workerIsBuilt()) {
    throw new Error(`${SHIM} does not exist: build the Worker first (bash scripts/build.sh)`);
  }
  const allVarsPreview = { ...DEFAULT_VARS, ...vars };
  if (allVarsPreview.HERENOW_TEST_HOOKS === 'true' && buildKind() !== 'test-hooks') {
    throw new Error('this test needs the /v1/_test/* hooks: build with `bash scripts/build.sh --test-hooks`');
  }
  const ownsDir = !persistDir;
  const dir = persistDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-test-'));
  const allVars = { SITES: JSON.stringify(sitesConfig()), ...DEFAULT_VARS, ...vars };
  // The port is free when chosen but bound only later (after two runs of the build script), and
  // on a busy machine another process can take it meanwhile: then wrangler exits with "Address
  // already in use", and a new port is tried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = ['dev', '--config', testConfig(), '--ip', '127.0.0.1', '--port', String(port), '--persist-to', dir];
    for (const [name, value] of Object.entries(allVars)) args.push('--var', `${name}:${value}`);

    const child = spawn(WRANGLER, args, {
      cwd: ROOT,
      detached: true, // own process group: stop() kills wrangler and its workerd children together
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HERENOW_SKIP_BUILD: '1', WRANGLER_SEND_METRICS: 'false', CI: '1' },
    });
    const worker = new TestWorker({ child, port, dir, ownsDir, vars: allVars });
    try {
      await worker.waitUntilReady(readyTimeoutMs, readyStatus);
      return worker;
    } catch (err) {
      const portTaken = /Address already in use/.test(worker.logs());
      await worker.stop({ keepState: portTaken && attempt < 3 });
      if (!portTaken || attempt >= 3) throw err;
      console.log(`# port ${port} was taken before wrangler bound it; trying another`);
    }
  }
}

const liveWorkers = new Set();
process.on('exit', () => {
  // Last resort if a test file dies without running its `after` hook.
  for (const w of liveWorkers) w.killNow();
});

export class TestWorker {
  constructor({ child, port, dir, ownsDir, vars }) {
    this.child = child;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.wsBase = `ws://127.0.0.1:${port}`;
    this.persistDir = dir;
    this.ownsDir = ownsDir;
    this.vars = vars;
    this.heartbeatMs = Number(vars.PRESENCE_HEARTBEAT_SECONDS) * 1000;
    this.ttlMs = Number(vars.PRESENCE_TTL_SECONDS) * 1000;
    this.intervalMs = Number(vars.BROADCAST_INTERVAL_MS);
    this.output = '';
    this.exited = null;
    this.sockets = new Set();
    this.nextSite = 1;
    const keep = (chunk) => {
      this.output += chunk;
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout.setEncoding('utf8').on('data', keep);
    child.stderr.setEncoding('utf8').on('data', keep);
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        liveWorkers.delete(this);
        resolve(this.exited);
      });
    });
    liveWorkers.add(this);
  }

  /** The next unused site key of this worker (t01, t02, ...). */
  site() {
    assert.ok(this.nextSite <= SITE_COUNT, `only ${SITE_COUNT} test sites are configured`);
    return siteKey(this.nextSite++);
  }

  logs() {
    return this.output;
  }

  async waitUntilReady(timeoutMs, readyStatus = 200) {
    const start = performance.now();
    let last = 'no answer yet';
    for (let round = 0; round < 1000 && performance.now() - start < timeoutMs; round++) {
      if (this.exited) break;
      try {
        const res = await fetch(`${this.base}/v1/count?site=${READY_SITE}`, {
          signal: AbortSignal.timeout(2000),
        });
        last = `${res.status} ${await res.text()}`;
        if (res.status === readyStatus) return;
      } catch (err) {
        last = String(err.cause ?? err);
      }
      await sleep(250);
    }
    const why = this.exited
      ? `wrangler exited (${JSON.stringify(this.exited)})`
      : `not ready within ${timeoutMs} ms`;
    throw new Error(
      `worker on port ${this.port}: ${why}; last answer: ${last}\n--- wrangler output ---\n${this.output}`,
    );
  }

  killNow() {
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Stops wrangler and its workerd children (the whole process group); removes its own state dir. */
  async stop({ keepState = false } = {}) {
    for (const s of this.sockets) s.terminate();
    if (!this.exited) {
      try {
        process.kill(-this.child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timedOut = await Promise.race([
        this.exitPromise.then(() => false),
        sleep(5000).then(() => true),
      ]);
      if (timedOut) this.killNow();
      await Promise.race([this.exitPromise, sleep(5000)]);
    }
    // workerd children may outlive wrangler's own exit for a moment; make sure the group is gone.
    this.killNow();
    if (this.ownsDir && !keepState) fs.rmSync(this.persistDir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  /** Any request; returns { status, headers, text, body (parsed JSON or null), method, path }. */
  async request(urlPath, init = {}) {
    const method = init.method ?? 'GET';
    const res = await fetch(this.base + urlPath, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON; tests assert on it
    }
    const answer = { status: res.status, headers: res.headers, text, body, method, path: urlPath };
    checkAnswer(answer); // throws when the answer does not validate against the document
    return answer;
  }

  /** POST /v1/ping with `{site, ...fields}` as JSON; returns the raw response (see request). */
  ping(site, fields = {}, { headers = {} } = {}) {
    return this.request('/v1/ping', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ site, ...fields }),
    });
  }

  /** A ping that must succeed; returns its 200 body. */
  async mustPing(site, fields, opts) {
    const res = await this.ping(site, fields, opts);
    assert.equal(res.status, 200, `ping ${JSON.stringify({ site, ...fields })}: ${res.text}`);
    return res.body;
  }

  join(site, fields) {
    return this.mustPing(site, { ...fields, event: 'join' });
  }

  heartbeat(site, fields) {
    return this.mustPing(site, { ...fields, event: 'heartbeat' });
  }

  leave(site, fields) {
    return this.mustPing(site, { ...fields, event: 'leave' });
  }

  /** GET /v1/count; returns the 200 body. */
  async count(site, room) {
    const q = new URLSearchParams({ site });
    if (room !== undefined) q.set('room', room);
    const res = await this.request(`/v1/count?${q}`);
    assert.equal(res.status, 200, `GET ${res.path}: ${res.text}`);
    return res.body;
  }

  /** GET /v1/rooms; returns the 200 body. */
  async rooms(site, limit) {
    const q = new URLSearchParams({ site });
    if (limit !== undefined) q.set('limit', String(limit));
    const res = await this.request(`/v1/rooms?${q}`);
    assert.equal(res.status, 200, `GET ${res.path}: ${res.text}`);
    return res.body;
  }

  /**
   * Keeps HTTP sessions alive with a heartbeat every heartbeatMs until stop() is called.
   * `sessions` is a list of ping field objects ({room, session, visitor}).
   */
  keepAlive(site, sessions, everyMs = this.heartbeatMs) {
    let stopped = false;
    const errors = [];
    const loop = (async () => {
      for (let round = 0; round < 10_000 && !stopped; round++) {
        await sleep(everyMs);
        if (stopped) break;
        for (const fields of sessions) {
          const res = await this.ping(site, { ...fields, event: 'heartbeat' }).catch((e) => e);
          if (res instanceof Error || res.status !== 200) errors.push(res.text ?? String(res));
        }
      }
    })();
    return {
      errors,
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // WebSockets

  liveUrl(params) {
    return `${this.wsBase}/v1/live?${new URLSearchParams(params)}`;
  }

  /**
   * Opens GET /v1/live?params as a WebSocket and resolves once it is open.
   * `autoPing` (default true) sends the text `ping` every heartbeat, like the browser client;
   * pass false for a socket that stays open but goes silent.
   */
  openLive(params, { headers = {}, autoPing = true, timeoutMs = 5000 } = {}) {
    const url = this.liveUrl(params);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
      const client = new LiveClient(ws, this);
      ws.once('upgrade', (res) => {
        try {
          checkAnswer({ method: 'GET', path: url, status: res.statusCode, headers: res.headers, text: '' });
        } catch (err) {
          client.violations.push(err);
        }
      });
      ws.once('unexpected-response', (req, res) => {
        readRefusal(url, req, res).then(
          (r) => reject(new Error(`GET ${url} was refused: ${r.status} ${r.text}`)),
          (err) => reject(new Error(`GET ${url} was refused, with an answer outside the document: ${err.message}`)),
        );
      });
      ws.once('open', () => {
        client.openedAt = performance.now();
        if (client.violations.length > 0) {
          ws.terminate();
          reject(client.violations[0]);
          return;
        }
        if (autoPing) client.startPinging(this.heartbeatMs);
        resolve(client);
      });
      ws.once('error', (err) => reject(new Error(`GET ${url}: ${err.message}`)));
      this.sockets.add(client);
    });
  }

  /**
   * Tries to open GET /v1/live?params and expects the upgrade to be refused with an HTTP answer;
   * resolves to { status, headers, text, body } in the shape of request().
   */
  refusedLive(params, { headers = {}, timeoutMs = 5000 } = {}) {
    return refusedUpgrade(this.liveUrl(params), { headers, timeoutMs });
  }
}

/** A WebSocket client that records every message with its arrival time. */
/** The HTTP answer that refused a WebSocket upgrade, in the shape of request(). */
function readRefusal(url, req, res) {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (text += c));
    res.on('end', () => {
      req.destroy();
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON; tests assert on it
      }
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) headers.set(k, String(v));
      const answer = { status: res.statusCode, headers, text, body, method: 'GET (upgrade)', path: url };
      try {
        checkAnswer({ ...answer, method: 'GET' });
      } catch (err) {
        reject(err);
        return;
      }
      resolve(answer);
    });
  });
}

/**
 * Opens `url` (a ws:// URL, used exactly as written) and expects the upgrade to be refused with
 * an HTTP answer; resolves to { status, headers, text, body } in the shape of request().
 */
export function refusedUpgrade(url, { headers = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
    ws.on('error', () => {});
    ws.once('unexpected-response', (req, res) => readRefusal(url, req, res).then(resolve, reject));
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`GET ${url} opened a socket; expected the upgrade to be refused`));
    });
    ws.once('error', (err) => reject(new Error(`GET ${url}: ${err.message}`)));
  });
}

export class LiveClient {
  constructor(ws, worker) {
    this.ws = ws;
    this.worker = worker;
    /** Every message received: { msg (parsed JSON, or the text), at (performance.now()) }. */
    this.received = [];
    /** Answers and messages of this socket that do not validate against the OpenAPI document. */
    this.violations = [];
    this.cursor = 0;
    this.waiters = new Set();
    this.openedAt = null;
    this.pinger = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.stopPinging();
        worker.sockets.delete(this);
        resolve({ code, reason: reason.toString(), at: performance.now() });
        for (const w of this.waiters) w();
      });
    });
    ws.on('message', (data, isBinary) => {
      const at = performance.now();
      const text = isBinary ? data : data.toString();
      let msg = text;
      if (!isBinary) {
        try {
          msg = JSON.parse(text);
        } catch {
          // plain text such as "pong"
        }
      }
      let violation = null;
      try {
        checkMessage(data, isBinary, `the socket ${ws.url}`);
      } catch (err) {
        violation = err;
        this.violations.push(err);
      }
      this.received.push({ msg, at, violation });
      for (const w of this.waiters) w();
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Resolves with the next received entry { msg, at } whose msg matches `predicate`, skipping
   * (consuming) entries that do not match. Rejects after timeoutMs with what was seen.
   */
  next(predicate = () => true, timeoutMs = 2000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        while (this.cursor < this.received.length) {
          const entry = this.received[this.cursor++];
          if (entry.violation) {
            finish();
            reject(entry.violation);
            return true;
          }
          if (predicate(entry.msg)) {
            finish();
            resolve(entry);
            return true;
          }
        }
        if (this.ws.readyState === WebSocket.CLOSED) {
          finish();
          reject(new Error(`socket closed before a matching message; seen: ${this.describe()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no matching message within ${timeoutMs} ms; seen: ${this.describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) this.waiters.add(check);
    });
  }

  /** Count messages received at or after `since` (performance.now() time). */
  countsSince(since) {
    return this.received.filter((e) => e.at >= since && isCount(e.msg));
  }

  describe() {
    return JSON.stringify(
      this.received.slice(-20).map((e) => ({ at: Math.round(e.at - (this.openedAt ?? 0)), msg: e.msg })),
    );
  }

  /**
   * Resolves with the time (performance.now()) at which the socket stopped being open: the
   * server's close frame arrived, or the connection dropped. The `closed` promise, by contrast,
   * waits for the TCP connection to end, which can lag the close frame by seconds.
   */
  async whenNotOpen(timeoutMs = 5000) {
    const { value } = await waitFor(() => (this.isOpen ? false : performance.now()), {
      timeoutMs,
      intervalMs: 20,
      what: 'the socket to stop being open',
    });
    return value;
  }

  send(text) {
    this.ws.send(text);
  }

  startPinging(everyMs) {
    this.stopPinging();
    this.pinger = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send('ping');
    }, everyMs);
  }

  stopPinging() {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = null;
  }

  /** A clean close (close frame); resolves when the close handshake is done. */
  async close(code = 1000, { timeoutMs = 3000 } = {}) {
    this.stopPinging();
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    const done = await Promise.race([this.closed, sleep(timeoutMs).then(() => null)]);
    if (done) return done;
    // The server never answered the close frame: drop the connection, and say so to the caller.
    this.closeHandshakeTimedOut = true;
    this.ws.terminate();
    return this.closed;
  }

  /** Drops the TCP connection without a close frame, like a killed tab or a lost network. */
  terminate() {
    this.stopPinging();
    this.ws.terminate();
  }
}

/** Predicates for live messages. */
export const isCount = (m) => typeof m === 'object' && m !== null && m.type === 'count';
export const siteSessions = (n) => (m) => isCount(m) && m.site?.sessions === n;
