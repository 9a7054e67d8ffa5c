#!/usr/bin/env node
// A bounded soak run: steady session churn against the real Worker in workerd (wrangler dev,
// 127.0.0.1 only, a fresh state directory), then a check that counts and memory return to
// their baseline. Not part of `npm test` (it takes minutes): `npm run soak [-- --minutes N]`.
//
//   node scripts/soak.mjs [--minutes 3] [--rate 20] [--subscribers 4] [--socket-share 0.1]
//                         [--warmup-requests 30000]
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
// Memory: the resident set (VmRSS) of the workerd processes in the worker's process group,
// sampled every 2 s: a baseline after a warm-up, the peak during the churn, and the level after
// everything has expired. Exits non-zero when the final counts are not 0 (sessions, visitors,
// rooms listed, and, when the sqlite3 CLI is there, session rows left in the object's SQLite),
// when memory after is more than 1.5 x baseline + 30 MiB (or, when the build has the
// /v1/_test/memory hook, the object's Wasm memory after is more than 2 x its baseline + 1 MiB),
// or when the Worker answered any 5xx
// (our JSON error shape). Plain-text 5xx answers of the local runtime or of wrangler's dev proxy
// (such as its "Your worker restarted mid-request") are counted and shown, with the worker's log
// before the first of them, but do not fail the run.
//
// Why the warm-up is long: the local runtime's own RSS grows with the number of requests it has
// served, whatever the Worker does. Measured here (workerd 2026-04-26): a hello-world Worker in
// plain Miniflare grows from 68 to about 330 MiB over its first 25,000 requests, then by about
// 2 KiB per request; under `wrangler dev` the proxy workerd (wrangler's ProxyWorker, none of our
// code) grows likewise. So the warm-up is a short churn (our code paths) followed by
// `--warmup-requests` cheap GET /v1/count requests, which carry the runtime past that steep
// start; the baseline is taken after it. The figures also give the growth per 1,000 requests in
// the soak next to the runtime's own in the tail of the warm-up, for comparison.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { startWorker, sleep, uid } from '../tests/kit/harness.mjs';

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const opts = { minutes: 3, rate: 20, subscribers: 4, socketShare: 0.1, warmupRequests: 30_000 };
  const names = {
    '--minutes': 'minutes',
    '--rate': 'rate',
    '--subscribers': 'subscribers',
    '--socket-share': 'socketShare',
    '--warmup-requests': 'warmupRequests',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log('usage: node scripts/soak.mjs [--minutes 3] [--rate 20] [--subscribers 4] [--socket-share 0.1] [--warmup-requests 30000]');
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
  if (opts.warmupRequests > 200_000) throw new Error('--warmup-requests must be at most 200000');
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
  // For GET /v1/_test/memory (the Wasm memory of our code), when the build has it.
  HERENOW_TEST_HOOKS: 'true',
  PRESENCE_TTL_SECONDS: String(TTL_S),
  PRESENCE_HEARTBEAT_SECONDS: String(HEARTBEAT_S),
  BROADCAST_INTERVAL_MS: '500',
};

// ---------------------------------------------------------------------------------------------
// Memory of the worker's workerd processes

