#!/usr/bin/env node
// The bench driver for ONE target: starts it (a separate process, pinned to the server's core
// budget), drives it from this process (pinned to the driver's), measures every figure that
// applies, stops it, and writes the figures as JSON.
//
//   node tests/bench/driver.mjs --target herenow|partyserver|floor|socketio
//        [--quick] [--out FILE] [--server-cpus 0] [--no-pin] [--set name=json ...]
//
// `--set` overrides one entry of the plan below, e.g. `--set fanoutSizes=[1000] --set wake=[]`
// (for exploring; `npm run bench` never passes it).
//
// `npm run bench` (tests/bench/run.mjs) runs it once per target and prints the table; the
// phases, their bounds and what each figure means are described in BENCHMARKS.md.
//
// Every loop here is bounded in count and in time; every socket is closed and every server
// stopped before the process exits, also on failure.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool, Subscriber, keepalive, sessionSockets } from './lib/clients.mjs';
import { agent, closedLoop, json, request } from './lib/http.mjs';
import { OTHERS_PER_MILLION_VIEWS, PRICES } from './lib/prices.mjs';
import { allowedCpus, cpuMs, openFds, rssBytes } from './lib/proc.mjs';
import { TARGETS, herenowVars } from './lib/targets.mjs';
import { freePort, quantile, sleep, summary, uid } from './lib/util.mjs';

// ---------------------------------------------------------------------------------------------
// Options and plan

function parseArgs(argv) {
  const opts = { target: null, quick: false, out: null, serverCpus: '0', pin: true, set: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') opts.target = argv[++i];
    else if (a === '--quick') opts.quick = true;
    else if (a === '--out') opts.out = argv[++i];
    else if (a === '--server-cpus') opts.serverCpus = argv[++i];
    else if (a === '--no-pin') opts.pin = false;
    else if (a === '--set') {
      const [name, value] = argv[++i].split(/=(.*)/s);
      opts.set[name] = JSON.parse(value);
    }
    else throw new Error(`unknown option ${a}`);
  }
  if (!TARGETS[opts.target]) throw new Error(`--target must be one of ${Object.keys(TARGETS).join(', ')}`);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const target = TARGETS[opts.target];
const isWorker = target.kind === 'worker';
const INTERVAL_MS = 500; // herenow's BROADCAST_INTERVAL_MS (the contract's default)

/** How much of each figure a run measures. The full plan takes about 13 minutes for the four targets. */
const PLAN = opts.quick
  ? {
      firstRequestSamples: 2,
      memorySessions: 500,
      // Waiting out the eviction takes 10 s: in the smoke run, for herenow only.
      wake: opts.target === 'herenow' ? [{ sockets: 200, sites: 1 }] : [],
      wakeRowSessions: 20,
      wakeSessions: false,
      pingSessions: 300,
      pingConcurrency: 32,
      pingWarmupMs: 200,
      pingDurationMs: 1_000,
      pingWindows: 1,
      churnSubscribers: 100,
      churnDurationMs: 2_000,
      fanoutSizes: [100],
      fanoutJoins: 5,
      pageViews: 50,
      pageViewSpreadMs: 2_000,
    }
  : {
      firstRequestSamples: 5,
      memorySessions: 50_000,
      wake: [
        { sockets: 1_000, sites: 3 },
        // workerd since 1.2026-11 holds two file descriptors per open connection (it dup()s
        // each accepted socket), so with this machine's limit of 20,000 (soft and hard) it
        // accepts about 9,990 at once: 3 x 1,000 + 5,000 stay under it with the churn's 1,000
        // subscribers that run while they idle (10,000 on one site took workerd down with EMFILE)
        { sockets: 5_000, sites: 1 },
      ],
      // The largest size is woken twice more, one site at a time after the others closed (the
      // descriptor limit above): its figure is the median of three wake-ups, not one.
      wakeRepeats: 2,
      // true: the wake-up's sockets are sessions (the tracker's: each carries its session in its
      // attachment; herenow stores a row only for an entity's); false (the run's figures):
      // watchers, as the peers' sockets are
      wakeSessions: false,
      wakeRowSessions: 200,
      pingSessions: 2_000,
      pingConcurrency: 32,
      pingWarmupMs: 1_000,
      pingDurationMs: 8_000,
      // CPU per ping moved by a third between runs of the same code (the floor's own figure
      // 255-360 ms per 1,000 in one day's runs): three windows, and the median of each figure
      pingWindows: 3,
      churnSubscribers: 1_000,
      churnDurationMs: 20_000,
      fanoutSizes: [100, 1_000, 5_000],
      // 100: the p99 is the second slowest join (of 50 it was the slowest, one outlier's figure)
      fanoutJoins: 100,
      pageViews: 1_000,
      pageViewSpreadMs: 25_000,
    };
for (const [name, value] of Object.entries(opts.set)) {
  if (!(name in PLAN)) throw new Error(`--set: the plan has no ${name}`);
  PLAN[name] = value;
}
const CHURN_RATE = 50; // sessions joining (and as many leaving) per second
const CHURN_LIFE_MS = 500; // each churn session leaves this long after its join
const JOIN_SPACING_MS = INTERVAL_MS + 100; // joins on one site are spaced past the interval
const WAKE_IDLE_MS = 12_000; // local workerd evicts an object after 10 s without a request
const SETTLE_TIMEOUT_MS = 5_000;
const SOCKETIO_OPEN_MS = 30_000;
const CHURN_BOUND_MS = 12_000;
// Page views: each lives 20-60 s of a real view (spread evenly over the views), run 10 times
// faster; its pings follow the heartbeat, 10 times faster too.
const VIEW_LIFE_S = [20, 60];
const VIEW_SPEEDUP = 10;
const HEARTBEAT_MS = Number(herenowVars([]).PRESENCE_HEARTBEAT_SECONDS) * 1000;
// Joins that only fill an object (memory, pings) are sent 8 at a time: with 32 in flight the
// herenow object stalls for seconds and is sometimes re-constructed by the runtime (see
// BENCHMARKS.md, "join storms"); the fill is not what is measured there.
const FILL_CONCURRENCY = 8; // how long after the churn stops the bench waits for it to settle // the bound on opening one fan-out size on the Socket.IO peer

const log = (...a) => console.error(`# [${opts.target}]`, ...a);

// ---------------------------------------------------------------------------------------------
// The server under test

let server = null;
const http = agent(64);
const pools = new Set();

async function startServer(label, extraVars) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `herenow-bench-${opts.target}-`));
  const port = await freePort();
  const s = await target.start({ dir, port, cpus: opts.pin ? opts.serverCpus : null, sites: SITES, extraVars });
  s.dir = dir;
  log(`${label}: pid ${s.pid} on ${s.base} (cpus ${allowedCpus(s.pid)}), ready in ${s.readyMs.toFixed(0)} ms`);
  return s;
}

