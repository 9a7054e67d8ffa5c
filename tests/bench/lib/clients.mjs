// Subscriber sockets for the driver: one lean client for every target, so that the driver's own
// cost per message is the same whoever sends it. Plain `ws` (no per-message deflate, no UTF-8
// re-validation); for the Socket.IO peer the same socket speaks the Engine.IO v4 / Socket.IO v5
// framing itself (open `0{...}`, namespace connect `40`, event `42[...]`, ping `2` -> pong `3`),
// which is what socket.io-client does over its WebSocket transport, minus its event machinery.
// (The quick mode checks once that the official socket.io-client sees the same counts.)
//
// Each message is stamped with performance.now() on arrival, before anything else is done with it,
// and handed to the socket's `onCount(sessions, at)` as the site's session count.

import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { sleep, uid } from './util.mjs';

const WS_OPTIONS = { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 15_000 };

/**
 * While true, no pool sends its keepalive: the driver pauses them around a CPU measurement, so
 * that thousands of idle sockets' `ping`s (answered by the runtime) are not billed to the
 * requests being measured. A pause of a few seconds is far below the 45 s ttl.
 */
export const keepalive = { paused: false };

/** A count message of herenow, partyserver or the floor, parsed; null if none. */
function workerCount(text) {
  if (text === 'pong') return null;
  const msg = JSON.parse(text);
  return msg.type === 'count' ? msg : null;
}

export class Subscriber {
  /**
   * `kind`: 'worker' (herenow, partyserver, floor: JSON count messages, client `ping` text) or
   * 'socketio' (Engine.IO framing, `count` events). Resolves once the socket is open and its
   * first count arrived (so the server has registered it).
   */
  static open(url, kind, { localAddress } = {}) {
    return new Promise((resolve, reject) => {
      const sub = new Subscriber(kind);
      const ws = new WebSocket(url, { ...WS_OPTIONS, localAddress });
      sub.ws = ws;
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`no first count within 20 s: ${url}`)), 20_000);
      sub.onFirst = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(sub);
      };
      ws.on('unexpected-response', (req, res) => fail(new Error(`${url}: HTTP ${res.statusCode}`)));
      ws.on('error', (err) => fail(err));
      ws.on('close', () => {
        sub.closed = true;
        fail(new Error(`${url}: closed before the first count`));
      });
      ws.on('message', (data) => sub.receive(data, performance.now()));
    });
  }

  constructor(kind) {
    this.kind = kind;
    this.ws = null;
    this.closed = false;
    this.last = null;
    this.messages = 0;
    /** The ping interval the server announced in its first message (herenow), if any. */
    this.heartbeatMs = null;
    this.onFirst = null;
    /** Set by a phase: called with (sessions, arrival time) for each count message. */
    this.onCount = null;
  }

  receive(data, at) {
    let n;
    const text = data.toString();
    if (this.kind === 'socketio') {
      n = this.engineIo(text);
    } else {
      const msg = workerCount(text);
      n = msg?.site.sessions;
      if (msg?.heartbeat_ms) this.heartbeatMs ??= msg.heartbeat_ms;
    }
    if (n === null || n === undefined) return;
    this.messages += 1;
    this.last = n;
    if (this.onFirst) {
      const f = this.onFirst;
      this.onFirst = null;
      f();
    }
    if (this.onCount) this.onCount(n, at);
  }

  /** Engine.IO v4 + Socket.IO v5 framing; answers the handshake and pings. */
  engineIo(text) {
    const type = text.charCodeAt(0);
    if (type === 0x32 /* '2' ping */) {
      this.ws.send('3');
      return null;
    }
    if (text.startsWith('42')) {
      const [event, payload] = JSON.parse(text.slice(2));
      return event === 'count' ? payload.sessions : null;
    }
    if (type === 0x30 /* '0' open */) {
      this.ws.send('40');
    }
    return null;
  }

  /** The client's keepalive: herenow's `ping` text (answered by the runtime); Socket.IO pings itself. */
  keepalive() {
    if (this.kind === 'worker' && this.ws.readyState === WebSocket.OPEN) this.ws.send('ping');
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.ws.terminate();
  }

  /** A clean close (close frame), resolved when the socket is closed or after timeoutMs. */
  closeCleanly(timeoutMs = 2000) {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      const timer = setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, timeoutMs);
      this.ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.closed = true;
      this.ws.close(1000);
    });
  }
}

/**
 * A set of subscribers on one site, opened `concurrency` at a time, with the client keepalive
 * spread over the heartbeat (each socket sends `ping` once per `keepaliveMs`).
 */
/** A `Pool` url whose every socket is a session of its own, as the tracker opens them. */
export function sessionSockets(liveUrl) {
  return () => `${liveUrl}&${new URLSearchParams({ session: uid('s'), visitor: uid('v') })}`;
}

export class Pool {
  /** `url`: every socket's URL, or a function that makes one per socket. */
  constructor({ url, kind, keepaliveMs = 15_000, localAddresses = ['127.0.0.1'] }) {
    this.url = url;
    this.kind = kind;
    this.subs = [];
    this.keepaliveMs = keepaliveMs;
    this.localAddresses = localAddresses;
    this.cursor = 0;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /** Opens subscribers until there are `total`; bounded by `deadlineMs` (throws past it). */
  async grow(total, { concurrency = 50, deadlineMs = 120_000 } = {}) {
    const started = performance.now();
    let next = this.subs.length;
    const worker = async () => {
      while (next < total) {
        if (performance.now() - started > deadlineMs) throw new Error(`opened ${this.subs.length} of ${total} sockets within ${deadlineMs} ms`);
        next += 1;
        const localAddress = this.localAddresses[next % this.localAddresses.length];
        const url = typeof this.url === 'function' ? this.url() : this.url;
        this.subs.push(await Subscriber.open(url, this.kind, { localAddress }));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return performance.now() - started;
  }

  tick() {
    if (keepalive.paused) return;
    // Every second, 1/(keepaliveMs/1000) of the sockets send their keepalive.
    const share = Math.ceil(this.subs.length / Math.max(1, this.keepaliveMs / 1000));
    for (let i = 0; i < share && this.subs.length > 0; i++) {
      this.cursor = (this.cursor + 1) % this.subs.length;
      this.subs[this.cursor].keepalive();
    }
  }

  set onCount(fn) {
    for (const s of this.subs) s.onCount = fn ? (n, at) => fn(s, n, at) : null;
  }

  get open() {
    return this.subs.filter((s) => !s.closed && s.ws.readyState === WebSocket.OPEN).length;
  }

  /** Drops every socket (no close frame) and waits a moment for the server to see it. */
  async close() {
    clearInterval(this.timer);
    for (const s of this.subs) s.close();
    this.subs = [];
    await sleep(200);
  }
}
