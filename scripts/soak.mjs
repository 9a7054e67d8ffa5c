#!/usr/bin/env node
// A bounded soak run: steady session churn against the real Worker in workerd (Miniflare,
// 127.0.0.1 only, a fresh state directory), then a check that counts and our memory return to
// their baseline. Not part of `npm test` (it takes minutes): `npm run soak [-- --minutes N]`.
//
//   node scripts/soak.mjs [--minutes 3] [--rate 20] [--subscribers 4] [--socket-share 0.1]
//
// Churn: `rate` new sessions per second for `minutes`, each living 2-10 s (random), HTTP
// heartbeats every 1 s (or socket pings, for the `socket-share` of sessions that are socket
// sessions), then ending one of two ways, half and half: a leave (a clean close for sockets),
// or silence (no leave; a socket dropped without a close frame) left to expire after the ttl
// (3 s). A fifth of the sessions share a visitor with an earlier one; sessions spread over
// 40 rooms. A few subscriber sockets watch the site and some rooms throughout.
//
// Each simulated browser sends its own CF-Connecting-IP, as real visitors come from their own
// addresses: the PING_LIMITER binding (600 per minute per IP and site) would otherwise throttle
// a whole soak coming from 127.0.0.1. (Miniflare keeps a CF-Connecting-IP that the client sends;
// Cloudflare's edge sets it itself.)
//
// What is judged is what is ours: the counts (sessions, visitors, rooms listed and, when the
// sqlite3 CLI is there, session rows left in the object's SQLite) must return to 0; every answer
// must be 200 and valid against the OpenAPI document (no 5xx at all, no error of any kind); the
// object's Wasm linear memory after the churn at most 2 x its baseline + 1 MiB (from the
// /v1/_test/memory hook: it grows and never shrinks, so it shows a leak of ours); and the
// JavaScript heap of the Worker's isolate after a full collection (workerd's inspector) after the
// churn at most 2 x its baseline + 1 MiB.
//
// The resident set of the workerd process is shown, not judged: the runtime's own memory grows
// with the requests it serves whatever the Worker does. So once herenow's run is over, the same
// warm-up and churn go to the floor (tests/bench/peers/floor: the smallest Durable Object that
// answers a ping and broadcasts, nothing stored) in its own workerd under the same Miniflare,
// alone on the machine as herenow was, and both processes' growth per 1,000 requests is printed
// side by side. (Both at once saturated the soak's own driver on 2 cores: requests timed out.)
//
// The Worker runs through Miniflare's API as in the tests (tests/kit/harness.mjs), without
// `wrangler dev` in front: under `wrangler dev`, a POST in flight while wrangler reloaded the
// Worker was answered with the dev proxy's own plain-text 503 ("Your worker restarted
// mid-request"), which is no answer of ours.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import WebSocket from 'ws';
import { isolateHeapUsage, ROOT, startWorker, sleep, uid, withTimeout } from '../tests/kit/harness.mjs';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const opts = { minutes: 3, rate: 20, subscribers: 4, socketShare: 0.1 };
  const names = { '--minutes': 'minutes', '--rate': 'rate', '--subscribers': 'subscribers', '--socket-share': 'socketShare' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log('usage: node scripts/soak.mjs [--minutes 3] [--rate 20] [--subscribers 4] [--socket-share 0.1]');
      process.exit(0);
    }
    const [flag, inline] = arg.split('=', 2);
    const key = names[flag];
    if (!key) throw new Error(`unknown option ${arg}`);
    const value = Number(inline ?? argv[++i]);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${flag} needs a number >= 0`);
    opts[key] = value;
  }
  if (opts.minutes <= 0 || opts.minutes > 120) throw new Error('--minutes must be in (0, 120]');
  if (opts.rate <= 0 || opts.rate > 500) throw new Error('--rate must be in (0, 500]');
  if (opts.subscribers > 100) throw new Error('--subscribers must be at most 100');
  if (opts.socketShare > 1) throw new Error('--socket-share must be in [0, 1]');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const TTL_S = 3;
const HEARTBEAT_S = 1;
const LIFE_MIN_MS = 2000;
const LIFE_MAX_MS = 10_000;
const ROOMS = 40;
const WARMUP_MS = 30_000;
const VARS = {
  HERENOW_TEST_HOOKS: 'true', // GET /v1/_test/memory: the object's Wasm memory
  PRESENCE_TTL_SECONDS: String(TTL_S),
  PRESENCE_HEARTBEAT_SECONDS: String(HEARTBEAT_S),
  BROADCAST_INTERVAL_MS: '500',
};
const MIB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The two targets: herenow (the harness's TestWorker: every answer checked against the OpenAPI
// document) and the floor (plain requests: its answers are not herenow's)

function rssKiB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** One churn's tallies. */
function newStats() {
  return { joins: 0, httpJoins: 0, socketJoins: 0, heartbeats: 0, leaves: 0, silent: 0, socketCloses: 0, socketDrops: 0, requests: 0, errors: 0, byKind: new Map(), fiveXX: 0, firstError: null };
}

function recordError(stats, kind, detail) {
  stats.errors += 1;
  stats.byKind.set(kind, (stats.byKind.get(kind) ?? 0) + 1);
  stats.firstError ??= `${kind}: ${detail}`.slice(0, 300);
}

function herenowTarget(worker) {
  return {
    name: 'herenow',
    stats: newStats(),
    pid: worker.pid,
    async ping(site, fields, event, ip) {
      const res = await worker.ping(site, { ...fields, event }, { headers: { 'cf-connecting-ip': ip } });
      return { status: res.status, text: res.text };
    },
    openLive: (params, ip) => worker.openLive(params, { headers: { 'cf-connecting-ip': ip } }),
    count: async (site) => (await worker.count(site)).site,
    heap: () => worker.heapUsage(),
  };
}

/** The floor Worker under Miniflare, as herenow runs (same runtime, date and options). */
async function startFloor() {
  const dir = path.join(ROOT, 'tests', 'bench', 'peers', 'floor');
  const before = new Set(childWorkerdPids());
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: '127.0.0.1',
      port: 0,
      cf: false,
      inspectorPort: 0,
      workers: [
        {
          name: 'floor',
          compatibilityDate: /^compatibility_date\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'))[1],
          modulesRoot: dir,
          modules: [{ type: 'ESModule', path: path.join(dir, 'floor.mjs') }],
          durableObjects: { FLOOR: { className: 'Floor', useSQLite: true } },
        },
      ],
    }),
  );
  const url = await withTimeout(mf.ready, 30_000, 'the floor to start');
  const pid = childWorkerdPids().find((p) => !before.has(p)) ?? null;
  const base = `http://127.0.0.1:${url.port}`;
  return {
    name: 'floor',
    stats: newStats(),
    pid,
    async ping(site, fields, event) {
      const res = await fetch(`${base}/v1/ping`, { method: 'POST', body: JSON.stringify({ site, ...fields, event }), signal: AbortSignal.timeout(10_000) });
      return { status: res.status, text: await res.text() };
    },
    openLive(params) {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${url.port}/v1/live?${new URLSearchParams(params)}`, { handshakeTimeout: 5000 });
        ws.once('error', reject);
        ws.once('open', () => {
          const pinger = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), HEARTBEAT_S * 1000);
          const closed = new Promise((r) => ws.once('close', r));
          ws.on('error', () => {});
          resolve({
            close: async () => {
              clearInterval(pinger);
              ws.close(1000);
              await withTimeout(closed, 3000, 'the floor to answer a close').catch(() => ws.terminate());
            },
            terminate: () => {
              clearInterval(pinger);
              ws.terminate();
            },
          });
        });
      });
    },
    heap: () => isolateHeapUsage(mf, 'core:user:floor'),
    stop: () => withTimeout(mf.dispose(), 10_000, 'the floor to stop').catch(() => pid && process.kill(pid, 'SIGKILL')),
  };
}

function childWorkerdPids() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close).startsWith('workerd') && Number(stat.slice(close + 2).split(' ')[1]) === process.pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Churn

let ipCounter = 0;
function nextIp() {
  ipCounter += 1;
  const n = ipCounter;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

const visitors = [];
function pickVisitor() {
  if (visitors.length > 0 && Math.random() < 0.2) return visitors[Math.floor(Math.random() * visitors.length)];
  const v = uid('v');
  visitors.push(v);
  if (visitors.length > 500) visitors.shift();
  return v;
}

async function ping(target, site, fields, event, ip) {
  const { stats } = target;
  stats.requests += 1;
  let res;
  try {
    res = await target.ping(site, fields, event, ip);
  } catch (err) {
    recordError(stats, `${event}: ${err.cause?.code ?? err.name}`, err.message);
    return false;
  }
  if (res.status !== 200) {
    if (res.status >= 500) stats.fiveXX += 1;
    recordError(stats, `${event}: ${res.status}`, res.text);
    return false;
  }
  return true;
}

/** One HTTP session: join, heartbeats every second for its lifetime, then a leave or silence. */
async function httpSession(target, site, plan) {
  const { stats } = target;
  const ip = nextIp();
  const start = performance.now();
  stats.joins += 1;
  stats.httpJoins += 1;
  if (!(await ping(target, site, plan.fields, 'join', ip))) return;
  for (let beat = 0; beat < LIFE_MAX_MS / 1000 + 2; beat++) {
    const next = start + (beat + 1) * HEARTBEAT_S * 1000;
    if (next > start + plan.life) break;
    await sleep(Math.max(0, next - performance.now()));
    stats.heartbeats += 1;
    await ping(target, site, plan.fields, 'heartbeat', ip);
  }
  await sleep(Math.max(0, start + plan.life - performance.now()));
  if (plan.leave) {
    stats.leaves += 1;
    await ping(target, site, plan.fields, 'leave', ip);
  } else {
    stats.silent += 1;
  }
}

/** One socket session: open (pinging every second), then a clean close or a dropped connection. */
async function socketSession(target, site, plan) {
  const { stats } = target;
  stats.joins += 1;
  stats.socketJoins += 1;
  stats.requests += 1;
  let live;
  try {
    live = await target.openLive(plan.fields, nextIp());
  } catch (err) {
    const m = String(err.message).match(/refused: (\d{3})/);
    if (m && Number(m[1]) >= 500) stats.fiveXX += 1;
    recordError(stats, `socket: ${m ? m[1] : err.name}`, err.message);
    return;
  }
  await sleep(plan.life);
  if (plan.leave) {
    stats.socketCloses += 1;
    await live.close();
  } else {
    stats.socketDrops += 1;
    live.terminate();
  }
}

/**
 * Starts sessions at the fixed rate for `durationMs` (a bounded number of them) on every target
 * (each session planned once: the same rooms, lives and ends everywhere), then waits for them to
 * end (their lifetimes are bounded too). Answers how long the churn ran.
 */
async function runChurn(targets, site, durationMs) {
  const churnStart = performance.now();
  const maxJoins = Math.ceil((opts.rate * durationMs) / 1000);
  const tasks = new Set();
  let launched = 0;
  for (let tick = 0; tick < durationMs / 20 + 10 && launched < maxJoins; tick++) {
    const elapsed = performance.now() - churnStart;
    if (elapsed >= durationMs) break;
    const due = Math.min(maxJoins, Math.floor((elapsed / 1000) * opts.rate) + 1);
    for (; launched < due; launched++) {
      const plan = {
        socket: Math.random() < opts.socketShare,
        fields: { site, room: `/p/${Math.floor(Math.random() * ROOMS)}`, session: uid('s'), visitor: pickVisitor() },
        life: LIFE_MIN_MS + Math.random() * (LIFE_MAX_MS - LIFE_MIN_MS),
        leave: Math.random() < 0.5,
      };
      for (const target of targets) {
        const fields = plan.socket ? plan.fields : (({ site: _, ...f }) => f)(plan.fields);
        const run = plan.socket ? socketSession(target, site, { ...plan, fields }) : httpSession(target, site, { ...plan, fields });
        const task = run.catch((err) => recordError(target.stats, 'session', err.message)).finally(() => tasks.delete(task));
        tasks.add(task);
      }
    }
    await sleep(20);
  }
  const churnMs = performance.now() - churnStart;
  console.log(`# churn stopped after ${(churnMs / 1000).toFixed(0)} s; waiting for ${tasks.size} sessions to end`);
  await withTimeout(Promise.all([...tasks]), LIFE_MAX_MS + 15_000, 'the last sessions to end').catch((err) => console.log(`# ${err.message}`));
  return churnMs;
}

// ---------------------------------------------------------------------------------------------
// Memory: ours (the object's Wasm memory, the isolate's heap) and the runtime's (RSS)

/** The object's Wasm linear memory (MiB) from GET /v1/_test/memory; null without the hook. */
async function wasmMemory(worker, site) {
  const res = await worker.request(`/v1/_test/memory?site=${site}`).catch(() => null);
  if (!res || res.status !== 200 || typeof res.body?.object_wasm_bytes !== 'number') return null;
  return res.body.object_wasm_bytes / MIB;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median of a few samples of `fn`, one a second. */
async function settled(fn, samples = 5) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    values.push(await fn());
    if (i + 1 < samples) await sleep(1000);
  }
  return median(values);
}

