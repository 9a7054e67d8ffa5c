// Entity status feeds: herenow.watch() and <here-now-status>.
//
// - One StatusFeed per endpoint + site + token source (the same token, the same getToken, or the
//   same token-url), shared by every watch() with those three. Its link holds one socket per 100
//   entities (GET /v1/live?site&watch=a,b&token), or in the HTTP fallback polls GET /v1/status
//   every 15 s with the token as a Bearer.
// - Subscribers get each entity's status at once when it is known and again on every change:
//   `{entity, online, state, sessions, last_seen, online_since, info, signals}` (state online,
//   away or offline; online is true for both online and away; signals such as ["typing"]), or
//   while it cannot be known `{..., online: null, state: null, sessions: null, signals: [], error}`: "unreachable" (it retries) or the
//   server's code ("bad_token", "not_watchable", ...: final, with one warning).
// - A socket that never opened, or was closed on purpose, is followed by one GET /v1/status: a
//   refused token says why there, and the page shows what that answers while sockets are retried.
//   A bad_token is first answered with a fresh token when the feed has a getToken or token-url
//   (tokens.js); only a fresh token refused again is final.
// - Status feeds live while the page does (hidden tabs too: an agent's console in the
//   background still sees its customers), and close on pagehide (feeds.js).

import { endpointOf, defaultSite } from './config.js';
import { deliver, FeedRegistry, pageGone } from './feeds.js';
import { ENTITY_ID } from './ids.js';
import { Link, askWhy, liveUrl } from './link.js';
import { afterRefusal, claimsOf, tokenSource } from './tokens.js';
import { trackedEndpoint, trackedSite } from './tracker.js';
import { httpError, isFinalRefusal, nop, safe, timeoutAfter, warnOnce } from './util.js';

/** Status feeds poll GET /v1/status this often in the HTTP fallback. */
const STATUS_POLL_MS = 15000;
/** Entities per socket and per GET /v1/status, to keep URLs short. */
const ENTITIES_PER_REQUEST = 100;
const STATES = ['online', 'away', 'offline'];

const feeds = new FeedRegistry(); // JSON [endpoint, site, token source] -> StatusFeed

/** The token lists the entity (exactly, or by a prefix ending in "*"); true when unknowable. */
const lists = (claims, entity) =>
  !claims ||
  !Array.isArray(claims.watch) ||
  claims.watch.some((p) => typeof p === 'string' && (p.endsWith('*') ? entity.startsWith(p.slice(0, -1)) : p === entity));

/** Epoch ms, or null. */
export const timeOrNull = (t) => (t == null || !isFinite(t) ? null : +t);
/** A plain object (member info), or null. */
export const objectOrNull = (o) => (o && typeof o === 'object' && !Array.isArray(o) ? o : null);

/** What a subscriber is told while a status cannot be known. */
const unknown = (entity, error, was) => ({
  entity,
  online: null,
  state: null,
  sessions: null,
  last_seen: was ? was.last_seen : null,
  online_since: null,
  info: was ? was.info : null,
  signals: [],
  error,
});

/** A list of signal names, sorted. */
export const signalsOf = (list) => (Array.isArray(list) ? list.filter((n) => typeof n === 'string').sort() : []);

/** A status message or answer, as subscribers get it. */
function statusOf(entity, msg) {
  const online = !!msg.online;
  return {
    entity,
    online,
    state: STATES.includes(msg.state) ? msg.state : online ? 'online' : 'offline',
    sessions: Math.max(0, +msg.sessions || 0),
    last_seen: timeOrNull(msg.last_seen),
    online_since: timeOrNull(msg.online_since),
    info: objectOrNull(msg.info),
    signals: signalsOf(msg.signals),
  };
}

const sameStatus = (a, b) =>
  a.online === b.online &&
  a.state === b.state &&
  a.sessions === b.sessions &&
  a.last_seen === b.last_seen &&
  a.online_since === b.online_since &&
  a.error === b.error &&
  a.signals.join() === b.signals.join() &&
  JSON.stringify(a.info) === JSON.stringify(b.info);

function inGroups(list) {
  const groups = [];
  for (let i = 0; i < list.length; i += ENTITIES_PER_REQUEST) groups.push(list.slice(i, i + ENTITIES_PER_REQUEST));
  return groups;
}

