// The tracked session (this page, present in a room while it is visible) and the count feeds
// that <here-now> and herenow.subscribe() read.
//
// - The tracker's link is both its session and its count feed: GET /v1/live?site&room&session
//   &visitor[&entity&token], or in the HTTP fallback POST /v1/ping (join, then a heartbeat each
//   heartbeat) whose answers carry the counts. It joins while the page is visible and leaves
//   (sendBeacon, and the socket closed with 1000) when the page is hidden.
// - A subscription to the tracked site (no room, or the tracked room) and endpoint shares the
//   tracker's feed; any other gets a count-only feed (GET /v1/live?site[&room], or polling
//   GET /v1/count every 15 s) shared by every subscription to the same endpoint, site and room,
//   and closed when the last one goes.
// - The identity (an entity and its track token) rides on the tracked session. A refusal of it
//   (401 bad_token, 403 entities_disabled, ...) drops it with one warning and the page goes on
//   counting anonymously; any other final refusal (a socket closed on purpose, an HTTP 4xx other
//   than 429) stops that feed with one warning and shows it as unreachable.

import { endpointOf, roomOf, isVisible, defaultSite } from './config.js';
import { ENTITY_ID, ids, randomId } from './ids.js';
import { Link, closedOnPurpose, liveUrl } from './link.js';
import { TEXT_BODY, httpError, isFinalRefusal, nop, reportError, safe, timeoutAfter, warnOnce } from './util.js';

/** Count-only feeds poll GET /v1/count this often in the HTTP fallback. */
const COUNT_POLL_MS = 15000;
/** An HTTP exchange of the fallback that has no answer by then failed (as status feeds' do). */
const EXCHANGE_TIMEOUT_MS = 10000;
/** The server's limit on a ping body: a longer one would be refused whole. */
const MAX_PING_BYTES = 1024;
/** Refusals that concern the identity, not whether this page may be counted. */
const IDENTITY_REFUSALS = new Set(['bad_token', 'entities_disabled', 'bad_request', 'too_large']);

// ---- identity: the entity the tracked session carries, proven by a track token ----

let identity = null; // {entity, token} or null: anonymous

/** `{entity, token}`, or null (with one warning) when they cannot be used. */
function asIdentity(entity, token, where) {
  if (entity == null || entity === '') return null;
  entity = String(entity);
  token = token == null ? '' : String(token);
  if (!ENTITY_ID.test(entity)) {
    warnOnce('eid ' + entity, `${where}: "${entity}" is not an entity id (1-128 characters of A-Z a-z 0-9 . _ : @ -); counting this page anonymously`);
    return null;
  }
  if (!token) {
    warnOnce('etok ' + entity, `${where}: the entity "${entity}" needs a track token; counting this page anonymously`);
    return null;
  }
  return { entity, token };
}

const sameIdentity = (a, b) => a === b || (!!a && !!b && a.entity === b.entity && a.token === b.token);

/** The server refused `id`: carry on without it, if it is still the one in use. */
function dropIdentity(id, why) {
  if (!id || identity !== id) return false;
  identity = null;
  warnOnce('eref ' + id.token, `identity "${id.entity}" dropped (${why}); counting this page anonymously`);
  return true;
}

/** The identity of the script tag (data-entity, data-token), before tracking starts. */
export function identifyAtLoad(entity, token) {
  identity = asIdentity(entity, token, 'data-entity');
}

export const currentEntity = () => (identity ? identity.entity : null);

// ---- count feeds ----

const counts = (o) => ({ sessions: +o.sessions || 0, visitors: +o.visitors || 0 });

/** What a subscriber sees: copies, the room only where one was asked for. */
const view = (data, room, self) => ({
  site: { ...data.site },
  room: room == null || !data.room ? null : { ...data.room },
  self,
});

class CountFeed {
  constructor(endpoint, site, room, isTracker) {
    this.endpoint = endpoint;
    this.site = site;
    this.room = room; // null: the whole site (count-only feeds)
    this.isTracker = isTracker;
    this.subscriptions = new Set();
    this.data = undefined; // undefined: nothing yet; null: unreachable or stopped; else the counts
    this.wanted = false; // the page is visible: the feed should be connected
    this.dead = false; // refused for good
    this.socketIdentity = null; // the identity the current socket was opened with
    this.link = new Link(
      {
        urls: () => [this.socketUrl()],
        message: (msg) => {
          if (msg.type === 'count') this.emit(msg);
        },
        poll: (fresh, current) => this.exchange(fresh ? 'join' : 'heartbeat', current),
        diagnose: (loss, current) => this.diagnose(loss, current),
      },
      { pollInterval: isTracker ? null : COUNT_POLL_MS },
    );
  }

  query(id) {
    const q = new URLSearchParams();
    q.set('site', this.site);
    if (this.room != null) q.set('room', this.room);
    if (this.isTracker) {
      q.set('session', ids.session);
      q.set('visitor', ids.visitor);
    }
    if (id) {
      q.set('entity', id.entity);
      q.set('token', id.token);
    }
    return q;
  }

