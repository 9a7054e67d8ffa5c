/*! herenow.js: live presence ("42 online now", "Online", "Last seen 5 min ago") for any page.
 * No dependencies, no build step.
 *
 * Track a page and load the elements:
 *   <script src="https://HERENOW_HOST/herenow.js" data-site="example.com" defer></script>
 *     data-site          site key (tracking needs it; also the default site of the elements)
 *     data-room          room of this page (default: location.pathname)
 *     data-endpoint      herenow deployment (default: the origin this script was loaded from)
 *     data-track="false" load the library and the elements only, without tracking this page
 *     data-entity        who this page's session is, e.g. "user:42" (needs data-token)
 *     data-token         a track token for that entity: a JWT your back end signs (HS256, the
 *                        site's secret) with {"site","sub":<entity>,"scope":"track","exp"}
 *
 * The tracked page holds ONE WebSocket, GET /v1/live?site&room&session&visitor[&entity&token],
 * that is both its session and its count feed (text "ping" every heartbeat). If the socket fails
 * 3 times in a row it falls back to POST /v1/ping (join/heartbeat/leave as text/plain JSON, with
 * entity and token when identified) and retries the socket every 60 s. It joins while the page is
 * visible and leaves (sendBeacon + close 1000) when it is hidden or on pagehide. Ids:
 * sessionStorage "herenow:session", localStorage "herenow:visitor" (or the pv_id cookie). A socket
 * close 1008/4xxx or an HTTP 4xx (not 429) stops with one console.warn. An identity the server
 * refuses (401 bad_token, e.g. an expired token; 403 entities_disabled) is dropped with one
 * console.warn and the page goes on counting anonymously. Nothing here ever throws into the page.
 *
 * window.herenow
 *   subscribe({site, room, endpoint}, cb) -> unsubscribe()
 *       cb({site:{sessions,visitors}, room:{room,sessions,visitors}|null, self}) on every change;
 *       cb(null) while the server cannot be reached. self: this page's own session is counted
 *       in the subscribed scope (the room if one was given, else the site). Subscriptions to the
 *       tracked site (no room, or the tracked room) share the tracker's socket; others open a
 *       count-only socket (or poll GET /v1/count every 15 s) while anyone needs it.
 *   identify(entity, token)          the tracked session carries this entity from now on (it
 *                                    re-joins at once); identify(null) drops it (log-out). Call it
 *                                    again with a fresh token before the old one expires.
 *   watch({site, endpoint, token, entities: [...]}, cb) -> unsubscribe()
 *       the status of entities, with a watch token ({"scope":"watch","watch":[ids or "prefix*"]}).
 *       cb({entity, online, sessions, last_seen}) for each entity at once (when known) and on
 *       every change; last_seen is epoch ms or null. When it cannot be known, cb gets
 *       {entity, online: null, sessions: null, last_seen, error} with error "unreachable" (for
 *       now; it retries) or the server's code ("bad_token", "not_watchable", ...: final).
 *       Watches with the same endpoint, site and token share one socket
 *       (GET /v1/live?site&watch=a,b&token; polls GET /v1/status every 15 s if sockets fail).
 *   setRoom(room)                    SPA navigation: move the tracked session to another room
 *   track({site, room, endpoint, entity, token})  start tracking from JS;  stop()  end it
 *   session, visitor                 this tab's and this browser's ids
 *   identity                         the entity this page carries, or null
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
 *
 * <here-now-status entity="user:42" token="<watch jwt>" site endpoint text-...>
 *   A dot and "Online" / "Online on 2 devices" / "Last seen 5 minutes ago" / "Offline".
 *   entity, token  required: the entity, and a watch token that lists it
 *   site           default: the tracked site (data-site);  endpoint: likewise
 *   text-online       default "Online"
 *   text-online-many  default "Online on {n} devices" (sessions >= 2; "{n}" is the number)
 *   text-last-seen    default "Last seen {ago}"; {ago} from Intl.RelativeTimeFormat of the
 *                     nearest lang (numeric "auto"), kept current as time passes
 *   text-offline      default "Offline" (never seen, or no last-seen time)
 *   text-loading      default "..." (U+2026);  text-unavailable  default "Status unavailable"
 *   Sets data-status="online|offline" (absent while unknown) and
 *   data-state="loading|live|unreachable|error" (error: the token or entity was refused; see
 *   the console), role="status", aria-live="polite". Style: the dot is ::before, coloured by
 *   the custom properties --herenow-online (green) and --herenow-offline (grey); every default
 *   rule is in :where(), so any page rule wins. Elements sharing endpoint, site and token share
 *   one socket.
 */