class StatusFeed {
  constructor(key, endpoint, site, source) {
    this.key = key;
    this.endpoint = endpoint;
    this.site = site;
    this.source = source;
    source.use();
    this.subscribers = new Set();
    this.statuses = new Map(); // entity -> the last status told
    this.refused = new Map(); // entity -> error code: never asked for
    this.list = []; // the entities the link asks about now, sorted
    this.active = false; // has subscribers and the page is there: the link should run
    this.dead = null; // the error code that stopped the feed for good
    this.syncTimer = 0;
    this.socketToken = '';
    // a token renewed while the sockets are open goes to them: their rights never end
    this.offToken = source.onChange((token) => {
      if (this.link.hasSocket && token && token !== this.socketToken && this.link.send('token ' + token)) this.socketToken = token;
    });
    this.link = new Link(
      {
        urls: async () => {
          await this.source.ready();
          this.list = this.wantedEntities();
          this.socketToken = this.source.token;
          if (!this.socketToken) return [null]; // no token to be had yet: fails as a socket that cannot open
          return inGroups(this.list).map((group) => liveUrl(this.endpoint, { site: this.site, watch: group.join(','), token: this.socketToken }));
        },
        opened: () => this.source.accepted(this.socketToken),
        message: (msg) => {
          if (msg.type === 'status' && typeof msg.entity === 'string') this.set(msg);
        },
        poll: (fresh, current) => {
          if (fresh) this.list = this.wantedEntities();
          return this.ask(current);
        },
        diagnose: askWhy((current) => this.ask(current)),
      },
      { pollInterval: STATUS_POLL_MS },
    );
  }

  add(sub) {
    this.subscribers.add(sub);
    const claims = claimsOf(this.source.token);
    for (const e of sub.entities) {
      if (!this.dead && !this.refused.has(e) && this.source.token && !lists(claims, e)) {
        this.refused.set(e, 'not_watchable');
        warnOnce('nw ' + e + this.source.key, `the watch token does not list "${e}"`);
      }
      const error = this.dead || this.refused.get(e);
      if (error) this.statuses.set(e, unknown(e, error, this.statuses.get(e)));
      const known = this.statuses.get(e);
      if (known) {
        queueMicrotask(() => {
          if (this.subscribers.has(sub) && this.statuses.get(e) === known) sub.push(known);
        });
      }
    }
    this.sync();
  }

  remove(sub) {
    if (this.subscribers.delete(sub)) this.sync();
  }

  /** Every entity some subscriber wants and the token may read, sorted. */
  wantedEntities() {
    const entities = new Set();
    for (const sub of this.subscribers) for (const e of sub.entities) if (!this.refused.has(e)) entities.add(e);
    return [...entities].sort();
  }

  /** Batched: one (re)connect for all the elements a page adds in one task. */
  sync() {
    clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(safe(() => {
      if (!this.subscribers.size) return this.end();
      if (this.dead || pageGone()) return;
      const want = this.wantedEntities();
      const have = new Set(this.list);
      if (!want.length || (this.active && want.every((e) => have.has(e)))) return; // fewer is fine: no reconnect
      this.active = true;
      this.restart();
    }), 0);
  }

  restart() {
    this.list = this.wantedEntities();
    if (!this.active || this.dead || !this.list.length) return this.link.stop();
    this.link.start();
  }

  end() {
    this.active = false;
    this.link.stop();
    this.offToken();
    if (feeds.drop(this.key, this)) this.source.release();
  }

  pageHide() {
    this.active = false;
    this.link.stop();
  }

  pageShow() {
    this.active = true;
    this.restart();
  }