  socketUrl() {
    this.socketIdentity = this.isTracker ? identity : null;
    return liveUrl(this.endpoint, this.query(this.socketIdentity));
  }

  /** A ping body; without the token when it would pass the server's size limit. */
  pingBody(event, id, session = ids.session) {
    const fields = { site: this.site, room: this.room, session, visitor: ids.visitor, event };
    const plain = JSON.stringify(fields);
    if (!id) return plain;
    const withIdentity = JSON.stringify({ ...fields, entity: id.entity, token: id.token });
    if (new TextEncoder().encode(withIdentity).length <= MAX_PING_BYTES) return withIdentity;
    warnOnce('elong ' + id.token, `identity "${id.entity}": the token makes pings longer than 1 KiB; HTTP pings go without it`);
    return plain;
  }

  /** The page became visible (or the feed was created on a visible page). */
  resume() {
    if (this.wanted) return;
    this.wanted = true;
    this.go();
  }

  go() {
    if (!this.wanted || this.dead || (this.isTracker && !ids.ready)) return;
    this.link.start();
  }

  /** The page was hidden: the tracked session leaves at once. */
  pause() {
    if (!this.wanted) return;
    this.wanted = false;
    this.link.stop();
    if (this.isTracker && !this.dead && ids.ready) this.beacon('leave');
  }

  /** A ping that must go out even as the page goes away. */
  beacon(event) {
    const url = this.endpoint + '/v1/ping';
    const body = this.pingBody(event, this.isTracker && identity);
    try {
      if (navigator.sendBeacon(url, body)) return;
    } catch (e) {
      /* fall through */
    }
    try {
      fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit', headers: TEXT_BODY }).catch(nop);
    } catch (e) {
      /* gone */
    }
  }

