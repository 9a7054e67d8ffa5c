// Cloudflare's list prices, as docs/cost.md uses them (published 2026-11-23; the sources are
// listed there), and what docs/cost.md's model (a) finds Pusher and Ably charge for the same
// 1,000,000 page views a month. The bench prices its page views with these, before any
// included allowance and without the $5/month Workers Paid minimum.

export const PRICES = {
  /** Workers Paid: $ per Worker request (a WebSocket upgrade is one). */
  workerRequest: 0.3 / 1e6,
  /** $ per CPU ms (the bench prices all of workerd's CPU, Worker and object, as Worker CPU). */
  cpuMs: 0.02 / 1e6,
  /** Durable Objects: $ per request (HTTP, RPC, alarms; incoming WebSocket messages at 20:1). */
  objectRequest: 0.15 / 1e6,
  /** Incoming WebSocket messages billed as one request. */
  messagesPerRequest: 20,
  /** $ per GB-s of duration, and the GB an object is billed at. */
  gbSecond: 12.5 / 1e6,
  objectGb: 0.128,
  /** SQLite storage: $ per row written (each `setAlarm()` is one) and per row read. */
  rowWritten: 1.0 / 1e6,
  rowRead: 0.001 / 1e6,
};

/** docs/cost.md, "(a) Per 1,000,000 page views a month" (60 s views, one site). */
export const OTHERS_PER_MILLION_VIEWS = { pusher: 99, ably: 153 };
