#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only herenow,floor] [-- --no-write]`
//
// Runs the bench driver once per target, one target at a time: herenow, the partyserver peer,
// the Socket.IO peer and the floor. Each driver process is pinned to the driver's core and
// starts its server pinned to the other one (taskset), so the load generator never competes
// with the server under test for a core. Prints one table; a full run also writes it, with the
// machine, the versions and the exact command, into BENCHMARKS.md (between the bench markers;
// the hand-written parts of that file are kept). `--quick` is the smoke mode for CI: every
// phase once, with small numbers, in about a minute and a half; it writes nothing unless
// `--write` is given.
//
// Exits non-zero when a driver failed or a phase reported an error, so that CI notices rot.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OTHERS_PER_MILLION_VIEWS } from './lib/prices.mjs';
import { pkgVersion } from './lib/targets.mjs';
import { ROOT, WORKERD } from './lib/workerd.mjs';

const ORDER = ['herenow', 'partyserver', 'socketio', 'floor'];
const NAMES = { herenow: 'herenow', partyserver: 'partyserver', socketio: 'Socket.IO', floor: 'floor' };

function parseArgs(argv) {
  const opts = { quick: false, only: ORDER, write: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--only') opts.only = argv[++i].split(',');
    else if (a === '--write') opts.write = true;
    else if (a === '--no-write') opts.write = false;
    else if (a === '--json') opts.json = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench [-- --quick] [--only herenow,partyserver,socketio,floor] [--write|--no-write] [--json FILE]');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  for (const t of opts.only) if (!ORDER.includes(t)) throw new Error(`unknown target ${t}`);
  opts.write ??= !opts.quick && opts.only.length === ORDER.length;
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;

// ---------------------------------------------------------------------------------------------
// Preconditions: a built Worker, and taskset for the core budgets.

// The bench runs the build with the test hooks (the object's Wasm memory, rows written); the
// hooks add a few KB, said next to the bundle figure.
function ensureBuilt() {
  if (process.env.HERENOW_BENCH_BUILD) return;
  let kind = '';
  try {
    kind = fs.readFileSync(path.join(ROOT, 'build', 'KIND'), 'utf8').trim();
  } catch {
    // not built yet
  }
  if (kind === 'test-hooks') return;
  console.error('# building the Worker with its test hooks (bash scripts/build.sh --test-hooks)');
  const r = spawnSync('bash', ['scripts/build.sh', '--test-hooks'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, HERENOW_SKIP_BUILD: '' },
  });
  if (r.status !== 0) throw new Error('the build failed');
}

function canPin() {
  if (os.cpus().length < 2) return false;
  const r = spawnSync('taskset', ['-c', '0', 'true']);
  return r.status === 0;
}

// ---------------------------------------------------------------------------------------------
// Running the drivers

function runDriver(target, pin) {
  return new Promise((resolve) => {
    const out = path.join(os.tmpdir(), `herenow-bench-${target}-${process.pid}.json`);
    const args = [path.join(ROOT, 'tests', 'bench', 'driver.mjs'), '--target', target, '--out', out];
    if (opts.quick) args.push('--quick');
    if (!pin) args.push('--no-pin');
    const [cmd, argv] = pin ? ['taskset', ['-c', '1', process.execPath, ...args]] : [process.execPath, args];
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    // A bound on the whole driver, on top of its own per-phase bounds.
    const limitMs = opts.quick ? 120_000 : 600_000;
    const timer = setTimeout(() => {
      console.error(`# ${target}: the driver ran past ${limitMs / 1000} s; stopping it`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let result = null;
      try {
        result = JSON.parse(fs.readFileSync(out, 'utf8'));
        fs.rmSync(out);
      } catch {
        // no result: reported below
      }
      resolve({ target, code, result });
    });
  });
}

/**
 * tests/bench/ping-pair.mjs: CPU per heartbeat of herenow and `other` in alternating windows
 * seconds apart (both servers up at once), after the drivers ran; null if it failed.
 */
function runPair(other) {
  return new Promise((resolve) => {
    const out = path.join(os.tmpdir(), `herenow-bench-pair-${other}-${process.pid}.json`);
    const args = [path.join(ROOT, 'tests', 'bench', 'ping-pair.mjs'), '--a', 'herenow', '--b', other, '--pairs', String(PAIRS), '--json', out];
    // its lines go to stderr, with the drivers' progress; stdout is the table
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 2, 2] });
    const timer = setTimeout(() => child.kill('SIGTERM'), 300_000);
    child.on('exit', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(fs.readFileSync(out, 'utf8')));
        fs.rmSync(out);
      } catch {
        resolve(null);
      }
    });
  });
}

