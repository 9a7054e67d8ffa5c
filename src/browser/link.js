// The one reconnecting link to a herenow deployment that every feed rides on: the tracked
// session with its counts, count-only feeds, entity status feeds. WebSockets while they work,
// HTTP polling while they do not. (Its shape follows partysocket's ReconnectingWebSocket: one
// reconnect machine with named options, and the feeds on top of it only say what to open, what a
// message means and how to ask over HTTP.)
//
// Invariants:
// - A link is one or more sockets that stand and fall together (a status feed needs one socket
//   per 100 entities): losing any one closes the others, and they reconnect as one.
// - Each socket pings every heartbeat: the server needs it to keep the socket's session, and it
//   is the one liveness check. A ping that has no answer (`pong`, or any other message) after
//   `pongTimeout` means the connection is half-open (gone without a close): it is closed and
//   counts as lost. So a silent connection is replaced within heartbeat + pongTimeout of its
//   last message; with the defaults (two heartbeats) that is before the server's ttl (three
//   heartbeats) ends the session it carried.
// - A background tab's timers run late (Chrome: once a second, then once a minute after five
//   minutes hidden; a frozen tab not at all). A pong timer that fires much later than it was set
//   for measured the page's sleep, not the connection: the ping is sent once more and given a
//   full pongTimeout again, and only a second miss counts. Under once-a-minute timers a dead
//   connection is so found within about three minutes, inside the away ttl (300 s) that holds a
//   hidden page's session.
// - `maxRetries` losses in a row, each of a socket that never opened or lived less than
//   `minUptime`, switch the link to HTTP (the feed's `poll`, every `pollInterval`); from there a
//   probe tries the sockets again every `probeInterval`, and the first that opens ends the
//   fallback. A socket that lived `minUptime` starts the count of losses again.
// - Reconnects wait a full-jitter backoff, so that tabs cut off together do not come back
//   together. The browser's `online` event reconnects at once with a fresh count of losses.
// - One thing at a time is pending in each slot (the next step: a reconnect or the next poll;
//   the probe). `generation` grows whenever what is in flight stops mattering (stop, restart, a
//   change of mode, a new loss), and a late answer of an older generation is dropped.
// - No exception leaves a timer or an event handler: every one is wrapped in `safe`.
// - `replace()` is make-before-break: the sockets it opens carry the same session (in a new room,
//   or with a new identity) and the old ones close only once the new ones are open, so the
//   session never ends in between (a clean close ends a session at once: a break-before-make
//   would take it out of every count for a moment, and other viewers would see the dip).

import { safe } from './util.js';

/** The link's named options and their defaults (all times in ms). */
export const LINK_DEFAULTS = Object.freeze({
  /** Ping interval until the server says its own (`heartbeat_ms`, in the first message). */
  heartbeat: 15000,
  /** How long a ping may go unanswered before the socket counts as half-open; null: one heartbeat. */
  pongTimeout: null,
  /** A socket open at least this long was a success: the count of losses starts again. */
  minUptime: 10000,
  /** Losses in a row before falling back to HTTP. */
  maxRetries: 3,
  /** Reconnect n waits a random time below min(backoffMax, backoffBase * 2^n). */
  backoffBase: 500,
  backoffMax: 30000,
  /** Time between two HTTP exchanges of the fallback; null: one heartbeat. */
  pollInterval: null,
  /** A failed HTTP exchange is tried again after this plus the backoff. */
  pollRetryDelay: 1000,
  /** In the fallback, how often a socket is tried again. */
  probeInterval: 60000,
});

/** A close code by which the server meant it (a policy violation, or one of ours): no retry helps. */
export const closedOnPurpose = (code) => code === 1008 || (code >= 4000 && code < 5000);

/**
 * The `diagnose` hook of a feed whose socket carries a token (status, members): a socket refused
 * or closed on purpose is asked over HTTP why (a bad token says so, and what `ask` answers is
 * shown meanwhile); any other loss is a failure, retried with the backoff.
 */
export const askWhy = (ask) => async ({ opened, code, fallback }, current) => {
  if (fallback || (opened && !closedOnPurpose(code))) return 'failed';
  const outcome = await ask(current);
  return outcome === 'stop' || outcome === 'again' ? outcome : 'failed';
};

