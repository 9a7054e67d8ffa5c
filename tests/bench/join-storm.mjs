#!/usr/bin/env node
// Joins on one site as fast as the target takes them, `concurrency` in flight, and reports the
// stalls (requests slower than 1 s, grouped) and whether the runtime re-constructed the object
// meanwhile (which makes herenow restore every session from SQLite and mark it restored: one row
// written per session). A reproduction for the "join storms" note in BENCHMARKS.md.
//
//   node tests/bench/join-storm.mjs [--target herenow] [--joins 40000] [--concurrency 32]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agent, json, request } from './lib/http.mjs';
import { TARGETS } from './lib/targets.mjs';
import { freePort, quantile, uid } from './lib/util.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const target = TARGETS[opt('target', 'herenow')];
const joins = Number(opt('joins', 40_000));
const concurrency = Number(opt('concurrency', 32));
if (!target || target.kind !== 'worker') throw new Error('--target must be herenow, partyserver or floor');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herenow-join-storm-'));
const server = await target.start({
  dir,
  port: await freePort(),
  cpus: '0',
  sites: ['storm'],
  // Long enough that no session expires during the storm.
  extraVars: { PRESENCE_TTL_SECONDS: '3600' },
});
const http = agent(concurrency * 2);
const t0 = performance.now();
const events = [];
let sent = 0;
try {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < joins && performance.now() - t0 < 300_000) {
        sent += 1;
        const start = performance.now();
        const body = JSON.stringify({ site: 'storm', room: '/', session: uid('s'), visitor: uid('v'), event: 'join' });
        try {
          const res = await request(server.base, 'POST', '/v1/ping', { body, agent: http, timeoutMs: 30_000 });
          events.push({ start: start - t0, ms: res.ms, status: res.status });
        } catch (err) {
          events.push({ start: start - t0, ms: performance.now() - start, status: err.message });
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const stats = await json(server.base, 'GET', '/__bench/stats', { agent: http });
  const first = stats.constructedAt[0]?.[1] ?? 0;
  const lat = events.map((e) => e.ms);
  console.log(`${target.name}: ${events.length} joins in ${wall.toFixed(1)} s (${(events.length / wall).toFixed(0)}/s), ${concurrency} in flight`);
  console.log(`latency p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(0)} ms`);
  console.log(`failed: ${events.filter((e) => e.status !== 200).length}`);
  console.log(`object constructions: ${stats.constructedAt.map(([n, t]) => `${n} at +${((t - first) / 1000).toFixed(1)} s`).join(', ')}`);
  console.log(`SQL: ${stats.sqlExecs} statements, ${stats.rowsWritten} rows written, ${stats.rowsRead} rows read`);
  const stalls = new Map();
  for (const e of events.filter((x) => x.ms > 1000)) {
    const end = Math.round((e.start + e.ms) / 100) * 100;
    stalls.set(end, Math.max(stalls.get(end) ?? 0, e.ms));
  }
  console.log(`stalls (requests slower than 1 s, by when they ended): ${[...stalls].map(([end, ms]) => `+${(end / 1000).toFixed(1)} s: ${(ms / 1000).toFixed(1)} s`).join(', ') || 'none'}`);
} finally {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