async function stopServer(s) {
  if (!s) return;
  await s.stop();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

const SITES = [
  'mem',
  'pings',
  'churn',
  ...Array.from({ length: 8 }, (_, i) => `fresh-${i}`),
  ...Array.from({ length: 6 }, (_, i) => `wake-${i}`),
  'rows-wake',
  'views',
  ...[100, 1_000, 5_000].map((n) => `fan-${n}`),
];

/** The Worker's bench counters (constructions, rows written), from lib/instrument.mjs. */
function benchStats() {
  return json(server.base, 'GET', '/__bench/stats', { agent: http });
}

/** herenow's test hook (Wasm memory; rows written when the build has it), or null. */
async function memoryHook(site) {
  if (opts.target !== 'herenow') return null;
  const res = await request(server.base, 'GET', `/v1/_test/memory?site=${site}`, { agent: http });
  return res.status === 200 ? JSON.parse(res.text) : null;
}

function pingBody(site, session, event) {
  return JSON.stringify({ site, room: '/', session: session.id, visitor: session.visitor, event });
}

function newSession() {
  return { id: uid('s'), visitor: uid('v') };
}

/** A join on `site`; resolves the site's session count in the answer. */
async function joinOnce(site, session = newSession()) {
  const body = await json(server.base, 'POST', '/v1/ping', { body: pingBody(site, session, 'join'), agent: http });
  return body.site.sessions;
}

function openPool(site, { sessions = false } = {}) {
  const live = target.liveUrl(server.wsBase, site);
  // `sessions`: every socket is a session of its own, as the tracker opens them (not a watcher)
  const pool = new Pool({ url: sessions ? sessionSockets(live) : live, kind: target.kind });
  pools.add(pool);
  return pool;
}

async function closePool(pool) {
  pools.delete(pool);
  await pool.close();
}

/** Waits until the server's CPU use stays under 5% for 500 ms (bounded by timeoutMs). */
async function quiet(timeoutMs = 15_000) {
  const started = performance.now();
  let calm = 0;
  while (performance.now() - started < timeoutMs) {
    const c0 = cpuMs(server.pid);
    await sleep(100);
    const used = cpuMs(server.pid) - c0;
    calm = used <= 5 ? calm + 1 : 0;
    if (calm >= 5) return performance.now() - started;
  }
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// Measuring one change: the time until every subscriber of `pool` shows the new count

/**
 * Runs `change()` (which resolves the new count, as the server answered it) and measures, for
 * every subscriber, when it first received a count message carrying that value.
 * Resolves { first, last } in ms after `change()` was called, or throws after timeoutMs.
 */
async function measureChange(pool, change, timeoutMs = SETTLE_TIMEOUT_MS) {
  const subs = pool.subs;
  for (const s of subs) {
    s.log = [];
    s.gotAt = undefined;
  }
  let expected = null;
  let got = 0;
  let wake = null;
  pool.onCount = (s, n, at) => {
    if (expected === null) s.log.push(n, at);
    else if (n === expected && s.gotAt === undefined) {
      s.gotAt = at;
      got += 1;
      if (got === subs.length && wake) wake();
    }
  };
  const t0 = performance.now();
  expected = null;
  const value = await change();
  for (const s of subs) {
    for (let i = 0; i < s.log.length && s.gotAt === undefined; i += 2) {
      if (s.log[i] === value) {
        s.gotAt = s.log[i + 1];
        got += 1;
      }
    }
  }
  expected = value;
  if (got < subs.length) {
    await Promise.race([new Promise((resolve) => (wake = resolve)), sleep(timeoutMs)]);
  }
  pool.onCount = null;
  if (got < subs.length) throw new Error(`${subs.length - got} of ${subs.length} subscribers did not get the count ${value} within ${timeoutMs} ms`);
  let first = Infinity;
  let last = 0;
  for (const s of subs) {
    first = Math.min(first, s.gotAt - t0);
    last = Math.max(last, s.gotAt - t0);
  }
  return { first, last, value };
}

/** Waits until every subscriber's last count is `value` (bounded); resolves the time it took. */
async function settleTo(pool, value, timeoutMs = SETTLE_TIMEOUT_MS) {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (pool.subs.every((s) => s.last === value)) return performance.now() - started;
    await sleep(10);
  }
  throw new Error(`subscribers did not settle to ${value} within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// Figures

/** 6b. The first request to a fresh object (a warm runtime, a site never used before). */
async function firstRequest() {
  const fresh = [];
  const warm = [];
  for (let i = 0; i < PLAN.firstRequestSamples; i++) {
    const res = await request(server.base, 'GET', `/v1/count?site=fresh-${i}`, { agent: http });
    if (res.status !== 200) throw new Error(`GET /v1/count on a fresh site: ${res.status} ${res.text}`);
    fresh.push(res.ms);
    // The same request again, now that the object exists: what the first one paid extra.
    warm.push((await request(server.base, 'GET', `/v1/count?site=fresh-${i}`, { agent: http })).ms);
    await sleep(50);
  }
  return { p50: quantile(fresh, 0.5), samples: fresh, warm_p50: quantile(warm, 0.5) };
}

/** 7. herenow only: the object's Wasm linear memory with 0 and with N sessions. */
async function memory() {
  const before = await memoryHook('mem');
  if (!before) return { error: 'this build does not answer /v1/_test/memory' };
  const sessions = Array.from({ length: PLAN.memorySessions }, newSession);
  let i = 0;
  const fill = await closedLoop({
    base: server.base,
    agent: http,
    concurrency: FILL_CONCURRENCY,
    durationMs: 300_000,
    maxRequests: sessions.length,
    next: () => ({ method: 'POST', path: '/v1/ping', body: pingBody('mem', sessions[i++], 'join') }),
  });
  if (fill.failed > 0) throw new Error(`${fill.failed} joins failed: ${fill.firstFailure}`);
  const after = await memoryHook('mem');
  const joined = after.sessions - before.sessions;
  const built = (await benchStats()).constructedBy.mem ?? 0;
  return {
    // More than 1: the runtime re-constructed the object during the fill (it then restored
    // its sessions from SQLite, which allocates differently from joining them).
    object_constructed: built,
    sessions: joined,
    bytes_0: before.object_wasm_bytes,
    bytes_n: after.object_wasm_bytes,
    bytes_per_session: joined > 0 ? (after.object_wasm_bytes - before.object_wasm_bytes) / joined : null,
    joins_per_s: fill.latencies.length / (fill.elapsedMs / 1000),
    failed: fill.failed,
  };
}

/**
 * 3 and 5. Joins, then heartbeats of those sessions at saturation; CPU and rows per request.
 * `beforeSaturation` runs between the two (it waits out the wake-up objects' eviction, so that
 * their hibernation does not land inside the measured window).
 */
async function pings(beforeSaturation = async () => {}) {
  const site = 'pings';
  const sessions = Array.from({ length: PLAN.pingSessions }, newSession);
  const hook0 = await memoryHook(site);
  const s0 = await benchStats();
  let i = 0;
  const joins = await closedLoop({
    base: server.base,
    agent: http,
    concurrency: FILL_CONCURRENCY,
    durationMs: 120_000,
    maxRequests: sessions.length,
    next: () => ({ method: 'POST', path: '/v1/ping', body: pingBody(site, sessions[i++], 'join') }),
  });
  const s1 = await benchStats();
  const hook1 = await memoryHook(site);
  if (joins.failed > 0) throw new Error(`${joins.failed} joins failed: ${joins.firstFailure}`);
  await beforeSaturation();
  let k = 0;
  const heartbeat = () => ({ method: 'POST', path: '/v1/ping', body: pingBody(site, sessions[k++ % sessions.length], 'heartbeat') });
  await closedLoop({ base: server.base, agent: http, concurrency: PLAN.pingConcurrency, durationMs: PLAN.pingWarmupMs, maxRequests: 1e6, next: heartbeat });
  const s2 = await benchStats();
  const hook2 = await memoryHook(site);
  keepalive.paused = true;
  const windows = [];
  for (let w = 0; w < PLAN.pingWindows; w++) {
    const cpu0 = cpuMs(server.pid);
    const run = await closedLoop({
      base: server.base,
      agent: http,
      concurrency: PLAN.pingConcurrency,
      durationMs: PLAN.pingDurationMs,
      maxRequests: 2_000_000,
      next: heartbeat,
    });
    const cpu1 = cpuMs(server.pid);
    windows.push({ run, cpu: cpu1 - cpu0 });
  }
  keepalive.paused = false;
  const s3 = await benchStats();
  const hook3 = await memoryHook(site);
  const built = s3.constructedBy[site] ?? 0;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const run = {
    latencies: windows.flatMap((w) => w.run.latencies),
    failed: windows.reduce((n, w) => n + w.run.failed, 0),
    firstFailure: windows.find((w) => w.run.firstFailure)?.run.firstFailure,
    elapsedMs: windows.reduce((n, w) => n + w.run.elapsedMs, 0),
  };
  const perWindow = windows.map((w) => ({
    requests: w.run.latencies.length,
    rps: w.run.latencies.length / (w.run.elapsedMs / 1000),
    cpu_ms_per_1000: w.run.latencies.length ? (w.cpu / w.run.latencies.length) * 1000 : null,
  }));
  const ok = run.latencies.length;
  const hookRows = (a, b, n) => (a?.rows_written !== undefined && b?.rows_written !== undefined ? (b.rows_written - a.rows_written) / n : null);
  // herenow's history writes one row a minute whatever the traffic (on its alarm): counted
  // apart, so that "rows per heartbeat" is what heartbeats write
  const historyRows = (a, b) => (a?.history_rows_written !== undefined && b?.history_rows_written !== undefined ? b.history_rows_written - a.history_rows_written : null);
  return {
    pings: {
      concurrency: PLAN.pingConcurrency,
      requests: ok,
      failed: run.failed,
      first_failure: run.firstFailure,
      // the median window's figures (each alone: a window's CPU and its requests)
      rps: median(perWindow.map((w) => w.rps)),
      p50: quantile(run.latencies, 0.5),
      p99: quantile(run.latencies, 0.99),
      cpu_ms_per_1000: median(perWindow.map((w) => w.cpu_ms_per_1000)),
      windows: perWindow,
      joins_per_s: joins.latencies.length / (joins.elapsedMs / 1000),
      join_p50: quantile(joins.latencies, 0.5),
      object_constructed: built,
    },
    rows: {
      per_join: (s1.rowsWritten + s1.kvKeysWritten - s0.rowsWritten - s0.kvKeysWritten) / sessions.length,
      per_heartbeat: (s3.rowsWritten + s3.kvKeysWritten - s2.rowsWritten - s2.kvKeysWritten) / ok,
      joins: sessions.length,
      heartbeats: ok,
      hook_per_join: hookRows(hook0, hook1, sessions.length),
      hook_per_heartbeat: hookRows(hook2, hook3, ok),
      hook_history_rows: historyRows(hook2, hook3),
      hook_session_per_heartbeat:
        historyRows(hook2, hook3) === null ? null : hookRows(hook2, hook3, ok) - historyRows(hook2, hook3) / ok,
    },
  };
}

/** 4. Churn: subscribers watch while sessions join and leave at CHURN_RATE per second. */
async function churn() {
  const site = 'churn';
  const pool = openPool(site);
  await pool.grow(PLAN.churnSubscribers);
  await quiet();
  const base = pool.subs[0].last;
  await settleTo(pool, base);
  for (const s of pool.subs) s.times = [];
  pool.onCount = (s, n, at) => s.times.push(at);
  const total = Math.round((CHURN_RATE * PLAN.churnDurationMs) / 1000);
  const tasks = [];
  let errors = 0;
  let firstError = null;
  const fail = (err) => {
    errors += 1;
    firstError ??= err.message;
  };
  const started = performance.now();
  // One session every 1000/CHURN_RATE ms; each leaves CHURN_LIFE_MS after its join.
  const session = async (i) => {
    await sleep(Math.max(0, started + (i * 1000) / CHURN_RATE - performance.now()));
    if (isWorker) {
      const s = newSession();
      await request(server.base, 'POST', '/v1/ping', { body: pingBody(site, s, 'join'), agent: http });
      await sleep(Math.max(0, started + (i * 1000) / CHURN_RATE + CHURN_LIFE_MS - performance.now()));
      await request(server.base, 'POST', '/v1/ping', { body: pingBody(site, s, 'leave'), agent: http });
    } else {
      const s = await Subscriber.open(target.liveUrl(server.wsBase, site), target.kind);
      await sleep(Math.max(0, started + (i * 1000) / CHURN_RATE + CHURN_LIFE_MS - performance.now()));
      await s.closeCleanly();
    }
  };
  for (let i = 0; i < total; i++) tasks.push(session(i).catch(fail));
  // The churn stops when its last leave is due; a server that cannot keep up is still working
  // through its backlog then. Both are bounded by CHURN_BOUND_MS after the stop.
  const stop = started + PLAN.churnDurationMs + CHURN_LIFE_MS;
  let requestsDone = null;
  await Promise.race([
    Promise.all(tasks).then(() => (requestsDone = performance.now())),
    sleep(stop + CHURN_BOUND_MS - performance.now()),
  ]);
  // How long after the churn stopped until every subscriber shows the true count.
  let settle = null;
  const settleBound = Math.max(1000, stop + CHURN_BOUND_MS - performance.now());
  try {
    await settleTo(pool, base, settleBound);
    settle = Math.max(0, ...pool.subs.map((s) => (s.times.at(-1) ?? 0) - stop));
  } catch {
    // not settled within the bound: reported as such
  }
  pool.onCount = null;
  const seconds = PLAN.churnDurationMs / 1000;
  // Count messages caused per second of churn (including those that arrived after it stopped).
  const rates = pool.subs.map((s) => s.times.length / seconds);
  // The most messages any subscriber received within any window shorter than the interval, and
  // the shortest gap between two messages to one subscriber (arrival times: delivery jitter of
  // the runtime and of this driver is included).
  const window = INTERVAL_MS * 0.9;
  let maxInWindow = 0;
  let minGap = Infinity;
  const gaps = [];
  for (const s of pool.subs) {
    let lo = 0;
    for (let hi = 0; hi < s.times.length; hi++) {
      while (s.times[hi] - s.times[lo] >= window) lo += 1;
      maxInWindow = Math.max(maxInWindow, hi - lo + 1);
      if (hi > 0) {
        const gap = s.times[hi] - s.times[hi - 1];
        minGap = Math.min(minGap, gap);
        gaps.push(gap);
      }
    }
  }
  const result = {
    subscribers: pool.subs.length,
    sessions: total,
    seconds,
    msgs_per_sub_per_s: rates.reduce((a, b) => a + b, 0) / rates.length,
    msgs_per_sub_per_s_max: Math.max(...rates),
    max_in_window: maxInWindow,
    window_ms: window,
    min_gap_ms: Number.isFinite(minGap) ? minGap : null,
    gap_p01_ms: quantile(gaps, 0.01),
    settle_ms: settle,
    settle_bound_ms: CHURN_BOUND_MS,
    // When the server answered the last churn request, after the churn stopped (its backlog).
    requests_done_ms: requestsDone === null ? null : Math.max(0, requestsDone - stop),
    errors,
    first_error: firstError,
  };
  await closePool(pool);
  return result;
}

/**
 * 1. Fan-out. Workers: one site per size, all subscribed at once, the joins interleaved (one
 * size at a time, each join waiting for the previous one to reach everyone), so each site sees
 * one join per JOIN_SPACING_MS. Socket.IO (one count for the whole server): the sizes one after
 * the other; a join is a new connection, closed again (and settled) before the next join.
 */
async function fanout() {
  const out = {};
  const record = (size, subscribers, lasts, firsts) => {
    // the first subscriber's time, and the spread from it to the last (the sends to all): a
    // join slow before its first send and one slow in its sends look alike in the last's time
    const spreads = lasts.map((last, i) => last - firsts[i]);
    out[size] = {
      ...summary(lasts),
      first_p50: quantile(firsts, 0.5),
      first_p99: quantile(firsts, 0.99),
      spread_p50: quantile(spreads, 0.5),
      spread_p99: quantile(spreads, 0.99),
      subscribers,
    };
  };
  if (isWorker) {
    // workerd holds two descriptors per connection until its object handled the close: the
    // wake-up's thousands of closed sockets must be let go of first (the machine allows 20,000)
    if (!(await until(() => (openFds(server.pid) ?? Infinity) < 2_000, 60_000))) {
      log(`fan-out: ${openFds(server.pid)} descriptors still open after 60 s`);
    }
    const sets = [];
    for (const size of PLAN.fanoutSizes) {
      const pool = openPool(`fan-${size}`);
      try {
        const ms = await pool.grow(size);
        log(`fan-out: ${size} subscribers open in ${(ms / 1000).toFixed(1)} s`);
        sets.push({ size, pool, lasts: [], firsts: [], lastJoinAt: 0 });
      } catch (err) {
        // a size the target cannot open is reported as not held; the smaller ones still run
        out[size] = { not_held: `${pool.subs.length} of ${size} sockets open, then ${err.message}` };
        log(`fan-out: ${size} not held: ${out[size].not_held}`);
        await closePool(pool).catch(() => {});
        break;
      }
    }
    await quiet();
    // A joined session expires one ttl (45 s) after its last ping, and a site's 100 joins take
    // longer than that: an expiry between a join and its broadcast would hold back the count
    // the join answered. So where sessions expire, every session joined here gets a heartbeat
    // every 15 s, between two measured joins (a heartbeat changes no count: nothing is
    // broadcast). The floor's sessions never expire, and its every ping is a broadcast.
    const joined = [];
    let beatAt = performance.now();
    const keepAlive = async () => {
      if (target.name === 'floor' || performance.now() - beatAt < 15_000) return;
      beatAt = performance.now();
      for (const { site, session } of joined) {
        await json(server.base, 'POST', '/v1/ping', { body: pingBody(site, session, 'heartbeat'), agent: http });
      }
    };
    for (let j = 0; j < PLAN.fanoutJoins; j++) {
      for (const p of sets) {
        await keepAlive();
        await sleep(Math.max(0, p.lastJoinAt + JOIN_SPACING_MS - performance.now()));
        p.lastJoinAt = performance.now();
        const session = newSession();
        joined.push({ site: `fan-${p.size}`, session });
        const m = await measureChange(p.pool, () => joinOnce(`fan-${p.size}`, session));
        p.lasts.push(m.last);
        p.firsts.push(m.first);
      }
    }
    for (const p of sets) {
      record(p.size, p.pool.subs.length, p.lasts, p.firsts);
      await closePool(p.pool);
    }
    return out;
  }
  const pool = openPool('all');
  for (const size of PLAN.fanoutSizes) {
    // Every connect is broadcast to everyone already there: opening N sockets sends ~N^2/2
    // messages. A size that cannot be opened within the bound is reported as not held.
    const cpu0 = cpuMs(server.pid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    try {
      const ms = await pool.grow(size, { deadlineMs: SOCKETIO_OPEN_MS });
      log(`fan-out: ${size} subscribers open in ${(ms / 1000).toFixed(1)} s`);
    } catch (err) {
      const wall = performance.now() - t0;
      const own = process.cpuUsage(own0);
      const busy = (x) => `${Math.round((x / wall) * 100)}%`;
      out[size] = {
        not_held: `${pool.subs.length} of ${size} sockets open after ${SOCKETIO_OPEN_MS / 1000} s; server CPU ${busy(cpuMs(server.pid) - cpu0)}, driver ${busy((own.user + own.system) / 1000)}`,
      };
      log(`fan-out: ${size} not held: ${out[size].not_held}`);
      break;
    }
    await quiet(60_000);
    await settleTo(pool, size, 30_000);
    const lasts = [];
    const firsts = [];
    let lastJoinAt = 0;
    for (let j = 0; j < PLAN.fanoutJoins; j++) {
      await sleep(Math.max(0, lastJoinAt + JOIN_SPACING_MS - performance.now()));
      lastJoinAt = performance.now();
      let joiner = null;
      const m = await measureChange(pool, async () => {
        joiner = await Subscriber.open(target.liveUrl(server.wsBase), target.kind);
        return joiner.last;
      });
      lasts.push(m.last);
      firsts.push(m.first);
      // The joiner leaves again, so that every join meets the same number of subscribers.
      await joiner.closeCleanly();
      await settleTo(pool, m.value - 1);
    }
    record(size, pool.subs.length, lasts, firsts);
  }
  // No orderly close here: every disconnect would be broadcast to the rest. The pool is dropped
  // after the server is stopped (see main).
  return out;
}

/**
 * Socket.IO only: the official socket.io-client (WebSocket transport) and the driver's lean
 * client see the same counts, so the lean client measures what users of Socket.IO would see.
 */
async function officialClient() {
  const { io } = await import('socket.io-client');
  const lean = await Subscriber.open(target.liveUrl(server.wsBase), target.kind);
  const socket = io(server.base, { transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    const official = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket.io-client got no count within 5 s')), 5000);
      socket.on('count', (p) => {
        clearTimeout(timer);
        resolve(p.sessions);
      });
      socket.on('connect_error', (err) => reject(err));
    });
    const started = performance.now();
    while (lean.last !== official && performance.now() - started < 2000) await sleep(10);
    if (lean.last !== official) throw new Error(`socket.io-client saw ${official}, the lean client ${lean.last}`);
    return { sessions: official, same: true };
  } finally {
    socket.close();
    lean.close();
  }
}

/** Whether `check()` holds within `timeoutMs` (checked every 250 ms). */
async function until(check, timeoutMs) {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) return false;
    await sleep(250);
  }
  return true;
}

/** Opens the wake-up sites' subscribers; the objects then idle while other phases run. */
async function openWakePools() {
  const sets = [];

  let w = 0;
  for (const { sockets, sites } of PLAN.wake) {
    for (let k = 0; k < sites; k++) {
      const site = `wake-${w++}`;
      const pool = openPool(site, { sessions: PLAN.wakeSessions });
      const ms = await pool.grow(sockets, { concurrency: 100 });
      log(`wake-up: ${sockets} sockets on ${site} open in ${(ms / 1000).toFixed(1)} s`);
      sets.push({ site, sockets, pool });
    }
  }
  // Sessions on an object of their own, heartbeated once after it was evicted (see rowsAfterWake).
  const sleepers = Array.from({ length: PLAN.wakeRowSessions }, newSession);
  for (const s of sleepers) await joinOnce('rows-wake', s);
  return { sets, sleepers, idleSince: performance.now() };
}

/**
 * 5b. Rows written by the first heartbeat of each session after its object was evicted and
 * woken again (herenow stores sessions as restored on a wake and confirms each one at its first
 * sign of life).
 */
async function rowsAfterWake({ sleepers }) {
  const before = (await benchStats());
  for (const s of sleepers) {
    await json(server.base, 'POST', '/v1/ping', { body: pingBody('rows-wake', s, 'heartbeat'), agent: http });
  }
  const after = await benchStats();
  return {
    per_heartbeat: (after.rowsWritten + after.kvKeysWritten - before.rowsWritten - before.kvKeysWritten) / sleepers.length,
    sessions: sleepers.length,
    rebuilt: (after.constructedBy['rows-wake'] ?? 0) > (before.constructedBy['rows-wake'] ?? 0),
  };
}

/** Waits until the wake-up objects idled past workerd's eviction and the runtime is quiet again. */
async function evicted(wakeSets) {
  if (!wakeSets) return;
  const until = wakeSets.idleSince + WAKE_IDLE_MS;
  if (until > performance.now()) {
    log(`wake-up: waiting ${((until - performance.now()) / 1000).toFixed(1)} s for the objects to be evicted`);
  }
  await sleep(Math.max(0, until - performance.now()));
  await quiet();
}

/**
 * 2. Wake-up: after the objects idled past workerd's eviction (10 s), a join on each site;
 * the time to its first and to its last subscriber. The object's construction count shows
 * whether it really was evicted (and so rebuilt its state from the socket attachments).
 */
async function wake(wakeSets) {
  await evicted(wakeSets);
  const { sets } = wakeSets;
  const bySize = {};
  const measure = async (site, sockets, pool) => {
    const before = (await benchStats()).constructedBy[site] ?? 0;
    const m = await measureChange(pool, () => joinOnce(site), 15_000);
    const after = (await benchStats()).constructedBy[site] ?? 0;
    (bySize[sockets] ??= []).push({ first: m.first, last: m.last, hibernated: after > before, open: pool.open });
    log(`wake-up: ${site} (${sockets} sockets): first ${m.first.toFixed(1)} ms, last ${m.last.toFixed(1)} ms, rebuilt: ${after > before}`);
  };
  for (const { site, sockets, pool } of sets) {
    await measure(site, sockets, pool);
    await sleep(200);
  }
  for (const { pool } of sets) await closePool(pool);
  // Every closed socket is an event for its object: let the runtime work through them.
  log(`after closing the wake-up sockets: quiet after ${((await quiet(60_000)) / 1000).toFixed(1)} s`);
  // The largest size again, one site at a time: open, idle past the eviction, wake, close. Only
  // once the server let go of the closed connections (workerd holds two descriptors per
  // connection until its object has handled the close, and the machine allows 20,000): a round
  // that cannot start, or fails, leaves the samples taken so far.
  const largest = Math.max(...PLAN.wake.map((w) => w.sockets));
  for (let r = 0; r < (PLAN.wakeRepeats ?? 0); r++) {
    const released = await until(() => (openFds(server.pid) ?? Infinity) < 2_000, 60_000);
    if (!released) {
      log(`wake-up: repeat skipped: ${openFds(server.pid)} descriptors still open`);
      break;
    }
    const site = `wake-${sets.length + r}`;
    const pool = openPool(site);
    try {
      const ms = await pool.grow(largest, { concurrency: 100 });
      log(`wake-up: ${largest} sockets on ${site} open in ${(ms / 1000).toFixed(1)} s`);
      await sleep(WAKE_IDLE_MS);
      await quiet();
      await measure(site, largest, pool);
    } catch (err) {
      log(`wake-up: repeat on ${site} failed (${err.message}); kept the samples before it`);
      break;
    } finally {
      await closePool(pool).catch(() => {});
      log(`after closing ${site}: quiet after ${((await quiet(60_000)) / 1000).toFixed(1)} s`);
    }
  }
  const out = {};
  for (const [size, samples] of Object.entries(bySize)) {
    out[size] = {
      first: quantile(samples.map((s) => s.first), 0.5),
      last: quantile(samples.map((s) => s.last), 0.5),
      hibernated: samples.every((s) => s.hibernated),
      samples,
    };
  }
  return out;
}

/**
 * 8. Page views, as real pages use herenow (src/browser/tracker.js): each opens the socket that
 * is its session (`/v1/live?site&room&session&visitor`), sends `ping` every heartbeat (the one
 * herenow announces in its first message; the same for the peers), and on pagehide closes the
 * socket (1000) and sends the leave beacon (`POST /v1/ping`, event leave), in that order, as
 * the tracker does. The partyserver peer takes the same socket as the session; the floor's
 * socket is no session (it only moves its counter on the leave). Socket.IO: connect and
 * disconnect (no beacon: it has no HTTP side). The views start spread over pageViewSpreadMs,
 * many in flight at once; what the server did meanwhile (until it is quiet again) is counted,
 * per 1,000 views, and priced per 1,000,000 at Cloudflare's list prices.
 */
async function pageViews() {
  const site = 'views';
  const n = PLAN.pageViews;
  if (isWorker) await json(server.base, 'GET', `/v1/count?site=${site}`, { agent: http }); // the object exists
  const hook0 = await memoryHook(site);
  await quiet();
  const s0 = isWorker ? await benchStats() : null;
  const cpu0 = cpuMs(server.pid);
  const started = performance.now();
  const bound = PLAN.pageViewSpreadMs + (VIEW_LIFE_S[1] * 1000) / VIEW_SPEEDUP + 30_000;
  let pings = 0;
  let closes = 0;
  let received = 0;
  let failed = 0;
  let firstFailure = null;
  let inFlight = 0;
  let maxInFlight = 0;
  let announced = null;
  const fail = (err) => {
    failed += 1;
    firstFailure ??= err.message;
  };
  const view = async (i) => {
    await sleep(Math.max(0, started + (i * PLAN.pageViewSpreadMs) / n - performance.now()));
    // lives spread evenly over 20-60 s (golden-ratio steps), the same for every target
    const lifeMs = ((VIEW_LIFE_S[0] + (VIEW_LIFE_S[1] - VIEW_LIFE_S[0]) * ((i * 0.6180339887) % 1)) * 1000) / VIEW_SPEEDUP;
    const session = newSession();
    const url = isWorker
      ? `${target.liveUrl(server.wsBase, site)}&${new URLSearchParams({ room: '/', session: session.id, visitor: session.visitor })}`
      : target.liveUrl(server.wsBase);
    const opened = performance.now();
    const sub = await Subscriber.open(url, target.kind);
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (sub.heartbeatMs) announced = sub.heartbeatMs;
      const every = (sub.heartbeatMs ?? HEARTBEAT_MS) / VIEW_SPEEDUP;
      for (let k = 1; k * every < lifeMs; k++) {
        await sleep(Math.max(0, opened + k * every - performance.now()));
        if (target.kind !== 'worker') continue; // Socket.IO: the server pings (every 25 s)
        sub.keepalive();
        pings += 1;
      }
      await sleep(Math.max(0, opened + lifeMs - performance.now()));
      received += sub.messages;
      closes += 1;
      const closing = sub.closeCleanly();
      if (isWorker) {
        const res = await request(server.base, 'POST', '/v1/ping', { body: pingBody(site, session, 'leave'), agent: http });
        if (res.status !== 200) throw new Error(`leave: ${res.status} ${res.text.slice(0, 120)}`);
      }
      await closing;
    } finally {
      inFlight -= 1;
      sub.close();
    }
  };
  const tasks = Array.from({ length: n }, (_, i) => view(i).catch(fail));
  await Promise.race([Promise.all(tasks), sleep(bound)]);
  const elapsedMs = performance.now() - started;
  // The last leaves' broadcast (herenow holds it up to one interval), then quiet again.
  await sleep(INTERVAL_MS + 500);
  await quiet(5_000);
  const cpu = cpuMs(server.pid) - cpu0;
  const s1 = isWorker ? await benchStats() : null;
  const hook1 = await memoryHook(site);
  const done = n - failed;
  if (failed > 0) throw new Error(`${failed} of ${n} page views failed: ${firstFailure}`);
  if (elapsedMs >= bound) throw new Error(`the page views ran past ${bound} ms`);
  const per1000 = (x) => (x === null ? null : (x / done) * 1000);
  const out = {
    views: done,
    spread_ms: PLAN.pageViewSpreadMs,
    life_s: VIEW_LIFE_S,
    speedup: VIEW_SPEEDUP,
    heartbeat_ms: announced ?? HEARTBEAT_MS,
    heartbeat_announced: announced !== null,
    max_in_flight: maxInFlight,
    elapsed_ms: elapsedMs,
    pings_sent: pings,
    closes_sent: closes,
    counts_received: received,
    cpu_ms: cpu,
    per_1000: { cpu_ms: per1000(cpu), counts_received: per1000(received) },
  };
  if (!isWorker) return out;
  const before = s0.objects[site] ?? {};
  const after = s1.objects[site] ?? {};
  const obj = {};
  for (const k of ['requests', 'alarms', 'wsMessages', 'wsCloses', 'wsErrors', 'setAlarms', 'rowsWritten', 'rowsRead', 'kvKeysWritten', 'activeMs']) {
    obj[k] = (after[k] ?? 0) - (before[k] ?? 0);
  }
  const workerRequests = s1.workerRequests - s0.workerRequests;
  // Incoming messages as Cloudflare bills them, 20 to a request: every `ping` and close the
  // pages sent, also those the runtime answered itself (an upper bound, as in docs/cost.md).
  const messages = pings + closes;
  const objectRequests = obj.requests + obj.alarms + messages / PRICES.messagesPerRequest;
  const rowsWritten = obj.rowsWritten + obj.kvKeysWritten + obj.setAlarms;
  // The object's awake time: at least the wall time with an event in flight on the runtime's
  // clock (which moves only on I/O, so computing shows as none); at most that plus all of
  // workerd's CPU time (the Worker's too). No timer keeps these objects awake (herenow's
  // residency is for HTTP-held sessions only). Priced at the upper bound.
  const awakeS = obj.activeMs / 1000;
  const awakeMaxS = awakeS + cpu / 1000;
  const perView = (x) => x / done;
  const dollars = {
    worker_requests: perView(workerRequests) * 1e6 * PRICES.workerRequest,
    cpu: perView(cpu) * 1e6 * PRICES.cpuMs,
    object_requests: perView(objectRequests) * 1e6 * PRICES.objectRequest,
    duration: perView(awakeMaxS) * 1e6 * PRICES.objectGb * PRICES.gbSecond,
    rows_written: perView(rowsWritten) * 1e6 * PRICES.rowWritten,
    rows_read: perView(obj.rowsRead) * 1e6 * PRICES.rowRead,
  };
  dollars.total = Object.values(dollars).reduce((a, b) => a + b, 0);
  return {
    ...out,
    worker_requests: workerRequests,
    worker_upgrades: s1.workerUpgrades - s0.workerUpgrades,
    object: obj,
    object_constructed: (s1.constructedBy[site] ?? 0) - (s0.constructedBy[site] ?? 0),
    messages_billed: messages,
    object_requests: objectRequests,
    rows_written: rowsWritten,
    // herenow's own count of the rows it wrote (its test hook), next to the cursors' count
    hook_rows_written: hook0?.rows_written !== undefined && hook1?.rows_written !== undefined ? hook1.rows_written - hook0.rows_written : null,
    awake_s: awakeS,
    awake_max_s: awakeMaxS,
    per_1000: {
      ...out.per_1000,
      worker_requests: per1000(workerRequests),
      object_requests: per1000(objectRequests),
      object_fetches: per1000(obj.requests),
      alarms: per1000(obj.alarms),
      messages: per1000(messages),
      rows_written: per1000(rowsWritten),
      set_alarms: per1000(obj.setAlarms),
      rows_read: per1000(obj.rowsRead),
      awake_s: per1000(awakeS),
      awake_max_s: per1000(awakeMaxS),
    },
    dollars_per_million: dollars,
    others_per_million: OTHERS_PER_MILLION_VIEWS,
  };
}

// ---------------------------------------------------------------------------------------------
// Machine load while the target ran (the machine is shared)

function machineBusyMs() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = line[0] + line[1] + line[2] + line[5] + line[6] + line[7];
  return (busy * 1000) / 100;
}

// ---------------------------------------------------------------------------------------------

async function phase(result, name, fn) {
  const started = performance.now();
  try {
    const value = await fn();
    log(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return value;
  } catch (err) {
    log(`${name}: FAILED: ${err.stack ?? err}`);
    result.errors.push(`${name}: ${err.message}`);
    return null;
  }
}

async function main() {
  const result = {
    target: opts.target,
    label: target.label,
    kind: target.kind,
    quick: opts.quick,
    plan: PLAN,
    driver_cpus: allowedCpus(),
    server_cpus: null,
    errors: [],
  };
  const wall0 = performance.now();
  const busy0 = machineBusyMs();
  const own0 = process.cpuUsage();
  let serverCpu = 0;
  try {
    // 7. Memory, in a runtime of its own (the Wasm memory is shared by every object of the
    // isolate, so nothing else may run in it).
    if (opts.target === 'herenow') {
      // A ttl longer than the fill, so that every session joined is still live when measured.
      server = await startServer('memory run', { PRESENCE_TTL_SECONDS: '3600' });
      result.memory = await phase(result, 'memory', memory);
      serverCpu += cpuMs(server.pid) ?? 0;
      await stopServer(server);
      server = null;
    }

    server = await startServer('main run');
    result.server_cpus = allowedCpus(server.pid);
    result.ready_ms = server.readyMs;
    result.bundle = server.bundle;
    if (isWorker) {
      result.first_request = await phase(result, 'first request', firstRequest);
      // Before any other phase leaves sockets or sessions behind (their keepalives and alarms
      // would land in the CPU figure).
      result.page_views = await phase(result, 'page views', pageViews);
      const wakeSets = PLAN.wake.length ? await phase(result, 'wake-up sockets', openWakePools) : null;
      // The churn runs while the wake-up objects idle towards their eviction (10 s).
      result.churn = await phase(result, 'churn', churn);
      await evicted(wakeSets);
      // Soon after the eviction, before any expiry alarm (ttl 45 s) could wake the object.
      const afterWake = wakeSets ? await phase(result, 'rows after a wake', () => rowsAfterWake(wakeSets)) : null;
      const p = await phase(result, 'pings', pings);
      result.pings = p?.pings ?? null;
      result.rows = p?.rows ?? null;
      if (result.rows && afterWake) result.rows.after_wake = afterWake;
      if (wakeSets) {
        result.wake = await phase(result, 'wake-up', () => wake(wakeSets));
      }
      result.fanout = await phase(result, 'fan-out', fanout);
    } else {
      result.client_check = await phase(result, 'socket.io-client check', officialClient);
      result.page_views = await phase(result, 'page views', pageViews);
      // Churn first: the fan-out ends with thousands of sockets whose teardown would keep the
      // server busy broadcasting for a long time.
      result.churn = await phase(result, 'churn', churn);
      await quiet();
      result.fanout = await phase(result, 'fan-out', fanout);
    }
    result.server_rss_bytes = rssBytes(server.pid);
    serverCpu += cpuMs(server.pid) ?? 0;
    if (opts.target === 'floor' && PLAN.wake.length) {
      // 2b. The same wake-up, by the floor that keeps an attachment per socket (peers/floor):
      // what reading back per-socket state costs in this runtime, beside the plain floor.
      await stopServer(server);
      server = await startServer('stateful floor run', { FLOOR_STATE: 'attachments' });
      const sets = await phase(result, 'wake-up sockets (stateful floor)', openWakePools);
      if (sets) result.wake_stateful = await phase(result, 'wake-up (stateful floor)', () => wake(sets));
      serverCpu += cpuMs(server.pid) ?? 0;
    }
  } finally {
    await stopServer(server);
    for (const p of pools) await p.close();
  }
  const wallMs = performance.now() - wall0;
  const own = process.cpuUsage(own0);
  const driverMs = (own.user + own.system) / 1000;
  const busy = machineBusyMs() - busy0;
  result.wall_s = wallMs / 1000;
  result.machine = {
    cores: os.cpus().length,
    // CPU used by everything else on the machine meanwhile (other users' work), as a share of
    // all cores: what the figures above competed with.
    other_load_pct: Math.max(0, ((busy - driverMs - serverCpu) / (wallMs * os.cpus().length)) * 100),
    driver_cpu_pct: (driverMs / wallMs) * 100,
  };
  const text = JSON.stringify(result, null, 2);
  if (opts.out) fs.writeFileSync(opts.out, text);
  else console.log(text);
  log(`done in ${result.wall_s.toFixed(0)} s; ${result.errors.length} error(s)`);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    for (const p of pools) p.close();
    if (server) await server.stop();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err);
    if (server) await server.stop().catch(() => {});
    process.exit(1);
  },
);