  /** One HTTP exchange of the fallback: a ping (the tracker) or GET /v1/count. */
  async exchange(event, current) {
    const id = this.isTracker ? identity : null;
    try {
      const response = await fetch(
        this.isTracker ? this.endpoint + '/v1/ping' : this.endpoint + '/v1/count?' + this.query(null),
        this.isTracker
          ? { method: 'POST', body: this.pingBody(event, id), credentials: 'omit', headers: TEXT_BODY, ...timeoutAfter(EXCHANGE_TIMEOUT_MS) }
          : { credentials: 'omit', cache: 'no-store', ...timeoutAfter(EXCHANGE_TIMEOUT_MS) },
      );
      const body = await response.json().catch(() => null);
      if (!current()) return 'stale';
      if (response.ok && body) {
        if (body.heartbeat_ms != null) this.link.useHeartbeat(body.heartbeat_ms);
        this.emit(body);
        return 'ok';
      }
      if (isFinalRefusal(response.status)) {
        const error = httpError(response, body);
        if (id && IDENTITY_REFUSALS.has(error.code) && dropIdentity(id, error.text)) return 'again'; // anonymously
        this.kill(error.text);
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

  async diagnose({ opened, code, reason }, current) {
    const id = this.socketIdentity;
    const onPurpose = closedOnPurpose(code);
    // A refused upgrade looks like any failed connection: ask over HTTP whether the identity was the cause.
    if (id && identity === id && (!opened || onPurpose)) {
      const error = await this.vet(id);
      if (!current()) return 'stale';
      if (error && IDENTITY_REFUSALS.has(error.code) && dropIdentity(id, error.text)) return 'again'; // anonymously
    }
    if (onPurpose && current()) {
      this.kill(`the server closed the socket (${code}${reason ? ' ' + reason : ''})`);
      return 'stop';
    }
    return 'failed';
  }

  /**
   * The server's verdict on `id`, as `{code, text}` of a final refusal, or null. A leave for a
   * fresh session id changes nothing, but its answer says whether the token is good.
   */
  async vet(id) {
    try {
      const response = await fetch(this.endpoint + '/v1/ping', {
        method: 'POST',
        body: this.pingBody('leave', id, randomId('s_')),
        credentials: 'omit',
        headers: TEXT_BODY,
        ...timeoutAfter(5000),
      });
      if (isFinalRefusal(response.status)) return httpError(response, await response.json().catch(() => null));
    } catch (e) {
      /* unreachable: no verdict */
    }
    return null;
  }

  kill(why) {
    this.dead = true;
    this.link.stop();
    warnOnce(this.endpoint + ' ' + this.site, `${this.isTracker ? 'tracking' : 'counts'} stopped for site "${this.site}": ${why}`);
    this.emit(null);
  }

  /** New counts (a message or an HTTP answer), or null: unreachable. */
  emit(msg) {
    const data =
      msg && msg.site
        ? { site: counts(msg.site), room: msg.room ? { room: String(msg.room.room ?? this.room), ...counts(msg.room) } : null }
        : null;
    if (data === null && this.data === null) return;
    this.data = data;
    for (const s of this.subscriptions) s.push();
    if (data) {
      const detail = { ...view(data, this.room, this.isTracker), endpoint: this.endpoint, siteKey: this.site };
      document.dispatchEvent(new CustomEvent('herenow:count', { detail }));
    }
  }
}

// ---- the tracked feed, the count-only feeds, and the subscriptions routed to them ----

let tracked = null; // the tracker's CountFeed
const countOnly = new Map(); // JSON [endpoint, site, room] -> CountFeed
const subscriptions = new Set();

class Subscription {
  constructor(options, callback) {
    this.options = options;
    this.callback = callback;
    this.feed = null;
    this.room = null;
  }

  push() {
    const feed = this.feed;
    const data = feed && feed.data;
    if (data === undefined || !subscriptions.has(this)) return;
    try {
      this.callback(data && view(data, this.room, feed.isTracker));
    } catch (e) {
      reportError(e);
    }
  }
}

/** The feed a subscription reads: the tracker's when it can share it, else a count-only one. */
function feedFor(sub) {
  const o = sub.options;
  const endpoint = endpointOf(o.endpoint || (tracked ? tracked.endpoint : ''));
  const site = String(o.site || (tracked ? tracked.site : defaultSite()));
  sub.room = o.room == null || o.room === '' ? null : String(o.room);
  if (tracked && endpoint === tracked.endpoint && site === tracked.site && (sub.room == null || sub.room === tracked.room)) return tracked;
  const key = JSON.stringify([endpoint, site, sub.room]);
  let feed = countOnly.get(key);
  if (!feed) {
    countOnly.set(key, (feed = new CountFeed(endpoint, site, sub.room, false)));
    if (!site) feed.kill('no site: set data-site on the script or site on <here-now>');
    else if (isVisible()) feed.resume();
  }
  return feed;
}

/** Moves every subscription to its feed (the tracker may have started, stopped or moved). */
function route() {
  for (const sub of subscriptions) {
    const feed = feedFor(sub);
    if (feed === sub.feed) continue;
    if (sub.feed) sub.feed.subscriptions.delete(sub);
    (sub.feed = feed).subscriptions.add(sub);
    queueMicrotask(safe(() => {
      if (sub.feed === feed) sub.push();
    }));
  }
  for (const [key, feed] of countOnly) {
    if (!feed.subscriptions.size) {
      feed.pause();
      countOnly.delete(key);
    }
  }
}

/** The tracked session joins again: with its new room or identity. */
function rejoin() {
  if (!tracked || !tracked.wanted || tracked.dead || !ids.ready) return; // a later join uses them anyway
  tracked.link.restart();
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

/** herenow.track({site, room, endpoint, entity, token}) */
export const track = safe((options = {}) => {
  const endpoint = endpointOf(options.endpoint);
  const site = String(options.site || defaultSite());
  const room = roomOf(options.room);
  if (!site) return warnOnce('nosite', 'track() needs a site');
  let changedIdentity = false;
  if ('entity' in options) {
    const id = asIdentity(options.entity, options.token, 'track()');
    changedIdentity = !sameIdentity(id, identity);
    identity = id;
  }
  if (tracked && tracked.endpoint === endpoint && tracked.site === site) {
    if (room !== tracked.room) setRoom(room);
    else if (changedIdentity) rejoin();
    return;
  }
  stop();
  tracked = new CountFeed(endpoint, site, room, true);
  route();
  if (isVisible()) tracked.resume();
});

/** herenow.stop(): the tracked session leaves, and tracking ends. */
export const stop = safe(() => {
  if (!tracked) return;
  tracked.pause();
  tracked.dead = true;
  tracked = null;
  route();
});

/** herenow.setRoom(room): a single-page app navigated; the session moves. */
export const setRoom = safe((room) => {
  if (!tracked || (room = roomOf(room)) === tracked.room) return;
  tracked.room = room;
  tracked.data = undefined;
  route();
  rejoin();
});

/** herenow.identify(entity, token), identify(null) */
export const identify = safe((entity, token) => {
  const id = asIdentity(entity, token, 'identify()');
  if (sameIdentity(id, identity)) return;
  identity = id;
  rejoin();
});

/** herenow.tracking */
export const tracking = () => (tracked ? { endpoint: tracked.endpoint, site: tracked.site, room: tracked.room } : null);

/** The tracked session's endpoint and site, the defaults of watch(). */
export const trackedEndpoint = () => (tracked ? tracked.endpoint : '');
export const trackedSite = () => (tracked ? tracked.site : '');

/** The session id is safe to use (see ids.js): the tracker may join now. */
export function idsReady() {
  if (tracked) tracked.go();
}

/** Page lifecycle: every count feed follows the page's visibility. */
export function resumeCounts() {
  for (const feed of allFeeds()) feed.resume();
}

export function pauseCounts() {
  for (const feed of allFeeds()) feed.pause();
}

const allFeeds = () => (tracked ? [tracked] : []).concat([...countOnly.values()]);
