// The custom elements <here-now> ("42 online now") and <here-now-status> ("Online", "Last seen
// 5 minutes ago"). They write only textContent and a few attributes (data-state, data-status,
// hidden, and role / aria-live where the page set none), and style themselves only through
// :where() rules and custom properties, so that any rule of the page wins.

import { subscribe } from './tracker.js';
import { safe } from './util.js';
import { watch } from './watch.js';

const intl = {}; // formatters by kind and language: they are costly to make
const langOf = (el) => {
  const lang = (el.closest('[lang]') || document.documentElement).lang || 'en';
  try {
    return Intl.getCanonicalLocales(lang)[0];
  } catch (e) {
    return 'en';
  }
};
const pluralOf = (lang, n) => (intl['p' + lang] = intl['p' + lang] || new Intl.PluralRules(lang)).select(n);
const formatNumber = (lang, n) => (intl['n' + lang] = intl['n' + lang] || new Intl.NumberFormat(lang)).format(n);

/** "5 minutes ago" for an epoch-ms time, and in how many ms those words change. */
function ago(lang, time) {
  const rtf = (intl['r' + lang] = intl['r' + lang] || new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }));
  const ms = Math.max(0, Date.now() - time);
  const s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
  const words = (n, unit, step) => [rtf.format(-n, unit), Math.min(30000, step - (ms % step)) + 50];
  if (s < 60) return words(s < 10 ? Math.max(1, Math.floor(s)) : Math.floor(s / 10) * 10, 'second', 10000); // "3 seconds ago", "10 seconds ago", ...
  if (m < 60) return words(Math.floor(m), 'minute', 60000);
  if (h < 24) return words(Math.floor(h), 'hour', 3600000);
  if (d < 7) return words(Math.floor(d), 'day', 86400000);
  if (d < 30) return words(Math.floor(d / 7), 'week', 86400000);
  if (d < 365) return words(Math.floor(d / 30.44), 'month', 86400000);
  return words(Math.floor(d / 365.25), 'year', 86400000);
}

