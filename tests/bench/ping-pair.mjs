#!/usr/bin/env node
// CPU per HTTP heartbeat of two Worker targets, measured in alternating windows: both servers
// run at once (each pinned to CPU 0, only the one being driven is busy), and the windows go
// A, B, A, B, ... so that whatever else the machine does moves both alike. Prints each pair and
// the median of the pairs' ratios. A window's CPU is read after `--settle-ms` of quiet: what a
// window leaves to do (garbage collection on the runtime's own threads, timers) is counted in
// it, as back-to-back windows count it; read at once, it fell into the other side's window and
// was counted for neither (both sides' figures rose by about a quarter with it).
//
//   node tests/bench/ping-pair.mjs [--a herenow] [--b floor] [--pairs 6] [--window-ms 4000]
//        [--settle-ms 1000] [--sessions 2000] [--concurrency 32] [--json FILE]
//
// `--b baseline` is herenow's build in HERENOW_BASELINE_BUILD (a copy of build/ made before a
// change): what the change buys, in the same windows.
//
// `npm run bench` runs targets one after the other, minutes apart; its CPU-per-ping ratio to
// the floor moved from 0.95x to 1.35x between runs of the same ping path. The pairs here are
// seconds apart. Every loop is bounded (pairs x windows); both servers are stopped on exit.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agent, closedLoop } from './lib/http.mjs';
import { cpuMs } from './lib/proc.mjs';
import { TARGETS } from './lib/targets.mjs';
import { freePort, sleep, uid } from './lib/util.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const names = [opt('a', 'herenow'), opt('b', 'floor')];
const PAIRS = Number(opt('pairs', 6));
const WINDOW_MS = Number(opt('window-ms', 4000));
const SETTLE_MS = Number(opt('settle-ms', 1000));
const SESSIONS = Number(opt('sessions', 2000));
const CONCURRENCY = Number(opt('concurrency', 32));
const jsonOut = opt('json', null);
for (const n of names) {
  if (TARGETS[n]?.kind !== 'worker') throw new Error(`--a/--b must be Worker targets (herenow, baseline, partyserver, floor), not ${n}`);
}
if (!(PAIRS >= 1 && PAIRS <= 50 && WINDOW_MS >= 500 && WINDOW_MS <= 60_000)) throw new Error('--pairs 1..50, --window-ms 500..60000');

const SITE = 'pings';
const body = (s, event) => JSON.stringify({ site: SITE, room: '/', session: s.id, visitor: s.visitor, event });
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

function pinSelf() {
  try {
    // -a: every thread of this process (V8's and libuv's too), not only the main one
    execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const pinned = os.cpus().length >= 2 && pinSelf();
  const sides = [];
  try {
    for (const name of names) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `herenow-pair-${name}-`));
      const server = await TARGETS[name].start({ dir, port: await freePort(), cpus: pinned ? '0' : null, sites: [SITE] });
      sides.push({ name, dir, server, http: agent(CONCURRENCY), sessions: Array.from({ length: SESSIONS }, () => ({ id: uid('s'), visitor: uid('v') })), k: 0 });
    }
    const drive = (side, event, durationMs, maxRequests) => {
      let i = 0;
      const next =
        event === 'join'
          ? () => ({ method: 'POST', path: '/v1/ping', body: body(side.sessions[i++], 'join') })
          : () => ({ method: 'POST', path: '/v1/ping', body: body(side.sessions[side.k++ % side.sessions.length], 'heartbeat') });
      return closedLoop({ base: side.server.base, agent: side.http, concurrency: CONCURRENCY, durationMs, maxRequests, next });
    };
    for (const side of sides) {
      const joins = await drive(side, 'join', 120_000, SESSIONS);
      if (joins.failed > 0) throw new Error(`${side.name}: ${joins.failed} joins failed: ${joins.firstFailure}`);
      await drive(side, 'heartbeat', 1000, 1e6); // warm-up
    }
    const pairs = [];
    for (let p = 0; p < PAIRS; p++) {
      const pair = {};
      // alternate which goes first, so that neither always follows the other's window
      const order = p % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        await sleep(200);
        const c0 = cpuMs(side.server.pid);
        const run = await drive(side, 'heartbeat', WINDOW_MS, 2_000_000);
        // what the window left to do (garbage collection on the runtime's own threads, timers)
        // is the window's too: read after SETTLE_MS of quiet, not while the other side runs
        await sleep(SETTLE_MS);
        const cpu = cpuMs(side.server.pid) - c0;
        if (run.failed > 0) throw new Error(`${side.name}: ${run.failed} heartbeats failed: ${run.firstFailure}`);
        const n = run.latencies.length;
        pair[side.name] = { requests: n, rps: n / (run.elapsedMs / 1000), cpu_ms_per_1000: (cpu / n) * 1000 };
      }
      pair.ratio = pair[names[0]].cpu_ms_per_1000 / pair[names[1]].cpu_ms_per_1000;
      pairs.push(pair);
      const f = (s) => `${pair[s].cpu_ms_per_1000.toFixed(0)} ms per 1,000 (${pair[s].rps.toFixed(0)}/s)`;
      console.log(`pair ${p + 1}: ${names[0]} ${f(names[0])}, ${names[1]} ${f(names[1])}: ${pair.ratio.toFixed(2)}x`);
    }
    const result = {
      a: names[0],
      b: names[1],
      pinned,
      window_ms: WINDOW_MS,
      ratio_median: median(pairs.map((p) => p.ratio)),
      ratio_min: Math.min(...pairs.map((p) => p.ratio)),
      ratio_max: Math.max(...pairs.map((p) => p.ratio)),
      pairs,
    };
    console.log(`${names[0]} / ${names[1]} CPU per heartbeat: median ${result.ratio_median.toFixed(2)}x (${result.ratio_min.toFixed(2)} to ${result.ratio_max.toFixed(2)} over ${PAIRS} pairs of ${WINDOW_MS / 1000} s windows)`);
    if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const side of sides) {
      side.http.destroy();
      await side.server.stop();
      fs.rmSync(side.dir, { recursive: true, force: true });
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
