// Small helpers shared by the bench's processes.

import net from 'node:net';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The q-quantile (0..1) of the numbers in `xs` (nearest rank); null when empty. */
export function quantile(xs, q) {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** { p50, p99, max, n } of a list of durations (ms). */
export function summary(xs) {
  return {
    n: xs.length,
    p50: quantile(xs, 0.5),
    p99: quantile(xs, 0.99),
    max: xs.length ? Math.max(...xs) : null,
  };
}

let counter = 0;
/** A session or visitor id: 8-64 chars of [A-Za-z0-9_-], unique within this process. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}_${process.pid.toString(36)}_${counter.toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
