// The tracked session: this page, present in a room while it is visible, carrying its
// identity (an entity and the source of its track token, see tokens.js) when it has one.
//
// - Its feed is a count feed (counts.js) whose link is also the session: GET /v1/live?site&room
//   &session&visitor[&entity&token], or in the HTTP fallback POST /v1/ping (join, then a
//   heartbeat each heartbeat) whose answers carry the counts. It joins while the page is
//   visible. When the page is hidden, an anonymous page leaves (sendBeacon, and the socket
//   closed with 1000); a page that carries an entity goes away instead: the text `away` on its
//   socket (or an `away` ping over HTTP), and it keeps the socket (pinging, at whatever pace the
//   browser lets a background tab's timers run), so that its entity shows as away, not offline;
//   shown again, it says `back` (or heartbeats). On pagehide every page leaves.
// - A room or identity change moves the session make-before-break (link.js `replace()`): the
//   session never leaves the counts in between.
// - A 401 bad_token gets a fresh token from the page's getToken() when there is one, and the
//   session goes on with it; a refusal that no fresh token cures (401 bad_token again, 403
//   entities_disabled, ...) drops the identity with one warning and the page goes on counting
//   anonymously. Any other final refusal stops the session with one warning.
// - Every ping of a session that carries an entity carries its token, leave included: the
//   server lets nothing else touch that session. A token renewed while a socket is open is
//   sent on it (`token <jwt>`), so the socket's rights never end. Another identity (a sign-in
//   as someone else, or a sign-out) is another session: the old one leaves with its own token
//   and the tab takes a new session id.
// - Signals (`signal(name)`, `signalEnd(name)`): short-lived states of the entity session
//   ("typing"). The page may call signal() on every keystroke: a signal is sent when it begins
//   and renewed at most once per half its ttl (`signal_ttl_ms`, from the server), on the socket
//   (`signal <name>`) or over HTTP (a `signal` ping with the token); signalEnd() sends the end
//   of one that was sent. A begin the server refuses for its rate (2 new signals a second) is
//   sent once more when that second has passed, unless signalEnd() came first. They belong to
//   the session: another session (another identity) starts with none.

import { defaultSite, endpointOf, isVisible, roomOf } from './config.js';
import { CountFeed, EXCHANGE_TIMEOUT_MS, setTracked } from './counts.js';
import { FeedRegistry } from './feeds.js';
import { ENTITY_ID, ids, newSession, randomId } from './ids.js';
import { closedOnPurpose, liveUrl } from './link.js';
import { afterRefusal, tokenSource } from './tokens.js';
import { TEXT_BODY, httpError, isFinalRefusal, nop, safe, timeoutAfter, warnOnce } from './util.js';

/** The server's limit on a ping body: a longer one would be refused whole. */
const MAX_PING_BYTES = 1024;
/** What a signal may be named (the server's rule). */
const SIGNAL_NAME = /^[a-z0-9_-]{1,32}$/;
/** How long a signal lasts unless renewed, until the server says (`signal_ttl_ms`). */
const SIGNAL_TTL_MS = 5000;
/** The server's window for new signals (2 a second): a refused one is sent again after it. */
const RATE_WINDOW_MS = 1000;
/** Refusals that concern the identity, not whether this page may be counted. */
const IDENTITY_REFUSALS = new Set(['bad_token', 'entities_disabled', 'bad_request', 'too_large']);

// ---- identity: the entity the tracked session carries, proven by a track token ----

let identity = null; // {entity, source} or null: anonymous

/**
 * What a token argument may be: a token, a getToken function, or `{token, getToken, tokenUrl}`.
 */
function tokenOptions(token) {
  if (typeof token === 'function') return { getToken: token };
  if (token && typeof token === 'object') return token;
  return { token };
}

/** `{entity, source}`, or null (with one warning) when they cannot be used. */
function asIdentity(entity, token, where) {
  if (entity == null || entity === '') return null;
  entity = String(entity);
  if (!ENTITY_ID.test(entity)) {
    warnOnce('eid ' + entity, `${where}: "${entity}" is not an entity id (1-128 characters of A-Z a-z 0-9 . _ : @ -); counting this page anonymously`);
    return null;
  }
  const source = tokenSource(tokenOptions(token), 'track token');
  if (!source) {
    warnOnce('etok ' + entity, `${where}: the entity "${entity}" needs a track token (or getToken); counting this page anonymously`);
    return null;
  }
  return { entity, source };
}