/** Pairs of windows per `runPair` (4 s each): about 45 s per peer. */
const PAIRS = 6;

/** `runPair`'s results by peer, for the table and the verdicts. */
const PAIRED = {};

// ---------------------------------------------------------------------------------------------
// Formatting

const f0 = (x) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : Math.round(x).toLocaleString('en-US'));
const f1 = (x) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x < 10 ? x.toFixed(1) : f0(x));
const f2 = (x) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const kb = (x) => (x === null || x === undefined ? 'n/a' : `${(x / 1000).toFixed(1)} KB`);
const NA = 'n/a';

function floorOf(results) {
  return results.find((r) => r.target === 'floor')?.result ?? null;
}

/** The table's rows: a label, and a cell per target (NA where a figure does not apply). */
function rows(results, plan) {
  const floor = floorOf(results);
  const cell = (fn) => (r) => {
    if (!r.result) return 'failed';
    try {
      return fn(r.result) ?? NA;
    } catch {
      return 'error';
    }
  };
  const out = [];
  for (const size of plan.fanoutSizes) {
    out.push([
      `1. Fan-out to the last of ${size.toLocaleString('en-US')} subscribers: p50 / p99 / max ms`,
      cell((x) => {
        const f = x.fanout?.[size];
        if (f?.not_held) return `not held (${f.not_held})`;
        return f ? `${f1(f.p50)} / ${f1(f.p99)} / ${f1(f.max)}` : x.fanout ? 'not held' : 'error';
      }),
    ]);
    out.push([
      `   the first subscriber, p50 / p99 ms; from the first to the last, p50 / p99 ms`,
      cell((x) => {
        const f = x.fanout?.[size];
        if (!f || f.not_held || f.first_p99 === undefined) return NA;
        return `${f1(f.first_p50)} / ${f1(f.first_p99)}; ${f1(f.spread_p50)} / ${f1(f.spread_p99)}`;
      }),
    ]);
  }
  const wakeSizes = [...new Set(results.flatMap((r) => Object.keys(r.result?.wake ?? {})))].map(Number).sort((a, b) => a - b);
  for (const size of wakeSizes.length ? wakeSizes : plan.wake.map((w) => w.sockets)) {
    out.push([
      `2. Wake-up with ${size.toLocaleString('en-US')} sockets: first / last subscriber ms`,
      cell((x) => {
        if (x.kind !== 'worker') return NA;
        const w = x.wake?.[size];
        if (!w) return x.wake === undefined ? 'not run' : 'error';
        return `${f1(w.first)} / ${f1(w.last)}${w.hibernated ? '' : ' (not evicted)'}`;
      }),
    ]);
  }
  for (const size of Object.keys(floor?.wake_stateful ?? {}).map(Number).sort((a, b) => a - b)) {
    out.push([
      `   the floor keeping an attachment per socket, read on a wake: ${size.toLocaleString('en-US')} sockets, first / last ms`,
      cell((x) => {
        const w = x.wake_stateful?.[size];
        return w ? `${f1(w.first)} / ${f1(w.last)}${w.hibernated ? '' : ' (not evicted)'}` : NA;
      }),
    ]);
  }
  out.push([`3. Pings at saturation (the median of ${plan.pingWindows ?? 1} window${(plan.pingWindows ?? 1) === 1 ? '' : 's'} of ${((plan.pingDurationMs ?? 0) / 1000).toFixed(0)} s): requests/s`, cell((x) => (x.kind === 'worker' ? f0(x.pings?.rps) : NA))]);
  out.push(['   latency p50 / p99 ms', cell((x) => (x.kind === 'worker' ? `${f1(x.pings?.p50)} / ${f1(x.pings?.p99)}` : NA))]);
  out.push([
    '   workerd CPU per 1,000 pings: ms (x floor)',
    cell((x) => {
      if (x.kind !== 'worker') return NA;
      const ratio = floor?.pings ? x.pings.cpu_ms_per_1000 / floor.pings.cpu_ms_per_1000 : null;
      return `${f0(x.pings?.cpu_ms_per_1000)} (${ratio === null ? '?' : ratio.toFixed(2)}x)`;
    }),
  ]);
  for (const other of ['floor', 'partyserver']) {
    const pair = PAIRED[other];
    if (!pair) continue;
    out.push([
      `   CPU per ping, herenow / ${NAMES[other]} in alternating 4 s windows (ping-pair.mjs): median of ${pair.pairs.length} pairs (range)`,
      (r) => (r.target === 'herenow' ? `${f2(pair.ratio_median)}x (${f2(pair.ratio_min)} to ${f2(pair.ratio_max)})` : NA),
    ]);
  }
  out.push([
    '   each window: CPU ms per 1,000 pings (requests/s)',
    cell((x) => (x.kind === 'worker' && x.pings?.windows ? x.pings.windows.map((w) => `${f0(w.cpu_ms_per_1000)} (${f0(w.rps)})`).join(', ') : NA)),
  ]);
  out.push([
    `4. Churn (${plan.churnSubscribers.toLocaleString('en-US')} subscribers, ${CHURN(plan)}): messages per subscriber per s (most in 450 ms)`,
    cell((x) => (x.churn ? `${f1(x.churn.msgs_per_sub_per_s)} (${x.churn.max_in_window})` : 'error')),
  ]);
  out.push([
    '   every subscriber true, ms after the churn stopped (server done)',
    cell((x) => {
      const c = x.churn;
      if (!c) return 'error';
      const settle = c.settle_ms === null ? `> ${f0(c.settle_bound_ms)}` : f0(c.settle_ms);
      const done = c.requests_done_ms === null ? `> ${f0(c.settle_bound_ms)}` : f0(c.requests_done_ms);
      return `${settle} (${done})`;
    }),
  ]);
  out.push([
    '5. Rows written per join / per heartbeat (first heartbeat after a wake)',
    cell((x) => {
      if (x.kind !== 'worker') return NA;
      if (!x.rows) return 'error';
      const w = x.rows.after_wake;
      const after = w ? `${f2(w.per_heartbeat)}${w.rebuilt ? '' : ', not evicted'}` : 'not run';
      return `${f2(x.rows.per_join)} / ${f2(x.rows.per_heartbeat)} (${after})`;
    }),
  ]);
  out.push([
    '6. Bundle: raw / gzip (all modules, as wrangler counts)',
    cell((x) => (x.bundle ? `${kb(x.bundle.raw)} / ${kb(x.bundle.gzip)}` : NA)),
  ]);
  out.push([
    '   of which Wasm: raw / gzip',
    cell((x) => {
      const w = x.bundle?.files?.['index_bg.wasm'];
      return w ? `${kb(w.raw)} / ${kb(w.gzip)}` : NA;
    }),
  ]);
  out.push([
    '   first request to a fresh object: p50 ms (same request again)',
    cell((x) => (x.first_request ? `${f1(x.first_request.p50)} (${f1(x.first_request.warm_p50)})` : NA)),
  ]);
  out.push([
    `7. Wasm memory, 0 / ${plan.memorySessions.toLocaleString('en-US')} sessions; bytes per session`,
    cell((x) =>
      x.memory && !x.memory.error
        ? `${kb(x.memory.bytes_0)} / ${kb(x.memory.bytes_n)}; ${f0(x.memory.bytes_per_session)}`
        : x.target === 'herenow'
          ? 'error'
          : NA,
    ),
  ]);
  const pv = (fn) =>
    cell((x) => {
      if (!x.page_views) return 'error';
      return fn(x.page_views, x);
    });
  const views = (plan.pageViews ?? 0).toLocaleString('en-US');
  out.push([
    `8. Page views (${views}, each 20-60 s run 10x faster, socket + pings + leave): server CPU ms per 1,000 views (workerd; Node for Socket.IO)`,
    pv((p) => f0(p.per_1000.cpu_ms)),
  ]);
  out.push([
    '   Worker requests / object requests as billed, per 1,000 views (object requests + alarms + incoming messages / 20)',
    pv((p, x) => {
      if (x.kind !== 'worker') return NA;
      const q = p.per_1000;
      return `${f0(q.worker_requests)} / ${f0(q.object_requests)} (${f0(q.object_fetches)} + ${f0(q.alarms)} + ${f0(q.messages)} / 20)`;
    }),
  ]);
  out.push([
    '   rows written per 1,000 views, each setAlarm one (of which setAlarm)',
    pv((p, x) => (x.kind === 'worker' ? `${f0(p.per_1000.rows_written)} (${f0(p.per_1000.set_alarms)})` : NA)),
  ]);
  out.push([
    '   object awake s per 1,000 views: an event in flight on the runtime clock, to that plus all CPU',
    pv((p, x) => (x.kind === 'worker' ? `${f2(p.per_1000.awake_s)} to ${f1(p.per_1000.awake_max_s)}` : NA)),
  ]);
  out.push([
    `   $ per 1,000,000 page views at list prices, no allowances (Pusher $${OTHERS_PER_MILLION_VIEWS.pusher}, Ably $${OTHERS_PER_MILLION_VIEWS.ably} for 1 M views: docs/cost.md)`,
    pv((p, x) => (x.kind === 'worker' ? `$${f2(p.dollars_per_million.total)}` : NA)),
  ]);
  return out;
}