/** Sets (or with null removes) an attribute, touching the DOM only on a change. */
function setAttr(el, name, value) {
  if (value == null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** A live region, unless the page said otherwise. */
function announce(el) {
  if (!el.hasAttribute('role')) el.setAttribute('role', 'status');
  if (!el.hasAttribute('aria-live')) el.setAttribute('aria-live', 'polite');
}

const COUNTER_CSS =
  ':where(here-now){font-variant-numeric:tabular-nums}here-now[hidden]{display:none}' +
  '@keyframes herenow-changed{from{opacity:.25}}:where(here-now.herenow-changed){animation:herenow-changed .7s ease-out}' +
  '@media (prefers-reduced-motion:reduce){:where(here-now.herenow-changed){animation:none}}';
const STATUS_CSS =
  ':where(here-now-status){display:inline-flex;align-items:center;gap:.45em}here-now-status[hidden]{display:none}' +
  ':where(here-now-status)::before{content:"";flex:none;width:.6em;height:.6em;border-radius:50%;background:var(--herenow-offline,#9ca3af)}' +
  ':where(here-now-status[data-status=online])::before{background:var(--herenow-online,#16a34a)}' +
  ':where(here-now-status:not([data-status]))::before{background:transparent;box-shadow:inset 0 0 0 .12em var(--herenow-offline,#9ca3af)}';

// Outside a browser (a module imported during server rendering) there is no HTMLElement; the
// classes must still be definable there, they are just never registered.
const Base = typeof HTMLElement === 'function' ? HTMLElement : class {};

/** <here-now>: a live count. Every callback is guarded: nothing throws into the page. */
class HereNow extends Base {
  static get observedAttributes() {
    return ['site', 'room', 'endpoint', 'count', 'exclude-self', 'min', 'text-loading', 'text-offline'].concat(
      ['zero', 'one', 'two', 'few', 'many', 'other'].map((c) => 'text-' + c),
    );
  }

  connectedCallback() {
    try {
      this.connected = true;
      announce(this);
      this.listen();
    } catch (e) {
      /* never into the page */
    }
  }

  disconnectedCallback() {
    try {
      this.connected = false;
      if (this.unsubscribe) this.unsubscribe();
      this.unsubscribe = null;
    } catch (e) {
      /* ignore */
    }
  }

  attributeChangedCallback(name, was, now) {
    try {
      if (!this.connected || was === now) return;
      if (name === 'site' || name === 'room' || name === 'endpoint') this.listen();
      else this.draw();
    } catch (e) {
      /* never into the page */
    }
  }

  /** Subscribes before unsubscribing, so that a shared feed stays open. */
  listen() {
    const attr = (n) => this.getAttribute(n);
    const previous = this.unsubscribe;
    this.counts = undefined;
    this.draw();
    this.unsubscribe = subscribe({ site: attr('site'), room: attr('room'), endpoint: attr('endpoint') }, (counts) => {
      this.counts = counts;
      this.draw();
    });
    if (previous) previous();
  }

  draw() {
    const counts = this.counts;
    const attr = (n) => this.getAttribute(n);
    let text;
    let n = null;
    if (counts === undefined) text = attr('text-loading') ?? '\u2026';
    else if (!counts) text = attr('text-offline') ?? '';
    else {
      const scope = (attr('room') ? counts.room : counts.site) || {};
      const lang = langOf(this);
      const self = counts.self && this.hasAttribute('exclude-self') ? 1 : 0;
      n = Math.max(0, (scope[attr('count') === 'visitors' ? 'visitors' : 'sessions'] || 0) - self);
      const category = n === 0 && attr('text-zero') != null ? 'zero' : pluralOf(lang, n);
      text = (attr('text-' + category) ?? attr('text-other') ?? '{n} online now').replace(/\{n\}/g, formatNumber(lang, n));
    }
    const state = counts === undefined ? 'loading' : counts ? 'live' : 'offline';
    if (this.getAttribute('data-state') !== state) this.setAttribute('data-state', state);
    if (this.textContent !== text) this.textContent = text;
    const hide = !text || (n !== null && n < (parseFloat(attr('min')) || 0));
    if (this.hidden !== hide) this.hidden = hide;
    if (n !== null && this.shown != null && n !== this.shown) {
      this.classList.remove('herenow-changed');
      void this.offsetWidth; // restarts the animation
      this.classList.add('herenow-changed');
      clearTimeout(this.changedTimer);
      this.changedTimer = setTimeout(() => this.classList.remove('herenow-changed'), 1000);
    }
    if (n !== null) this.shown = n;
  }
}

/** <here-now-status>: a dot and "Online" / "Online on 2 devices" / "Last seen ..." / "Offline". */
class HereNowStatus extends Base {
  static get observedAttributes() {
    return ['entity', 'token', 'site', 'endpoint', 'text-online', 'text-online-many', 'text-offline', 'text-last-seen', 'text-loading', 'text-unavailable'];
  }

  connectedCallback() {
    try {
      this.connected = true;
      announce(this);
      this.listen();
    } catch (e) {
      /* never into the page */
    }
  }

  disconnectedCallback() {
    try {
      this.connected = false;
      clearTimeout(this.agingTimer);
      if (this.unsubscribe) this.unsubscribe();
      this.unsubscribe = null;
      this.listenPending = false;
    } catch (e) {
      /* ignore */
    }
  }

  attributeChangedCallback(name, was, now) {
    try {
      if (!this.connected || was === now) return;
      if (name === 'entity' || name === 'token' || name === 'site' || name === 'endpoint') this.listen();
      else this.draw();
    } catch (e) {
      /* never into the page */
    }
  }

  /** Once per task, so that attributes set right after insertion count. */
  listen() {
    this.status = undefined;
    this.draw();
    if (this.listenPending) return;
    this.listenPending = true;
    queueMicrotask(safe(() => {
      if (!this.connected || !this.listenPending) return;
      this.listenPending = false;
      const attr = (n) => this.getAttribute(n);
      const previous = this.unsubscribe;
      this.status = undefined;
      this.unsubscribe = watch(
        { site: attr('site'), endpoint: attr('endpoint'), token: attr('token'), entities: [attr('entity') || ''] },
        (status) => {
          this.status = status;
          this.draw();
        },
      );
      if (previous) previous(); // after subscribing, so that a shared socket stays open
    }));
  }

  draw() {
    const status = this.status;
    const attr = (n) => this.getAttribute(n);
    const lang = langOf(this);
    let text;
    let online = null;
    let state = 'live';
    clearTimeout(this.agingTimer);
    if (status === undefined) {
      state = 'loading';
      text = attr('text-loading') ?? '\u2026';
    } else if (status.error) {
      state = status.error === 'unreachable' ? 'unreachable' : 'error';
      text = attr('text-unavailable') ?? 'Status unavailable';
    } else if (status.online) {
      online = 'online';
      text =
        status.sessions >= 2
          ? (attr('text-online-many') ?? 'Online on {n} devices').replace(/\{n\}/g, formatNumber(lang, status.sessions))
          : attr('text-online') ?? 'Online';
    } else {
      online = 'offline';
      if (status.last_seen == null) text = attr('text-offline') ?? 'Offline';
      else {
        const [words, changesIn] = ago(lang, status.last_seen);
        text = (attr('text-last-seen') ?? 'Last seen {ago}').replace(/\{ago\}/g, words);
        this.agingTimer = setTimeout(safe(() => {
          if (this.connected) this.draw();
        }), changesIn);
      }
    }
    setAttr(this, 'data-state', state);
    setAttr(this, 'data-status', online);
    if (this.textContent !== text) this.textContent = text;
    if (this.hidden !== !text) this.hidden = !text;
  }
}

function define(name, element, css) {
  try {
    if (!window.customElements || customElements.get(name)) return;
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      document.adoptedStyleSheets = [sheet, ...document.adoptedStyleSheets];
    } catch (e) {
      const style = document.createElement('style');
      style.textContent = css;
      (document.head || document.documentElement).prepend(style);
    }
    customElements.define(name, element);
  } catch (e) {
    /* never into the page */
  }
}

/** Registers <here-now> and <here-now-status> with their default styles (once per page). */
export function defineElements() {
  define('here-now', HereNow, COUNTER_CSS);
  define('here-now-status', HereNowStatus, STATUS_CSS);
}