/** RSS (MiB) and isolate heap used after a full collection (MiB) of a target, settled. */
async function memoryOf(target) {
  return {
    rss: await settled(async () => rssKiB(target.pid) / 1024),
    heap: await settled(async () => (await target.heap().catch(() => ({ usedBytes: NaN }))).usedBytes / MIB, 3),
  };
}

/** Session rows left in the site object's SQLite database (null when the sqlite3 CLI is missing). */
function storedSessionRows(worker) {
  const files = [];
  const walk = (dir, depth) => {
    if (depth > 6) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.name.endsWith('.sqlite') && p.includes('SitePresence')) files.push(p);
    }
  };
  try {
    walk(worker.persistDir, 0);
  } catch {
    return null;
  }
  let rows = 0;
  for (const file of files) {
    const out = spawnSync('sqlite3', ['-readonly', file, 'SELECT count(*) FROM sessions'], { encoding: 'utf8', timeout: 10_000 });
    if (out.error) return null; // no sqlite3 CLI here
    const n = Number(out.stdout.trim());
    if (Number.isFinite(n)) rows += n;
  }
  return { rows, files: files.length };
}

function resetStats(stats) {
  Object.assign(stats, newStats());
}

const f1 = (x) => (Number.isFinite(x) ? +x.toFixed(1) : null);
const f2 = (x) => (Number.isFinite(x) ? +x.toFixed(2) : null);