const sameIdentity = (a, b) => a === b || (!!a && !!b && a.entity === b.entity && a.source === b.source);

/** The token `id` carries now, or null while it has none (it is then not sent at all). */
const usable = (id) => (id && id.source.token ? id : null);

/** From now on the tracked session carries `id` (null: anonymous). */
function setIdentity(id) {
  if (id === identity) return;
  if (id) id.source.use();
  const was = identity;
  identity = id;
  if (was) was.source.release();
  if (offIdentityToken) offIdentityToken();
  offIdentityToken = null;
  if (id) {
    // A token that arrives for an identity the session could not carry yet (it was waiting for
    // its first one): join with it now. Later tokens are for the next connection.
    offIdentityToken = id.source.onChange((token) => {
      if (!tracked || identity !== id || !tracked.link.hasSocket) return;
      if (tracked.socketIdentity !== id) rejoin();
      else if (token !== tracked.socketToken && tracked.link.send('token ' + token)) tracked.socketToken = token; // the socket's rights go on
    });
  }
}
let offIdentityToken = null;

/** The server refused `id`: carry on without it, if it is still the one in use. */
function dropIdentity(id, why) {
  if (!id || identity !== id) return false;
  setIdentity(null);
  // a session that carried the entity is that entity's: anonymously, this tab is another one
  if (tracked && tracked.socketIdentity === id) newSession();
  warnOnce('eref ' + id.source.key, `identity "${id.entity}" dropped (${why}); counting this page anonymously`);
  if (tracked && tracked.away) queueMicrotask(safe(() => tracked && tracked.away && tracked.pause())); // anonymous and hidden: leave
  return true;
}

/**
 * A refusal of `id` whose token was `token`: 'again' when a fresh token is there to try,
 * 'failed' when none can be had for now (getToken failed), 'drop' when it is final.
 */
async function retryIdentity(id, token, error) {
  const verdict = identity === id ? await afterRefusal(id.source, token, error) : 'final';
  return verdict === 'final' ? 'drop' : verdict;
}

/** The identity of the script tag (data-entity, data-token, data-token-url), before tracking starts. */
export function identifyAtLoad(entity, token, tokenUrl) {
  setIdentity(asIdentity(entity, { token, tokenUrl }, 'data-entity'));
}

export const currentEntity = () => (identity ? identity.entity : null);

// ---- the tracked session ----

class TrackedSession extends CountFeed {
  constructor(endpoint, site, room) {
    super(endpoint, site, room, { pollInterval: null });
    this.away = false; // the page is hidden and carries an entity: its session is away
    this.socketIdentity = null; // the identity the current socket was opened with...
    this.socketToken = ''; // ...and its token then
    this.signalTtl = SIGNAL_TTL_MS;
    this.signals = new Map(); // name -> when it was last sent (it lasts signalTtl from then)
    this.signalSession = ''; // the session those signals belong to
    this.retries = new Map(); // name -> timer: a signal refused for the rate, sent again after the second
    this.retried = new Set(); // names whose last begin was such a retry (refused again: given up)
  }

  emit(msg) {
    if (msg && msg.signal_ttl_ms >= 100) this.signalTtl = +msg.signal_ttl_ms;
    super.emit(msg);
  }

