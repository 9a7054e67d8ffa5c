// Scratch probe: workerd RSS per 1,000 requests of one kind, herenow against the floor.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agent, closedLoop } from './lib/http.mjs';
import { rssBytes } from './lib/proc.mjs';
import { TARGETS } from './lib/targets.mjs';
import { freePort, sleep, uid } from './lib/util.mjs';

const N = Number(process.argv[3] ?? 10000);
const target = TARGETS[process.argv[2] ?? 'herenow'];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rss-'));
const port = await freePort();
const server = await target.start({ dir, port, cpus: '0', sites: ['rss'] });
const http = agent(16);
const mb = () => rssBytes(server.pid) / 1048576;
const settle = async () => { await sleep(1500); return mb(); };
const body = (s, ev) => JSON.stringify({ site: 'rss', room: '/', session: s.id, visitor: s.visitor, event: ev });
const run = async (n, next) => closedLoop({ base: server.base, agent: http, concurrency: 16, durationMs: 600_000, maxRequests: n, next });
try {
  const sessions = Array.from({ length: 1000 }, () => ({ id: uid('s'), visitor: uid('v') }));
  let i = 0;
  await run(sessions.length, () => ({ method: 'POST', path: '/v1/ping', body: body(sessions[i++], 'join') }));
  let last = await settle();
  console.log(`${process.argv[2]} after 1,000 joins: ${last.toFixed(1)} MiB`);
  for (const phase of ['heartbeat', 'heartbeat', 'heartbeat', 'count', 'count', 'churn', 'churn']) {
    let k = 0;
    let next;
    if (phase === 'heartbeat') next = () => ({ method: 'POST', path: '/v1/ping', body: body(sessions[k++ % sessions.length], 'heartbeat') });
    else if (phase === 'count') next = () => ({ method: 'GET', path: '/v1/count?site=rss' });
    else {
      const open = [];
      let flip = false;
      next = () => {
        flip = !flip;
        if (!flip && open.length) return { method: 'POST', path: '/v1/ping', body: body(open.shift(), 'leave') };
        const s = { id: uid('c'), visitor: uid('v') };
        open.push(s);
        return { method: 'POST', path: '/v1/ping', body: body(s, 'join') };
      };
    }
    const n = phase === 'churn' ? N / 2 : N;
    await run(n, next);
    const now = await settle();
    console.log(`${process.argv[2]} ${phase} x${n}: ${now.toFixed(1)} MiB (+${(((now - last) / n) * 1000).toFixed(2)} MiB per 1,000)`);
    last = now;
  }
} finally {
  await server.stop();
}
