// The custom elements <here-now> ("42 online now"), <here-now-status> ("Online", "Away",
// "Last seen 5 minutes ago") and <here-now-members> (the faces of who is in a room). They write
// only textContent, a few attributes (data-state, data-status, hidden, title, and role /
// aria-* where the page set none) and, for avatars, elements made with createElement whose
// image URLs are http(s) only: never markup from data. They style themselves only through
// :where() rules and custom properties, so that any rule of the page wins.

import { members } from './members.js';
import { subscribe } from './counts.js';
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

/**
 * How long ago (or for how long) since an epoch-ms time, in the largest unit that fits:
 * `[n, unit, msUntilTheWordsChange]`. Under a minute in steps of 10 seconds ("3", then "10",
 * "20" ... seconds), then whole minutes, hours, days, weeks, months, years.
 */
function elapsed(time, units = 'ymwdhms') {
  const ms = Math.max(0, Date.now() - time);
  const s = ms / 1000, m = s / 60, h = m / 60, d = h / 24;
  const at = (n, unit, step) => [n, unit, Math.min(30000, step - (ms % step)) + 50];
  if (s < 60) return at(s < 10 ? Math.max(1, Math.floor(s)) : Math.floor(s / 10) * 10, 'second', s < 10 ? 1000 : 10000);
  if (m < 60) return at(Math.floor(m), 'minute', 60000);
  if (h < 24 || !units.includes('d')) return at(Math.floor(h), 'hour', 3600000);
  if (d < 7 || !units.includes('w')) return at(Math.floor(d), 'day', 86400000);
  if (d < 30) return at(Math.floor(d / 7), 'week', 86400000);
  if (d < 365) return at(Math.floor(d / 30.44), 'month', 86400000);
  return at(Math.floor(d / 365.25), 'year', 86400000);
}

/** "5 minutes ago" for an epoch-ms time, and in how many ms those words change. */
function ago(lang, time) {
  const rtf = (intl['r' + lang] = intl['r' + lang] || new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }));
  const [n, unit, changesIn] = elapsed(time);
  return [rtf.format(-n, unit), changesIn];
}

/**
 * "10 minutes" (a duration: since an epoch-ms time until now), and in how many ms those words
 * change: Intl.NumberFormat's unit style in the page's language, plain English where a browser
 * lacks it. Days are the largest unit ("Online for 9 days").
 */
