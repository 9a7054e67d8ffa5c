// The owner's dashboard: talking to herenow. `getJSON` for the HTTP API (the stats token, when
// there is one, goes only into this origin's Authorization header), and `LiveCounts`, the site's
// live count over one reconnecting WebSocket.
//
// LiveCounts, as a state machine (`state`):
//   connecting  -> first answer not in yet
//   live        -> a socket delivers counts, or (`polling`) GET /v1/count every POLL_MS because
//                  sockets cannot open while HTTP works (a proxy that drops upgrades, or a site
//                  whose `origins` leave out this page's origin: browsers send Origin on every
//                  WebSocket, not on a same-origin GET)
//   unreachable -> the socket is gone and GET /v1/count failed too; it retries with backoff
//   refused     -> the server refused the site itself (unknown_site, forbidden_origin): final
// A socket that closes is followed at once by GET /v1/count, so a stopped server is told apart
// from a socket that merely dropped within one request; a socket silent for two heartbeats
// (half-open) is treated as closed.

/** A network failure or a timeout: no answer from the server. */
export class Unreachable extends Error {}

/**
 * GET `path` (same origin) as JSON: `{ status, body }` for any HTTP answer (errors included:
 * `body.error.code`), or throws Unreachable when there is no answer within `timeoutMs`.
 */
export async function getJSON(path, { token, timeoutMs = 10_000 } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new Unreachable(String(err?.message ?? err));
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // a proxy's HTML page, or an empty answer: no body
  }
  // A gateway's 502-504 means the Worker did not answer.
  if (res.status >= 502 && res.status <= 504 && !body?.error) throw new Unreachable(`HTTP ${res.status}`);
  return { status: res.status, body };
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A socket open this long was a success: its close starts the count of failures again. */
const MIN_UPTIME_MS = 10_000;
const POLL_MS = 5_000;
/** While polling, how often a socket is tried again. */
const SOCKET_RETRY_MS = 60_000;
const DEFAULT_HEARTBEAT_MS = 15_000;

/** Reconnect n waits a random time below min(max, base x 2^n) (full jitter), at least 250 ms. */
function backoff(n) {
  return Math.max(250, Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(n, 16)));
}

export class LiveCounts {
  /**
   * `onCount({sessions, visitors})` on every count; `onState(state, {polling, retryAt})` when the
   * state changes or a retry is scheduled; `onRefused(code, message)` when the server refuses
   * the site (final).
   */
  constructor({ site, onCount, onState, onRefused }) {
    this.site = site;
    this.onCount = onCount;
    this.onState = onState;
    this.onRefused = onRefused;
    this.state = 'connecting';
    this.polling = false;
    this.toldPolling = false;
    this.socketRetryAt = 0;
    this.ws = null;
    this.failures = 0; // attempts in a row that reached nothing (unreachable)
    this.socketFailures = 0; // sockets in a row that closed before MIN_UPTIME_MS
    this.timer = null;
    this.pinger = null;
    this.stopped = false;
    this.heartbeatMs = DEFAULT_HEARTBEAT_MS;
    this.lastHeard = 0;
    this.onOnline = () => this.retryNow();
  }

  start() {
    addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.dropSocket();
    removeEventListener('online', this.onOnline);
  }

  /** Try again now (the "Retry now" button, the browser's `online` event). */
  retryNow() {
    if (this.stopped || this.state !== 'unreachable') return;
    clearTimeout(this.timer);
    this.failures = 0;
    this.connect();
  }

  /** Tells the page when the state, or the way counts arrive (polling), changes. */
  setState(state, { retryAt } = {}) {
    if (state === this.state && this.polling === this.toldPolling && retryAt === undefined) return;
    this.state = state;
    this.toldPolling = this.polling;
    this.onState(state, { polling: this.polling, retryAt: retryAt ?? null });
  }

  schedule(ms, fn) {
    clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }

  /** One attempt: the count over HTTP (at once, and it tells a refused site), then a socket or the next poll. */
  async connect() {
    const ok = await this.probe();
    if (ok === null || this.stopped) return;
    if (!ok) return this.retryLater();
    if (this.polling && Date.now() < this.socketRetryAt) return this.schedule(POLL_MS, () => this.connect());
    this.openSocket();
  }

  /** GET /v1/count: true (a count), false (no answer: unreachable), null (the site is refused). */
  async probe() {
    let res;
    try {
      res = await getJSON(`/v1/count?site=${encodeURIComponent(this.site)}`, { timeoutMs: 8000 });
    } catch (err) {
      if (!(err instanceof Unreachable)) throw err;
      return this.stopped ? null : false;
    }
    if (this.stopped) return null;
    if (res.status === 200 && res.body?.site) {
      this.failures = 0;
      this.onCount(res.body.site);
      this.setState('live');
      return true;
    }
    if (res.status === 400 || res.status === 403 || res.status === 404) {
      this.setState('refused');
      this.onRefused(res.body?.error?.code ?? `http_${res.status}`, res.body?.error?.message ?? '');
      this.stop();
      return null;
    }
    return false; // 429, 5xx: the server cannot answer now; like unreachable, retried
  }

  retryLater() {
    this.failures += 1;
    const wait = backoff(this.failures);
    this.setState('unreachable', { retryAt: Date.now() + wait });
    this.schedule(wait, () => this.connect());
  }

  openSocket() {
    this.dropSocket();
    const url = new URL(`/v1/live?site=${encodeURIComponent(this.site)}`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      return this.socketEnded(null);
    }
    this.ws = ws;
    this.openedAt = null;
    ws.onopen = () => {
      this.openedAt = Date.now();
      this.lastHeard = this.openedAt;
      this.startPinging();
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      if (typeof ev.data !== 'string' || ev.data === 'pong') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg?.type !== 'count' || !msg.site) return;
      if (Number.isFinite(msg.heartbeat_ms) && msg.heartbeat_ms > 0 && msg.heartbeat_ms !== this.heartbeatMs) {
        this.heartbeatMs = msg.heartbeat_ms;
        this.startPinging();
      }
      this.polling = false;
      this.onCount(msg.site);
      this.setState('live');
    };
    ws.onclose = () => {
      if (this.ws === ws) this.socketEnded(this.openedAt);
    };
  }

  /**
   * The socket ended (`openedAt` null: it never opened). The count over HTTP is asked at once,
   * so that a stopped server shows as unreachable within one request, then a new socket follows
   * (backoff after short-lived ones), or polling when sockets cannot open at all.
   */
  async socketEnded(openedAt) {
    this.dropSocket();
    if (this.stopped) return;
    if (openedAt === null) {
      this.polling = true;
      this.socketRetryAt = Date.now() + SOCKET_RETRY_MS;
      return this.connect();
    }
    this.socketFailures = Date.now() - openedAt >= MIN_UPTIME_MS ? 0 : this.socketFailures + 1;
    const ok = await this.probe();
    if (ok === null || this.stopped) return;
    if (!ok) return this.retryLater();
    this.schedule(this.socketFailures ? backoff(this.socketFailures) : 0, () => this.openSocket());
  }

  startPinging() {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      // Nothing heard since the ping before last (not even its pong): the socket is half-open.
      if (Date.now() - this.lastHeard > 1.5 * this.heartbeatMs) {
        this.socketEnded(this.openedAt);
        return;
      }
      try {
        ws.send('ping');
      } catch {
        // closing: onclose follows
      }
    }, this.heartbeatMs);
  }

  dropSocket() {
    clearInterval(this.pinger);
    this.pinger = null;
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      if (ws.readyState <= WebSocket.OPEN) ws.close(1000);
    } catch {
      // already closed
    }
  }
}