// ---------------------------------------------------------------------------------------------

/**
 * The floor's phase, after herenow's: the same warm-up and churn (the same rate, lives and ends)
 * under the same runtime, alone on the machine as herenow was; answers its memory figures.
 */
async function floorPhase(site, durationMs) {
  const floor = await startFloor();
  try {
    console.log(`# the floor on workerd pid ${floor.pid}: the same warm-up and churn`);
    const cold = await memoryOf(floor);
    await runChurn([floor], site, Math.min(WARMUP_MS, durationMs));
    await sleep(TTL_S * 1000 + 3000);
    resetStats(floor.stats);
    const baseline = await memoryOf(floor);
    let peakRss = baseline.rss;
    let sampling = true;
    const sampler = (async () => {
      for (let round = 0; round < Math.ceil((durationMs + 120_000) / 2000) && sampling; round++) {
        peakRss = Math.max(peakRss, rssKiB(floor.pid) / 1024);
        await sleep(2000);
      }
    })();
    await runChurn([floor], site, durationMs);
    sampling = false;
    await sampler;
    await sleep(5000);
    const after = await memoryOf(floor);
    return { cold, baseline, peakRss, after, requests: floor.stats.requests, errors: floor.stats.errors };
  } finally {
    await floor.stop();
  }
}