function lasting(lang, time) {
  const [n, unit, changesIn] = elapsed(time, 'dhms');
  let words;
  try {
    const key = 'u' + lang + unit;
    words = (intl[key] = intl[key] || new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: 'long' })).format(n);
  } catch (e) {
    words = `${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  return [words, changesIn];
}

/** `{name}`-style placeholders replaced by values that are text, never patterns. */
const fill = (template, values) => template.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));

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
  ':where(here-now-status[data-status=away])::before{background:var(--herenow-away,#f59e0b)}' +
  ':where(here-now-status:not([data-status]))::before{background:transparent;box-shadow:inset 0 0 0 .12em var(--herenow-offline,#9ca3af)}';
// Avatars: a row of overlapping circles, each ringed in the page's background colour (Canvas).
const MEMBERS_CSS =
  ':where(here-now-members){display:inline-flex;align-items:center;flex-wrap:wrap;row-gap:.25em}here-now-members[hidden]{display:none}' +
  ':where(here-now-members>.herenow-avatar,here-now-members>.herenow-more){box-sizing:border-box;flex:none;display:inline-flex;align-items:center;justify-content:center;' +
  'width:var(--herenow-avatar-size,2em);height:var(--herenow-avatar-size,2em);border-radius:50%;overflow:hidden;' +
  'margin-inline-start:var(--herenow-avatar-overlap,-.4em);box-shadow:0 0 0 var(--herenow-avatar-ring-width,2px) var(--herenow-avatar-ring,Canvas);' +
  'font-weight:600;line-height:1;letter-spacing:.02em;white-space:nowrap;user-select:none;cursor:default}' +
  ':where(here-now-members .herenow-initials){font-size:calc(var(--herenow-avatar-size,2em)*.4)}' +
  ':where(here-now-members>:first-child){margin-inline-start:0}' +
  ':where(here-now-members>.herenow-avatar){background:var(--herenow-avatar-color,#6b7280);color:var(--herenow-avatar-text,#fff)}' +
  ':where(here-now-members>.herenow-avatar>img){width:100%;height:100%;object-fit:cover;display:block}' +
  ':where(here-now-members>.herenow-avatar[data-state=away]){opacity:var(--herenow-away-opacity,.5)}' +
  ':where(here-now-members>.herenow-more){background:var(--herenow-more-bg,#e5e7eb);color:var(--herenow-more-text,#374151)}' +
  ':where(here-now-members>.herenow-anonymous){margin-inline-start:.6em;font-size:.9em;opacity:.75}';

// Outside a browser (a module imported during server rendering) there is no HTMLElement; the
// classes must still be definable there, they are just never registered.
const Base = typeof HTMLElement === 'function' ? HTMLElement : class {};

/** The token options of an element: its `token` and `token-url` attributes. */
const tokenAttrs = (el) => ({ token: el.getAttribute('token'), tokenUrl: el.getAttribute('token-url') });

/**
 * What the elements share: a feed subscribed once per task, in a microtask (so that attributes
 * set right after insertion count, and so that a module that imports herenow.mjs, which upgrades
 * the elements already on the page, can configure({site}) first), renewed when one of
 * `feedAttributes` changes, redrawn when any other observed attribute does. Every callback is
 * guarded: nothing throws into the page.
 */
class FeedElement extends Base {
  connectedCallback() {
    try {
      this.connected = true;
      this.prepare();
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
      if (this.constructor.feedAttributes.includes(name)) this.listen();
      else this.draw();
    } catch (e) {
      /* never into the page */
    }
  }

  listen() {
    this.value = undefined;
    this.draw();
    if (this.listenPending) return;
    this.listenPending = true;
    queueMicrotask(safe(() => {
      if (!this.connected || !this.listenPending) return;
      this.listenPending = false;
      const previous = this.unsubscribe;
      this.value = undefined;
      this.unsubscribe = this.subscribe((value) => {
        this.value = value;
        this.draw();
      });
      if (previous) previous(); // after subscribing, so that a shared socket stays open
    }));
  }

  /** Redraws when the words shown change with time (after `ms`). */
  redrawIn(ms) {
    clearTimeout(this.agingTimer);
    this.agingTimer = setTimeout(safe(() => {
      if (this.connected) this.draw();
    }), ms);
  }
}

/** <here-now>: a live count. */
class HereNow extends FeedElement {
  static get feedAttributes() {
    return ['site', 'room', 'endpoint'];
  }

  static get observedAttributes() {
    return this.feedAttributes.concat(['count', 'exclude-self', 'min', 'text-loading', 'text-offline'], ['zero', 'one', 'two', 'few', 'many', 'other'].map((c) => 'text-' + c));
  }

  prepare() {
    announce(this);
  }

  subscribe(callback) {
    const attr = (n) => this.getAttribute(n);
    return subscribe({ site: attr('site'), room: attr('room'), endpoint: attr('endpoint') }, callback);
  }

  draw() {
    const counts = this.value;
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
      text = fill(attr('text-' + category) ?? attr('text-other') ?? '{n} online now', { n: formatNumber(lang, n) });
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

/**
 * <here-now-status>: a dot and "Online" / "Online on 2 devices" / "Away" / "Last seen ..." /
 * "Offline", optionally "Online for 10 minutes"; "typing..." while the entity sends the signal
 * `typing` (`text-typing`; any other signal shows with a `text-signal-<name>` attribute).
 * `data-signals` lists the signals it holds.
 */
class HereNowStatus extends FeedElement {
  static get feedAttributes() {
    return ['entity', 'token', 'token-url', 'site', 'endpoint'];
  }

  static get observedAttributes() {
    return this.feedAttributes.concat(['text-online', 'text-online-many', 'text-online-for', 'text-away', 'text-offline', 'text-last-seen', 'text-loading', 'text-unavailable', 'text-typing']);
  }

  prepare() {
    announce(this);
  }

  subscribe(callback) {
    const attr = (n) => this.getAttribute(n);
    return watch({ site: attr('site'), endpoint: attr('endpoint'), ...tokenAttrs(this), entities: [attr('entity') || ''] }, callback);
  }

  draw() {
    const status = this.value;
    const attr = (n) => this.getAttribute(n);
    const lang = langOf(this);
    let text;
    let shown = null; // data-status
    let state = 'live';
    let changesIn = 0; // the words change with time
    clearTimeout(this.agingTimer);
    if (status === undefined) {
      state = 'loading';
      text = attr('text-loading') ?? '\u2026';
    } else if (status.error) {
      state = status.error === 'unreachable' ? 'unreachable' : 'error';
      text = attr('text-unavailable') ?? 'Status unavailable';
    } else if (status.online) {
      shown = status.state === 'away' ? 'away' : 'online';
      const signals = status.signals || [];
      const signalled = signals.includes('typing') ? 'typing' : signals.find((n) => attr('text-signal-' + n) != null);
      let template;
      if (signalled === 'typing') template = attr('text-typing') ?? attr('text-signal-typing') ?? 'typing...';
      else if (signalled) template = attr('text-signal-' + signalled);
      else if (shown === 'away') template = attr('text-away') ?? 'Away';
      else if (attr('text-online-for') != null && status.online_since != null) template = attr('text-online-for');
      else if (status.sessions >= 2) template = attr('text-online-many') ?? 'Online on {n} devices';
      else template = attr('text-online') ?? 'Online';
      const values = { n: formatNumber(lang, status.sessions), name: (status.info && status.info.name) || status.entity };
      if (status.online_since != null && template.includes('{for}')) [values.for, changesIn] = lasting(lang, status.online_since);
      text = fill(template, values);
    } else {
      shown = 'offline';
      if (status.last_seen == null) text = attr('text-offline') ?? 'Offline';
      else {
        let words;
        [words, changesIn] = ago(lang, status.last_seen);
        text = fill(attr('text-last-seen') ?? 'Last seen {ago}', { ago: words });
      }
    }
    if (changesIn) this.redrawIn(changesIn);
    setAttr(this, 'data-state', state);
    setAttr(this, 'data-status', shown);
    setAttr(this, 'data-signals', status && status.online && status.signals && status.signals.length ? status.signals.join(' ') : null);
    if (this.textContent !== text) this.textContent = text;
    if (this.hidden !== !text) this.hidden = !text;
  }
}

/** A hue from an entity id (FNV-1a): the same person gets the same colour on every page. */
function hueOf(id) {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % 360;
}

/** "AL" for "Ada Lovelace", "A" for "Ada"; for an id such as "user:ada.lovelace", "AL"; "42" for "user:42". */
function initialsOf(name, isId) {
  const text = isId ? name.slice(name.lastIndexOf(':') + 1) || name : name;
  const words = text.split(isId ? /[\s._@-]+/ : /\s+/).filter(Boolean);
  const first = (w) => Array.from(w)[0] || '';
  if (words.length > 1) return (first(words[0]) + first(words[words.length - 1])).toUpperCase();
  const one = Array.from(words[0] || '?');
  return (isId ? one.slice(0, 2).join('') : one[0]).toUpperCase();
}

/** An avatar URL from member info: absolute, http or https only; '' otherwise. */
function imageUrl(value) {
  if (typeof value !== 'string' || !value) return '';
  try {
    const url = new URL(value, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : '';
  } catch (e) {
    return '';
  }
}

/** A member's name: `info.name` (trimmed, at most 100 characters), else the entity id. */
const nameOf = (m) => (m.info && typeof m.info.name === 'string' && m.info.name.trim() ? m.info.name.trim().slice(0, 100) : m.entity);

/** Makes `parent`'s children exactly `nodes`, in order, moving (not re-creating) the ones it has. */
function setChildren(parent, nodes) {
  nodes.forEach((node, i) => {
    const at = parent.childNodes[i];
    if (at !== node) parent.insertBefore(node, at || null);
  });
  while (parent.childNodes.length > nodes.length) parent.removeChild(parent.lastChild);
}

/** A span with one class and one text child (initials, "+12"). */
function textSpan(className, text) {
  const span = document.createElement('span');
  span.className = className;
  span.textContent = text;
  return span;
}

/**
 * <here-now-members room="/docs/intro" token="<watch jwt>" max="8">: the faces of who is in a
 * room (the `info.avatar` picture, else initials on a colour of their id), "+12" past `max`,
 * names on hover and for assistive technology.
 */
class HereNowMembers extends FeedElement {
  static get feedAttributes() {
    return ['room', 'token', 'token-url', 'site', 'endpoint'];
  }

  static get observedAttributes() {
    return this.feedAttributes.concat(['max', 'text-loading', 'text-unavailable', 'text-empty', 'text-away', 'text-typing', 'text-more', 'text-more-label', 'text-anonymous', 'text-label']);
  }

  prepare() {
    this.avatars = this.avatars || new Map(); // entity -> its span, kept so pictures do not reload
    if (!this.hasAttribute('role')) this.setAttribute('role', 'group');
    if (!this.hasAttribute('aria-label')) this.ownLabel = true;
  }

  subscribe(callback) {
    const attr = (n) => this.getAttribute(n);
    return members({ site: attr('site'), endpoint: attr('endpoint'), room: attr('room'), ...tokenAttrs(this) }, callback);
  }

  draw() {
    const value = this.value;
    const attr = (n) => this.getAttribute(n);
    let state = 'live';
    let text = null; // a text instead of avatars
    if (value === undefined) {
      state = 'loading';
      text = attr('text-loading') ?? '\u2026';
    } else if (value.error) {
      state = value.error === 'unreachable' ? 'unreachable' : 'error';
      text = attr('text-unavailable') ?? '';
    }
    setAttr(this, 'data-state', state);
    setAttr(this, 'data-count', value && value.members ? String(value.members.length) : null);
    if (this.ownLabel) setAttr(this, 'aria-label', attr('text-label') ?? 'Here now');
    if (text != null) {
      if (this.textContent !== text || this.children.length) this.textContent = text;
      this.hidden = !text;
      return;
    }
    const lang = langOf(this);
    const list = value.members;
    const max = Math.max(0, parseInt(attr('max'), 10) >= 0 ? parseInt(attr('max'), 10) : 8);
    const shown = list.slice(0, max);
    const rest = list.slice(max);
    const nodes = shown.map((m) => this.avatar(m));
    const keep = new Set(shown.map((m) => m.entity));
    for (const entity of this.avatars.keys()) if (!keep.has(entity)) this.avatars.delete(entity);
    if (rest.length) {
      const n = formatNumber(lang, rest.length);
      const names = rest.slice(0, 20).map(nameOf).join(', ') + (rest.length > 20 ? ', \u2026' : '');
      const more = (this.more = this.more || textSpan('herenow-more', ''));
      const words = fill(attr('text-more') ?? '+{n}', { n });
      if (more.textContent !== words) more.textContent = words;
      setAttr(more, 'role', 'img');
      setAttr(more, 'title', names);
      setAttr(more, 'aria-label', fill(attr('text-more-label') ?? '{n} more: {names}', { n, names }));
      nodes.push(more);
    }
    const anonymousText = attr('text-anonymous');
    if (anonymousText && value.anonymous.visitors > 0) {
      const anonymous = (this.anonymous = this.anonymous || textSpan('herenow-anonymous', ''));
      const words = fill(anonymousText, { n: formatNumber(lang, value.anonymous.visitors) });
      if (anonymous.textContent !== words) anonymous.textContent = words;
      nodes.push(anonymous);
    }
    if (!nodes.length) {
      const empty = attr('text-empty') ?? '';
      if (this.textContent !== empty || this.children.length) this.textContent = empty;
      this.hidden = !empty;
      return;
    }
    setChildren(this, nodes);
    this.hidden = false;
  }

  /** The avatar of member `m`, made or updated. */
  avatar(m) {
    let node = this.avatars.get(m.entity);
    if (!node) {
      node = document.createElement('span');
      node.className = 'herenow-avatar';
      node.setAttribute('role', 'img');
      node.style.setProperty('--herenow-avatar-color', `hsl(${hueOf(m.entity)},55%,42%)`);
      this.avatars.set(m.entity, node);
    }
    const name = nameOf(m);
    const typing = m.signals && m.signals.includes('typing');
    const label = typing
      ? fill(this.getAttribute('text-typing') ?? '{name} (typing...)', { name })
      : m.state === 'away'
        ? fill(this.getAttribute('text-away') ?? '{name} (away)', { name })
        : name;
    setAttr(node, 'title', label);
    setAttr(node, 'aria-label', label);
    setAttr(node, 'data-state', m.state);
    setAttr(node, 'data-entity', m.entity);
    setAttr(node, 'data-signals', m.signals && m.signals.length ? m.signals.join(' ') : null);
    const src = imageUrl(m.info && m.info.avatar);
    const img = node.firstChild && node.firstChild.tagName === 'IMG' ? node.firstChild : null;
    if (src && node.failed !== src) {
      if (!img || img.getAttribute('src') !== src) {
        const picture = document.createElement('img');
        picture.alt = '';
        picture.decoding = 'async';
        picture.loading = 'lazy';
        picture.referrerPolicy = 'no-referrer';
        picture.draggable = false;
        picture.onerror = safe(() => {
          node.failed = src; // a picture that does not load: initials instead
          if (node.firstChild === picture) setChildren(node, [textSpan('herenow-initials', initialsOf(name, name === m.entity))]);
        });
        picture.src = src;
        setChildren(node, [picture]);
      }
    } else {
      const initials = initialsOf(name, name === m.entity);
      const span = !img && node.firstChild;
      if (!span || span.textContent !== initials) setChildren(node, [textSpan('herenow-initials', initials)]);
    }
    return node;
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

/** Registers <here-now>, <here-now-status> and <here-now-members> with their default styles (once per page). */
export function defineElements() {
  define('here-now', HereNow, COUNTER_CSS);
  define('here-now-status', HereNowStatus, STATUS_CSS);
  define('here-now-members', HereNowMembers, MEMBERS_CSS);
}