  /**
   * Begins or renews (`on`) or ends the signal `name` of the entity session. A renewal within
   * half the ttl of the last one sends nothing; an end of a signal not sent sends nothing.
   * `retry`: the begin is the one retry of a begin refused for the rate.
   */
  signal(name, on, retry = false) {
    const id = usable(identity);
    if (!id || !this.wanted || this.dead || !ids.ready) return;
    if (this.signalSession !== ids.session) {
      this.signals.clear(); // another session: the server holds none of them
      this.retries.forEach(clearTimeout);
      this.retries.clear();
      this.signalSession = ids.session;
    }
    const pending = this.retries.get(name);
    if (pending != null) {
      // refused for the rate and not held: the retry sends a begin; an end cancels it
      if (!on) clearTimeout(pending), this.retries.delete(name);
      return;
    }
    const now = Date.now();
    const sent = this.signals.get(name);
    const held = sent != null && now - sent < this.signalTtl;
    if (on ? held && now - sent < this.signalTtl / 2 : !held) {
      if (!on) this.signals.delete(name);
      return;
    }
    if (on) this.signals.set(name, now);
    else this.signals.delete(name);
    if (retry) this.retried.add(name);
    else this.retried.delete(name);
    const text = (on ? 'signal ' : 'signal-end ') + name;
    if (this.socketIdentity === id && this.link.send(text)) return;
    // no socket that carries the entity (connecting, or HTTP): a ping says it
    const body = JSON.stringify({ site: this.site, room: this.room, session: ids.session, visitor: ids.visitor, event: on ? 'signal' : 'signal_end', signal: name, entity: id.entity, token: id.source.token });
    fetch(this.endpoint + '/v1/ping', { method: 'POST', body, credentials: 'omit', headers: TEXT_BODY, ...timeoutAfter(EXCHANGE_TIMEOUT_MS) })
      .then((response) => {
        if (response.ok) return response.json().then((answer) => answer && this.emit(answer));
        if (!on || this.signals.get(name) !== now) return;
        if (response.status === 429) return this.refusedSignal(name, true);
        this.signals.delete(name); // not held: the next call tries again
        return response.json().then((b) => warnOnce('sig ' + response.status, `signal "${name}": ${httpError(response, b, this.site).text}`));
      })
      .catch(nop);
  }

  /** A socket's refusal: of a signal (it names it), or of a token renewal (tokens.js renews again). */
  socketRefused(msg) {
    if (typeof msg.signal === 'string' && this.signals.has(msg.signal)) this.refusedSignal(msg.signal, msg.error && msg.error.code === 'rate_limited');
  }

  /**
   * The server refused to begin `name` (it holds nothing): forget it was sent, and when the
   * refusal was the rate (2 new signals a second), send it once more when that second has
   * passed, unless the page ends it first. So typing right after a send or an emptied box still
   * shows, even if no key follows.
   */
  refusedSignal(name, rate) {
    this.signals.delete(name);
    if (!rate || this.retried.has(name)) return;
    this.retries.set(
      name,
      setTimeout(() => {
        this.retries.delete(name);
        this.signal(name, true, true);
      }, RATE_WINDOW_MS),
    );
  }

  /** This page's session is in these counts: tracked, and not away (counted nowhere). */
  get self() {
    return !this.away;
  }

  what() {
    return 'tracking';
  }

  query() {
    const q = super.query();
    q.set('session', ids.session);
    q.set('visitor', ids.visitor);
    return q;
  }

  async urls() {
    if (identity && !identity.source.token) await identity.source.ready();
    this.socketIdentity = usable(identity);
    this.socketToken = this.socketIdentity ? this.socketIdentity.source.token : '';
    const q = this.query();
    if (this.socketIdentity) {
      q.set('entity', this.socketIdentity.entity);
      q.set('token', this.socketToken);
    }
    return [liveUrl(this.endpoint, q)];
  }

  opened() {
    if (this.socketIdentity) this.socketIdentity.source.accepted(this.socketToken);
    if (!this.away) return;
    if (this.socketIdentity) this.link.send('away'); // a socket opens as a visible join
    else this.pause(); // the identity was dropped meanwhile: a hidden anonymous page leaves
  }

  /** A ping body; without the token when it would pass the server's size limit. */
  pingBody(event, id, session = ids.session, token = id && id.source.token) {
    const fields = { site: this.site, room: this.room, session, visitor: ids.visitor, event };
    const plain = JSON.stringify(fields);
    if (!id || !token) return plain;
    const withIdentity = JSON.stringify({ ...fields, entity: id.entity, token });
    if (new TextEncoder().encode(withIdentity).length <= MAX_PING_BYTES) return withIdentity;
    warnOnce('elong ' + id.source.key, `identity "${id.entity}": the token makes pings longer than 1 KiB; HTTP pings go without it`);
    return plain;
  }

  resume() {
    if (this.away) return this.back();
    super.resume();
  }

  go() {
    if (ids.ready) super.go();
  }

  /**
   * The page was hidden. The session of a page that carries an entity goes away and keeps its
   * link; an anonymous one leaves.
   */
  hide() {
    if (!this.wanted || this.dead || !ids.ready || !usable(identity)) return this.pause();
    if (this.away) return;
    this.away = true;
    // A socket opened before the identity had a token carries an anonymous session, which
    // `away` would end: the next one carries the entity, and goes away as it opens.
    if (!this.link.fallback && this.link.hasSocket && this.socketIdentity !== identity) return this.link.replace();
    // No open socket (connecting, reconnecting, or HTTP): say it over HTTP; a socket that opens
    // later says it again (see `opened`).
    if (!this.link.send('away')) this.beacon('away');
  }

