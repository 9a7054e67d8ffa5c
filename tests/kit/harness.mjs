// Integration test harness: runs the built Worker in workerd through Miniflare's API (what
// `wrangler dev` runs underneath, without its proxy and file watcher), with the bindings wrangler
// reads from wrangler.toml, and gives tests small, well-named verbs to talk to it (ping, count,
// rooms, live sockets, waiting).
//
// One worker per test file: `before(() => startWorker({...}))`, `after(() => worker.stop())`.
// Each has its own workerd process, port and state directory, so test files can run in parallel.
// Every test takes its own site key from `worker.site()` (one Durable Object per site), so tests
// cannot see each other's sessions.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import WebSocket from 'ws';
import { checkAnswer, checkMessage, OpenApiViolation, takeViolations } from './openapi-check.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The Worker's build directory (`bash scripts/build.sh` writes it); startWorker's `buildDir` may name another. */
export const BUILD_DIR = path.join(ROOT, 'build');
const builtJs = (dir) => path.join(dir, 'index.js');
const builtWasm = (dir) => path.join(dir, 'index_bg.wasm');

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
// message a LiveClient receives are checked against public/openapi.json (tests/kit/openapi-check.mjs).
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

/** `promise`, or a rejection naming `what` after `ms` (the timer does not outlive the promise). */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

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

/**
 * Asserts a refused GET of the badge: an SVG image with the refusal's status, its code in
 * `Herenow-Error`, never cached (an <img> shows what is wrong; the harness has validated it
 * against the document's image/svg+xml answer of that status).
 */
export function assertBadgeRefusal(res, status, code) {
  const where = `${res.method} ${res.path}`;
  assert.equal(res.status, status, `${where}: status (body: ${res.text})`);
  assert.match(res.headers.get('content-type') ?? '', /^image\/svg\+xml/, `${where}: content-type`);
  assert.equal(res.headers.get('herenow-error'), code, `${where}: Herenow-Error`);
  assert.equal(res.headers.get('cache-control'), 'no-store', `${where}: cache-control`);
  assert.match(res.text, /^<svg /, `${where}: an SVG`);
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

// ---------------------------------------------------------------------------------------------
// Starting and stopping the Worker

export const DEFAULT_VARS = {
  // the demo pages (the browser tests load them); a production deploy has none
  DEMO_PAGES: 'true',
  PRESENCE_HEARTBEAT_SECONDS: '1',
  PRESENCE_TTL_SECONDS: '3',
  BROADCAST_INTERVAL_MS: '500',
};

/** The kind of build in build/ (or `dir`): "production" or "test-hooks", from scripts/build.sh. */
export function buildKind(dir = BUILD_DIR) {
  try {
    return fs.readFileSync(path.join(dir, 'KIND'), 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** True when the Worker has been built (`bash scripts/build.sh`) in build/ (or `dir`). */
export function workerIsBuilt(dir = BUILD_DIR) {
  return fs.existsSync(builtJs(dir)) && fs.existsSync(builtWasm(dir));
}

/**
 * The Worker's Miniflare options as wrangler reads them from wrangler.toml (the same reading
 * `wrangler dev` and `wrangler deploy` make): compatibility date and flags, the Durable Object
 * binding with its SQLite storage, the static assets with `run_worker_first`, the rate-limit
 * binding, the [vars]. Importing wrangler takes over a second, so the result is kept in
 * build/test-worker-options.json, keyed by wrangler.toml's text and wrangler's version.
 */
async function wranglerWorkerOptions() {
  const toml = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const wranglerVersion = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'wrangler', 'package.json'), 'utf8')).version;
  const key = createHash('sha256').update(`${wranglerVersion}\n${toml}`).digest('hex');
  const cache = path.join(ROOT, 'build', 'test-worker-options.json');
  try {
    const kept = JSON.parse(fs.readFileSync(cache, 'utf8'));
    if (kept.key === key) return kept.options;
  } catch {
    // none yet, or unreadable: read the config again
  }
  const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import('wrangler');
  const config = unstable_readConfig({ config: path.join(ROOT, 'wrangler.toml') });
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  // Only wrangler.toml's [vars]: never a developer's .dev.vars (npm run dev's demo secret).
  const options = JSON.parse(JSON.stringify({ ...workerOptions, bindings: { ...config.vars } }));
  const tmp = `${cache}.${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify({ key, options }));
  fs.renameSync(tmp, cache); // atomic: files running in parallel may write it at once
  return options;
}

/** The pids of workerd processes that are children of this process. */
function childWorkerdPids() {
  const pids = new Set();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('workerd')) pids.add(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * Starts the built Worker (build/index.js and build/index_bg.wasm) in workerd through Miniflare's
 * API, on a free 127.0.0.1 port, with wrangler.toml's bindings, and waits until it answers. No
 * wrangler dev: no proxy in front, no file watcher, no rebuild.
 * `vars` override DEFAULT_VARS; `persistDir` reuses a state directory (restart tests), otherwise
 * a fresh one is made under os.tmpdir() and removed by stop(). `readyStatus`: the status of
 * `/v1/count?site=ready` that means ready (a worker with a broken SITES answers 500).
 * `inspector`: open workerd's inspector on a free port, for `heapUsage()`.
 * `buildDir`: run the Worker built in another directory (index.js, index_bg.wasm, KIND), such
 * as another commit's build/ (tests/bench/hostile.mjs compares two); the bindings and runtime
 * stay this checkout's (wrangler.toml). Default: this checkout's build/.
 */
export async function startWorker({ vars = {}, persistDir, readyTimeoutMs = 30_000, readyStatus = 200, inspector = false, buildDir = BUILD_DIR } = {}) {
  if (!workerIsBuilt(buildDir)) {
    throw new Error(`${builtJs(buildDir)} does not exist: build the Worker first (bash scripts/build.sh --test-hooks)`);
  }
  const allVarsPreview = { ...DEFAULT_VARS, ...vars };
  if (allVarsPreview.HERENOW_TEST_HOOKS === 'true' && buildKind(buildDir) !== 'test-hooks') {
    throw new Error('this test needs the /v1/_test/* hooks: build with `bash scripts/build.sh --test-hooks`');
  }
  const ownsDir = !persistDir;
  const dir = persistDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-test-'));
  const fromToml = await wranglerWorkerOptions();
  const allVars = { ...fromToml.bindings, SITES: JSON.stringify(sitesConfig()), ...DEFAULT_VARS, ...vars };
  const output = new LogBuffer();
  const known = childWorkerdPids();
  const started = performance.now();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: '127.0.0.1',
      port: 0, // workerd binds a free port itself: no race for it
      cf: false, // the placeholder Request.cf (the network is closed)
      // workerd's --verbose: uncaught exceptions (a failing alarm) in the log, as wrangler dev shows them
      verbose: true,
      logRequests: false,
      resourcePersistencePath: dir,
      ...(inspector ? { inspectorPort: 0 } : {}),
      log: new BufferLog(output),
      handleStructuredLogs: ({ level, message }) => output.add(`[${level}] ${message}`),
      workers: [
        {
          ...fromToml,
          name: 'herenow',
          modulesRoot: buildDir,
          modules: [
            { type: 'ESModule', path: builtJs(buildDir) },
            { type: 'CompiledWasm', path: builtWasm(buildDir) },
          ],
          bindings: allVars,
        },
      ],
    }),
  );
  let url;
  try {
    url = await withTimeout(mf.ready, readyTimeoutMs, 'Miniflare to start workerd');
  } catch (err) {
    await withTimeout(mf.dispose(), 5000, 'Miniflare to stop').catch(() => {});
    if (ownsDir) fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${err.message}\n--- worker output ---\n${output.text}`);
  }
  const pids = [...childWorkerdPids()].filter((pid) => !known.has(pid));
  const worker = new TestWorker({ mf, url, pid: pids[0] ?? null, dir, ownsDir, vars: allVars, output });
  try {
    await worker.waitUntilReady(Math.max(1000, readyTimeoutMs - (performance.now() - started)), readyStatus);
  } catch (err) {
    await worker.stop();
    throw err;
  }
  return worker;
}