(() => {
  'use strict';
  const W = window, D = document;
  if (W.herenow) return; // loaded twice

  const HB = 15000, POLL = 15000, PROBE = 60000, STABLE = 10000, FAILS = 3, MAXW = 100, MAXBODY = 1024;
  const SKEY = 'herenow:session', VKEY = 'herenow:visitor', ID = /^[\w-]{8,64}$/, EID = /^[\w.:@-]{1,128}$/;
  // Answers that mean "the identity was refused", not "this page may not be counted".
  const IDCODES = new Set(['bad_token', 'entities_disabled', 'bad_request', 'too_large']);
  const nop = () => {};
  const safe = f => (...a) => { try { return f(...a); } catch (e) { /* never into the page */ } };
  const warned = new Set();
  const warn = (k, m) => { if (!warned.has(k)) { warned.add(k); console.warn('herenow: ' + m); } };
  const backoff = n => Math.random() * Math.min(30000, 500 * 2 ** n); // full jitter
  const refusal = c => c === 1008 || (c >= 4000 && c < 5000); // a socket closed on purpose
  const wsUrl = (ep, sp) => { const u = new URL(ep + '/v1/live'); u.protocol = u.protocol === 'http:' ? 'ws:' : 'wss:'; u.search = sp; return u.href; };
  const within = ms => (AbortSignal.timeout ? { signal: AbortSignal.timeout(ms) } : {});
  const errOf = (r, m) => { const e = (m && m.error) || {}; return { code: e.code || 'http_' + r.status, text: `HTTP ${r.status} ${e.code || ''}${e.message ? ': ' + e.message : ''}` }; };

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

  // ---- identity: the entity the tracked session carries, proven by a track token ----
  let ident = null; // {entity, token}
  const asIdent = (entity, token, where) => {
    if (entity == null || entity === '') return null;
    entity = String(entity); token = token == null ? '' : String(token);
    if (!EID.test(entity)) return warn('eid ' + entity, `${where}: "${entity}" is not an entity id (1-128 characters of A-Z a-z 0-9 . _ : @ -); counting this page anonymously`), null;
    if (!token) return warn('etok ' + entity, `${where}: the entity "${entity}" needs a track token; counting this page anonymously`), null;
    return { entity, token };
  };
  const sameId = (a, b) => a === b || (!!a && !!b && a.entity === b.entity && a.token === b.token);
  const dropIdent = (id, why) => { // the server refused it: carry on without
    if (!id || ident !== id) return false;
    ident = null;
    warn('eref ' + id.token, `identity "${id.entity}" dropped (${why}); counting this page anonymously`);
    return true;
  };

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
    params(sp, id) {
      sp.set('site', this.site);
      if (this.room != null) sp.set('room', this.room);
      if (this.track) { sp.set('session', ids.s); sp.set('visitor', ids.v); }
      if (id) { sp.set('entity', id.entity); sp.set('token', id.token); }
      return sp;
    }
    body(event, id, session = ids.s) {
      const o = { site: this.site, room: this.room, session, visitor: ids.v, event };
      const b = JSON.stringify(o);
      if (!id) return b;
      const w = JSON.stringify({ ...o, entity: id.entity, token: id.token });
      if (new TextEncoder().encode(w).length <= MAXBODY) return w;
      warn('elong ' + id.token, `identity "${id.entity}": the token makes pings longer than 1 KiB; HTTP pings go without it`);
      return b;
    }
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
      const url = this.ep + '/v1/ping', body = this.body(event, this.track && ident);
      try { if (navigator.sendBeacon(url, body)) return; } catch (e) { /* fall through */ }
      try { fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit', headers: { 'Content-Type': 'text/plain' } }).catch(nop); } catch (e) { /* gone */ }
    }

    open() {
      this.shut();
      let ws, opened = 0, rx = 0;
      const id = this.track ? ident : null;
      try { ws = this.ws = new WebSocket(wsUrl(this.ep, this.params(new URLSearchParams(), id))); }
      catch (e) { return this.lost(0); }
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
        const end = () => (refusal(e.code)
          ? this.kill(`the server closed the socket (${e.code}${e.reason ? ' ' + e.reason : ''})`)
          : this.lost(opened));
        // A refused upgrade looks like any failed connection: ask over HTTP whether the identity was the cause.
        if (id && ident === id && (!opened || refusal(e.code))) return this.vet(id, end);
        end();
      });
    }
    vet(id, otherwise) { // a leave for a fresh session id changes nothing, but its answer says whether the token is good
      const gen = this.gen;
      fetch(this.ep + '/v1/ping', { method: 'POST', body: this.body('leave', id, rid('s_')), credentials: 'omit', headers: { 'Content-Type': 'text/plain' }, ...within(5000) })
        .then(async r => (r.status >= 400 && r.status < 500 && r.status !== 429 ? errOf(r, await r.json().catch(() => null)) : null), () => null)
        .then(safe(err => {
          if (gen !== this.gen || !this.on || this.dead || this.ws) return;
          if (err && IDCODES.has(err.code) && dropIdent(id, err.text)) return this.open(); // again, anonymously
          otherwise();
        }));
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
      const gen = this.gen, id = this.track ? ident : null;
      let next = this.track ? this.hb : POLL;
      try {
        const r = await fetch(this.track ? this.ep + '/v1/ping' : this.ep + '/v1/count?' + this.params(new URLSearchParams()),
          this.track ? { method: 'POST', body: this.body(event, id), credentials: 'omit', headers: { 'Content-Type': 'text/plain' } }
            : { credentials: 'omit', cache: 'no-store' });
        const m = await r.json().catch(() => null);
        if (gen !== this.gen) return;
        if (r.ok && m) {
          if (m.heartbeat_ms >= 1000) next = this.hb = m.heartbeat_ms;
          this.hf = 0;
          this.emit(m);
        } else if (r.status >= 400 && r.status < 500 && r.status !== 429) {
          const err = errOf(r, m);
          if (id && IDCODES.has(err.code) && dropIdent(id, err.text)) return this.tick(event); // again, anonymously
          return this.kill(err.text);
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
    let moved = false;
    if ('entity' in o) { const id = asIdent(o.entity, o.token, 'track()'); moved = !sameId(id, ident); ident = id; }
    if (T && T.ep === ep && T.site === site) return room !== T.room ? setRoom(room) : moved && rejoin();
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
  const rejoin = () => {
    if (!T || !T.on || T.dead || !ready) return; // a later join uses the new room and identity
    if (T.mode === 'ws') { T.clear(); T.open(); } // the server moves the session with the new socket
    else { T.gen++; T.tick('join'); } // an HTTP ping may carry a different room or identity
  };
  const setRoom = safe(r => {
    if (!T || (r = roomOf(r)) === T.room) return;
    T.room = r; T.data = undefined;
    sync();
    rejoin();
  });
  const identify = safe((entity, token) => {
    const id = asIdent(entity, token, 'identify()');
    if (sameId(id, ident)) return;
    ident = id;
    rejoin();
  });

  // ---- entity status: one watcher (socket, or polling) per endpoint + site + watch token ----
  const watchers = new Map();
  const claimsOf = t => {
    try { return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0)))); }
    catch (e) { return null; }
  };
  const lists = (c, e) => !c || !Array.isArray(c.watch) ||
    c.watch.some(p => typeof p === 'string' && (p.endsWith('*') ? e.startsWith(p.slice(0, -1)) : p === e));
  const same = (a, b) => a.online === b.online && a.sessions === b.sessions && a.last_seen === b.last_seen && a.error === b.error;
  const chunks = l => { const o = []; for (let i = 0; i < l.length; i += MAXW) o.push(l.slice(i, i + MAXW)); return o; };

  class Watch {
    constructor(key, ep, site, token) {
      Object.assign(this, { key, ep, site, token, claims: claimsOf(token), subs: new Set(), st: new Map(), bad: new Map(),
        list: [], socks: [], mode: 'ws', fails: 0, hf: 0, hb: HB, gen: 0, on: false, dead: null, t: 0, q: 0, r: 0 });
    }
    add(s) {
      this.subs.add(s);
      for (const e of s.ents) {
        if (!this.dead && !this.bad.has(e) && !lists(this.claims, e)) {
          this.bad.set(e, 'not_watchable');
          warn('nw ' + e + this.token, `the watch token does not list "${e}"`);
        }
        const err = this.dead || this.bad.get(e);
        if (err) this.st.set(e, { entity: e, online: null, sessions: null, last_seen: null, error: err });
        const known = this.st.get(e);
        if (known) queueMicrotask(() => { if (this.subs.has(s) && this.st.get(e) === known) s.push(known); });
      }
      this.sync();
    }
    remove(s) { if (this.subs.delete(s)) this.sync(); }
    wanted() {
      const w = new Set();
      for (const s of this.subs) for (const e of s.ents) if (!this.bad.has(e)) w.add(e);
      return [...w].sort();
    }
    sync() { // batched: one (re)connect for all the elements a page adds at once
      clearTimeout(this.r);
      this.r = setTimeout(safe(() => {
        if (!this.subs.size) return this.end();
        if (this.dead || pagehidden) return;
        const want = this.wanted(), have = new Set(this.list);
        if (!want.length || (this.on && want.every(e => have.has(e)))) return;
        this.on = true;
        this.restart();
      }), 0);
    }
    end() { this.on = false; this.stopAll(); watchers.delete(this.key); }
    stopAll() { this.gen++; clearTimeout(this.t); clearTimeout(this.q); this.shut(); }
    restart() {
      this.stopAll();
      this.list = this.wanted();
      if (!this.on || this.dead || !this.list.length) return;
      if (this.mode === 'ws') this.connect(); else { this.loop(); this.probe(); }
    }
    later(f, ms) { clearTimeout(this.t); this.t = setTimeout(safe(f), ms); }
    shut() {
      const s = this.socks; this.socks = [];
      for (const k of s) { clearInterval(k.p); const ws = k.ws; k.ws = null; if (ws) try { ws.close(1000); } catch (e) { /* closed */ } }
    }

    connect() {
      this.shut();
      this.list = this.wanted();
      for (const l of chunks(this.list)) this.sock(l);
    }
    sock(list) {
      const k = { ws: null, opened: 0, rx: 0, sent: 0, p: 0 };
      this.socks.push(k);
      let ws;
      try { ws = k.ws = new WebSocket(wsUrl(this.ep, new URLSearchParams({ site: this.site, watch: list.join(','), token: this.token }))); }
      catch (e) { k.ws = null; return queueMicrotask(safe(() => this.lost(k, 0))); }
      ws.onopen = safe(() => {
        if (k.ws !== ws) return;
        k.opened = k.rx = Date.now();
        if (this.mode !== 'ws') { this.mode = 'ws'; this.gen++; clearTimeout(this.t); clearTimeout(this.q); } // a probe worked
        this.beat(k);
      });
      ws.onmessage = safe(e => {
        if (k.ws !== ws) return;
        k.rx = Date.now();
        if (typeof e.data !== 'string' || e.data === 'pong') return;
        const m = JSON.parse(e.data);
        if (!m) return;
        if (m.type === 'status' && typeof m.entity === 'string') this.set(m);
        else if (m.type === 'count' && m.heartbeat_ms >= 1000 && m.heartbeat_ms !== this.hb) {
          this.hb = m.heartbeat_ms;
          for (const s of this.socks) if (s.opened) this.beat(s);
        }
      });
      ws.onclose = safe(e => {
        if (k.ws !== ws) return;
        k.ws = null;
        clearInterval(k.p);
        this.lost(k, e.code);
      });
    }
    beat(k) {
      clearInterval(k.p);
      k.p = setInterval(safe(() => {
        const ws = k.ws, now = Date.now();
        if (!ws) return clearInterval(k.p);
        if (k.sent > k.rx) { // the last ping has no answer yet
          if (now - k.sent < Math.max(5000, this.hb)) return;
          k.ws = null; clearInterval(k.p); try { ws.close(); } catch (e) { /* gone */ }
          return this.lost(k, 0); // half-open
        }
        k.sent = now;
        ws.send('ping');
      }), this.hb);
    }
    lost(k, code) {
      if (!this.on || this.dead) return;
      this.shut(); // the other sockets of this watcher, if any: all reconnect together
      if (this.mode === 'http') return this.probe(); // a probe failed; polling carries on
      const gen = ++this.gen, opened = k.opened;
      clearTimeout(this.t);
      const retry = () => {
        if (gen !== this.gen || !this.on || this.dead) return;
        this.fails = opened && Date.now() - opened >= STABLE ? 0 : this.fails + 1;
        if (this.fails >= FAILS) { this.mode = 'http'; this.gen++; this.loop(); this.probe(); }
        else this.later(() => this.connect(), backoff(this.fails));
      };
      // Refused or closed on purpose: ask over HTTP why (a bad token says so), and show what it answers meanwhile.
      if (!opened || refusal(code)) this.poll().then(r => { if (r !== 'fatal') retry(); });
      else retry();
    }
    probe() { clearTimeout(this.q); this.q = setTimeout(safe(() => { if (this.on && this.mode === 'http' && !this.socks.length) this.connect(); }), PROBE); }
    async loop() { // HTTP fallback: GET /v1/status every 15 s
      const gen = this.gen, r = await this.poll();
      if (gen !== this.gen || r === 'fatal' || !this.on || this.mode !== 'http') return;
      this.later(() => this.loop(), r === 'ok' ? POLL : 1000 + backoff(++this.hf));
    }
    async poll() { // -> 'ok' | 'down' | 'fatal' | 'stale'
      const gen = this.gen;
      try {
        for (const l of chunks(this.list)) {
          const q = new URLSearchParams({ site: this.site, entity: l.join(',') });
          const r = await fetch(this.ep + '/v1/status?' + q, { credentials: 'omit', cache: 'no-store', headers: { Authorization: 'Bearer ' + this.token }, ...within(10000) });
          const m = await r.json().catch(() => null);
          if (gen !== this.gen) return 'stale';
          if (r.ok && m && m.entities) { this.hf = 0; for (const e of l) if (m.entities[e]) this.set({ ...m.entities[e], entity: e }); }
          else if (r.status >= 400 && r.status < 500 && r.status !== 429) { this.fatal(errOf(r, m)); return 'fatal'; }
          else { this.down(); return 'down'; }
        }
        return 'ok';
      } catch (e) {
        if (gen !== this.gen) return 'stale';
        this.down();
        return 'down';
      }
    }
    set(m, error) {
      const e = String(m.entity), was = this.st.get(e);
      const s = error ? { entity: e, online: null, sessions: null, last_seen: was ? was.last_seen : null, error }
        : { entity: e, online: !!m.online, sessions: Math.max(0, +m.sessions || 0), last_seen: m.last_seen == null || !isFinite(m.last_seen) ? null : +m.last_seen };
      if (was && same(was, s)) return;
      this.st.set(e, s);
      for (const sub of this.subs) if (sub.ents.has(e)) sub.push(s);
    }
    down() { for (const e of this.list) this.set({ entity: e }, 'unreachable'); }
    fatal(err) {
      this.dead = err.code;
      this.stopAll();
      warn('w ' + this.ep + this.site + this.token, `status of ${this.list.join(', ')} stopped: ${err.text}`);
      for (const e of this.wanted()) this.set({ entity: e }, err.code);
    }
  }

  function watch(o, cb) {
    try {
      if (typeof cb !== 'function' || !o) return nop;
      const ep = endpointOf(o.endpoint || (T ? T.ep : '')), site = String(o.site || (T ? T.site : cfg('site')) || '');
      const token = o.token == null ? '' : String(o.token);
      let ents = o.entities ?? o.entity ?? [];
      if (typeof ents === 'string') ents = ents.split(',');
      ents = [...new Set(Array.from(ents, e => String(e ?? '').trim()))];
      const s = {
        ents: new Set(ents), live: true,
        push: st => { if (s.live) try { cb({ ...st }); } catch (e) { (W.reportError || console.error)(e); } },
      };
      const fail = (list, code, m) => {
        if (!list.length) return;
        warn(code + ' ' + list.join(','), m);
        queueMicrotask(() => list.forEach(e => s.push({ entity: e, online: null, sessions: null, last_seen: null, error: code })));
      };
      const badIds = ents.filter(e => !EID.test(e));
      fail(badIds, 'bad_request', `watch: ${badIds.map(e => JSON.stringify(e)).join(', ')} is not an entity id (1-128 characters of A-Z a-z 0-9 . _ : @ -)`);
      badIds.forEach(e => s.ents.delete(e));
      if (!site) { fail([...s.ents], 'unknown_site', 'watch: no site (set data-site on the script, or site on <here-now-status>)'); s.ents.clear(); }
      if (!token) { fail([...s.ents], 'bad_token', `watch: ${[...s.ents].join(', ')} needs a watch token (token attribute or option)`); s.ents.clear(); }
      if (!s.ents.size) return () => { s.live = false; };
      const key = JSON.stringify([ep, site, token]);
      let w = watchers.get(key);
      if (!w) watchers.set(key, w = new Watch(key, ep, site, token));
      w.add(s);
      return () => safe(() => { s.live = false; w.remove(s); })();
    } catch (e) { return nop; }
  }

  // ---- page lifecycle: present only while visible; status sockets live until pagehide ----
  let pagehidden = false;
  const all = () => (T ? [T] : []).concat([...chans.values()]);
  const show = safe(() => { if (visible()) { tabs(); all().forEach(c => c.resume()); } });
  const hide = safe(() => all().forEach(c => c.pause()));
  D.addEventListener('visibilitychange', () => (visible() ? show() : hide()));
  D.addEventListener('prerenderingchange', show);
  W.addEventListener('pagehide', () => {
    hide();
    if (bc) { bc.close(); bc = null; }
    pagehidden = true;
    watchers.forEach(safe(w => { w.on = false; w.stopAll(); }));
  });
  W.addEventListener('pageshow', e => {
    if (!e.persisted) return;
    show();
    pagehidden = false;
    watchers.forEach(safe(w => { w.on = true; w.restart(); }));
  });
  W.addEventListener('online', safe(() => {
    all().forEach(c => { if (c.on && !c.dead && !c.ws) { c.clear(); c.go(); } });
    watchers.forEach(w => { if (w.on && !w.dead && !w.socks.some(k => k.ws)) { w.fails = 0; w.restart(); } });
  }));

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

  // ---- elements ----
  const intl = {};
  const langOf = el => { const l = (el.closest('[lang]') || D.documentElement).lang || 'en'; try { return Intl.getCanonicalLocales(l)[0]; } catch (e) { return 'en'; } };
  const plural = (l, n) => (intl['p' + l] = intl['p' + l] || new Intl.PluralRules(l)).select(n);
  const fmt = (l, n) => (intl['n' + l] = intl['n' + l] || new Intl.NumberFormat(l)).format(n);
  // "5 minutes ago" for an epoch-ms time, and in how many ms those words change.
  const ago = (l, t) => {
    const rtf = intl['r' + l] = intl['r' + l] || new Intl.RelativeTimeFormat(l, { numeric: 'auto' });
    const ms = Math.max(0, Date.now() - t), s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
    const at = (n, unit, step) => [rtf.format(-n, unit), Math.min(30000, step - (ms % step)) + 50];
    if (s < 60) return at(s < 10 ? Math.max(1, Math.floor(s)) : Math.floor(s / 10) * 10, 'second', 10000); // "3 seconds ago", "10 seconds ago", ...
    if (m < 60) return at(Math.floor(m), 'minute', 60000);
    if (h < 24) return at(Math.floor(h), 'hour', 3600000);
    if (d < 7) return at(Math.floor(d), 'day', 86400000);
    if (d < 30) return at(Math.floor(d / 7), 'week', 86400000);
    if (d < 365) return at(Math.floor(d / 30.44), 'month', 86400000);
    return at(Math.floor(d / 365.25), 'year', 86400000);
  };
  const setAttr = (el, n, v) => { if (v == null) { if (el.hasAttribute(n)) el.removeAttribute(n); } else if (el.getAttribute(n) !== v) el.setAttribute(n, v); };
  const a11y = el => { if (!el.hasAttribute('role')) el.setAttribute('role', 'status'); if (!el.hasAttribute('aria-live')) el.setAttribute('aria-live', 'polite'); };

  const CSS = ':where(here-now){font-variant-numeric:tabular-nums}here-now[hidden]{display:none}' +
    '@keyframes herenow-changed{from{opacity:.25}}:where(here-now.herenow-changed){animation:herenow-changed .7s ease-out}' +
    '@media (prefers-reduced-motion:reduce){:where(here-now.herenow-changed){animation:none}}';
  const CSS_STATUS = ':where(here-now-status){display:inline-flex;align-items:center;gap:.45em}here-now-status[hidden]{display:none}' +
    ':where(here-now-status)::before{content:"";flex:none;width:.6em;height:.6em;border-radius:50%;background:var(--herenow-offline,#9ca3af)}' +
    ':where(here-now-status[data-status=online])::before{background:var(--herenow-online,#16a34a)}' +
    ':where(here-now-status:not([data-status]))::before{background:transparent;box-shadow:inset 0 0 0 .12em var(--herenow-offline,#9ca3af)}';

  class HereNow extends HTMLElement {
    static get observedAttributes() {
      return ['site', 'room', 'endpoint', 'count', 'exclude-self', 'min', 'text-loading', 'text-offline']
        .concat(['zero', 'one', 'two', 'few', 'many', 'other'].map(c => 'text-' + c));
    }
    connectedCallback() {
      try {
        this.on = true;
        a11y(this);
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

  class HereNowStatus extends HTMLElement {
    static get observedAttributes() {
      return ['entity', 'token', 'site', 'endpoint', 'text-online', 'text-online-many', 'text-offline', 'text-last-seen', 'text-loading', 'text-unavailable'];
    }
    connectedCallback() {
      try {
        this.on = true;
        a11y(this);
        this.listen();
      } catch (e) { /* never into the page */ }
    }
    disconnectedCallback() {
      try { this.on = false; clearTimeout(this.tt); if (this.off) this.off(); this.off = null; this.l = null; } catch (e) { /* ignore */ }
    }
    attributeChangedCallback(name, was, now) {
      try {
        if (!this.on || was === now) return;
        if (name === 'entity' || name === 'token' || name === 'site' || name === 'endpoint') this.listen(); else this.draw();
      } catch (e) { /* never into the page */ }
    }
    listen() { // once per task, so that attributes set right after insertion count
      this.s = undefined;
      this.draw();
      if (this.l) return;
      this.l = true;
      queueMicrotask(safe(() => {
        if (!this.on || !this.l) return;
        this.l = null;
        const a = n => this.getAttribute(n), off = this.off;
        this.s = undefined;
        this.off = watch({ site: a('site'), endpoint: a('endpoint'), token: a('token'), entities: [a('entity') || ''] }, s => { this.s = s; this.draw(); });
        if (off) off(); // after subscribing, so that a shared socket stays open
      }));
    }
    draw() {
      const s = this.s, a = n => this.getAttribute(n), l = langOf(this);
      let text, status = null, state = 'live';
      clearTimeout(this.tt);
      if (s === undefined) { state = 'loading'; text = a('text-loading') ?? '\u2026'; }
      else if (s.error) { state = s.error === 'unreachable' ? 'unreachable' : 'error'; text = a('text-unavailable') ?? 'Status unavailable'; }
      else if (s.online) {
        status = 'online';
        text = s.sessions >= 2 ? (a('text-online-many') ?? 'Online on {n} devices').replace(/\{n\}/g, fmt(l, s.sessions)) : a('text-online') ?? 'Online';
      } else {
        status = 'offline';
        if (s.last_seen == null) text = a('text-offline') ?? 'Offline';
        else {
          const [words, next] = ago(l, s.last_seen);
          text = (a('text-last-seen') ?? 'Last seen {ago}').replace(/\{ago\}/g, words);
          this.tt = setTimeout(safe(() => { if (this.on) this.draw(); }), next); // the words age
        }
      }
      setAttr(this, 'data-state', state);
      setAttr(this, 'data-status', status);
      if (this.textContent !== text) this.textContent = text;
      if (this.hidden !== !text) this.hidden = !text;
    }
  }

  W.herenow = Object.freeze({
    subscribe, setRoom, track, stop, identify, watch,
    get session() { return ids.s; },
    get visitor() { return ids.v; },
    get identity() { return ident ? ident.entity : null; },
    get tracking() { return T ? { endpoint: T.ep, site: T.site, room: T.room } : null; },
  });

  try {
    ident = asIdent(cfg('entity'), cfg('token'), 'data-entity');
    if (cfg('site') && cfg('track') !== 'false') track({ site: cfg('site'), room: cfg('room'), endpoint: cfg('endpoint') });
  } catch (e) { /* never into the page */ }
  const define = (name, C, css) => {
    try {
      if (!W.customElements || customElements.get(name)) return;
      try { const s = new CSSStyleSheet(); s.replaceSync(css); D.adoptedStyleSheets = [s, ...D.adoptedStyleSheets]; }
      catch (e) { const s = D.createElement('style'); s.textContent = css; (D.head || D.documentElement).prepend(s); }
      customElements.define(name, C);
    } catch (e) { /* never into the page */ }
  };
  define('here-now', HereNow, CSS);
  define('here-now-status', HereNowStatus, CSS_STATUS);
})();