/** Closes a WebSocket with 1000, if there is one and it is not closed yet. */
function closeClean(ws) {
  if (!ws) return;
  try {
    ws.close(1000);
  } catch (e) {
    /* already closed */
  }
}

/** The WebSocket URL of `GET /v1/live` at `endpoint` with the query `params`. */
export function liveUrl(endpoint, params) {
  const url = new URL(endpoint + '/v1/live');
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  url.search = new URLSearchParams(params);
  return url.href;
}

// The links that want to be connected: the ones the browser's online/offline events concern.
const running = new Set();
let listening = false;

function listenToNetwork() {
  if (listening) return;
  listening = true;
  const each = (method) => () => [...running].forEach((link) => safe(() => link[method]())());
  window.addEventListener('online', each('networkBack'));
  window.addEventListener('offline', each('checkNow'));
}

/**
 * One reconnecting link. `hooks` is what the feed on top says and does:
 * - `urls()` -> the socket URLs to open now (or a Promise of them: e.g. once a token is there);
 *   read at every connect, so they carry the feed's current room, identity and token.
 * - `opened()` (optional): all the sockets of a connect are open (the server accepted them).
 * - `message(msg)`: a parsed JSON message from any of the sockets (`pong` is the link's own).
 * - `poll(fresh, current)` -> Promise of 'ok' | 'failed' | 'again' | 'stop': one HTTP exchange of
 *   the fallback; `fresh` for the first after a (re)start (the tracker joins), `current()` says
 *   whether its answer still matters (act on nothing when it does not). 'again' runs it again at
 *   once (something was fixed, e.g. a refused identity dropped); 'stop' means the feed stopped.
 * - `diagnose(loss, current)` (optional) -> Promise of 'failed' | 'again' | 'stop': after a loss
 *   `{opened, code, reason, fallback}`, e.g. to ask over HTTP why an upgrade was refused.
 *   'failed' counts the loss and backs off; 'again' reconnects at once without counting it.
 * Hooks may throw or reject: that counts as 'failed'.
 */
export class Link {
  constructor(hooks, options = {}) {
    this.hooks = hooks;
    this.options = { ...LINK_DEFAULTS };
    for (const [name, value] of Object.entries(options)) if (value !== undefined) this.options[name] = value;
    this.heartbeat = this.options.heartbeat;
    this.mode = 'socket'; // or 'http': the fallback
    this.running = false; // wants to be connected (start() until stop())
    this.losses = 0; // socket losses in a row
    this.pollFailures = 0; // failed HTTP exchanges in a row
    this.generation = 0;
    this.sockets = [];
    this.retiring = []; // replaced sockets: open until the sockets that replace them are
    this.nextTimer = 0; // a reconnect, or the next poll
    this.probeTimer = 0;
  }

  /** In the HTTP fallback. */
  get fallback() {
    return this.mode === 'http';
  }

  /** Some socket is connecting or open. */
  get hasSocket() {
    return this.sockets.some((s) => s.ws);
  }

  /** (Re)connects now in the current mode: opens the sockets, or polls at once and probes later. */
  start() {
    this.running = true;
    running.add(this);
    listenToNetwork();
    this.halt();
    if (this.mode === 'socket') this.connect();
    else {
      this.poll(true);
      this.probeLater();
    }
  }

  /** Closes everything (sockets with 1000) and forgets whatever is in flight. */
  stop() {
    this.running = false;
    running.delete(this);
    this.halt();
  }

  /** start() again if running: everything closes, then connects again. */
  restart() {
    if (this.running) this.start();
  }

  /**
   * Connects again with fresh URLs, make-before-break: the open sockets stay open (their
   * messages no longer count) until the new ones are, then close. E.g. the tracked session moved
   * to another room: it must not end in between. Anything else than open sockets: restart().
   */
  replace() {
    if (!this.running) return;
    const open = this.sockets.filter((s) => s.ws && s.openedAt);
    if (this.mode !== 'socket' || !open.length || open.length !== this.sockets.length) return this.start();
    this.generation++;
    clearTimeout(this.nextTimer);
    clearTimeout(this.probeTimer);
    this.closeRetiring();
    this.retiring = open.map((s) => this.detach(s));
    this.sockets = [];
    this.connect();
  }