/** { pid, comm, ppid, pgrp } of every process, from /proc/<pid>/stat. */
function processes() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const [, ppid, pgrp] = stat.slice(close + 2).split(' ');
      out.push({ pid: Number(name), comm, ppid: Number(ppid), pgrp: Number(pgrp) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The workerd processes of `worker`: in its process group, or descended from its wrangler. */
function workerdPids(worker) {
  const all = processes();
  const root = worker.child.pid;
  const mine = new Set([root]);
  for (let round = 0; round < 10; round++) {
    for (const p of all) if (mine.has(p.ppid) || p.pgrp === root) mine.add(p.pid);
  }
  return all.filter((p) => mine.has(p.pid) && p.comm.startsWith('workerd')).map((p) => p.pid);
}

function rssKiB(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function workerdRssMiB(worker) {
  const pids = workerdPids(worker);
  return { mib: pids.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024, pids };
}

/** Each workerd process's RSS, for the log. */
function perProcess(worker) {
  return `(${workerdPids(worker).map((pid) => `pid ${pid}: ${(rssKiB(pid) / 1024).toFixed(1)}`).join(', ')})`;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function settledRss(worker, samples = 5, everyMs = 1000) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    values.push(workerdRssMiB(worker).mib);
    if (i + 1 < samples) await sleep(everyMs);
  }
  return median(values);
}

// ---------------------------------------------------------------------------------------------
// Churn

const stats = {
  joins: 0,
  httpJoins: 0,
  socketJoins: 0,
  heartbeats: 0,
  leaves: 0,
  silent: 0,
  socketCloses: 0,
  socketDrops: 0,
  requests: 0,
  errors: 0,
  byKind: new Map(),
  /** 5xx answers in our JSON error shape: from the Worker itself. */
  fiveXX: 0,
  /** 5xx answers in plain text: from the local runtime or wrangler's dev proxy, not our code. */
  fiveXXRuntime: 0,
  firstRuntime5xx: null,
};

/** Counts a 5xx by where it came from; keeps the worker's log around the first one of the runtime. */
function record5xx(worker, res) {
  if (typeof res.body?.error?.code === 'string') {
    stats.fiveXX += 1;
  } else {
    stats.fiveXXRuntime += 1;
    stats.firstRuntime5xx ??= { status: res.status, text: res.text.slice(0, 200), log: worker.logs().slice(-3000) };
  }
}

function recordError(kind) {
  stats.errors += 1;
  stats.byKind.set(kind, (stats.byKind.get(kind) ?? 0) + 1);
}

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

async function ping(worker, site, fields, event, ip) {
  stats.requests += 1;
  let res;
  try {
    res = await worker.ping(site, { ...fields, event }, { headers: { 'cf-connecting-ip': ip } });
  } catch (err) {
    recordError(`${event}: ${err.cause?.code ?? err.name}`);
    return false;
  }
  if (res.status !== 200) {
    if (res.status >= 500) record5xx(worker, res);
    recordError(`${event}: ${res.status} ${res.body?.error?.code ?? res.text.slice(0, 60)}`);
    return false;
  }
  return true;
}

/** One HTTP session: join, heartbeats every second for its lifetime, then a leave or silence. */
async function httpSession(worker, site) {
  const ip = nextIp();
  const fields = { room: `/p/${Math.floor(Math.random() * ROOMS)}`, session: uid('s'), visitor: pickVisitor() };
  const life = LIFE_MIN_MS + Math.random() * (LIFE_MAX_MS - LIFE_MIN_MS);
  const start = performance.now();
  stats.joins += 1;
  stats.httpJoins += 1;
  if (!(await ping(worker, site, fields, 'join', ip))) return;
  for (let beat = 0; beat < LIFE_MAX_MS / 1000 + 2; beat++) {
    const next = start + (beat + 1) * HEARTBEAT_S * 1000;
    if (next > start + life) break;
    await sleep(Math.max(0, next - performance.now()));
    stats.heartbeats += 1;
    await ping(worker, site, fields, 'heartbeat', ip);
  }
  await sleep(Math.max(0, start + life - performance.now()));
  if (Math.random() < 0.5) {
    stats.leaves += 1;
    await ping(worker, site, fields, 'leave', ip);
  } else {
    stats.silent += 1;
  }
}

/** One socket session: open (pinging every second), then a clean close or a dropped connection. */
async function socketSession(worker, site) {
  const ip = nextIp();
  const life = LIFE_MIN_MS + Math.random() * (LIFE_MAX_MS - LIFE_MIN_MS);
  stats.joins += 1;
  stats.socketJoins += 1;
  stats.requests += 1;
  let live;
  try {
    live = await worker.openLive(
      { site, room: `/p/${Math.floor(Math.random() * ROOMS)}`, session: uid('s'), visitor: pickVisitor() },
      { headers: { 'cf-connecting-ip': ip } },
    );
  } catch (err) {
    const m = String(err.message).match(/refused: (\d{3}) (.*)$/s);
    if (m && Number(m[1]) >= 500) {
      let body = null;
      try {
        body = JSON.parse(m[2]);
      } catch {
        // plain text
      }
      record5xx(worker, { status: Number(m[1]), body, text: m[2] });
    }
    recordError(`socket: ${m ? m[1] : err.message.slice(0, 60)}`);
    return;
  }
  await sleep(life);
  if (Math.random() < 0.5) {
    stats.socketCloses += 1;
    await live.close();
  } else {
    stats.socketDrops += 1;
    live.terminate();
  }
}

/**
 * The Wasm linear memory of our code (it grows and never shrinks, so it shows a leak of ours
 * apart from the runtime's own growth), from GET /v1/_test/memory when the build has that hook;
 * null otherwise. MiB.
 */
async function wasmMemory(worker, site) {
  const res = await worker.request(`/v1/_test/memory?site=${site}`).catch(() => null);
  if (!res || res.status !== 200 || typeof res.body?.object_wasm_bytes !== 'number') return null;
  const mib = (b) => (typeof b === 'number' ? b / (1024 * 1024) : null);
  return { object: mib(res.body.object_wasm_bytes), worker: mib(res.body.worker_wasm_bytes) };
}

/** Cheap read-only requests (our Worker and the object) in a bounded burst; answers RSS figures. */
async function requestBurst(worker, site, total, concurrency = 16) {
  let next = 0;
  let tailStartRss = null;
  const tailFrom = Math.floor((total * 2) / 3);
  const runner = async () => {
    for (let round = 0; round < total; round++) {
      const i = next++;
      if (i >= total) return;
      if (i === tailFrom) tailStartRss = workerdRssMiB(worker).mib;
      const res = await worker.request(`/v1/count?site=${site}`).catch(() => null);
      if (!res || res.status !== 200) recordError(`warm-up count: ${res?.status ?? 'network'}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, runner));
  const endRss = workerdRssMiB(worker).mib;
  const tailRequests = total - tailFrom;
  return { tailKiBPerK: tailStartRss === null || tailRequests === 0 ? null : ((endRss - tailStartRss) * 1024 * 1000) / tailRequests };
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
    const out = spawnSync('sqlite3', ['-readonly', file, "SELECT count(*) FROM sessions"], { encoding: 'utf8', timeout: 10_000 });
    if (out.error) return null; // no sqlite3 CLI here
    const n = Number(out.stdout.trim());
    if (Number.isFinite(n)) rows += n;
  }
  return { rows, files: files.length };
}

/**
 * Starts sessions at the fixed rate for `durationMs` (a bounded number of them), then waits
 * for them to end (their lifetimes are bounded too). Answers how long the churn ran.
 */
async function runChurn(worker, site, durationMs) {
  const churnStart = performance.now();
  const maxJoins = Math.ceil((opts.rate * durationMs) / 1000);
  const tasks = new Set();
  let launched = 0;
  for (let tick = 0; tick < durationMs / 20 + 10 && launched < maxJoins; tick++) {
    const elapsed = performance.now() - churnStart;
    if (elapsed >= durationMs) break;
    const due = Math.min(maxJoins, Math.floor((elapsed / 1000) * opts.rate) + 1);
    for (; launched < due; launched++) {
      const task = (Math.random() < opts.socketShare ? socketSession(worker, site) : httpSession(worker, site))
        .catch((err) => recordError(`session: ${err.message.slice(0, 60)}`))
        .finally(() => tasks.delete(task));
      tasks.add(task);
    }
    await sleep(20);
  }
  const churnMs = performance.now() - churnStart;
  console.log(`# churn stopped after ${(churnMs / 1000).toFixed(0)} s; waiting for ${tasks.size} sessions to end`);
  await Promise.race([Promise.all([...tasks]), sleep(LIFE_MAX_MS + 15_000)]);
  return churnMs;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const durationMs = opts.minutes * 60_000;
  console.log(
    `# soak: ${opts.minutes} min at ${opts.rate} joins/s, sessions ${LIFE_MIN_MS / 1000}-${LIFE_MAX_MS / 1000} s, heartbeat ${HEARTBEAT_S} s, ttl ${TTL_S} s, ${opts.subscribers} subscribers, ${Math.round(opts.socketShare * 100)}% socket sessions`,
  );
  const started = performance.now();
  const worker = await startWorker({ vars: VARS });
  const failed = [];
  try {
    const site = worker.site();
    console.log(`# worker on ${worker.base}, state in ${worker.persistDir}; workerd pids ${workerdPids(worker).join(', ')}`);

    // Before any traffic, for the record.
    const cold = await settledRss(worker, 3);
    console.log(`# memory before any traffic (workerd RSS): ${cold.toFixed(1)} MiB ${perProcess(worker)}`);

    // Warm-up: a short churn at the same rate, then everything expires. The runtime's heaps and
    // the Wasm memory grow to their working size once (Wasm memory never shrinks); the baseline
    // is taken after that, so that what the soak measures is growth with time under churn.
    const warmupMs = Math.min(WARMUP_MS, durationMs);
    console.log(`# warm-up: ${(warmupMs / 1000).toFixed(0)} s of churn`);
    await runChurn(worker, site, warmupMs);
    const warm = await worker.openLive({ site, session: uid('s'), visitor: uid('v') });
    await warm.close();
    await sleep(TTL_S * 1000 + 3000);
    const warmCount = await worker.count(site);
    if (warmCount.site.sessions !== 0) failed.push(`the warm-up did not expire: ${JSON.stringify(warmCount.site)}`);
    const burstAt = performance.now();
    const burst = await requestBurst(worker, site, opts.warmupRequests);
    console.log(
      `# warm-up: ${opts.warmupRequests} GET /v1/count in ${((performance.now() - burstAt) / 1000).toFixed(0)} s; the runtime's own growth in its last third: ${burst.tailKiBPerK?.toFixed(1) ?? '?'} KiB per 1000 requests`,
    );
    await sleep(3000);
    for (const k of ['joins', 'httpJoins', 'socketJoins', 'heartbeats', 'leaves', 'silent', 'socketCloses', 'socketDrops', 'requests', 'errors', 'fiveXX', 'fiveXXRuntime']) stats[k] = 0;
    stats.firstRuntime5xx = null;
    stats.byKind.clear();
    const baseline = await settledRss(worker);
    const wasmBaseline = await wasmMemory(worker, site);
    console.log(
      `# baseline memory after the warm-up (workerd RSS): ${baseline.toFixed(1)} MiB ${perProcess(worker)}; object Wasm memory ${wasmBaseline ? `${wasmBaseline.object.toFixed(2)} MiB` : 'n/a'}`,
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
    let peakRss = baseline;
    let peakWasm = wasmBaseline?.object ?? null;
    const monitorRounds = Math.ceil((durationMs + 120_000) / 1000);
    const monitor = (async () => {
      for (let round = 0; round < monitorRounds && monitoring; round++) {
        try {
          const c = await worker.count(site);
          peakSessions = Math.max(peakSessions, c.site.sessions);
          peakVisitors = Math.max(peakVisitors, c.site.visitors);
          if (c.site.visitors > c.site.sessions) failed.push(`visitors > sessions: ${JSON.stringify(c.site)}`);
        } catch (err) {
          recordError(`count: ${err.message.slice(0, 60)}`);
        }
        if (round % 2 === 0) peakRss = Math.max(peakRss, workerdRssMiB(worker).mib);
        if (wasmBaseline && round % 10 === 5) {
          const m = await wasmMemory(worker, site);
          if (m) peakWasm = Math.max(peakWasm, m.object);
        }
        if (round % 30 === 29) {
          const t = ((performance.now() - churnStart) / 1000).toFixed(0);
          console.log(`#   t=${t}s joins ${stats.joins} peak sessions ${peakSessions} rss ${workerdRssMiB(worker).mib.toFixed(1)} MiB errors ${stats.errors}`);
        }
        await sleep(1000);
      }
    })();

    // The churn.
    const churnMs = await runChurn(worker, site, durationMs);

    // Everything ends: the silent ones expire one ttl after their last sign of life.
    const endedAt = performance.now();
    let final = await worker.count(site);
    for (let round = 0; round < 100 && final.site.sessions !== 0 && performance.now() - endedAt < TTL_S * 1000 + 10_000; round++) {
      await sleep(250);
      final = await worker.count(site);
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
    const afterRss = await settledRss(worker);
    const bound = 1.5 * baseline + 30;
    const wasmAfter = await wasmMemory(worker, site);
    const wasmBound = wasmBaseline ? 2 * wasmBaseline.object + 1 : null;
    if (wasmAfter && wasmBound !== null && wasmAfter.object > wasmBound) {
      failed.push(`the object's Wasm memory grew from ${wasmBaseline.object.toFixed(2)} to ${wasmAfter.object.toFixed(2)} MiB (bound ${wasmBound.toFixed(2)})`);
    }
    const soakKiBPerK = stats.requests > 0 ? ((afterRss - baseline) * 1024 * 1000) / stats.requests : null;
    const stored = storedSessionRows(worker);
    if (stored && stored.rows !== 0) failed.push(`${stored.rows} session rows are left in SQLite`);

    if (final.site.sessions !== 0 || final.site.visitors !== 0) failed.push(`final counts are not 0: ${JSON.stringify(final.site)}`);
    if (roomsListed !== 0) failed.push(`${roomsListed} rooms are still listed though empty`);
    if (roomSessions !== 0) failed.push(`rooms still hold ${roomSessions} sessions: ${JSON.stringify(rooms.rooms.slice(0, 5))}`);
    if (afterRss > bound) failed.push(`memory after ${afterRss.toFixed(1)} MiB > bound ${bound.toFixed(1)} MiB`);
    if (stats.fiveXX > 0) failed.push(`${stats.fiveXX} answers were 5xx from the Worker`);
    if (subscribersOpen !== subscribers.length) failed.push(`only ${subscribersOpen} of ${subscribers.length} subscribers stayed open`);
    if (lastCounts.length > 0 && lastCounts[0].last?.sessions !== 0) failed.push(`the site subscriber's last count is ${JSON.stringify(lastCounts[0].last)}, not 0`);

    const errorKinds = Object.fromEntries([...stats.byKind.entries()].sort((a, b) => b[1] - a[1]));
    const figures = {
      minutes: Number((churnMs / 60_000).toFixed(2)),
      rate_per_s: opts.rate,
      joins_sent: stats.joins,
      http_joins: stats.httpJoins,
      socket_joins: stats.socketJoins,
      heartbeats: stats.heartbeats,
      leaves: stats.leaves,
      silent_expiries: stats.silent,
      socket_clean_closes: stats.socketCloses,
      socket_drops: stats.socketDrops,
      requests: stats.requests,
      errors: stats.errors,
      error_kinds: errorKinds,
      answers_5xx_worker: stats.fiveXX,
      answers_5xx_local_runtime: stats.fiveXXRuntime,
      peak_sessions: peakSessions,
      peak_visitors: peakVisitors,
      final_sessions: final.site.sessions,
      final_visitors: final.site.visitors,
      final_room_sessions: roomSessions,
      final_rooms_listed: roomsListed,
      drained_s_after_last_session: Number((drainedMs / 1000).toFixed(1)),
      subscriber_count_messages: lastCounts.map((c) => c.messages),
      sqlite_session_rows: stored ? stored.rows : null,
      growth_kib_per_1000_requests: { soak: soakKiBPerK === null ? null : +soakKiBPerK.toFixed(1), runtime_warmup_tail: burst.tailKiBPerK === null ? null : +burst.tailKiBPerK.toFixed(1) },
      object_wasm_mib: wasmBaseline && wasmAfter ? { baseline: +wasmBaseline.object.toFixed(2), peak: +peakWasm.toFixed(2), after: +wasmAfter.object.toFixed(2), bound: +wasmBound.toFixed(2) } : null,
      memory_mib: { cold: +cold.toFixed(1), baseline: +baseline.toFixed(1), peak: +peakRss.toFixed(1), after: +afterRss.toFixed(1), bound: +bound.toFixed(1) },
      wall_s: Math.round((performance.now() - started) / 1000),
    };
    console.log('# soak figures');
    console.log(`joins sent:        ${stats.joins} (${stats.httpJoins} HTTP, ${stats.socketJoins} socket) over ${(churnMs / 60_000).toFixed(2)} min`);
    console.log(`ends:              ${stats.leaves} leaves, ${stats.silent} silent expiries, ${stats.socketCloses} socket closes, ${stats.socketDrops} socket drops`);
    console.log(`requests:          ${stats.requests} (${stats.heartbeats} heartbeats)`);
    console.log(`errors:            ${stats.errors} ${JSON.stringify(errorKinds)} (5xx from the Worker: ${stats.fiveXX}; from the local runtime or dev proxy: ${stats.fiveXXRuntime})`);
    if (stats.firstRuntime5xx) {
      console.log(`# the first 5xx of the local runtime: ${stats.firstRuntime5xx.status} ${stats.firstRuntime5xx.text}\n# worker log before it:\n${stats.firstRuntime5xx.log.split('\n').filter((l) => !/^\s*\[wrangler:info\] (GET|POST) \/v1\/(count|ping|live) (200|101)/.test(l)).slice(-30).join('\n')}`);
    }
    console.log(`peak sessions:     ${peakSessions} (visitors ${peakVisitors})`);
    console.log(`final counts:      sessions ${final.site.sessions}, visitors ${final.site.visitors}, in rooms ${roomSessions}, rooms listed ${roomsListed} (${(drainedMs / 1000).toFixed(1)} s after the last session ended)`);
    console.log(`subscribers:       ${subscribersOpen}/${subscribers.length} open to the end; count messages ${lastCounts.map((c) => c.messages).join(', ')}`);
    console.log(`memory (workerd):  baseline ${baseline.toFixed(1)} MiB, peak ${peakRss.toFixed(1)} MiB, after ${afterRss.toFixed(1)} MiB (bound ${bound.toFixed(1)} MiB); before any traffic ${cold.toFixed(1)} MiB`);
    console.log(`                   after, per process ${perProcess(worker)}`);
    console.log(`                   growth per 1000 requests: soak ${soakKiBPerK?.toFixed(1) ?? '?'} KiB; the runtime's own (warm-up tail, read-only requests) ${burst.tailKiBPerK?.toFixed(1) ?? '?'} KiB`);
    console.log(
      `Wasm (our code):   ${wasmBaseline && wasmAfter ? `object linear memory baseline ${wasmBaseline.object.toFixed(2)} MiB, peak ${peakWasm.toFixed(2)} MiB, after ${wasmAfter.object.toFixed(2)} MiB (bound ${wasmBound.toFixed(2)} MiB)` : 'n/a (this build has no /v1/_test/memory)'}`,
    );
    console.log(`stored rows:       ${stored ? `${stored.rows} session rows in ${stored.files} SQLite file(s)` : 'not checked (no sqlite3 CLI)'}`);
    console.log(`SOAK ${JSON.stringify(figures)}`);
  } finally {
    await worker.stop();
  }
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
