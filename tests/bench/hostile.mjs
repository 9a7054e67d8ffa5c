// The figures of issue 18 ("Honest counts under attack"), from a real run: each attack of the
// contract's "Hostile clients" and "Tokens on open sockets" sections against the built Worker in
// workerd (through Miniflare, tests/kit/harness.mjs), with 1 client address and with 10 where
// that makes sense, and what the attacker got. A client's address is the `cf-connecting-ip`
// header, as Cloudflare sets it. Works against a build from before the protections too
// (feature-detected; an error of that build is a figure, not a crash).
//
//   node tests/bench/hostile.mjs [--build DIR] [--label NAME] [--json FILE]
//   node tests/bench/hostile.mjs --compare BEFORE.json AFTER.json   (the two tables side by side)
//   --only WORDS runs only the attacks whose name contains WORDS (e.g. --only token)
//
// DIR defaults to build/ (a --test-hooks build: /v1/_test/memory gives the object's reads).
// Every site ceiling is small (MAX_ROOMS 20, MAX_SOCKETS 300); the per-address ceilings keep
// their defaults (64 sessions, 128 sockets). Every loop is bounded in count and in time; the
// server listens on 127.0.0.1 only. Each attack has its own site (its own Durable Object).

import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

import { BUILD_DIR, buildKind, sleep, startWorker, uid } from '../kit/harness.mjs';
import { SECRET, SECRET_ENV, signJwt } from '../kit/entities-kit.mjs';

const MAX_ROOMS = 20;
const MAX_SOCKETS = 300;
const LEEWAY_S = 30;
const ATTACKER = (i) => `198.51.100.${i + 1}`;
const HONEST = (i) => `203.0.113.${i}`;

// ---------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const out = { build: BUILD_DIR, label: null, json: null, compare: null, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--build') out.build = path.resolve(argv[++i]);
    else if (a === '--label') out.label = argv[++i];
    else if (a === '--json') out.json = argv[++i];
    else if (a === '--compare') out.compare = [argv[++i], argv[++i]];
    else if (a === '--only') out.only = argv[++i];
    else throw new Error(`hostile.mjs: unknown argument ${a} (--build DIR, --label NAME, --json FILE, --only WORDS, --compare A.json B.json)`);
  }
  out.label ??= path.basename(path.dirname(out.build)) || 'build';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Clients: raw fetch and ws (no OpenAPI checks: an older build's answers are figures too)

let base;
let wsBase;

async function http(method, urlPath, { ip, body, headers = {}, timeoutMs = 15_000 } = {}) {
  const started = performance.now();
  const h = { ...headers };
  if (ip) h['cf-connecting-ip'] = ip;
  if (body !== undefined) h['content-type'] = 'application/json';
  try {
    const res = await fetch(base + urlPath, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: json, text, ms: performance.now() - started };
  } catch (err) {
    return { status: 0, body: null, text: String(err.cause ?? err), ms: performance.now() - started };
  }
}

const get = (urlPath, opts) => http('GET', urlPath, opts);
const ping = (fields, ip) => http('POST', '/v1/ping', { ip, body: fields });
const q = (params) => new URLSearchParams(params).toString();
const code = (r) => (r.status === 200 ? '200' : `${r.status || 'no answer'} ${r.body?.error?.code ?? r.text.slice(0, 60)}`);

/** "a x3, b x1" of a list of words. */
function countBy(words) {
  const t = {};
  for (const w of words) t[w] = (t[w] ?? 0) + 1;
  return Object.entries(t).map(([k, n]) => `${k} x${n}`).join(', ');
}
/** The answers' statuses and codes, counted. */
const tally = (answers) => countBy(answers.map(code));

const median = (xs) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const ms = (x) => (Number.isFinite(x) ? (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`) : '-');

/** Runs `fn(i)` for i in 0..n-1, `limit` at a time. */
async function pool(n, limit, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

/**
 * Opens /v1/live?params from `ip`. Resolves { ok: true, sock } once open, or { ok: false,
 * status, code } when the upgrade is refused (or fails).
 */
function openSocket(params, ip, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${wsBase}/v1/live?${q(params)}`, {
      headers: ip ? { 'cf-connecting-ip': ip } : {},
      handshakeTimeout: timeoutMs,
    });
    const sock = { ws, messages: [], close: null, opened: null };
    // `close`: the server's close frame (ws's receiver 'conclude' event: the 'close' event waits
    // for the TCP connection to end, which can lag the frame by seconds), else the drop
    const ended = (c, reason) => {
      sock.close ??= { code: c, reason: reason.toString(), at: performance.now() };
    };
    sock.closed = new Promise((done) => {
      ws.on('close', (c, reason) => {
        ended(c, reason);
        done(sock.close);
      });
    });
    ws.on('message', (data, isBinary) => {
      let msg = isBinary ? null : data.toString();
      try {
        msg = JSON.parse(msg);
      } catch {
        // a text such as "pong"
      }
      sock.messages.push({ msg, at: performance.now() });
    });
    let settled = false;
    const settle = (v) => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    ws.on('error', (err) => settle({ ok: false, status: 0, code: String(err.message ?? err).slice(0, 60) }));
    ws.once('unexpected-response', (req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        req.destroy();
        let c = text.slice(0, 60);
        try {
          c = JSON.parse(text).error.code;
        } catch {
          // not JSON
        }
        settle({ ok: false, status: res.statusCode, code: c });
      });
    });
    ws.once('open', () => {
      ws._receiver?.on('conclude', ended);
      sock.opened = performance.now();
      settle({ ok: true, sock });
    });
  });
}

