// Who is in a room: herenow.members() and <here-now-members>.
//
// - One MembersFeed per endpoint + site + room + token source, shared by every members() with
//   those four. Its link holds one socket, GET /v1/live?site&members=R&token (a watch token whose
//   `rooms` allow R), which sends the members on open and on every change; in the HTTP fallback
//   it polls GET /v1/members every 15 s with the token as a Bearer.
// - Subscribers get `{room, members: [{entity, state, sessions, online_since, info, signals}],
//   anonymous: {sessions, visitors}, truncated}` at once when known and on every change
//   (members earliest online_since first, as the server lists them); while the members cannot be
//   known, `{room, members: null, anonymous: null, truncated: false, error}` with error
//   "unreachable" (it retries) or the server's code ("not_watchable", "bad_token", ...: final,
//   with one warning). A bad_token is first answered with a fresh token (tokens.js).
// - Like status feeds, members feeds live while the page does and close on pagehide (feeds.js).

import { defaultSite, endpointOf, roomOf } from './config.js';
import { deliver, FeedRegistry, pageGone } from './feeds.js';
import { Link, askWhy, liveUrl } from './link.js';
import { afterRefusal, tokenSource } from './tokens.js';
import { trackedEndpoint, trackedSite } from './tracker.js';
import { httpError, isFinalRefusal, nop, safe, timeoutAfter, warnOnce } from './util.js';
import { objectOrNull, signalsOf, timeOrNull } from './watch.js';

/** Members feeds poll GET /v1/members this often in the HTTP fallback. */
const MEMBERS_POLL_MS = 15000;

const feeds = new FeedRegistry(); // JSON [endpoint, site, room, token source] -> MembersFeed

const counts = (o) => ({ sessions: Math.max(0, +(o && o.sessions) || 0), visitors: Math.max(0, +(o && o.visitors) || 0) });

/** A members message or answer, as subscribers get it. */
function membersOf(room, msg) {
  const list = Array.isArray(msg.members) ? msg.members : [];
  return {
    room,
    members: list
      .filter((m) => m && typeof m.entity === 'string')
      .map((m) => ({
        entity: m.entity,
        state: m.state === 'away' ? 'away' : 'online',
        sessions: Math.max(0, +m.sessions || 0),
        online_since: timeOrNull(m.online_since),
        info: objectOrNull(m.info),
        signals: signalsOf(m.signals),
      })),
    anonymous: counts(msg.anonymous),
    truncated: !!msg.truncated,
  };
}

const unknown = (room, error) => ({ room, members: null, anonymous: null, truncated: false, error });

class MembersFeed {
  constructor(key, endpoint, site, room, source) {
    this.key = key;
    this.endpoint = endpoint;
    this.site = site;
    this.room = room;
    this.source = source;
    source.use();
    this.subscribers = new Set();
    this.value = undefined; // undefined: nothing yet
    this.text = ''; // the value as JSON: an unchanged poll answer tells nobody
    this.dead = null;
    this.socketToken = '';
    // a token renewed while the socket is open goes to it: its rights never end
    this.offToken = source.onChange((token) => {
      if (this.link.hasSocket && token && token !== this.socketToken && this.link.send('token ' + token)) this.socketToken = token;
    });
    this.link = new Link(
      {
        urls: async () => {
          await this.source.ready();
          this.socketToken = this.source.token;
          if (!this.socketToken) return [null];
          return [liveUrl(this.endpoint, { site: this.site, members: this.room, token: this.socketToken })];
        },
        opened: () => this.source.accepted(this.socketToken),
        message: (msg) => {
          if (msg.type === 'members') this.set(membersOf(this.room, msg));
        },
        poll: (fresh, current) => this.ask(current),
        diagnose: askWhy((current) => this.ask(current)),
      },
      { pollInterval: MEMBERS_POLL_MS },
    );
  }

  add(sub) {
    this.subscribers.add(sub);
    if (this.value !== undefined) {
      const value = this.value;
      queueMicrotask(() => {
        if (this.subscribers.has(sub) && this.value === value) sub.push(value);
      });
    }
    if (this.subscribers.size === 1 && !this.dead && !pageGone()) this.link.start();
  }

  remove(sub) {
    if (!this.subscribers.delete(sub) || this.subscribers.size) return;
    this.link.stop();
    this.offToken();
    if (feeds.drop(this.key, this)) this.source.release();
  }

  pageHide() {
    this.link.stop();
  }

  pageShow() {
    if (!this.dead && this.subscribers.size) this.link.start();
  }

  /** GET /v1/members -> 'ok' | 'failed' | 'again' | 'stop' | 'stale', as StatusFeed.ask. */
  async ask(current) {
    await this.source.ready();
    const token = this.source.token;
    if (!current()) return 'stale';
    if (!token) {
      this.set(unknown(this.room, 'unreachable'));
      return 'failed';
    }
    try {
      const q = new URLSearchParams({ site: this.site, room: this.room });
      const response = await fetch(this.endpoint + '/v1/members?' + q, {
        credentials: 'omit',
        cache: 'no-store',
        headers: { Authorization: 'Bearer ' + token },
        ...timeoutAfter(10000),
      });
      const body = await response.json().catch(() => null);
      if (!current()) return 'stale';
      if (response.ok && body && Array.isArray(body.members)) {
        this.source.accepted(token);
        this.set(membersOf(this.room, body));
        return 'ok';
      }
      if (isFinalRefusal(response.status)) {
        const error = httpError(response, body, this.site);
        const verdict = await afterRefusal(this.source, token, error);
        if (!current()) return 'stale';
        if (verdict === 'again') return 'again';
        if (verdict === 'final') {
          this.dead = error.code;
          this.link.stop();
          warnOnce('m ' + this.key, `members of "${this.room}" stopped: ${error.text}`);
          this.set(unknown(this.room, error.code));
          return 'stop';
        }
      }
      this.set(unknown(this.room, 'unreachable'));
      return 'failed';
    } catch (e) {
      if (!current()) return 'stale';
      this.set(unknown(this.room, 'unreachable'));
      return 'failed';
    }
  }

  set(value) {
    const text = JSON.stringify(value);
    if (text === this.text) return;
    this.text = text;
    this.value = value;
    for (const sub of this.subscribers) sub.push(value);
  }
}

/** herenow.members({site, room, endpoint, token, getToken, tokenUrl}, callback) -> unsubscribe() */
export function members(options, callback) {
  try {
    if (typeof callback !== 'function') return nop;
    options = options || {};
    const endpoint = endpointOf(options.endpoint || trackedEndpoint());
    const site = String(options.site || trackedSite() || defaultSite() || '');
    const room = roomOf(options.room);
    const source = tokenSource(options, 'watch token');
    const sub = {
      live: true,
      push: (value) => {
        if (!sub.live) return;
        deliver(callback, { ...value, members: value.members && value.members.map((m) => ({ ...m })), anonymous: value.anonymous && { ...value.anonymous } });
      },
    };
    const fail = (code, message) => {
      warnOnce('mf ' + code, message);
      queueMicrotask(() => sub.push(unknown(room, code)));
      return () => {
        sub.live = false;
      };
    };
    if (!site) return fail('unknown_site', 'members: no site (set data-site on the script, or site on <here-now-members>)');
    if (!source) return fail('bad_token', `members: the room "${room}" needs a watch token whose "rooms" allow it (token or token-url attribute, token or getToken option)`);
    const key = JSON.stringify([endpoint, site, room, source.key]);
    const feed = feeds.get(key, () => new MembersFeed(key, endpoint, site, room, source));
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