  /**
   * One round of GET /v1/status for the whole list -> 'ok' | 'failed' | 'again' (a fresh token
   * to try) | 'stop' (refused for good) | 'stale'; the answer is shown (statuses, or
   * "unreachable") unless `current()` says it came too late.
   */
  async ask(current) {
    await this.source.ready();
    const token = this.source.token;
    if (!current()) return 'stale';
    if (!token) {
      this.unreachable(); // getToken failed: it is tried again, and so is this
      return 'failed';
    }
    try {
      for (const group of inGroups(this.list)) {
        const q = new URLSearchParams({ site: this.site, entity: group.join(',') });
        const response = await fetch(this.endpoint + '/v1/status?' + q, {
          credentials: 'omit',
          cache: 'no-store',
          headers: { Authorization: 'Bearer ' + token },
          ...timeoutAfter(10000),
        });
        const body = await response.json().catch(() => null);
        if (!current()) return 'stale';
        if (response.ok && body && body.entities) {
          this.source.accepted(token);
          for (const e of group) if (body.entities[e]) this.set({ ...body.entities[e], entity: e });
        } else if (isFinalRefusal(response.status)) {
          const error = httpError(response, body, this.site);
          const verdict = await afterRefusal(this.source, token, error);
          if (!current()) return 'stale';
          if (verdict === 'again') return 'again';
          if (verdict === 'failed') {
            this.unreachable();
            return 'failed';
          }
          this.fatal(error);
          return 'stop';
        } else {
          this.unreachable();
          return 'failed';
        }
      }
      return 'ok';
    } catch (e) {
      if (!current()) return 'stale';
      this.unreachable();
      return 'failed';
    }
  }

  /** A status message or answer, or an error for that entity; subscribers hear of changes only. */
  set(msg, error) {
    const entity = String(msg.entity);
    const was = this.statuses.get(entity);
    const status = error ? unknown(entity, error, was) : statusOf(entity, msg);
    if (was && sameStatus(was, status)) return;
    this.statuses.set(entity, status);
    for (const sub of this.subscribers) if (sub.entities.has(entity)) sub.push(status);
  }

  unreachable() {
    for (const e of this.list) this.set({ entity: e }, 'unreachable');
  }

  fatal(error) {
    this.dead = error.code;
    this.link.stop();
    warnOnce('w ' + this.endpoint + this.site + this.source.key, `status of ${this.list.join(', ')} stopped: ${error.text}`);
    for (const e of this.wantedEntities()) this.set({ entity: e }, error.code);
  }
}

/** herenow.watch({site, endpoint, token, getToken, tokenUrl, entities}, callback) -> unsubscribe() */
export function watch(options, callback) {
  try {
    if (typeof callback !== 'function' || !options) return nop;
    const endpoint = endpointOf(options.endpoint || trackedEndpoint());
    const site = String(options.site || trackedSite() || defaultSite() || '');
    const source = tokenSource(options, 'watch token');
    let entities = options.entities ?? options.entity ?? [];
    if (typeof entities === 'string') entities = entities.split(',');
    entities = [...new Set(Array.from(entities, (e) => String(e ?? '').trim()))];
    const sub = {
      entities: new Set(entities),
      live: true,
      push: (status) => {
        if (sub.live) deliver(callback, { ...status });
      },
    };
    const fail = (list, code, message) => {
      if (!list.length) return;
      warnOnce(code + ' ' + list.join(','), message);
      queueMicrotask(() => list.forEach((e) => sub.push(unknown(e, code))));
    };
    const badIds = entities.filter((e) => !ENTITY_ID.test(e));
    fail(badIds, 'bad_request', `watch: ${badIds.map((e) => JSON.stringify(e)).join(', ')} is not an entity id (1-128 characters of A-Z a-z 0-9 . _ : @ -)`);
    badIds.forEach((e) => sub.entities.delete(e));
    if (!site) {
      fail([...sub.entities], 'unknown_site', 'watch: no site (set data-site on the script, or site on <here-now-status>)');
      sub.entities.clear();
    }
    if (!source) {
      fail([...sub.entities], 'bad_token', `watch: ${[...sub.entities].join(', ')} needs a watch token (token or token-url attribute, token or getToken option)`);
      sub.entities.clear();
    }
    if (!sub.entities.size) return () => {
      sub.live = false;
    };
    const key = JSON.stringify([endpoint, site, source.key]);
    const feed = feeds.get(key, () => new StatusFeed(key, endpoint, site, source));
    feed.add(sub);
    return () =>
      safe(() => {
        sub.live = false;
        feed.remove(sub);
      })();
  } catch (e) {
    return nop;
  }
}
