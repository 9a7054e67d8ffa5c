// Tokens that renew themselves. A feed that needs a token (the tracked identity's track token,
// a status or members feed's watch token) holds a TokenSource: a token given once, and
// optionally a way to get a new one (the page's `getToken()`, or an element's `token-url`).
//
// - A source with a way to get tokens replaces its token before it expires: at its `exp` less
//   RENEW_LEAD_MS, or less a tenth of its life when that is shorter, by this browser's clock
//   (and, when the token has `iat`, never later than that lifetime counted from when it arrived,
//   so that a browser clock running late does not hold a renewal back).
// - It is asked again after the server refused the token with `bad_token` (`refused()`): a fresh
//   token is tried once; a fresh token that is refused too is final, so a back end that hands
//   out bad tokens cannot make a feed loop.
// - A failing getToken (the back end is down) is retried with a growing delay; meanwhile the
//   feeds keep the token they have.
// - A socket's rights end with its token's `exp` (and 30 s of leeway): a renewal is sent on the
//   feeds' open sockets (`token <jwt>`), and carried by the next connection or HTTP exchange,
//   so nothing is reconnected for it. A socket the server closed for its token (4001) is
//   reconnected with a fresh one.
// - Sources are shared by what they are made of (the same getToken function, the same
//   token-url, the same token), and hold their timer only while some feed uses them.

import { reportError, safe, warnOnce } from './util.js';

/** Renew at most this long before `exp`... */
const RENEW_LEAD_MS = 60000;
/** ...or a tenth of the token's life before it, when that is shorter. */
const RENEW_FRACTION = 0.1;
/** Tokens that are due as soon as they arrive are renewed no faster than this, doubling. */
const DUE_DELAY_MS = 1000;
/** A failed getToken is tried again after 1 s, 2 s, 4 s, ... at most this. */
const RETRY_MAX_MS = 60000;
/** How long a feed waits for a first token before it goes on without one. */
export const FIRST_TOKEN_WAIT_MS = 10000;

/** The claims of a JWT, unverified (only the server can check them): null when unreadable. */
export function claimsOf(token) {
  try {
    const payload = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
  } catch (e) {
    return null;
  }
}

/** In how many ms a token that arrived at `receivedAt` should be replaced; Infinity without `exp`. */
export function renewDelay(token, receivedAt = Date.now()) {
  const claims = claimsOf(token);
  if (!claims || typeof claims.exp !== 'number' || !isFinite(claims.exp)) return Infinity;
  const exp = claims.exp * 1000;
  const iat = typeof claims.iat === 'number' && claims.iat * 1000 < exp ? claims.iat * 1000 : null;
  const life = Math.max(0, exp - (iat ?? receivedAt));
  const lead = Math.min(RENEW_LEAD_MS, life * RENEW_FRACTION);
  const byClock = exp - lead - Date.now();
  // With iat, the token's own lifetime counted from its arrival: a browser clock behind the
  // back end's would otherwise renew after the server has stopped accepting it.
  const byLife = iat == null ? Infinity : exp - lead - iat - (Date.now() - receivedAt);
  return Math.min(byClock, byLife);
}

/** A getToken for a URL: GET it; the answer is the token as text, or JSON `{"token": ...}`. */
function fetchFrom(url) {
  return async () => {
    const response = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json, text/plain' } });
    if (!response.ok) throw new Error(`token-url ${url}: HTTP ${response.status}`);
    const text = (await response.text()).trim();
    if (text.startsWith('{')) {
      const body = JSON.parse(text);
      return body && body.token;
    }
    return text.replace(/^"|"$/g, '');
  };
}

const sources = new Map(); // key -> TokenSource
const fnIds = new WeakMap(); // getToken function -> a number for its key
let nextFnId = 1;

export class TokenSource {
  constructor(key, fetcher, token, what) {
    this.key = key;
    this.fetcher = fetcher; // () => Promise<string>, or null: the token is all there is
    this.what = what; // for warnings: "watch token", "track token"
    this.token = token || '';
    this.receivedAt = Date.now();
    this.users = 0;
    this.pending = null; // the getToken in flight
    this.timer = 0;
    this.failures = 0; // getToken failures in a row
    this.dueRenewals = 0; // renewals in a row of tokens that were due on arrival
    this.afterRefusal = ''; // the token fetched because the server refused the one before
    this.listeners = new Set();
  }

  /** Can get new tokens (getToken or token-url). */
  get renews() {
    return !!this.fetcher;
  }

  /** A feed starts using the source: it renews from now on (at once if it has no token yet). */
  use() {
    this.users++;
    if (this.users === 1) this.schedule();
  }

  /** A feed stopped using it; the last one stops its timer. */
  release() {
    if (--this.users > 0) return;
    this.users = 0;
    clearTimeout(this.timer);
    if (sources.get(this.key) === this) sources.delete(this.key);
  }

  /** `fn(token)` after each new token; returns a function that stops it. */
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves once a token is there (or getting one failed, or `waitMs` passed). */
  ready(waitMs = FIRST_TOKEN_WAIT_MS) {
    if (this.token || !this.fetcher) return Promise.resolve(this.token);
    return Promise.race([this.renew(), new Promise((resolve) => setTimeout(() => resolve(this.token), waitMs))]);
  }

