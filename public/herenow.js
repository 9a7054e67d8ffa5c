/*! herenow.js: live presence ("42 online now") for any page. No dependencies, no build step.
 *
 * Track a page and load the element:
 *   <script src="https://HERENOW_HOST/herenow.js" data-site="example.com" defer></script>
 *     data-site          site key (tracking needs it; also the default site of <here-now>)
 *     data-room          room of this page (default: location.pathname)
 *     data-endpoint      herenow deployment (default: the origin this script was loaded from)
 *     data-track="false" load the library and <here-now> only, without tracking this page
 *
 * The tracked page holds ONE WebSocket, GET /v1/live?site&room&session&visitor, that is both its
 * session and its count feed (text "ping" every heartbeat). If the socket fails 3 times in a row
 * it falls back to POST /v1/ping (join/heartbeat/leave as text/plain JSON) and retries the socket
 * every 60 s. It joins while the page is visible and leaves (sendBeacon + close 1000) when it is
 * hidden or on pagehide. Ids: sessionStorage "herenow:session", localStorage "herenow:visitor"
 * (or the pv_id cookie). A socket close 1008/4xxx or an HTTP 4xx (not 429) stops with one
 * console.warn. Nothing here ever throws into the page.
 *
 * window.herenow
 *   subscribe({site, room, endpoint}, cb) -> unsubscribe()
 *       cb({site:{sessions,visitors}, room:{room,sessions,visitors}|null, self}) on every change;
 *       cb(null) while the server cannot be reached. self: this page's own session is counted
 *       in the subscribed scope (the room if one was given, else the site). Subscriptions to the
 *       tracked site (no room, or the tracked room) share the tracker's socket; others open a
 *       count-only socket (or poll GET /v1/count every 15 s) while anyone needs it.
 *   setRoom(room)                    SPA navigation: move the tracked session to another room
 *   track({site, room, endpoint})    start tracking from JS;  stop()  end it
 *   session, visitor                 this tab's and this browser's ids
 *   tracking                         {endpoint, site, room} or null
 *   document event "herenow:count"   detail: like cb's argument, plus endpoint and siteKey
 *
 * <here-now site room endpoint count exclude-self min text-zero text-one text-other ...>
 *   site           default: the tracked site (data-site);  endpoint: likewise
 *   room           count one room; without it, the whole site
 *   count          "sessions" (default: tabs, as "42 online now") or "visitors" (two tabs of
 *                  one browser count once; the right choice with exclude-self)
 *   exclude-self   leave the viewer out (minus 1 when this page is counted in that scope)
 *   min            hidden while the number is below min
 *   text-zero, text-one, text-other (and text-two, text-few, text-many): "{n}" is the number;
 *                  chosen with Intl.PluralRules of the nearest lang; default "{n} online now"
 *   text-loading   default "..." (U+2026);  text-offline  default: empty and hidden
 *   Sets data-state="loading|live|offline", role="status", aria-live="polite"; the class
 *   "herenow-changed" is toggled when the number changes (default style: a short fade).
 *   Any text that ends up empty hides the element.
 */
