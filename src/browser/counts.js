// Count feeds, that <here-now> and herenow.subscribe() read: the site's counts, and a room's.
//
// - A subscription to the tracked site (no room, or the tracked room) and endpoint shares the
//   tracked session's feed (tracker.js: its socket carries the session and the counts); any
//   other gets a count-only feed (GET /v1/live?site[&room], or polling GET /v1/count every 15 s)
//   shared by every subscription to the same endpoint, site and room, and closed when the last
//   one goes.
// - Count feeds follow the page's visibility: connected while it is visible, closed while it is
//   hidden (the tracked session may stay, as away: tracker.js).
// - A final refusal (a socket closed on purpose, an HTTP 4xx other than 429) stops the feed
//   with one warning and shows it as unreachable.

import { defaultSite, endpointOf, isVisible } from './config.js';
import { deliver, FeedRegistry } from './feeds.js';
import { Link, closedOnPurpose, liveUrl } from './link.js';
import { httpError, isFinalRefusal, nop, safe, timeoutAfter, warnOnce } from './util.js';

/** Count-only feeds poll GET /v1/count this often in the HTTP fallback. */
const COUNT_POLL_MS = 15000;
/** An HTTP exchange of the fallback that has no answer by then failed. */
export const EXCHANGE_TIMEOUT_MS = 10000;

const counts = (o) => ({ sessions: +o.sessions || 0, visitors: +o.visitors || 0 });

/** What a subscriber sees: copies, the room only where one was asked for. */
const view = (data, room) => ({
  site: { ...data.site },
  room: room == null || !data.room ? null : { ...data.room },
  self: data.self,
});

/** A feed of counts: count-only here; the tracked session's feed extends it (tracker.js). */
export class CountFeed {
  constructor(endpoint, site, room, { pollInterval = COUNT_POLL_MS } = {}) {
    this.endpoint = endpoint;
    this.site = site;
    this.room = room; // null: the whole site
    this.subscriptions = new Set();
    this.data = undefined; // undefined: nothing yet; null: unreachable or stopped; else the counts
    this.wanted = false; // the feed should be connected: the page is visible
    this.dead = false; // refused for good
    this.link = new Link(
      {
        urls: () => this.urls(),
        opened: () => this.opened(),
        message: (msg) => {
          if (msg.type === 'count') this.emit(msg);
          else if (msg.type === 'error') this.socketRefused(msg);
        },
        poll: (fresh, current) => this.exchange(fresh, current),
        diagnose: (loss, current) => this.diagnose(loss, current),
      },
      { pollInterval },
    );
  }

  /** This page's session is in these counts (the tracked session, not away). */
  get self() {
    return false;
  }

  /** The server refused what this feed sent on its socket (`{"type":"error"}`): the tracked session's business. */
  socketRefused() {}

  query() {
    const q = new URLSearchParams();
    q.set('site', this.site);
    if (this.room != null) q.set('room', this.room);
    return q;
  }

  async urls() {
    return [liveUrl(this.endpoint, this.query())];
  }

  opened() {}

  /** The page became visible (or the feed was made on a visible page). */
  resume() {
    if (this.wanted) return;
    this.wanted = true;
    this.go();
  }

  go() {
    if (this.wanted && !this.dead) this.link.start();
  }

  /** The page was hidden: a count-only feed closes. */
  hide() {
    this.pause();
  }

  /** The page is hidden or going away: the feed closes. */
  pause() {
    if (!this.wanted) return;
    this.wanted = false;
    this.link.stop();
  }

  pageHide() {
    this.pause();
  }

  pageShow() {
    if (isVisible()) this.resume();
  }

  /** One HTTP exchange of the fallback: GET /v1/count. */
  async exchange(fresh, current) {
    try {
      const url = this.endpoint + '/v1/count?' + this.query();
      const response = await fetch(url, { credentials: 'omit', cache: 'no-store', ...timeoutAfter(EXCHANGE_TIMEOUT_MS) });
      const body = await response.json().catch(() => null);
      if (!current()) return 'stale';
      if (response.ok && body) {
        this.emit(body);
        return 'ok';
      }
      if (isFinalRefusal(response.status)) {
        this.kill(httpError(response, body, this.site).text);
        return 'stop';
      }
      if (response.status !== 429) this.emit(null);
      return 'failed';
    } catch (e) {
      if (!current()) return 'stale';
      this.emit(null);
      return 'failed';
    }
  }