/**
 * The JavaScript heap of one Worker's isolate in a Miniflare instance started with an
 * inspector port, after a full garbage collection, by the Chrome DevTools Protocol:
 * { usedBytes, totalBytes }. workerd's inspector does not answer HeapProfiler.collectGarbage;
 * HeapProfiler.takeHeapSnapshot collects first (its chunks are dropped), then
 * Runtime.getHeapUsage reads what is left.
 */
export async function isolateHeapUsage(mf, target, timeoutMs = 20_000) {
  const inspectorUrl = await mf.getInspectorURL();
  const ws = new WebSocket(new URL(`/${target}`, inspectorUrl).href, { maxPayload: 512 * 1024 * 1024 });
  try {
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    }), timeoutMs, `the inspector of ${target}`);
    const pending = new Map();
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.id !== undefined) pending.get(m.id)?.(m);
    });
    let nextId = 0;
    const call = (method) => {
      const id = ++nextId;
      const answer = new Promise((resolve) => pending.set(id, resolve));
      ws.send(JSON.stringify({ id, method, params: {} }));
      return withTimeout(answer, timeoutMs, `${method} of ${target}`);
    };
    await call('HeapProfiler.enable');
    await call('HeapProfiler.takeHeapSnapshot');
    const m = await call('Runtime.getHeapUsage');
    if (!m.result) throw new Error(`Runtime.getHeapUsage of ${target}: ${JSON.stringify(m.error)}`);
    return { usedBytes: m.result.usedSize, totalBytes: m.result.totalSize };
  } finally {
    ws.terminate();
  }
}

/** The Worker's console lines and the runtime's messages, as one text (the newest 100,000 characters kept). */
class LogBuffer {
  text = '';
  add(line) {
    this.text += line.endsWith('\n') ? line : `${line}\n`;
    if (this.text.length > 200_000) this.text = this.text.slice(-100_000);
  }
}