const CHURN = (plan) => `${50} joins + ${50} leaves/s for ${plan.churnDurationMs / 1000} s`;

function table(results, plan) {
  const cols = results.map((r) => NAMES[r.target]);
  const lines = [`| figure | ${cols.join(' | ')} |`, `| --- | ${cols.map(() => '---').join(' | ')} |`];
  for (const [label, fn] of rows(results, plan)) {
    lines.push(`| ${label} | ${results.map((r) => fn(r)).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The issue's targets, each met or missed, with the figures behind the verdict. */
function targets(results) {
  const by = Object.fromEntries(results.map((r) => [r.target, r.result]));
  const h = by.herenow;
  if (!h) return ['herenow did not run: no verdicts'];
  const out = [];
  const verdict = (ok, text) => out.push(`- ${ok === null ? 'not measured' : ok ? 'met' : 'MISSED'}: ${text}`);
  const fan = h.fanout?.[1000];
  const peers = ['partyserver', 'socketio'].map((t) => [t, by[t]?.fanout?.[1000]?.p99]);
  if (fan) {
    const ahead = peers.every(([, p]) => p !== undefined && fan.p99 < p);
    verdict(
      fan.p99 <= 50 && ahead,
      `fan-out p99 to 1,000 subscribers <= 50 ms and ahead of both peers: herenow ${f1(fan.p99)} ms; ${peers.map(([t, p]) => `${NAMES[t]} ${f1(p)} ms`).join(', ')}`,
    );
  } else verdict(null, 'fan-out to 1,000 subscribers (not run in this mode)');
  // the largest wake-up set of the plan, against the floor's at the same size
  const big = Math.max(0, ...Object.keys(h.wake ?? {}).map(Number));
  const w = h.wake?.[big];
  const fw = by.floor?.wake?.[big];
  if (w && fw) {
    verdict(
      w.first <= 1.25 * fw.first && w.hibernated,
      `wake-up with ${big.toLocaleString('en-US')} sockets at most 1.25x the floor's to the first subscriber: ${f1(w.first)} ms against the floor's ${f1(fw.first)} ms (${f2(w.first / fw.first)}x; last ${f1(w.last)} ms${w.hibernated ? '' : '; the object was NOT evicted'})`,
    );
  } else verdict(null, 'wake-up against the floor (not run in this mode)');
  const sw = by.floor?.wake_stateful?.[big];
  if (w && sw) {
    // not one of the issue's targets: where the runtime's own per-socket reads put the limit
    out.push(
      `- beside it: the floor that keeps an attachment per socket and reads them on a wake (peers/floor, FLOOR_STATE): ${f1(sw.first)} ms to the first of ${big.toLocaleString('en-US')} (last ${f1(sw.last)}${sw.hibernated ? '' : '; NOT evicted'}); herenow ${f2(w.first / sw.first)}x that`,
    );
  }
  const fl = by.floor?.pings;
  const ps = by.partyserver?.pings;
  if (h.pings && fl) {
    const ratio = h.pings.cpu_ms_per_1000 / fl.cpu_ms_per_1000;
    verdict(ratio <= 1.3, `CPU per ping at most 1.3x the floor's: ${f0(h.pings.cpu_ms_per_1000)} vs ${f0(fl.cpu_ms_per_1000)} ms per 1,000 = ${ratio.toFixed(2)}x`);
  } else verdict(null, 'CPU per ping vs the floor');
  for (const other of ['floor', 'partyserver']) {
    const pair = PAIRED[other];
    if (pair === null) out.push(`- beside it: herenow / ${NAMES[other]} in alternating windows: ping-pair.mjs FAILED`);
    if (pair) out.push(`- beside it: herenow / ${NAMES[other]} CPU per ping in alternating windows seconds apart (ping-pair.mjs): median ${f2(pair.ratio_median)}x over ${pair.pairs.length} pairs (${f2(pair.ratio_min)} to ${f2(pair.ratio_max)})`);
  }
  if (h.pings && ps) verdict(h.pings.rps >= ps.rps, `ping throughput at least the partyserver peer's: ${f0(h.pings.rps)} vs ${f0(ps.rps)} requests/s`);
  else verdict(null, "ping throughput vs partyserver's");
  if (h.churn) {
    // Arrival times at the driver carry the runtime's and the driver's delivery jitter: two
    // messages sent 500 ms apart can arrive closer. A gap of at least 3/4 of the interval is
    // read as the throttle holding; anything closer is a second message in one interval.
    const c = h.churn;
    const text = `at most one message per subscriber per broadcast interval under churn: at most ${c.max_in_window} in any 450 ms, shortest gap ${f0(c.min_gap_ms)} ms (${f1(c.msgs_per_sub_per_s)} messages per subscriber per s; partyserver ${f1(by.partyserver?.churn?.msgs_per_sub_per_s)}, Socket.IO ${f1(by.socketio?.churn?.msgs_per_sub_per_s)}, floor ${f1(by.floor?.churn?.msgs_per_sub_per_s)})`;
    if (c.max_in_window <= 1) verdict(true, text);
    else if (c.min_gap_ms >= 375) out.push(`- met within delivery jitter: ${text}`);
    else verdict(false, text);
  }
  if (h.rows) {
    const w = h.rows.after_wake;
    // herenow's own count without its history rows (one a minute, on the alarm) when the build
    // says; the SQL cursors' count otherwise
    const own = h.rows.hook_session_per_heartbeat;
    const awake = own ?? h.rows.per_heartbeat;
    const history = own == null ? '' : ` (${h.rows.hook_history_rows} history row(s) of the minute in the window not counted: ${f2(own)} written by heartbeats)`;
    verdict(
      awake === 0 && (!w || w.per_heartbeat === 0),
      `zero rows per heartbeat: ${f2(h.rows.per_heartbeat)} while the object is awake${history}; ${w ? `${f2(w.per_heartbeat)} for the first heartbeat of each session after the object was evicted and woken` : 'after a wake: not run'} (per join ${f2(h.rows.per_join)})`,
    );
  }
  const hv = h.page_views;
  const fv = by.floor?.page_views;
  if (hv && fv) {
    const ratio = hv.per_1000.cpu_ms / fv.per_1000.cpu_ms;
    verdict(ratio <= 1.3, `CPU per page view at most 1.3x the floor's: ${f0(hv.per_1000.cpu_ms)} vs ${f0(fv.per_1000.cpu_ms)} ms per 1,000 views = ${ratio.toFixed(2)}x`);
  } else verdict(null, 'CPU per page view vs the floor');
  if (hv?.per_1000?.rows_written != null) {
    const rows = hv.per_1000.rows_written / 1000;
    verdict(rows <= 1.2, `rows written per page view at most 1.2, each setAlarm one: ${f2(rows)} (setAlarm ${f2(hv.per_1000.set_alarms / 1000)})`);
  } else verdict(null, 'rows written per page view');
  if (h.bundle) verdict(h.bundle.gzip <= 200_000, `bundle at most 200 KB gzipped: ${kb(h.bundle.gzip)} (Wasm ${kb(h.bundle.files['index_bg.wasm'].gzip)}, JS ${kb(h.bundle.files['index.js'].gzip)})`);
  if (h.memory && !h.memory.error) verdict(h.memory.bytes_per_session <= 200, `at most 200 bytes per session: ${f0(h.memory.bytes_per_session)} bytes (${h.memory.sessions.toLocaleString('en-US')} sessions)`);
  else verdict(null, 'bytes per session (no memory hook in this build)');
  return out;
}

// ---------------------------------------------------------------------------------------------
// BENCHMARKS.md

function git(args) {
  const r = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '?';
}

function machine() {
  const cpu = os.cpus()[0]?.model ?? '?';
  const workerd = spawnSync(WORKERD, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const wasm = path.join(process.env.HERENOW_BENCH_BUILD ?? path.join(ROOT, 'build'), 'index_bg.wasm');
  const hash = crypto.createHash('sha256').update(fs.readFileSync(wasm)).digest('hex').slice(0, 12);
  const dirty = git(['status', '--porcelain', '--', 'src', 'Cargo.toml', 'Cargo.lock']) ? ' (src modified)' : '';
  return [
    `- machine: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}; shared with other work (see "other load" below)`,
    `- versions: Node ${process.versions.node}, ${workerd} (npm workerd ${pkgVersion('workerd')}, the one wrangler ${pkgVersion('wrangler')} uses), socket.io ${pkgVersion('socket.io')}, partyserver ${pkgVersion('partyserver')}, esbuild ${pkgVersion('esbuild')}, ws ${pkgVersion('ws')}`,
    `- herenow: commit ${git(['rev-parse', '--short', 'HEAD'])}${dirty}, build/index_bg.wasm sha256 ${hash}… (built ${fs.statSync(wasm).mtime.toISOString().slice(0, 16)}Z)`,
  ].join('\n');
}

function report(results, plan, { pinned, started, elapsedS }) {
  const load = results
    .map((r) => `${NAMES[r.target]} ${r.result ? `${f0(r.result.machine.other_load_pct)}%` : '?'}`)
    .join(', ');
  const errors = results.flatMap((r) => (r.result ? r.result.errors.map((e) => `${NAMES[r.target]}: ${e}`) : [`${NAMES[r.target]}: the driver failed (exit ${r.code})`]));
  return [
    `Run ${started.toISOString().slice(0, 16)}Z, ${Math.round(elapsedS)} s: \`${command}\`${opts.quick ? ' (quick mode: small numbers, not comparable)' : ''}`,
    '',
    machine(),
    `- core budgets: ${pinned ? 'each server under test pinned to CPU 0 and its driver to CPU 1 (`taskset -c`)' : 'NOT pinned (taskset unavailable or fewer than 2 cores)'}`,
    `- other load on the machine while each target ran (CPU used by other processes, share of all cores): ${load}`,
    '',
    table(results, plan),
    '',
    'Targets of the issue (herenow):',
    '',
    ...targets(results),
    ...(errors.length ? ['', 'Errors:', '', ...errors.map((e) => `- ${e}`)] : []),
  ].join('\n');
}

const BEGIN = '<!-- bench:begin: written by `npm run bench`; edit outside these markers -->';
const END = '<!-- bench:end -->';

function writeBenchmarks(text) {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  const block = `${BEGIN}\n${text}\n${END}`;
  let md = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  if (!md.includes(BEGIN) || !md.includes(END)) md += `\n${BEGIN}\n${END}\n`;
  md = md.slice(0, md.indexOf(BEGIN)) + block + md.slice(md.indexOf(END) + END.length);
  fs.writeFileSync(file, md);
  console.error(`# wrote ${path.relative(process.cwd(), file)}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  ensureBuilt();
  const pinned = canPin();
  const started = new Date();
  const t0 = performance.now();
  const results = [];
  for (const target of ORDER.filter((t) => opts.only.includes(t))) {
    console.error(`# === ${NAMES[target]} ===`);
    results.push(await runDriver(target, pinned));
  }
  // The paired CPU per ping (full runs with herenow and the peer): the drivers' ratio compares
  // runs minutes apart, these windows seconds apart.
  if (!opts.quick && pinned) {
    for (const other of ['floor', 'partyserver'].filter((t) => opts.only.includes(t) && opts.only.includes('herenow'))) {
      console.error(`# === herenow / ${NAMES[other]}: CPU per ping in alternating windows ===`);
      PAIRED[other] = await runPair(other);
      if (!PAIRED[other]) console.error(`# herenow / ${NAMES[other]}: ping-pair.mjs failed`);
    }
  }
  const pairFailed = Object.values(PAIRED).some((p) => !p);
  const plan = results.find((r) => r.result)?.result.plan;
  if (!plan) throw new Error('no driver produced a result');
  const text = report(results, plan, { pinned, started, elapsedS: (performance.now() - t0) / 1000 });
  console.log(`\n${text}\n`);
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(results, null, 2));
  if (opts.write) writeBenchmarks(text);
  const failed = pairFailed || results.some((r) => r.code !== 0 || !r.result || r.result.errors.length > 0);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
