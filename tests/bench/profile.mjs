#!/usr/bin/env node
// A CPU profile of one Worker target under load: where workerd spends its time per request,
// down to the Wasm function (herenow's build keeps its `name` section, so V8 shows Rust names).
//
//   node tests/bench/profile.mjs [--target herenow] [--event heartbeat|join|count|fanout|wake]
//        [--seconds 5] [--sessions 2000] [--subscribers 1000] [--top 40]
//        [--out /tmp/herenow.cpuprofile] [--var NAME=VALUE ...] [--socket-sessions]
//
// `--var` sets a var of the target's Worker, e.g. `--target floor --event wake --var
// FLOOR_STATE=attachments` profiles the floor that keeps an attachment per socket (as the bench's
// wake-up beside the floor does). `--socket-sessions`: each of the `subscribers` sockets is a
// session of its own (`&session=..&visitor=..`, as the tracker opens them), not a watcher.
//
// Starts the target under workerd with the V8 inspector on, joins `sessions` sessions on one
// site, then sends `event` requests (closed loop, 16 in flight) for `seconds` while the V8
// sampling profiler runs (100 us interval). `fanout`: `subscribers` sockets watch the site and
// one join is sent every 600 ms (each is broadcast to all of them). `wake`: `subscribers`
// sockets watch the site, the object is left idle until workerd evicts it (12 s), and the
// profile covers the one join that wakes it and its broadcast. Prints the functions by self time and by total
// time, grouped per Rust crate / JS origin; writes the raw profile (open it in Chrome DevTools,
// Performance tab, or speedscope).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { Pool, sessionSockets } from './lib/clients.mjs';
import { agent, closedLoop, request } from './lib/http.mjs';
import { cpuMs } from './lib/proc.mjs';
import { TARGETS } from './lib/targets.mjs';
import { freePort, sleep, uid } from './lib/util.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const targetName = opt('target', 'herenow');
const event = opt('event', 'heartbeat');
const seconds = Number(opt('seconds', 5));
// `wake`: no HTTP sessions by default (an object holding HTTP sessions stays in memory by design)
const sessionCount = Number(opt('sessions', event === 'wake' ? 0 : 2000));
const subscriberCount = Number(opt('subscribers', 1000));
const TOP = Number(opt('top', 40));
const socketSessions = args.includes('--socket-sessions');
const extraVars = {};
args.forEach((a, i) => {
  if (a !== '--var') return;
  const [name, ...value] = (args[i + 1] ?? '').split('=');
  if (!name || value.length === 0) throw new Error('--var takes NAME=VALUE');
  extraVars[name] = value.join('=');
});
const out = opt('out', path.join(os.tmpdir(), `${targetName}-${event}.cpuprofile`));
const target = TARGETS[targetName];
if (!target || target.kind !== 'worker') throw new Error('--target must be a Worker target (herenow, partyserver, floor)');

/** A minimal Chrome DevTools Protocol client. */
async function cdp(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    }
  });
  return {
    send(method, params = {}) {
      id += 1;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => ws.close(),
  };
}