  /** After a loss: a socket closed on purpose is final. */
  async diagnose({ code, reason }, current) {
    if (closedOnPurpose(code) && current()) {
      this.kill(`the server closed the socket (${code}${reason ? ' ' + reason : ''})`);
      return 'stop';
    }
    return 'failed';
  }

  kill(why) {
    this.dead = true;
    this.link.stop();
    warnOnce(this.endpoint + ' ' + this.site, `${this.what()} stopped for site "${this.site}": ${why}`);
    this.emit(null);
  }

  what() {
    return 'counts';
  }

  /** New counts (a message or an HTTP answer), or null: unreachable. */
  emit(msg) {
    const data =
      msg && msg.site
        ? {
            site: counts(msg.site),
            room: msg.room ? { room: String(msg.room.room ?? this.room), ...counts(msg.room) } : null,
            self: this.self,
          }
        : null;
    if (data === null && this.data === null) return;
    this.data = data;
    for (const s of this.subscriptions) s.push();
    if (data) {
      const detail = { ...view(data, this.room), endpoint: this.endpoint, siteKey: this.site };
      document.dispatchEvent(new CustomEvent('herenow:count', { detail }));
    }
  }
}

// ---- the subscriptions, routed to the tracked session's feed or a count-only one ----

const countOnly = new FeedRegistry(); // JSON [endpoint, site, room] -> CountFeed
const subscriptions = new Set();
let tracked = null; // the tracked session's feed (tracker.js), or null

class Subscription {
  constructor(options, callback) {
    this.options = options;
    this.callback = callback;
    this.feed = null;
    this.room = null;
  }

  push() {
    const data = this.feed && this.feed.data;
    if (data === undefined || !subscriptions.has(this)) return;
    deliver(this.callback, data && view(data, this.room));
  }
}

/** The feed a subscription reads: the tracked session's when it can share it, else a count-only one. */
function feedFor(sub) {
  const o = sub.options;
  const endpoint = endpointOf(o.endpoint || (tracked ? tracked.endpoint : ''));
  const site = String(o.site || (tracked ? tracked.site : defaultSite()));
  sub.room = o.room == null || o.room === '' ? null : String(o.room);
  if (tracked && endpoint === tracked.endpoint && site === tracked.site && (sub.room == null || sub.room === tracked.room)) return tracked;
  return countOnly.get(JSON.stringify([endpoint, site, sub.room]), () => {
    const feed = new CountFeed(endpoint, site, sub.room);
    if (!site) feed.kill('no site: set data-site on the script or site on <here-now>');
    else if (isVisible()) feed.resume();
    return feed;
  });
}

/** Moves every subscription to its feed (the tracked session may have started, stopped or moved). */
export function route() {
  for (const sub of subscriptions) {
    const feed = feedFor(sub);
    if (feed === sub.feed) continue;
    if (sub.feed) sub.feed.subscriptions.delete(sub);
    (sub.feed = feed).subscriptions.add(sub);
    queueMicrotask(safe(() => {
      if (sub.feed === feed) sub.push();
    }));
  }
  for (const [key, feed] of countOnly.entries()) {
    if (!feed.subscriptions.size) {
      feed.pause();
      countOnly.drop(key, feed);
    }
  }
}

/** The tracked session's feed from now on (null: nothing is tracked). */
export function setTracked(feed) {
  tracked = feed;
  route();
}

/** herenow.subscribe({site, room, endpoint}, callback) -> unsubscribe() */
export function subscribe(options, callback) {
  try {
    if (typeof callback !== 'function') return nop;
    const sub = new Subscription({ ...options }, callback);
    subscriptions.add(sub);
    route();
    return () =>
      safe(() => {
        if (subscriptions.delete(sub)) {
          if (sub.feed) sub.feed.subscriptions.delete(sub);
          route();
        }
      })();
  } catch (e) {
    return nop;
  }
}

/** Every count feed: the tracked session's and the count-only ones. */
const allFeeds = () => (tracked ? [tracked] : []).concat(countOnly.values());

/** The page became visible: every count feed connects. */
export function resumeCounts() {
  for (const feed of allFeeds()) feed.resume();
}

/** The page was hidden: the tracked session of an identified page goes away, the rest close. */
export function hideCounts() {
  for (const feed of allFeeds()) feed.hide();
}