  /** Shown again after `hide()` went away: visible at once, and the connection checked. */
  back() {
    this.away = false;
    if (this.link.send('back')) this.link.checkNow(); // a long background may have killed it silently
    else if (this.link.fallback) this.link.pollNow();
    // else a socket is on its way: its open is a visible join
  }

  /** The page was hidden (an anonymous page) or is going away: the session leaves at once. */
  pause() {
    this.away = false;
    if (!this.wanted) return;
    super.pause();
    // with the identity the session joined with (it may have been dropped since)
    if (!this.dead && ids.ready) this.beacon('leave', this.socketIdentity || usable(identity));
  }

  /** A ping that must go out even as the page goes away (with its identity's token). */
  beacon(event, id = usable(identity), session = ids.session) {
    const url = this.endpoint + '/v1/ping';
    const body = this.pingBody(event, id, session);
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

  /** One HTTP exchange of the fallback: a ping (join first, then heartbeats; away while hidden). */
  async exchange(fresh, current) {
    if (identity && !identity.source.token) await identity.source.ready();
    if (!current()) return 'stale';
    const id = usable(identity);
    const event = this.away ? 'away' : fresh ? 'join' : 'heartbeat';
    if (event === 'away' && !id) {
      this.pause(); // the identity was dropped while the page is hidden: an anonymous page leaves
      return 'stop';
    }
    const token = id ? id.source.token : '';
    try {
      const init = { method: 'POST', body: this.pingBody(event, id, ids.session, token), credentials: 'omit', headers: TEXT_BODY, ...timeoutAfter(EXCHANGE_TIMEOUT_MS) };
      const response = await fetch(this.endpoint + '/v1/ping', init);
      const body = await response.json().catch(() => null);
      if (!current()) return 'stale';
      if (response.ok && body) {
        if (id) id.source.accepted(token);
        this.socketIdentity = id; // the identity the session joined with, over HTTP too
        this.socketToken = token;
        if (body.heartbeat_ms != null) this.link.useHeartbeat(body.heartbeat_ms);
        this.emit(body);
        return 'ok';
      }
      if (isFinalRefusal(response.status)) return this.refused(id, token, httpError(response, body, this.site), current);
      if (response.status !== 429) this.emit(null);
      return 'failed';
    } catch (e) {
      if (!current()) return 'stale';
      this.emit(null);
      return 'failed';
    }
  }

  /** A final refusal of a ping: the identity's (retried with a fresh token, or dropped), or the page's. */
  async refused(id, token, error, current) {
    if (id && IDENTITY_REFUSALS.has(error.code)) {
      const verdict = await retryIdentity(id, token, error);
      if (!current()) return 'stale';
      if (verdict === 'again') return 'again'; // with the fresh token
      if (verdict === 'failed') return 'failed';
      if (dropIdentity(id, error.text)) return 'again'; // anonymously
    }
    this.kill(error.text);
    return 'stop';
  }

  async diagnose({ opened, code, reason }, current) {
    const id = this.socketIdentity;
    const token = this.socketToken;
    const onPurpose = closedOnPurpose(code);
    // A refused upgrade looks like any failed connection: ask over HTTP whether the identity was the cause.
    if (id && identity === id && (!opened || onPurpose)) {
      const error = await this.vet(id, token);
      if (!current()) return 'stale';
      if (error && IDENTITY_REFUSALS.has(error.code)) {
        const verdict = await retryIdentity(id, token, error);
        if (!current()) return 'stale';
        if (verdict !== 'drop') return verdict; // 'again': with the fresh token; 'failed': try later
        if (dropIdentity(id, error.text)) return 'again'; // anonymously
      }
    }
    return super.diagnose({ code, reason }, current);
  }

  /**
   * The server's verdict on `id`, as `{code, text}` of a final refusal, or null. A leave for a
   * fresh session id changes nothing, but its answer says whether the token is good.
   */
  async vet(id, token) {
    try {
      const response = await fetch(this.endpoint + '/v1/ping', {
        method: 'POST',
        body: this.pingBody('leave', id, randomId('s_'), token),
        credentials: 'omit',
        headers: TEXT_BODY,
        ...timeoutAfter(5000),
      });
      if (isFinalRefusal(response.status)) return httpError(response, await response.json().catch(() => null), this.site);
    } catch (e) {
      /* unreachable: no verdict */
    }
    return null;
  }
}

// The tracked session, in a registry of its own so that the page's lifecycle reaches it too.
const sessions = new FeedRegistry();
let tracked = null;

function setSession(session) {
  if (tracked) sessions.drop('tracked', tracked);
  tracked = session;
  if (session) sessions.get('tracked', () => session);
  setTracked(session);
}

/** The identity changed: a hidden page that is now anonymous leaves; any other joins again with it. */
function identityChanged() {
  if (tracked && tracked.away && !usable(identity)) tracked.pause();
  else rejoin();
}

/**
 * The tracked session joins again: with its new room or identity. Make-before-break: the new
 * socket moves the session, and the old one closes after it opened, so the session never leaves
 * the counts in between (a navigation is not a leave and a join for everyone watching).
 */
function rejoin() {
  if (!tracked || !tracked.wanted || tracked.dead || !ids.ready) return; // a later join uses them anyway
  const was = tracked.socketIdentity;
  const now = usable(identity);
  if (was && (!now || now.entity !== was.entity)) {
    // The session is the old entity's: it leaves (with that entity's token), and this tab
    // becomes another session, so the two never meet on the server.
    tracked.link.stop();
    tracked.beacon('leave', was, newSession());
    tracked.link.start();
  } else tracked.link.replace();
}

/** herenow.track({site, room, endpoint, entity, token, getToken, tokenUrl}) */
export const track = safe((options = {}) => {
  const endpoint = endpointOf(options.endpoint);
  const site = String(options.site || defaultSite());
  const room = roomOf(options.room);
  if (!site) return warnOnce('nosite', 'track() needs a site');
  let changedIdentity = false;
  if ('entity' in options) {
    const id = asIdentity(options.entity, { token: options.token, getToken: options.getToken, tokenUrl: options.tokenUrl }, 'track()');
    changedIdentity = !sameIdentity(id, identity);
    if (changedIdentity) setIdentity(id);
  }
  if (tracked && tracked.endpoint === endpoint && tracked.site === site) {
    if (room !== tracked.room) setRoom(room);
    else if (changedIdentity) identityChanged();
    return;
  }
  stop();
  setSession(new TrackedSession(endpoint, site, room));
  if (isVisible()) tracked.resume();
});

/** herenow.stop(): the tracked session leaves, and tracking ends. */
export const stop = safe(() => {
  if (!tracked) return;
  tracked.pause();
  tracked.dead = true;
  setSession(null);
});

/** herenow.setRoom(room): a single-page app navigated; the session moves. */
export const setRoom = safe((room) => {
  if (!tracked || (room = roomOf(room)) === tracked.room) return;
  tracked.room = room;
  tracked.data = undefined;
  setTracked(tracked); // its subscriptions move
  rejoin();
});

/** herenow.identify(entity, token | getToken | {token, getToken, tokenUrl}), identify(null) */
export const identify = safe((entity, token) => {
  const id = asIdentity(entity, token, 'identify()');
  if (sameIdentity(id, identity)) return;
  setIdentity(id);
  identityChanged();
});

/** herenow.signal(name): the tracked entity session shows `name` ("typing") to its watchers. */
export const signal = safe((name) => sendSignal(name, true));

/** herenow.signalEnd(name): the signal ends now rather than after its ttl. */
export const signalEnd = safe((name) => sendSignal(name, false));

function sendSignal(name, on) {
  name = String(name);
  if (!SIGNAL_NAME.test(name)) return warnOnce('sname ' + name, `signal("${name}"): a signal is named by 1-32 characters of a-z 0-9 _ -`);
  if (!tracked || !usable(identity)) {
    if (on) warnOnce('snoid', `signal("${name}"): only a tracked page with an entity (track({entity, token}) or identify()) sends signals`);
    return;
  }
  tracked.signal(name, on);
}

/** herenow.tracking */
export const tracking = () => (tracked ? { endpoint: tracked.endpoint, site: tracked.site, room: tracked.room } : null);

/** The tracked session's endpoint and site, the defaults of watch(). */
export const trackedEndpoint = () => (tracked ? tracked.endpoint : '');
export const trackedSite = () => (tracked ? tracked.site : '');

/** The session id is safe to use (see ids.js): the tracker may join now. */
export function idsReady() {
  if (tracked) tracked.go();
}