function groupOf(frame) {
  const name = frame.functionName || '(anonymous)';
  if (frame.url?.includes('wasm') || /^(herenow|worker|serde|js_sys|wasm_bindgen|core|alloc|std|url|sha2|hashbrown|dlmalloc)/.test(name) || name.startsWith('<')) {
    const m = name.replace(/^<+/, '').match(/^([a-z_][a-z0-9_]*)(\[[0-9a-f]+\])?::/);
    return m ? `wasm ${m[1]}` : 'wasm (other)';
  }
  if (name.startsWith('(')) return name; // (program), (garbage collector), (idle)
  if (!frame.url) return 'native/runtime';
  return `js ${path.basename(frame.url)}`;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `herenow-profile-${targetName}-`));
  const port = await freePort();
  const inspectorPort = await freePort();
  const server = await target.start({ dir, port, cpus: '0', inspectorPort, sites: ['prof'], extraVars });
  const http = agent(32);
  try {
    const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
    const entry = list.find((t) => /main/.test(t.title ?? t.id ?? '')) ?? list[0];
    const session = await cdp(entry.webSocketDebuggerUrl.replace('localhost', '127.0.0.1'));
    await session.send('Profiler.enable');
    await session.send('Profiler.setSamplingInterval', { interval: 100 });

    const sessions = Array.from({ length: sessionCount }, () => ({ id: uid('s'), visitor: uid('v') }));
    const body = (s, ev) => JSON.stringify({ site: 'prof', room: '/', session: s.id, visitor: s.visitor, event: ev });
    let i = 0;
    await closedLoop({ base: server.base, agent: http, concurrency: 16, durationMs: 120_000, maxRequests: sessions.length, next: () => ({ method: 'POST', path: '/v1/ping', body: body(sessions[i++], 'join') }) });
    let k = 0;
    const next =
      event === 'count'
        ? () => ({ method: 'GET', path: '/v1/count?site=prof' })
        : event === 'join'
          ? () => ({ method: 'POST', path: '/v1/ping', body: body({ id: uid('s'), visitor: uid('v') }, 'join') })
          : () => ({ method: 'POST', path: '/v1/ping', body: body(sessions[k++ % sessions.length], 'heartbeat') });
    if (sessions.length || event === 'count') {
      await closedLoop({ base: server.base, agent: http, concurrency: 16, durationMs: 1000, maxRequests: 1e6, next });
    }

    let pool = null;
    if (event === 'fanout' || event === 'wake') {
      const live = target.liveUrl(server.wsBase, 'prof');
      pool = new Pool({ url: socketSessions ? sessionSockets(live) : live, kind: 'worker' });
      await pool.grow(subscriberCount, { concurrency: 100 });
      await sleep(event === 'wake' ? 12_000 : 1000);
    }
    await session.send('Profiler.start');
    const c0 = cpuMs(server.pid);
    const run =
      event === 'wake'
        ? await closedLoop({
            base: server.base,
            agent: http,
            concurrency: 1,
            durationMs: 3000,
            maxRequests: 1,
            next: () => ({ method: 'POST', path: '/v1/ping', body: body({ id: uid('s'), visitor: uid('v') }, 'join') }),
            pauseMs: 2000,
          })
        : event === 'fanout'
        ? await closedLoop({
            base: server.base,
            agent: http,
            concurrency: 1,
            durationMs: seconds * 1000,
            maxRequests: 1e6,
            next: () => ({ method: 'POST', path: '/v1/ping', body: body({ id: uid('s'), visitor: uid('v') }, 'join') }),
            pauseMs: 600,
          })
        : await closedLoop({ base: server.base, agent: http, concurrency: 16, durationMs: seconds * 1000, maxRequests: 1e6, next });
    const c1 = cpuMs(server.pid);
    const { profile } = await session.send('Profiler.stop');
    session.close();
    if (pool) await pool.close();
    fs.writeFileSync(out, JSON.stringify(profile));

    const n = run.latencies.length;
    console.log(`${targetName} ${event}: ${n} requests in ${seconds} s (${(n / seconds).toFixed(0)}/s), workerd CPU ${((c1 - c0) / n).toFixed(3)} ms per request (${run.failed} failed)`);

    // Self and total time per node, from the samples.
    const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
    const parent = new Map();
    for (const nd of profile.nodes) for (const c of nd.children ?? []) parent.set(c, nd.id);
    const counts = new Map();
    for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
    const total = profile.samples.length;
    const self = new Map();
    const incl = new Map();
    const groups = new Map();
    for (const [nodeId, c] of counts) {
      const nd = byId.get(nodeId);
      const key = nd.callFrame.functionName || `(anonymous ${path.basename(nd.callFrame.url || '')}:${nd.callFrame.lineNumber})`;
      self.set(key, (self.get(key) ?? 0) + c);
      const g = groupOf(nd.callFrame);
      groups.set(g, (groups.get(g) ?? 0) + c);
      const seen = new Set();
      for (let cur = nodeId; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur).callFrame;
        const name = f.functionName || `(anonymous ${path.basename(f.url || '')}:${f.lineNumber})`;
        if (seen.has(name)) continue;
        seen.add(name);
        incl.set(name, (incl.get(name) ?? 0) + c);
      }
    }
    const busy = total - (self.get('(idle)') ?? 0);
    const pct = (c) => `${((c / busy) * 100).toFixed(1).padStart(5)}%`;
    console.log(`\n${total} samples, ${busy} not idle; shares below are of the non-idle samples.`);
    console.log('\nself time by group:');
    for (const [g, c] of [...groups].sort((a, b) => b[1] - a[1])) if (g !== '(idle)') console.log(`  ${pct(c)}  ${g}`);
    console.log('\nself time by function:');
    for (const [f, c] of [...self].sort((a, b) => b[1] - a[1]).filter(([f]) => f !== '(idle)').slice(0, TOP)) console.log(`  ${pct(c)}  ${f.slice(0, 140)}`);
    console.log('\ntotal time (self + callees) by function:');
    for (const [f, c] of [...incl].sort((a, b) => b[1] - a[1]).filter(([f]) => f !== '(idle)' && f !== '(root)').slice(0, TOP)) console.log(`  ${pct(c)}  ${f.slice(0, 140)}`);
    console.log(`\nprofile written to ${out}`);
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