const isOpen = (sock) => sock.ws.readyState === WebSocket.OPEN;
const terminateAll = (socks) => socks.forEach((s) => s.ws.terminate());

async function count(site, room, ip = HONEST(250)) {
  const r = await get(`/v1/count?${q(room === undefined ? { site } : { site, room })}`, { ip });
  return r;
}

// ---------------------------------------------------------------------------------------------
// The Worker

const SITE_NAMES = [
  'sessions-1', 'sessions-10', 'sockets-1', 'sockets-10', 'rooms-1', 'rooms-10',
  'flood-1', 'flood-10', 'reads-1', 'reads-10',
];
const ENTITY_SITES = ['token', 'hijack'];

function vars() {
  const sites = { ready: { origins: ['*'] } };
  for (const s of SITE_NAMES) sites[s] = { origins: ['*'] };
  for (const s of ENTITY_SITES) sites[s] = { origins: ['*'], secret_env: SECRET_ENV };
  return {
    SITES: JSON.stringify(sites),
    [SECRET_ENV]: SECRET,
    MAX_ROOMS: String(MAX_ROOMS),
    MAX_SOCKETS: String(MAX_SOCKETS),
    // the contract's timing: no session of an attack expires during it
    PRESENCE_HEARTBEAT_SECONDS: '15',
    PRESENCE_TTL_SECONDS: '45',
    BROADCAST_INTERVAL_MS: '500',
    // a leave shows as offline soon: more status changes for the expired-token attack
    LEAVE_GRACE_MS: '300',
    HERENOW_TEST_HOOKS: 'true',
  };
}

/** The object's reads of /v1/count, when the build counts them (GET /v1/_test/memory). */
async function objectReads(site) {
  const r = await get(`/v1/_test/memory?${q({ site })}`);
  return typeof r.body?.count_reads === 'number' ? r.body.count_reads : null;
}

