// HTTP from the driver: a keep-alive agent (node:http, lighter per request than fetch) and a
// closed-loop load generator with a bound on both time and request count.

import http from 'node:http';
import { performance } from 'node:perf_hooks';

export function agent(maxSockets = 64) {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
}

/**
 * One request; resolves { status, text, ms } (ms from send to the end of the body).
 * A request that fails because the server had just closed the kept-alive connection it was
 * sent on (ECONNRESET / "socket hang up" on a reused socket: the request never reached the
 * Worker) is sent once more on a new connection, as Node's documentation advises.
 */
export async function request(base, method, urlPath, opts = {}) {
  try {
    return await requestOnce(base, method, urlPath, opts);
  } catch (err) {
    if (!err.reusedSocket || !(err.code === 'ECONNRESET' || /socket hang up/.test(err.message))) throw err;
    return requestOnce(base, method, urlPath, opts);
  }
}

function requestOnce(base, method, urlPath, { body, agent: a, headers = {}, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const url = new URL(urlPath, base);
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        agent: a,
        headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${urlPath}`)));
    req.on('error', (err) => {
      err.reusedSocket = req.reusedSocket;
      reject(err);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** `request` that must answer 200; resolves the parsed JSON body. */
export async function json(base, method, urlPath, opts) {
  const res = await request(base, method, urlPath, opts);
  if (res.status !== 200) throw new Error(`${method} ${urlPath}: ${res.status} ${res.text.slice(0, 200)}`);
  return JSON.parse(res.text);
}

/**
 * Closed loop: `concurrency` workers each send `next()`'s request as soon as the previous one
 * answered, until `durationMs` has passed or `maxRequests` were sent. Returns the latencies (ms)
 * of the answered requests, the count of non-200 answers and errors, and the elapsed time.
 * `pauseMs` makes each worker wait that long after each answer (an open-loop-ish trickle).
 */
export async function closedLoop({ base, concurrency, durationMs, maxRequests, next, agent: a, pauseMs = 0 }) {
  const latencies = [];
  let sent = 0;
  let failed = 0;
  let firstFailure = null;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async () => {
    while (sent < maxRequests && performance.now() < deadline) {
      sent += 1;
      const { method, path, body } = next();
      try {
        const res = await request(base, method, path, { body, agent: a });
        if (res.status === 200) latencies.push(res.ms);
        else {
          failed += 1;
          firstFailure ??= `${res.status} ${res.text.slice(0, 120)}`;
        }
      } catch (err) {
        failed += 1;
        firstFailure ??= err.message;
      }
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, failed, firstFailure, elapsedMs: performance.now() - started };
}