  /** The server's heartbeat (`heartbeat_ms` of a message or an HTTP answer): pings follow it. */
  useHeartbeat(ms) {
    ms = Number(ms);
    if (!(ms >= 1000) || ms === this.heartbeat) return;
    this.heartbeat = ms;
    for (const s of this.sockets) if (s.ws && s.openedAt) this.beat(s);
  }

  /** `online`: whatever failed before the network came back says nothing; reconnect at once. */
  networkBack() {
    if (this.hasSocket) return;
    this.losses = 0;
    this.start();
  }

  /** `offline`, or a page shown again: start the half-open check now, not at the next heartbeat. */
  checkNow() {
    for (const s of this.sockets) if (s.ws && s.openedAt && !s.pingSentAt) this.ping(s);
  }

  /** Sends `text` on every open socket; false when none is open (connecting, or HTTP). */
  send(text) {
    let sent = false;
    for (const s of this.sockets) {
      if (s.ws && s.openedAt) {
        try {
          s.ws.send(text);
          sent = true;
        } catch (e) {
          /* closing: its close handler reconnects */
        }
      }
    }
    return sent;
  }

  /** In the HTTP fallback: the next exchange now (what it says changed), not after pollInterval. */
  pollNow() {
    if (!this.running || this.mode !== 'http') return;
    this.generation++; // the exchange in flight, if any, no longer schedules the next one
    this.poll(false);
  }

  // ---- internals ----

  halt() {
    this.generation++;
    clearTimeout(this.nextTimer);
    clearTimeout(this.probeTimer);
    this.closeSockets();
  }

  backoff(attempt) {
    return Math.random() * Math.min(this.options.backoffMax, this.options.backoffBase * 2 ** attempt);
  }

  connect() {
    this.closeCurrent(); // not the retiring ones: they stand until these are open
    // The sockets to come, while their URLs are awaited: whatever closes the sockets (stop, a
    // restart, another connect) removes it, and then these URLs are not used.
    const placeholder = { ws: null };
    this.sockets.push(placeholder);
    Promise.resolve()
      .then(() => this.hooks.urls())
      // no URL to be had (a bad endpoint): it fails as a socket that cannot open
      .catch(() => [null])
      .then(safe((urls) => {
        if (!this.running || !this.sockets.includes(placeholder)) return;
        this.sockets = this.sockets.filter((s) => s !== placeholder);
        for (const url of urls && urls.length ? urls : [null]) this.open(url);
      }));
  }

  open(url) {
    const socket = { ws: null, openedAt: 0, pingSentAt: 0, beatTimer: 0, pongTimer: 0 };
    this.sockets.push(socket);
    let ws;
    try {
      if (url == null) throw new TypeError('no socket URL');
      ws = socket.ws = new WebSocket(url);
    } catch (e) {
      socket.ws = null;
      queueMicrotask(safe(() => this.lost(socket, 0, '')));
      return;
    }
    ws.onopen = safe(() => {
      if (socket.ws !== ws) return;
      socket.openedAt = Date.now();
      if (this.mode !== 'socket') {
        // a probe worked: the fallback ends, and its poll in flight no longer matters
        this.mode = 'socket';
        this.generation++;
        clearTimeout(this.nextTimer);
        clearTimeout(this.probeTimer);
      }
      this.beat(socket);
      if (this.sockets.every((s) => s.ws && s.openedAt)) {
        this.closeRetiring(); // replaced: the new sockets carry the session now
        if (this.hooks.opened) this.hooks.opened();
      }
    });
    ws.onmessage = safe((e) => {
      if (socket.ws !== ws) return;
      this.heard(socket);
      if (typeof e.data !== 'string' || e.data === 'pong') return;
      const msg = JSON.parse(e.data);
      if (!msg) return;
      if (msg.heartbeat_ms != null) this.useHeartbeat(msg.heartbeat_ms);
      this.hooks.message(msg);
    });
    ws.onclose = safe((e) => {
      if (socket.ws !== ws) return;
      this.detach(socket);
      this.lost(socket, e.code, e.reason);
    });
  }

  /** Stops the socket's timers and its handlers' effect; returns its WebSocket, if any. */
  detach(socket) {
    const ws = socket.ws;
    socket.ws = null;
    clearInterval(socket.beatTimer);
    clearTimeout(socket.pongTimer);
    return ws;
  }