async function main() {
  const durationMs = opts.minutes * 60_000;
  console.log(
    `# soak: ${opts.minutes} min at ${opts.rate} joins/s, sessions ${LIFE_MIN_MS / 1000}-${LIFE_MAX_MS / 1000} s, heartbeat ${HEARTBEAT_S} s, ttl ${TTL_S} s, ${opts.subscribers} subscribers, ${Math.round(opts.socketShare * 100)}% socket sessions; then the same churn to the floor`,
  );
  const started = performance.now();
  const worker = await startWorker({ vars: VARS, inspector: true });
  const failed = [];
  const ours = herenowTarget(worker);
  const site = worker.site();
  let figures;
  let stored;
  try {
    console.log(`# herenow on ${worker.base} (workerd pid ${worker.pid}), state in ${worker.persistDir}`);
    const cold = await memoryOf(ours);

    // Warm-up: a short churn at the same rate, then everything expires. The heap and the Wasm
    // memory grow to their working size once (Wasm memory never shrinks); the baseline is taken
    // after that, so that what the soak measures is growth with time under churn.
    const warmupMs = Math.min(WARMUP_MS, durationMs);
    console.log(`# warm-up: ${(warmupMs / 1000).toFixed(0)} s of churn`);
    await runChurn([ours], site, warmupMs);
    await sleep(TTL_S * 1000 + 3000);
    const warmCount = await ours.count(site);
    if (warmCount.sessions !== 0) failed.push(`the warm-up did not expire: ${JSON.stringify(warmCount)}`);
    if (ours.stats.errors > 0) failed.push(`${ours.stats.errors} errors during the warm-up (first: ${ours.stats.firstError})`);
    resetStats(ours.stats);
    const baseline = await memoryOf(ours);
    const wasmBaseline = await wasmMemory(worker, site);
    console.log(
      `# baseline after the warm-up: RSS ${f1(baseline.rss)} MiB, isolate heap ${f2(baseline.heap)} MiB, object Wasm ${wasmBaseline === null ? 'n/a' : `${f2(wasmBaseline)} MiB`}`,
    );

    const subscribers = [];
    for (let i = 0; i < opts.subscribers; i++) {
      const params = i === 0 ? { site } : { site, room: `/p/${i % ROOMS}` };
      subscribers.push(await worker.openLive(params, { headers: { 'cf-connecting-ip': nextIp() } }));
    }

    // Monitor: counts every second, memory every 2 s, until told to stop (bounded anyway).
    const churnStart = performance.now();
    let monitoring = true;
    let peakSessions = 0;
    let peakVisitors = 0;
    let peakRss = baseline.rss;
    let peakWasm = wasmBaseline;
    const monitorRounds = Math.ceil((durationMs + 120_000) / 1000);
    const monitor = (async () => {
      for (let round = 0; round < monitorRounds && monitoring; round++) {
        try {
          const c = await ours.count(site);
          peakSessions = Math.max(peakSessions, c.sessions);
          peakVisitors = Math.max(peakVisitors, c.visitors);
          if (c.visitors > c.sessions) failed.push(`visitors > sessions: ${JSON.stringify(c)}`);
        } catch (err) {
          recordError(ours.stats, 'count', err.message);
        }
        if (round % 2 === 0) peakRss = Math.max(peakRss, rssKiB(ours.pid) / 1024);
        if (wasmBaseline !== null && round % 10 === 5) {
          const m = await wasmMemory(worker, site);
          if (m !== null) peakWasm = Math.max(peakWasm, m);
        }
        if (round % 30 === 29) {
          const t = ((performance.now() - churnStart) / 1000).toFixed(0);
          console.log(`#   t=${t}s joins ${ours.stats.joins} peak sessions ${peakSessions} RSS ${f1(rssKiB(ours.pid) / 1024)} MiB errors ${ours.stats.errors}`);
        }
        await sleep(1000);
      }
    })();

    // The churn.
    const churnMs = await runChurn([ours], site, durationMs);

    // Everything ends: the silent ones expire one ttl after their last sign of life.
    const endedAt = performance.now();
    let final = await ours.count(site);
    for (let round = 0; round < 100 && final.sessions !== 0 && performance.now() - endedAt < TTL_S * 1000 + 10_000; round++) {
      await sleep(250);
      final = await ours.count(site);
    }
    const drainedMs = performance.now() - endedAt;
    const rooms = await worker.rooms(site, 1000);
    const roomSessions = rooms.rooms.reduce((n, r) => n + r.sessions, 0);
    const roomsListed = rooms.rooms.length;
    // The subscribers heard the end too.
    await sleep(1000);
    const lastCounts = subscribers.map((s) => {
      const counts = s.received.filter((e) => typeof e.msg === 'object' && e.msg?.type === 'count');
      return { messages: counts.length, last: counts.at(-1)?.msg.site };
    });
    const subscribersOpen = subscribers.filter((s) => s.isOpen).length;
    for (const s of subscribers) await s.close();
    monitoring = false;
    await monitor;

    // Memory once everything is gone (give the runtime a moment to collect).
    await sleep(5000);
    const after = await memoryOf(ours);
    const wasmAfter = await wasmMemory(worker, site);
    const wasmBound = wasmBaseline === null ? null : 2 * wasmBaseline + 1;
    const heapBound = 2 * baseline.heap + 1;
    stored = storedSessionRows(worker);
    const st = ours.stats;

    if (wasmAfter !== null && wasmBound !== null && wasmAfter > wasmBound) failed.push(`the object's Wasm memory grew from ${f2(wasmBaseline)} to ${f2(wasmAfter)} MiB (bound ${f2(wasmBound)})`);
    if (!Number.isFinite(after.heap)) failed.push("the isolate's heap could not be read from the inspector");
    else if (after.heap > heapBound) failed.push(`the isolate's heap grew from ${f2(baseline.heap)} to ${f2(after.heap)} MiB (bound ${f2(heapBound)})`);
    if (stored && stored.rows !== 0) failed.push(`${stored.rows} session rows are left in SQLite`);
    if (final.sessions !== 0 || final.visitors !== 0) failed.push(`final counts are not 0: ${JSON.stringify(final)}`);
    if (roomsListed !== 0) failed.push(`${roomsListed} rooms are still listed though empty`);
    if (roomSessions !== 0) failed.push(`rooms still hold ${roomSessions} sessions: ${JSON.stringify(rooms.rooms.slice(0, 5))}`);
    if (st.fiveXX > 0) failed.push(`${st.fiveXX} answers were 5xx`);
    if (st.errors > 0) failed.push(`${st.errors} requests failed (first: ${st.firstError})`);
    if (subscribersOpen !== subscribers.length) failed.push(`only ${subscribersOpen} of ${subscribers.length} subscribers stayed open`);
    if (lastCounts.length > 0 && lastCounts[0].last?.sessions !== 0) failed.push(`the site subscriber's last count is ${JSON.stringify(lastCounts[0].last)}, not 0`);

    figures = {
      minutes: f2(churnMs / 60_000),
      rate_per_s: opts.rate,
      joins_sent: st.joins,
      http_joins: st.httpJoins,
      socket_joins: st.socketJoins,
      heartbeats: st.heartbeats,
      leaves: st.leaves,
      silent_expiries: st.silent,
      socket_clean_closes: st.socketCloses,
      socket_drops: st.socketDrops,
      requests: st.requests,
      errors: st.errors,
      error_kinds: Object.fromEntries([...st.byKind.entries()].sort((x, y) => y[1] - x[1])),
      first_error: st.firstError,
      answers_5xx: st.fiveXX,
      peak_sessions: peakSessions,
      peak_visitors: peakVisitors,
      final_sessions: final.sessions,
      final_visitors: final.visitors,
      final_room_sessions: roomSessions,
      final_rooms_listed: roomsListed,
      drained_s_after_last_session: f1(drainedMs / 1000),
      subscribers_open: `${subscribersOpen}/${subscribers.length}`,
      subscriber_count_messages: lastCounts.map((c) => c.messages),
      sqlite_session_rows: stored ? stored.rows : null,
      object_wasm_mib: wasmBaseline !== null && wasmAfter !== null ? { baseline: f2(wasmBaseline), peak: f2(peakWasm), after: f2(wasmAfter), bound: f2(wasmBound) } : null,
      isolate_heap_mib: { baseline: f2(baseline.heap), after: f2(after.heap), bound: f2(heapBound) },
      workerd_rss_mib: { cold: f1(cold.rss), baseline: f1(baseline.rss), peak: f1(peakRss), after: f1(after.rss), growth_kib_per_1000_requests: f1(((after.rss - baseline.rss) * 1024 * 1000) / Math.max(1, st.requests)) },
    };
  } finally {
    await worker.stop();
  }

  const floor = await floorPhase(site, durationMs);
  figures.floor = {
    requests: floor.requests,
    errors: floor.errors,
    isolate_heap_mib: { baseline: f2(floor.baseline.heap), after: f2(floor.after.heap) },
    workerd_rss_mib: { cold: f1(floor.cold.rss), baseline: f1(floor.baseline.rss), peak: f1(floor.peakRss), after: f1(floor.after.rss), growth_kib_per_1000_requests: f1(((floor.after.rss - floor.baseline.rss) * 1024 * 1000) / Math.max(1, floor.requests)) },
  };
  figures.wall_s = Math.round((performance.now() - started) / 1000);

  const h = figures;
  console.log('# soak figures');
  console.log(`joins sent:        ${h.joins_sent} (${h.http_joins} HTTP, ${h.socket_joins} socket) over ${h.minutes} min`);
  console.log(`ends:              ${h.leaves} leaves, ${h.silent_expiries} silent expiries, ${h.socket_clean_closes} socket closes, ${h.socket_drops} socket drops`);
  console.log(`requests:          ${h.requests} (${h.heartbeats} heartbeats)`);
  console.log(`errors:            ${h.errors} ${JSON.stringify(h.error_kinds)} (5xx: ${h.answers_5xx})${h.first_error ? `; first: ${h.first_error}` : ''}`);
  console.log(`peak sessions:     ${h.peak_sessions} (visitors ${h.peak_visitors})`);
  console.log(`final counts:      sessions ${h.final_sessions}, visitors ${h.final_visitors}, in rooms ${h.final_room_sessions}, rooms listed ${h.final_rooms_listed} (${h.drained_s_after_last_session} s after the last session ended)`);
  console.log(`subscribers:       ${h.subscribers_open} open to the end; count messages ${h.subscriber_count_messages.join(', ')}`);
  console.log(`stored rows:       ${stored ? `${stored.rows} session rows in ${stored.files} SQLite file(s)` : 'not checked (no sqlite3 CLI)'}`);
  console.log(`Wasm (ours):       ${h.object_wasm_mib ? `object linear memory baseline ${h.object_wasm_mib.baseline} MiB, peak ${h.object_wasm_mib.peak} MiB, after ${h.object_wasm_mib.after} MiB (bound ${h.object_wasm_mib.bound} MiB)` : 'n/a (this build has no /v1/_test/memory)'}`);
  console.log(`isolate heap:      herenow ${h.isolate_heap_mib.baseline} -> ${h.isolate_heap_mib.after} MiB after a full collection (bound ${h.isolate_heap_mib.bound} MiB); the floor ${h.floor.isolate_heap_mib.baseline} -> ${h.floor.isolate_heap_mib.after} MiB`);
  const rss = (r) => `${r.baseline} -> peak ${r.peak} -> ${r.after} MiB, ${r.growth_kib_per_1000_requests} KiB per 1000 requests`;
  console.log(`workerd RSS:       herenow ${rss(h.workerd_rss_mib)}; the floor ${rss(h.floor.workerd_rss_mib)} over ${h.floor.requests} requests (shown, not judged)`);
  console.log(`SOAK ${JSON.stringify(figures)}`);
  if (failed.length > 0) {
    console.log(`# soak FAILED:\n${failed.map((f) => `#   ${f}`).join('\n')}`);
    process.exit(1);
  }
  console.log('# soak passed');
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