/** Waits (at most `maxMs`) until a /v1/count of `site` answers within 100 ms: a flood's backlog drained. */
async function drained(site, maxMs = 30_000) {
  const started = performance.now();
  for (let i = 0; i < 300 && performance.now() - started < maxMs; i++) {
    const r = await count(site);
    if (r.status === 200 && r.ms < 100) return performance.now() - started;
    await sleep(100);
  }
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// The attacks. Each returns { figure, data }: the figure is the table's cell.

/** Each address sends 200 join pings with fresh session ids. */
async function madeUpSessions(n) {
  const site = `sessions-${n}`;
  const PER = 200;
  const answers = (
    await Promise.all(
      Array.from({ length: n }, (_, a) =>
        pool(PER, 8, () => ping({ site, room: '/', session: uid('s'), visitor: uid('v'), event: 'join' }, ATTACKER(a)))),
    )
  ).flat();
  const c = await count(site);
  const added = c.body?.site?.sessions;
  return {
    figure: `${added} sessions added (${(added / n).toFixed(0)}/address) of ${n * PER} joins; answers: ${tally(answers)}`,
    data: { joins: n * PER, added, answers: tally(answers) },
  };
}

/** Addresses open sockets (each a session) until refused or MAX_SOCKETS in all. */
async function sockets(n) {
  const site = `sockets-${n}`;
  const held = [];
  const refusals = [];
  const done = new Set();
  const started = performance.now();
  for (let round = 0; round < MAX_SOCKETS && held.length < MAX_SOCKETS && done.size < n; round++) {
    if (performance.now() - started > 90_000) break;
    const addrs = Array.from({ length: n }, (_, a) => a).filter((a) => !done.has(a)).slice(0, MAX_SOCKETS - held.length);
    const results = await Promise.all(
      addrs.map((a) => openSocket({ site, session: uid('s'), visitor: uid('v') }, ATTACKER(a)).then((r) => [a, r])),
    );
    for (const [a, r] of results) {
      if (r.ok) held.push(r.sock);
      else {
        done.add(a);
        refusals.push(`${r.status} ${r.code}`);
      }
    }
  }
  await sleep(300);
  const open = held.filter(isOpen).length;
  const sessions = (await count(site)).body?.site?.sessions;
  const honestSock = await openSocket({ site, session: uid('s'), visitor: uid('v') }, HONEST(10));
  const honestPing = await ping({ site, room: '/', session: uid('s'), visitor: uid('v'), event: 'join' }, HONEST(11));
  const refusedBy = refusals.length ? [...new Set(refusals)].join(', ') : 'none (stopped at the 300 in all)';
  const honest = `honest socket ${honestSock.ok ? 'accepted' : `refused ${honestSock.status} ${honestSock.code}`}, honest ping ${code(honestPing)}`;
  if (honestSock.ok) honestSock.sock.ws.terminate();
  terminateAll(held);
  return {
    figure: `${open} sockets held, ${sessions} sessions added; refusal: ${refusedBy}; ${honest}`,
    data: { held: open, sessions, refusals: countBy(refusals), honestSocket: honestSock.ok ? 'accepted' : `${honestSock.status} ${honestSock.code}`, honestPing: code(honestPing) },
  };
}

/** Sessions of the attacker addresses in 20 made-up rooms, then a real room with 2 visitors at 2 other addresses. */
async function junkRooms(n) {
  const site = `rooms-${n}`;
  const answers = (
    await Promise.all(
      Array.from({ length: n }, (_, a) =>
        pool(MAX_ROOMS, 4, (i) => ping({ site, room: `/junk/${i}`, session: uid('s'), visitor: uid('v'), event: 'join' }, ATTACKER(a)))),
    )
  ).flat();
  await sleep(200);
  const real = [];
  for (const ip of [HONEST(21), HONEST(22)]) real.push(await ping({ site, room: '/real', session: uid('s'), visitor: uid('v'), event: 'join' }, ip));
  await sleep(1200); // past a broadcast interval and a read copy's life
  const c = await count(site, '/real');
  const rooms = await get(`/v1/rooms?${q({ site, limit: '1000' })}`, { ip: HONEST(23) });
  const list = rooms.body?.rooms ?? [];
  const realRow = list.find((r) => r.room === '/real');
  const other = list.find((r) => r.room === '~other');
  const named = list.filter((r) => r.room !== '~other').length;
  const room = c.body?.room;
  const countSays = room ? `count?room=/real: ${room.sessions} sessions${room.room !== '/real' ? ` (as ${room.room})` : ''}` : `count: ${code(c)}`;
  const roomsSays = rooms.status !== 200
    ? `/v1/rooms: ${code(rooms)}`
    : `/v1/rooms: /real ${realRow ? `listed, ${realRow.sessions} sessions` : 'absent'}; ~other ${other ? other.sessions : 0} sessions; ${named} named`;
  return {
    figure: `${countSays}; ${roomsSays} (junk joins: ${tally(answers)})`,
    data: { realCount: room ?? null, realListed: realRow ?? null, other: other?.sessions ?? 0, named, junkAnswers: tally(answers), realAnswers: tally(real) },
  };
}

/** A watch socket whose token's rights end in a few seconds; status changes go on past it. */
async function expiredWatchToken() {
  const site = 'token';
  const entity = 'user:victim';
  const OBSERVE_MS = 20_000;
  const exp = Math.floor(Date.now() / 1000) - LEEWAY_S + 5; // rights end 4-5 s from now
  const rightsEnd = (exp + LEEWAY_S) * 1000; // epoch ms
  const watchTok = signJwt({ site, sub: 'agent:1', scope: 'watch', watch: ['user:*'], exp });
  const trackTok = signJwt({ site, sub: entity, scope: 'track', exp: Math.floor(Date.now() / 1000) + 600 });
  const opened = await openSocket({ site, watch: entity, token: watchTok }, ATTACKER(0));
  if (!opened.ok) return { figure: `watch socket refused: ${opened.status} ${opened.code}`, data: { refused: opened.code } };
  const { sock } = opened;
  // performance.now() of the rights' end
  const rightsEndPerf = performance.now() + (rightsEnd - Date.now());
  const session = uid('s');
  const visitor = uid('v');
  const fields = { site, room: '/', session, visitor, entity, token: trackTok };
  const toggles = [];
  let online = false;
  const until = rightsEndPerf + OBSERVE_MS;
  for (let i = 0; i < 200 && performance.now() < until; i++) {
    online = !online;
    toggles.push(await ping({ ...fields, event: online ? 'join' : 'leave' }, HONEST(31)));
    await sleep(1000);
  }
  await ping({ ...fields, event: 'leave' }, HONEST(31));
  const statusBefore = sock.messages.filter((m) => m.at <= rightsEndPerf && m.msg?.type === 'status');
  const statusAfter = sock.messages.filter((m) => m.at > rightsEndPerf && m.msg?.type === 'status');
  const lastAfter = statusAfter.length ? statusAfter[statusAfter.length - 1].at - rightsEndPerf : null;
  const closeSays = sock.close
    ? `closed ${sock.close.code}${sock.close.reason ? ` ${sock.close.reason}` : ''} at ${((sock.close.at - rightsEndPerf) / 1000).toFixed(1)} s after exp+30s`
    : `still open ${(OBSERVE_MS / 1000).toFixed(0)} s after exp+30s`;
  sock.ws.terminate();
  return {
    figure: `${statusAfter.length} status messages after exp+30s${lastAfter !== null ? ` (the last ${(lastAfter / 1000).toFixed(1)} s after)` : ''}; ${closeSays} (toggles: ${tally(toggles)})`,
    data: { statusBefore: statusBefore.length, statusAfter: statusAfter.length, lastAfterMs: lastAfter, close: sock.close ? { code: sock.close.code, reason: sock.close.reason, afterMs: sock.close.at - rightsEndPerf } : null, observedMs: OBSERVE_MS },
  };
}

/** A heartbeat naming a tracked entity's session id, with another room and no token. */
async function tokenlessHeartbeat() {
  const site = 'hijack';
  const entity = 'user:owner';
  const session = uid('s');
  const visitor = uid('v');
  const token = signJwt({ site, sub: entity, scope: 'track', exp: Math.floor(Date.now() / 1000) + 600 });
  const owner = await ping({ site, room: '/docs', session, visitor, event: 'join', entity, token }, HONEST(41));
  if (owner.status !== 200) return { figure: `the owner's join failed: ${code(owner)}`, data: {} };
  const attack = await ping({ site, room: '/elsewhere', session, visitor, event: 'heartbeat' }, ATTACKER(0));
  await sleep(300);
  const docs = (await count(site, '/docs')).body?.room?.sessions;
  const elsewhere = (await count(site, '/elsewhere')).body?.room?.sessions;
  const watch = signJwt({ site, sub: 'agent:1', scope: 'watch', watch: ['user:*'], rooms: ['/docs', '/elsewhere'], exp: Math.floor(Date.now() / 1000) + 600 });
  const members = await get(`/v1/members?${q({ site, room: '/elsewhere' })}`, { headers: { authorization: `Bearer ${watch}` }, ip: HONEST(42) });
  const inElsewhere = members.status === 200 ? JSON.stringify(members.body).includes(entity) : null;
  const moved = elsewhere === 1 && docs === 0;
  await ping({ site, room: '/docs', session, visitor, event: 'leave', entity, token }, HONEST(41));
  return {
    figure: `attacker's heartbeat ${code(attack)}; session ${moved ? 'MOVED' : 'untouched'} (/docs ${docs}, /elsewhere ${elsewhere}; members of /elsewhere ${inElsewhere === null ? code(members) : inElsewhere ? 'list the entity' : 'do not list it'})`,
    data: { attack: code(attack), docs, elsewhere, moved, membersListEntity: inElsewhere },
  };
}

/** Sequential /v1/count reads of `site` from an honest address until `stop()`; their latencies. */
function latencyProbe(site, stop, { gapMs = 50, max = 2000 } = {}) {
  return (async () => {
    const lat = [];
    const failed = [];
    for (let i = 0; i < max && !stop(); i++) {
      const r = await count(site, undefined, HONEST(51));
      if (r.status === 200) lat.push(r.ms);
      else failed.push(r);
      await sleep(gapMs);
    }
    return { lat, failed };
  })();
}

/** n sockets (n addresses) send texts other than ping ('away'/'back') as fast as they can for 5 s. */
async function textFlood(n) {
  const site = `flood-${n}`;
  const FLOOD_MS = 5_000;
  const honest = await openSocket({ site, session: uid('s'), visitor: uid('v') }, HONEST(50));
  // the baseline: 20 reads before the flood
  let stopBaseline = false;
  const baseline = latencyProbe(site, () => stopBaseline, { max: 20 });
  const { lat: baseLat } = await baseline;
  stopBaseline = true;
  const opened = await Promise.all(Array.from({ length: n }, (_, a) => openSocket({ site, session: uid('s'), visitor: uid('v') }, ATTACKER(a))));
  const flooders = opened.filter((r) => r.ok).map((r) => r.sock);
  let floodOver = false;
  const probe = latencyProbe(site, () => floodOver);
  const started = performance.now();
  const sent = await Promise.all(
    flooders.map(async (s) => {
      let texts = 0;
      for (let i = 0; i < 1_000_000 && isOpen(s) && performance.now() - started < FLOOD_MS; i++) {
        if (s.ws.bufferedAmount < 64 * 1024) {
          for (let k = 0; k < 50; k++) s.ws.send(texts++ % 2 ? 'away' : 'back');
        }
        await new Promise((r) => setImmediate(r));
      }
      return texts;
    }),
  );
  const openAtEnd = flooders.filter(isOpen).length;
  await sleep(Math.max(0, FLOOD_MS - (performance.now() - started)));
  floodOver = true;
  const { lat, failed } = await probe;
  const closes = countBy(flooders.filter((s) => s.close).map((s) => `${s.close.code} ${s.close.reason}`));
  const honestOpen = honest.ok && isOpen(honest.sock);
  terminateAll(flooders);
  if (honest.ok) honest.sock.ws.terminate();
  const drainMs = await drained(site);
  const totalSent = sent.reduce((a, b) => a + b, 0);
  return {
    figure: `${openAtEnd}/${flooders.length} flood sockets open after 5 s${closes ? ` (closed: ${closes})` : ''}; ${totalSent} texts sent; /v1/count median ${ms(median(baseLat))} before -> ${ms(median(lat))} during (p90 ${ms(pct(lat, 0.9))}, ${lat.length} reads${failed.length ? `, ${failed.length} failed: ${tally(failed)}` : ''}); honest socket ${honestOpen ? 'open' : 'closed'}; backlog drained in ${ms(drainMs)}`,
    data: { flooders: flooders.length, refused: opened.filter((r) => !r.ok).map((r) => `${r.status} ${r.code}`), openAtEnd, closes, textsSent: totalSent, baselineMedianMs: median(baseLat), medianMs: median(lat), p90Ms: pct(lat, 0.9), reads: lat.length, failedReads: failed.length, honestOpen, drainMs },
  };
}

/** /v1/count from n addresses, 64 in flight, for 5 s. */
async function readFlood(n) {
  const site = `reads-${n}`;
  const FLOOD_MS = 5_000;
  const IN_FLIGHT = 64;
  await ping({ site, room: '/', session: uid('s'), visitor: uid('v'), event: 'join' }, HONEST(60));
  const before = await objectReads(site);
  const answers = {};
  let reads = 0;
  const started = performance.now();
  // the object's reads in the flood's first second (the reads on their way before copies are
  // served), read while the flood runs
  const atOneSecond = sleep(1000).then(async () => ({ reads: await objectReads(site), at: performance.now() }));
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, k) => {
      const ip = ATTACKER(k % n);
      for (let i = 0; i < 100_000 && performance.now() - started < FLOOD_MS; i++) {
        try {
          const res = await fetch(`${base}/v1/count?site=${site}`, { headers: { 'cf-connecting-ip': ip }, signal: AbortSignal.timeout(15_000) });
          await res.arrayBuffer();
          answers[res.status] = (answers[res.status] ?? 0) + 1;
          if (res.status === 200) reads += 1;
        } catch {
          answers.error = (answers.error ?? 0) + 1;
        }
      }
    }),
  );
  const ended = performance.now();
  const seconds = (ended - started) / 1000;
  const after = await objectReads(site);
  const one = await atOneSecond;
  await drained(site);
  const perSecond = reads / seconds;
  const rest = (ended - one.at) / 1000;
  const objectSays = before === null || after === null
    ? `object reads: no count_reads in this build (no read copies): every answer is an object read, ${perSecond.toFixed(0)}/s`
    : `object reads ${after - before} (${((after - before) / seconds).toFixed(2)}/s): ${one.reads - before} in the first second, then ${after - one.reads} in ${rest.toFixed(1)} s (${((after - one.reads) / rest).toFixed(2)}/s)`;
  const others = Object.entries(answers).filter(([k]) => k !== '200');
  return {
    figure: `${reads} reads answered 200 in ${seconds.toFixed(1)} s (${perSecond.toFixed(0)}/s); ${objectSays}${others.length ? `; other answers: ${others.map(([k, v]) => `${k} x${v}`).join(', ')}` : ''}`,
    data: { reads, seconds, perSecond, objectReads: before === null || after === null ? null : after - before, objectReadsFirstSecond: before === null || one.reads === null ? null : one.reads - before, answers },
  };
}