  closeSockets() {
    this.closeCurrent();
    this.closeRetiring();
  }

  closeCurrent() {
    const sockets = this.sockets;
    this.sockets = [];
    for (const s of sockets) closeClean(this.detach(s));
  }

  closeRetiring() {
    const retiring = this.retiring;
    this.retiring = [];
    retiring.forEach(closeClean);
  }

  beat(socket) {
    clearInterval(socket.beatTimer);
    socket.beatTimer = setInterval(safe(() => this.ping(socket)), this.heartbeat);
  }

  ping(socket) {
    const ws = socket.ws;
    if (!ws) return;
    if (!socket.pingSentAt) {
      socket.pingSentAt = Date.now();
      this.awaitPong(socket, ws, false);
    }
    ws.send('ping');
  }

  awaitPong(socket, ws, again) {
    const timeout = this.options.pongTimeout == null ? this.heartbeat : this.options.pongTimeout;
    const setAt = Date.now();
    clearTimeout(socket.pongTimer);
    socket.pongTimer = setTimeout(safe(() => {
      if (socket.ws !== ws || !socket.pingSentAt) return;
      const late = Date.now() - setAt - timeout;
      if (!again && late > Math.max(1000, timeout / 2)) {
        // the timer was held back (a background tab): ask once more before calling it half-open
        this.awaitPong(socket, ws, true);
        ws.send('ping');
        return;
      }
      this.halfOpen(socket);
    }), timeout);
  }

  /** Any message answers the ping in flight: the connection is alive. */
  heard(socket) {
    socket.pingSentAt = 0;
    clearTimeout(socket.pongTimer);
  }

  halfOpen(socket) {
    // Without a close code: if the server does hear it, it keeps the session for the
    // reconnecting socket instead of ending it at once as after a clean close.
    const ws = this.detach(socket);
    try {
      ws.close();
    } catch (e) {
      /* gone */
    }
    this.lost(socket, 0, '');
  }

  lost(socket, code, reason) {
    if (!this.sockets.includes(socket)) return; // its link has moved on
    const opened = socket.openedAt;
    this.closeSockets(); // the others stand and fall with it
    if (!this.running) return;
    const fallback = this.mode === 'http';
    let generation = this.generation;
    if (fallback) this.probeLater(); // a probe failed: HTTP carries on, and probes again later
    else {
      generation = ++this.generation;
      clearTimeout(this.nextTimer);
    }
    const current = () => this.running && generation === this.generation && !this.hasSocket;
    const loss = { opened: opened > 0, code, reason, fallback };
    Promise.resolve()
      .then(() => (this.hooks.diagnose ? this.hooks.diagnose(loss, current) : 'failed'))
      .catch(() => 'failed')
      .then(safe((verdict) => {
        if (!current() || verdict === 'stop') return;
        if (verdict === 'again') return this.connect();
        if (fallback) return;
        this.losses = opened && Date.now() - opened >= this.options.minUptime ? 0 : this.losses + 1;
        if (this.losses >= this.options.maxRetries) {
          this.mode = 'http';
          this.start();
        } else {
          this.nextTimer = setTimeout(safe(() => this.connect()), this.backoff(this.losses));
        }
      }));
  }

  /** One HTTP exchange of the fallback, then the next one after pollInterval or a backoff. */
  poll(fresh) {
    clearTimeout(this.nextTimer);
    const generation = this.generation;
    const current = () => this.running && this.mode === 'http' && generation === this.generation;
    Promise.resolve()
      .then(() => this.hooks.poll(fresh, current))
      .catch(() => 'failed')
      .then(safe((outcome) => {
        if (!current() || outcome === 'stop') return;
        if (outcome === 'again') return this.poll(fresh);
        let next;
        if (outcome === 'ok') {
          this.pollFailures = 0;
          next = this.options.pollInterval == null ? this.heartbeat : this.options.pollInterval;
        } else {
          next = this.options.pollRetryDelay + this.backoff(++this.pollFailures);
        }
        this.nextTimer = setTimeout(safe(() => this.poll(false)), next);
      }));
  }

  probeLater() {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(safe(() => {
      if (this.running && this.mode === 'http' && !this.hasSocket) this.connect();
    }), this.options.probeInterval);
  }
}
