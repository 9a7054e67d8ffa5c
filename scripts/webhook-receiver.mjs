#!/usr/bin/env node
// A local receiver for herenow's webhooks: verifies each event's Herenow-Signature with the
// site's secret, deduplicates by id, and prints what arrives. No dependencies.
//
//   npm run webhook-receiver [-- --port 8788 --secret S]
//
// The secret defaults to $HERENOW_DEMO_SECRET, then to HERENOW_DEMO_SECRET in .dev.vars (what
// `npm run dev` signs the demo site's webhooks with). Point a site at it in SITES:
//   "webhook":{"url":"http://127.0.0.1:8788/hooks/herenow"}
// As a module: `import { verifySignature, startReceiver } from './scripts/webhook-receiver.mjs'`.

import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { readDevVars, SECRET_VAR } from './token.mjs';

/** How far a signature's time may be from now (replayed deliveries are refused). */
export const TOLERANCE_SECONDS = 300;

/**
 * Checks `Herenow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` over
 * the raw body. Answers null when valid, else why not.
 */
export function verifySignature(secret, header, rawBody, now = Date.now()) {
  const parts = Object.fromEntries(
    String(header ?? '')
      .split(',')
      .map((kv) => kv.trim().split('='))
      .filter((kv) => kv.length === 2),
  );
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) return 'malformed signature';
  if (Math.abs(now / 1000 - t) > TOLERANCE_SECONDS) return 'signature too old or from the future';
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return timingSafeEqual(expected, given) ? null : 'bad signature';
}

/**
 * Starts a receiver on 127.0.0.1:`port` (0: any free port). `answer(event)` may return an HTTP
 * status to reply (default 200), or 'hang' to leave the request unanswered (a stuck receiver: the
 * sender's timeout is what ends it; `close()` drops it). Resolves to { port, events, close() }; `events` holds every
 * verified, first-seen event in arrival order ({ ...event, receivedAt }); `attempts` counts
 * every request (duplicates and refusals too).
 */
export function startReceiver({ port = 0, secret, answer = () => 200, log = () => {} } = {}) {
  const events = [];
  const seen = new Set();
  const state = { attempts: 0, refused: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      state.attempts += 1;
      const why = verifySignature(secret, req.headers['herenow-signature'], body);
      if (why) {
        state.refused += 1;
        log(`refused: ${why}`);
        res.writeHead(401).end();
        return;
      }
      let event;
      try {
        event = JSON.parse(body);
      } catch {
        res.writeHead(400).end();
        return;
      }
      const status = answer(event) ?? 200;
      if (status === 'hang') {
        log(`left unanswered: ${event.type} ${event.entity} id=${event.id}`);
        return;
      }
      if (status >= 200 && status < 300 && !seen.has(event.id)) {
        seen.add(event.id);
        events.push({ ...event, receivedAt: Date.now() });
        log(`${new Date().toISOString()} ${event.type} ${event.entity} (${event.status?.state}, ${event.status?.sessions} sessions) id=${event.id}`);
      } else if (seen.has(event.id)) {
        log(`duplicate ${event.id} (already handled)`);
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        events,
        state,
        close: () =>
          new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections(); // a request left unanswered too
          }),
        server,
      });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const secret = opt('secret') || process.env[SECRET_VAR] || readDevVars()[SECRET_VAR];
  if (!secret) {
    console.error(`webhook-receiver: no secret: pass --secret, set ${SECRET_VAR}, or run \`npm run dev\` once (it writes .dev.vars)`);
    process.exit(2);
  }
  const r = await startReceiver({ port: Number(opt('port', 8788)), secret, log: (m) => console.log(m) });
  console.log(`herenow webhook receiver on http://127.0.0.1:${r.port}/hooks/herenow (signatures checked, duplicates dropped)`);
}