/** Miniflare's own messages (warnings, errors of the runtime) into the worker's log. */
class BufferLog extends Log {
  constructor(output) {
    super(LogLevel.INFO);
    this.output = output;
  }
  log(message) {
    this.output.add(message);
  }
}

const liveWorkers = new Set();
process.on('exit', () => {
  // Last resort if a test file dies without running its `after` hook: workerd would outlive us.
  for (const w of liveWorkers) w.killNow();
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const w of liveWorkers) w.killNow();
    process.exit(128 + os.constants.signals[signal]);
  });
}

export class TestWorker {
  constructor({ mf, url, pid, dir, ownsDir, vars, output }) {
    this.mf = mf;
    /** The workerd process running this worker (for its memory, and to kill it if all else fails). */
    this.pid = pid;
    this.port = Number(url.port);
    this.base = `http://127.0.0.1:${this.port}`;
    this.wsBase = `ws://127.0.0.1:${this.port}`;
    this.persistDir = dir;
    this.ownsDir = ownsDir;
    this.vars = vars;
    this.heartbeatMs = Number(vars.PRESENCE_HEARTBEAT_SECONDS) * 1000;
    this.ttlMs = Number(vars.PRESENCE_TTL_SECONDS) * 1000;
    this.intervalMs = Number(vars.BROADCAST_INTERVAL_MS);
    this.output = output;
    this.stopped = false;
    this.sockets = new Set();
    this.nextSite = 1;
    liveWorkers.add(this);
  }

  /** The next unused site key of this worker (t01, t02, ...). */
  site() {
    assert.ok(this.nextSite <= SITE_COUNT, `only ${SITE_COUNT} test sites are configured`);
    return siteKey(this.nextSite++);
  }

  /** Everything the Worker logged (console lines as `[level] message`) and the runtime's messages. */
  logs() {
    return this.output.text;
  }

  async waitUntilReady(timeoutMs, readyStatus = 200) {
    const start = performance.now();
    let last = 'no answer yet';
    for (let round = 0; round < 1000 && performance.now() - start < timeoutMs; round++) {
      try {
        const res = await fetch(`${this.base}/v1/count?site=${READY_SITE}`, {
          signal: AbortSignal.timeout(2000),
        });
        last = `${res.status} ${await res.text()}`;
        if (res.status === readyStatus) return;
      } catch (err) {
        last = String(err.cause ?? err);
      }
      await sleep(100);
    }
    throw new Error(
      `worker on port ${this.port}: not ready (status ${readyStatus}) within ${timeoutMs} ms; last answer: ${last}\n--- worker output ---\n${this.logs()}`,
    );
  }

  /**
   * The JavaScript heap of the Worker's isolate (the Durable Object runs in the same one) after a
   * full collection, from workerd's inspector (start the worker with `inspector: true`):
   * { usedBytes, totalBytes }.
   */
  heapUsage(timeoutMs = 20_000) {
    return isolateHeapUsage(this.mf, 'core:user:herenow', timeoutMs);
  }

  killNow() {
    if (this.pid === null) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /**
   * Stops the runtime (Miniflare disposes its workerd; its sockets drop with it); removes the
   * state directory unless it was given or `keepState`.
   */
  async stop({ keepState = false } = {}) {
    for (const s of this.sockets) s.terminate();
    if (!this.stopped) {
      this.stopped = true;
      const disposed = await withTimeout(this.mf.dispose(), 10_000, 'Miniflare to stop').then(() => true, () => false);
      if (!disposed) this.killNow();
      liveWorkers.delete(this);
    }
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

  /**
   * Like request(), on a connection of its own that is closed after the answer. For bodies the
   * Worker refuses before reading them to the end (413 too_large): workerd then answers
   * `Connection: close` and drops the connection with the rest of the body unread (a reset),
   * which can fail the next request fetch() sends on its shared pool of connections.
   */
  requestOnOwnConnection(urlPath, { method = 'POST', headers = {}, body, timeoutMs = 20_000 } = {}) {
    // as fetch() does: a body of known length says its Content-Length (a stream is chunked)
    if (body !== undefined && !(body instanceof ReadableStream) && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
      headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    }
    return new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request(new URL(this.base + urlPath), { method, headers, agent: false, timeout: timeoutMs }, (res) => {
        answered = true;
        res.on('aborted', () => reject(new Error(`${method} ${urlPath}: the answer was cut off`)));
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON; tests assert on it
          }
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : String(v));
          const answer = { status: res.statusCode, headers: h, text, body: parsed, method, path: urlPath };
          try {
            checkAnswer(answer);
          } catch (err) {
            reject(err);
            return;
          }
          resolve(answer);
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in ${timeoutMs} ms`)));
      // the Worker may answer and the connection end before the whole body is written
      req.on('error', (err) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
      req.on('close', () => answered || reject(new Error(`${method} ${urlPath}: the connection closed with no answer`)));
      if (body instanceof ReadableStream) Readable.fromWeb(body).on('error', () => {}).pipe(req);
      else req.end(body);
    });
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
    const done = await withTimeout(this.closed, timeoutMs, 'the close handshake').catch(() => null);
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