(() => {
  'use strict';
  const W = window, D = document;
  if (W.herenow) return; // loaded twice

  const HB = 15000, POLL = 15000, PROBE = 60000, STABLE = 10000, FAILS = 3;
  const SKEY = 'herenow:session', VKEY = 'herenow:visitor', ID = /^[\w-]{8,64}$/;
  const nop = () => {};
  const safe = f => (...a) => { try { return f(...a); } catch (e) { /* never into the page */ } };
  const warned = new Set();
  const warn = (k, m) => { if (!warned.has(k)) { warned.add(k); console.warn('herenow: ' + m); } };
  const backoff = n => Math.random() * Math.min(30000, 500 * 2 ** n); // full jitter

  // ---- ids ----
  const rid = p => {
    const b = new Uint8Array(10);
    try { crypto.getRandomValues(b); } catch (e) { b.forEach((_, i) => { b[i] = Math.random() * 256; }); }
    return p + Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
  };
  const keep = (area, key, fresh) => {
    let v = null;
    try { v = W[area].getItem(key); } catch (e) { /* storage blocked */ }
    if (!ID.test(v || '')) { v = fresh(); try { W[area].setItem(key, v); } catch (e) { /* in memory */ } }
    return v;
  };
  const cookie = () => { try { return (/(?:^|;\s*)pv_id=([\w-]{8,64})(?:;|$)/.exec(D.cookie) || [])[1]; } catch (e) { return null; } };
  const ids = { s: keep('sessionStorage', SKEY, () => rid('s_')), v: cookie() || keep('localStorage', VKEY, () => rid('v_')) };

  // ---- configuration from the script tag ----
  const me = D.currentScript || D.querySelector('script[src*="herenow"][data-site]') || D.querySelector('script[src*="herenow"]');
  const cfg = n => (me && me.getAttribute('data-' + n)) || '';
  let base = location.origin;
  try { base = new URL(me.src, location.href).origin; } catch (e) { /* inline: this origin */ }
  const endpointOf = e => {
    try { const u = new URL(e || cfg('endpoint') || base, location.href); return u.origin + u.pathname.replace(/\/+$/, ''); }
    catch (x) { return ''; }
  };
  const roomOf = r => String(r == null || r === '' ? location.pathname : r).slice(0, 256) || '/';
  const visible = () => D.visibilityState !== 'hidden' && !D.prerendering;
  const num = o => ({ sessions: +o.sessions || 0, visitors: +o.visitors || 0 });
  const view = (d, room, self) => ({ site: { ...d.site }, room: room == null || !d.room ? null : { ...d.room }, self });

  // ---- channels: one connection (socket, or HTTP fallback) per endpoint + site + room ----
  let T = null;       // the tracker's channel: a session in T.room, and a count feed
  let ready = false;  // the session id was checked against other tabs (a duplicated tab copies it)
  const chans = new Map(); // count-only channels
  const subs = new Set();

  class Chan {
    constructor(ep, site, room, track) {
      Object.assign(this, { ep, site, room, track, subs: new Set(), mode: 'ws', fails: 0, hf: 0, hb: HB,
        gen: 0, on: false, dead: false, ws: null, data: undefined, t: 0, p: 0, q: 0 });
    }
    params(sp) {
      sp.set('site', this.site);
      if (this.room != null) sp.set('room', this.room);
      if (this.track) { sp.set('session', ids.s); sp.set('visitor', ids.v); }
      return sp;
    }
    body(event) { return JSON.stringify({ site: this.site, room: this.room, session: ids.s, visitor: ids.v, event }); }
    later(f, ms) { clearTimeout(this.t); this.t = setTimeout(safe(f), ms); }
    clear() { clearTimeout(this.t); clearTimeout(this.q); clearInterval(this.p); this.gen++; }
    shut() { const ws = this.ws; this.ws = null; clearInterval(this.p); if (ws) try { ws.close(1000); } catch (e) { /* closed */ } }
    setMode(m) { this.mode = m; this.gen++; clearTimeout(this.t); }

    resume() { if (!this.on) { this.on = true; this.go(); } }
    pause() {
      if (!this.on) return;
      this.on = false; this.clear(); this.shut();
      if (this.track && !this.dead && ready) this.beacon('leave');
    }
    go() {
      if (!this.on || this.dead || (this.track && !ready)) return;
      if (this.mode === 'ws') this.open(); else { this.tick('join'); this.probe(); }
    }
    beacon(event) {
      const url = this.ep + '/v1/ping', body = this.body(event);
      try { if (navigator.sendBeacon(url, body)) return; } catch (e) { /* fall through */ }
      try { fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } }).catch(nop); } catch (e) { /* gone */ }
    }

    open() {
      this.shut();
      let ws, opened = 0, rx = 0;
      try {
        const u = new URL(this.ep + '/v1/live');
        u.protocol = u.protocol === 'http:' ? 'ws:' : 'wss:';
        this.params(u.searchParams);
        ws = this.ws = new WebSocket(u.href);
      } catch (e) { return this.lost(0); }
      const beat = () => {
        clearInterval(this.p);
        this.p = setInterval(safe(() => {
          if (Date.now() - rx > 2 * this.hb + 5000) { this.ws = null; ws.close(); return this.lost(opened); } // half-open
          ws.send('ping');
        }), this.hb);
      };
      ws.onopen = safe(() => {
        if (this.ws !== ws) return;
        opened = rx = Date.now();
        if (this.mode !== 'ws') this.setMode('ws'); // a probe worked: leave the HTTP fallback
        beat();
      });
      ws.onmessage = safe(e => {
        if (this.ws !== ws) return;
        rx = Date.now();
        if (typeof e.data !== 'string' || e.data === 'pong') return;
        const m = JSON.parse(e.data);
        if (!m || m.type !== 'count') return;
        if (m.heartbeat_ms >= 1000 && m.heartbeat_ms !== this.hb) { this.hb = m.heartbeat_ms; beat(); }
        this.emit(m);
      });
      ws.onclose = safe(e => {
        if (this.ws !== ws) return;
        this.ws = null;
        clearInterval(this.p);
        if (e.code === 1008 || (e.code >= 4000 && e.code < 5000)) {
          return this.kill(`the server closed the socket (${e.code}${e.reason ? ' ' + e.reason : ''})`);
        }
        this.lost(opened);
      });
    }
    lost(opened) {
      if (!this.on || this.dead) return;
      if (this.mode === 'http') return this.probe(); // a probe failed; HTTP carries on
      this.fails = opened && Date.now() - opened >= STABLE ? 0 : this.fails + 1;
      if (this.fails >= FAILS) { this.setMode('http'); this.go(); }
      else this.later(() => this.open(), backoff(this.fails));
    }
    probe() { clearTimeout(this.q); this.q = setTimeout(safe(() => { if (this.on && this.mode === 'http' && !this.ws) this.open(); }), PROBE); }

    async tick(event) { // HTTP fallback: a ping (tracker) or a count poll
      const gen = this.gen;
      let next = this.track ? this.hb : POLL;
      try {
        const r = await fetch(this.track ? this.ep + '/v1/ping' : this.ep + '/v1/count?' + this.params(new URLSearchParams()),
          this.track ? { method: 'POST', body: this.body(event), credentials: 'omit', headers: { 'Content-Type': 'text/plain' } }
            : { credentials: 'omit', cache: 'no-store' });
        const m = await r.json().catch(() => null);
        if (gen !== this.gen) return;
        if (r.ok && m) {
          if (m.heartbeat_ms >= 1000) next = this.hb = m.heartbeat_ms;
          this.hf = 0;
          this.emit(m);
        } else if (r.status >= 400 && r.status < 500 && r.status !== 429) {
          const err = (m && m.error) || {};
          return this.kill(`HTTP ${r.status} ${err.code || ''}${err.message ? ': ' + err.message : ''}`);
        } else {
          if (r.status !== 429) this.emit(null);
          next = 1000 + backoff(++this.hf);
        }
      } catch (e) {
        if (gen !== this.gen) return;
        this.emit(null);
        next = 1000 + backoff(++this.hf);
      }
      if (this.on && this.mode === 'http') this.later(() => this.tick('heartbeat'), next);
    }

    kill(why) {
      this.dead = true; this.clear(); this.shut();
      warn(this.ep + ' ' + this.site, `${this.track ? 'tracking' : 'counts'} stopped for site "${this.site}": ${why}`);
      this.emit(null);
    }
    emit(m) {
      const d = m && m.site ? { site: num(m.site), room: m.room ? { room: String(m.room.room ?? this.room), ...num(m.room) } : null } : null;
      if (d === null && this.data === null) return;
      this.data = d;
      for (const s of this.subs) s.push();
      if (d) D.dispatchEvent(new CustomEvent('herenow:count', { detail: { ...view(d, this.room, !!this.track), endpoint: this.ep, siteKey: this.site } }));
    }
  }

  // ---- subscriptions, routed to the tracker's channel when they can share it ----
  class Sub {
    constructor(o, cb) { this.o = o; this.cb = cb; this.ch = null; }
    push() {
      const c = this.ch, d = c && c.data;
      if (d === undefined || !subs.has(this)) return;
      try { this.cb(d && view(d, this.room, !!c.track)); } catch (e) { (W.reportError || console.error)(e); }
    }
  }
  function target(s) {
    const o = s.o;
    s.ep = endpointOf(o.endpoint || (T ? T.ep : ''));
    s.site = String(o.site || (T ? T.site : cfg('site')));
    s.room = o.room == null || o.room === '' ? null : String(o.room);
    if (T && s.ep === T.ep && s.site === T.site && (s.room == null || s.room === T.room)) return T;
    const k = JSON.stringify([s.ep, s.site, s.room]);
    let c = chans.get(k);
    if (!c) {
      chans.set(k, c = new Chan(s.ep, s.site, s.room, false));
      if (!s.site) c.kill('no site: set data-site on the script or site on <here-now>');
      else if (visible()) c.resume();
    }
    return c;
  }
  function sync() {
    for (const s of subs) {
      const c = target(s);
      if (c === s.ch) continue;
      if (s.ch) s.ch.subs.delete(s);
      (s.ch = c).subs.add(s);
      queueMicrotask(safe(() => { if (s.ch === c) s.push(); }));
    }
    for (const [k, c] of chans) if (!c.subs.size) { c.pause(); chans.delete(k); }
  }

  function subscribe(o, cb) {
    try {
      if (typeof cb !== 'function') return nop;
      const s = new Sub({ ...o }, cb);
      subs.add(s);
      sync();
      return () => safe(() => { if (subs.delete(s)) { if (s.ch) s.ch.subs.delete(s); sync(); } })();
    } catch (e) { return nop; }
  }
  const track = safe((o = {}) => {
    const ep = endpointOf(o.endpoint), site = String(o.site || cfg('site')), room = roomOf(o.room);
    if (!site) return warn('nosite', 'track() needs a site');
    if (T && T.ep === ep && T.site === site) return setRoom(room);
    stop();
    T = new Chan(ep, site, room, true);
    sync();
    if (visible()) T.resume();
  });
  const stop = safe(() => {
    if (!T) return;
    T.pause(); T.dead = true; T = null;
    sync();
  });
  const setRoom = safe(r => {
    if (!T || (r = roomOf(r)) === T.room) return;
    T.room = r; T.data = undefined;
    sync();
    if (!T.on || T.dead || !ready) return; // a later join uses the new room
    if (T.mode === 'ws') { T.clear(); T.open(); } // the server moves the session with the new socket
    else { T.gen++; T.tick('heartbeat'); } // a heartbeat may carry a different room
  });

  // ---- page lifecycle: present only while visible ----
  const all = () => (T ? [T] : []).concat([...chans.values()]);
  const show = safe(() => { if (visible()) { tabs(); all().forEach(c => c.resume()); } });
  const hide = safe(() => all().forEach(c => c.pause()));
  D.addEventListener('visibilitychange', () => (visible() ? show() : hide()));
  D.addEventListener('prerenderingchange', show);
  W.addEventListener('pagehide', () => { hide(); if (bc) { bc.close(); bc = null; } });
  W.addEventListener('pageshow', e => { if (e.persisted) show(); });
  W.addEventListener('online', safe(() => all().forEach(c => { if (c.on && !c.dead && !c.ws) { c.clear(); c.go(); } })));

  // A duplicated tab copies sessionStorage: ask other tabs whether our session id is theirs.
  let bc = null;
  function tabs() {
    if (bc || !W.BroadcastChannel) return;
    try {
      bc = new BroadcastChannel('herenow:tabs');
      bc.onmessage = safe(e => {
        const m = e.data || {};
        if (ready && m.q === ids.s) bc.postMessage({ dup: m.q });
        else if (!ready && m.dup === ids.s) { ids.s = rid('s_'); try { sessionStorage.setItem(SKEY, ids.s); } catch (x) { /* memory */ } }
      });
    } catch (e) { bc = null; }
  }
  try { tabs(); if (bc) bc.postMessage({ q: ids.s }); } catch (e) { /* alone */ }
  setTimeout(safe(() => { ready = true; if (T) T.go(); }), bc ? 60 : 0);

  // ---- <here-now> ----
  const CSS = ':where(here-now){font-variant-numeric:tabular-nums}here-now[hidden]{display:none}' +
    '@keyframes herenow-changed{from{opacity:.25}}:where(here-now.herenow-changed){animation:herenow-changed .7s ease-out}' +
    '@media (prefers-reduced-motion:reduce){:where(here-now.herenow-changed){animation:none}}';
  const intl = {};
  const langOf = el => { const l = (el.closest('[lang]') || D.documentElement).lang || 'en'; try { return Intl.getCanonicalLocales(l)[0]; } catch (e) { return 'en'; } };
  const plural = (l, n) => (intl['p' + l] = intl['p' + l] || new Intl.PluralRules(l)).select(n);
  const fmt = (l, n) => (intl['n' + l] = intl['n' + l] || new Intl.NumberFormat(l)).format(n);

  class HereNow extends HTMLElement {
    static get observedAttributes() {
      return ['site', 'room', 'endpoint', 'count', 'exclude-self', 'min', 'text-loading', 'text-offline']
        .concat(['zero', 'one', 'two', 'few', 'many', 'other'].map(c => 'text-' + c));
    }
    connectedCallback() {
      try {
        this.on = true;
        if (!this.hasAttribute('role')) this.setAttribute('role', 'status');
        if (!this.hasAttribute('aria-live')) this.setAttribute('aria-live', 'polite');
        this.listen();
      } catch (e) { /* never into the page */ }
    }
    disconnectedCallback() { try { this.on = false; if (this.off) this.off(); this.off = null; } catch (e) { /* ignore */ } }
    attributeChangedCallback(name, was, now) {
      try {
        if (!this.on || was === now) return;
        if (name === 'site' || name === 'room' || name === 'endpoint') this.listen(); else this.draw();
      } catch (e) { /* never into the page */ }
    }
    listen() { // subscribe before unsubscribing, so that a shared connection stays open
      const a = n => this.getAttribute(n), off = this.off;
      this.d = undefined;
      this.draw();
      this.off = subscribe({ site: a('site'), room: a('room'), endpoint: a('endpoint') }, d => { this.d = d; this.draw(); });
      if (off) off();
    }
    draw() {
      const d = this.d, a = n => this.getAttribute(n);
      let text, n = null;
      if (d === undefined) text = a('text-loading') ?? '\u2026';
      else if (!d) text = a('text-offline') ?? '';
      else {
        const c = (a('room') ? d.room : d.site) || {}, l = langOf(this);
        n = Math.max(0, (c[a('count') === 'visitors' ? 'visitors' : 'sessions'] || 0) - (d.self && this.hasAttribute('exclude-self') ? 1 : 0));
        const cat = n === 0 && a('text-zero') != null ? 'zero' : plural(l, n);
        text = (a('text-' + cat) ?? a('text-other') ?? '{n} online now').replace(/\{n\}/g, fmt(l, n));
      }
      const state = d === undefined ? 'loading' : d ? 'live' : 'offline';
      if (this.getAttribute('data-state') !== state) this.setAttribute('data-state', state);
      if (this.textContent !== text) this.textContent = text;
      const hide = !text || (n !== null && n < (parseFloat(a('min')) || 0));
      if (this.hidden !== hide) this.hidden = hide;
      if (n !== null && this.n != null && n !== this.n) {
        this.classList.remove('herenow-changed');
        void this.offsetWidth; // restart the animation
        this.classList.add('herenow-changed');
        clearTimeout(this.ta);
        this.ta = setTimeout(() => this.classList.remove('herenow-changed'), 1000);
      }
      if (n !== null) this.n = n;
    }
  }

  W.herenow = Object.freeze({
    subscribe, setRoom, track, stop,
    get session() { return ids.s; },
    get visitor() { return ids.v; },
    get tracking() { return T ? { endpoint: T.ep, site: T.site, room: T.room } : null; },
  });

  try {
    if (cfg('site') && cfg('track') !== 'false') track({ site: cfg('site'), room: cfg('room'), endpoint: cfg('endpoint') });
  } catch (e) { /* never into the page */ }
  try {
    if (W.customElements && !customElements.get('here-now')) {
      try { const s = new CSSStyleSheet(); s.replaceSync(CSS); D.adoptedStyleSheets = [s, ...D.adoptedStyleSheets]; }
      catch (e) { const s = D.createElement('style'); s.textContent = CSS; (D.head || D.documentElement).prepend(s); }
      customElements.define('here-now', HereNow);
    }
  } catch (e) { /* never into the page */ }
})();