  /** Gets a new token now (one getToken at a time); resolves to the token, '' when that failed. */
  renew() {
    if (!this.fetcher) return Promise.resolve(this.token);
    if (this.pending) return this.pending;
    clearTimeout(this.timer);
    this.pending = Promise.resolve()
      .then(() => this.fetcher())
      .then((token) => {
        token = typeof token === 'string' ? token.trim() : '';
        if (!token) throw new TypeError('getToken() gave no token (it must resolve to a JWT string)');
        this.failures = 0;
        const due = renewDelay(token) <= 0;
        this.dueRenewals = due ? this.dueRenewals + 1 : 0;
        if (due) {
          warnOnce('tdue ' + this.key, `the ${this.what} from getToken()/token-url expires within a minute by this browser's clock; renewing it with a growing delay (is the back end's or this computer's clock wrong?)`);
        }
        this.set(token);
        return token;
      })
      .catch((error) => {
        this.failures++;
        warnOnce('tfail ' + this.key, `getting a new ${this.what} failed (${(error && error.message) || error}); trying again with a growing delay`);
        return '';
      })
      .then((token) => {
        this.pending = null;
        this.schedule();
        return token;
      });
    return this.pending;
  }

  set(token) {
    const changed = token !== this.token;
    this.token = token;
    this.receivedAt = Date.now();
    if (!changed) return;
    for (const fn of [...this.listeners]) {
      try {
        fn(token);
      } catch (e) {
        reportError(e);
      }
    }
  }

  /** The next renewal: before the token expires, or a retry after a failure. */
  schedule() {
    clearTimeout(this.timer);
    if (!this.fetcher || !this.users || this.pending) return;
    let delay;
    if (this.failures) delay = Math.min(RETRY_MAX_MS, 1000 * 2 ** (this.failures - 1));
    else if (!this.token) delay = 0;
    else {
      delay = renewDelay(this.token, this.receivedAt);
      if (delay <= 0) delay = this.dueRenewals ? Math.min(RETRY_MAX_MS, DUE_DELAY_MS * 2 ** (this.dueRenewals - 1)) : 0;
    }
    if (delay === Infinity) return;
    // setTimeout holds at most 2^31-1 ms (24.8 days): a later renewal is scheduled again then
    const wait = Math.min(delay, 2147483647);
    this.timer = setTimeout(safe(() => (wait < delay ? this.schedule() : this.renew())), wait);
  }

  /** A background tab's timers run late: renew now if the token is due (the page is shown). */
  checkDue() {
    if (this.fetcher && this.users && this.token && !this.pending && renewDelay(this.token, this.receivedAt) <= 0) this.renew();
  }

  /** The server accepted `token` (a socket opened, an answer came): a later refusal may renew again. */
  accepted(token) {
    if (token && token === this.afterRefusal) this.afterRefusal = '';
  }

  /**
   * The server refused `token` with bad_token. Resolves to `{token}`: a fresh one to try; or
   * `{failed: true}`: none could be had for now (getToken failed; try later); or `{}`: final
   * (no way to renew, getToken gave the same token, or the token refused was already a fresh
   * one fetched after a refusal).
   */
  async refused(token) {
    if (!this.fetcher) return {};
    if (token !== this.token && this.token) return { token: this.token }; // renewed meanwhile
    if (this.afterRefusal && token === this.afterRefusal) return {};
    const fresh = await this.renew();
    if (!fresh) return { failed: true };
    if (fresh === token) return {};
    this.afterRefusal = fresh;
    return { token: fresh };
  }
}

/**
 * The source of a token option: `{token, getToken, tokenUrl}` (any of them). Null when there is
 * neither a token nor a way to get one. Sources are shared by what they are made of.
 */
export function tokenSource({ token, getToken, tokenUrl } = {}, what = 'token') {
  token = token == null ? '' : String(token).trim();
  let fetcher = null;
  let key;
  if (typeof getToken === 'function') {
    if (!fnIds.has(getToken)) fnIds.set(getToken, nextFnId++);
    key = 'f' + fnIds.get(getToken);
    fetcher = getToken;
  } else if (tokenUrl) {
    let url;
    try {
      url = new URL(String(tokenUrl), location.href).href;
    } catch (e) {
      warnOnce('turl ' + tokenUrl, `token-url "${tokenUrl}" is not a URL`);
      url = '';
    }
    if (url) {
      key = 'u' + url;
      fetcher = fetchFrom(url);
    }
  }
  if (!fetcher) {
    if (!token) return null;
    key = 't' + token;
  }
  let source = sources.get(key);
  if (!source) sources.set(key, (source = new TokenSource(key, fetcher, token, what)));
  else if (token && !source.token) source.set(token);
  return source;
}

/** The page is shown again: renew whatever fell due while its timers were held back. */
export function checkTokensDue() {
  sources.forEach((s) => s.checkDue());
}

/**
 * What to do after the server refused `token` of `source` with `error` (`{code}`): 'again' (a
 * fresh token is there to try), 'failed' (none can be had for now: try later), or 'final'.
 */
export async function afterRefusal(source, token, error) {
  if (!source || error.code !== 'bad_token') return 'final';
  const next = await source.refused(token);
  return next.token ? 'again' : next.failed ? 'failed' : 'final';
}