const ATTACKS = [
  ['made-up sessions (200 joins/address)', [1, 10], madeUpSessions],
  ['sockets (until refused or 300)', [1, 10], sockets],
  ['junk rooms (20) vs a real room of 2', [1, 10], junkRooms],
  ['expired watch token', [1], expiredWatchToken],
  ['tokenless heartbeat on an entity session', [1], tokenlessHeartbeat],
  ['socket text flood (5 s)', [1, 10], textFlood],
  ['read flood (/v1/count, 64 in flight, 5 s)', [1, 10], readFlood],
];

// ---------------------------------------------------------------------------------------------
// Tables

function printTable(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  console.log(line(headers));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function compare([a, b]) {
  const A = JSON.parse(fs.readFileSync(a, 'utf8'));
  const B = JSON.parse(fs.readFileSync(b, 'utf8'));
  const key = (r) => `${r.attack}|${r.addresses}`;
  const bRows = new Map(B.rows.map((r) => [key(r), r]));
  const rows = A.rows.map((r) => [r.attack, r.addresses, r.figure, bRows.get(key(r))?.figure ?? '-']);
  for (const r of B.rows) if (!A.rows.some((x) => key(x) === key(r))) rows.push([r.attack, r.addresses, '-', r.figure]);
  printTable(['attack', 'addresses', A.label, B.label], rows);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.compare) {
    compare(args.compare);
    return;
  }
  console.log(`# hostile: ${args.label}: the Worker in ${args.build} (${buildKind(args.build)})`);
  const worker = await startWorker({ vars: vars(), buildDir: args.build, readyTimeoutMs: 60_000 });
  base = worker.base;
  wsBase = worker.wsBase;
  const rows = [];
  try {
    for (const [attack, counts, fn] of ATTACKS) {
      if (args.only && !attack.includes(args.only)) continue;
      for (const n of counts) {
        const started = performance.now();
        let result;
        try {
          result = await fn(n);
        } catch (err) {
          result = { figure: `error: ${String(err.message ?? err).split('\n')[0]}`, data: { error: String(err.stack ?? err) } };
        }
        const row = { attack, addresses: n, figure: result.figure, data: result.data, seconds: (performance.now() - started) / 1000 };
        rows.push(row);
        console.log(`# ${attack}, ${n} address${n > 1 ? 'es' : ''} (${row.seconds.toFixed(1)} s): ${row.figure}`);
      }
    }
  } finally {
    await worker.stop();
  }
  console.log('');
  printTable(['attack', 'addresses', args.label], rows.map((r) => [r.attack, r.addresses, r.figure]));
  if (args.json) {
    fs.writeFileSync(args.json, `${JSON.stringify({ label: args.label, build: args.build, kind: buildKind(args.build), at: new Date().toISOString(), rows }, null, 2)}\n`);
    console.log(`# rows written to ${args.json}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
