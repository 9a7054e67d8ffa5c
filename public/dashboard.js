// The owner's dashboard (/dashboard.html?site=S[&range=1h|24h|7d][#token=<stats token>]): the
// site's live count, its busiest rooms and its history, with a clear message for every state
// the page can be in. Plain ES modules, no build step, nothing third-party.
//
// Where things come from:
//   the live count   GET /v1/count, then one WebSocket GET /v1/live?site=S (dashboard-feed.js)
//   the rooms        GET /v1/rooms?site=S&limit=10: after a count changes (at most every 2 s),
//                    and every 15 s (there is no rooms feed)
//   the history      GET /v1/history?site=S&range=R: on load, on a range change, and when the
//                    step in progress ends; the live count raises the step in progress meanwhile
// The stats token (private stats) is read from the URL fragment, which browsers never send, and
// goes only into the Authorization header of same-origin requests; it never enters a URL query.
//
// The page's states, on <body>: data-state="loading|ready|refused" (refused: the server refused
// the site, nothing to show), data-conn="connecting|live|unreachable", data-access="unknown|
// public|token|private|refused|expired" (refused covers a token for another site or scope).

import { getJSON, LiveCounts, Unreachable } from './dashboard-feed.js';
import { HistoryChart } from './dashboard-chart.js';
import { RANGES, formatCount, momentLabel, stepLabel } from './dashboard-scale.js';

const SITE_KEY = /^[A-Za-z0-9._:-]{1,64}$/;
const ROOMS_LIMIT = 10;
const ROOMS_MIN_GAP_MS = 2_000;
const ROOMS_EVERY_MS = 15_000;
const RETRY_MS = 15_000;
const RANGE_KEY = 'herenow:dashboard:range';
const LEEWAY_S = 30; // the server's leeway on exp

const $ = (id) => document.getElementById(id);
const body = document.body;
const locale = undefined; // the viewer's own (Intl's default)
const nf = (n) => formatCount(n, locale);
const clock = (t) => new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit', second: '2-digit' }).format(t);

const params = new URLSearchParams(location.search);
const site = params.get('site') || 'demo';
let range = pickRange();
let token = readToken();
let claims = decodeClaims(token);

const state = {
  counts: null, // { sessions, visitors, at }
  history: null, // the last /v1/history answer, and when it came
  historyAt: 0,
  roomsAt: 0,
  lostAt: 0, // when the server was last reachable, while it is not
};

// ---------------------------------------------------------------------------------------------
// Small helpers

function pickRange() {
  const fromUrl = params.get('range');
  if (RANGES[fromUrl]) return fromUrl;
  try {
    const saved = localStorage.getItem(RANGE_KEY);
    if (RANGES[saved]) return saved;
  } catch {
    // storage blocked: the default
  }
  return '1h';
}

function readToken() {
  const t = new URLSearchParams(location.hash.slice(1)).get('token');
  return t && t.trim() ? t.trim() : null;
}

/** The claims of a JWT, read (not verified: the server does that) to explain a refusal. */
function decodeClaims(jwt) {
  if (!jwt) return null;
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      [...atob(part + '='.repeat((4 - (part.length % 4)) % 4))].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''),
    );
    const c = JSON.parse(json);
    return c && typeof c === 'object' ? c : null;
  } catch {
    return null;
  }
}

/** Builds an element: h('p', {class: 'x'}, 'text', child, ...); text only through textContent. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const code = (text) => h('code', {}, text);

function api(path) {
  return getJSON(path, { token });
}

// ---------------------------------------------------------------------------------------------
// The site and the connection

function showSite() {
  for (const node of document.querySelectorAll('[data-site-name]')) node.textContent = site;
}

function onCount(counts) {
  const first = !state.counts;
  state.counts = { sessions: counts.sessions, visitors: counts.visitors, at: Date.now() };
  $('online-n').textContent = nf(counts.sessions);
  $('online-unit').textContent = 'online now';
  $('visitors-n').textContent = nf(counts.visitors);
  $('online').dataset.sessions = counts.sessions;
  $('visitors').dataset.visitors = counts.visitors;
  document.title = `${nf(counts.sessions)} online · ${site} · herenow`;
  if (body.dataset.state === 'loading') body.dataset.state = 'ready';
  chart.setLive(counts);
  if (state.history) afterChartChange();
  if (!first) roomsSoon();
}

let countdown = null;
function onConn(conn, { polling, retryAt }) {
  const was = body.dataset.conn;
  body.dataset.conn = conn;
  const pill = $('conn');
  pill.dataset.state = conn;
  clearInterval(countdown);
  const notice = $('conn-notice');
  if (conn === 'live') {
    $('conn-text').textContent = polling ? 'Live · every 5 s' : 'Live';
    pill.title = polling ? 'Counts over HTTP every 5 seconds (a live socket could not open)' : 'Counts pushed as they change';
    notice.hidden = true;
    if (was === 'unreachable') {
      // back: everything again at once
      loadRooms();
      loadHistory();
    }
    return;
  }
  if (conn === 'connecting') {
    $('conn-text').textContent = 'Connecting…';
    return;
  }
  if (conn === 'unreachable') {
    $('conn-text').textContent = 'Offline';
    pill.title = 'The herenow server cannot be reached; retrying';
    if (was !== 'unreachable') state.lostAt = Date.now();
    const known = state.counts ? `The numbers below are from ${clock(state.lostAt)}.` : 'Nothing could be loaded yet.';
    const when = h('span', { id: 'retry-in' });
    const tick = () => {
      const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      when.textContent = s > 0 ? `Retrying in ${s} s.` : 'Retrying…';
    };
    tick();
    countdown = setInterval(tick, 1000);
    notice.replaceChildren(
      h('div', { class: 'notice-text' },
        h('strong', {}, 'Can’t reach the herenow server.'), ' ', when, ' ', known),
      h('button', { type: 'button', class: 'btn', onclick: () => feed.retryNow() }, 'Retry now'),
    );
    notice.dataset.kind = 'unreachable';
    notice.hidden = false;
  }
}

function onRefused(errCode, message) {
  body.dataset.state = 'refused';
  $('conn').dataset.state = 'refused';
  $('conn-text').textContent = 'Not available';
  const box = $('refused');
  const head = errCode === 'unknown_site'
    ? `herenow doesn’t know the site “${site}”.`
    : errCode === 'forbidden_origin'
      ? `The site “${site}” doesn’t allow this page’s origin.`
      : `The server refused the site “${site}”.`;
  box.replaceChildren(
    h('h2', {}, head),
    h('p', {}, errCode === 'unknown_site'
      ? ['Check ', code('?site='), ' in the address: it is the site key as configured in ', code('SITES'), ' (', code('wrangler.toml'), ').']
      : `The server said: ${message || errCode}`),
    h('p', { class: 'muted' }, `(${errCode})`),
  );
  box.hidden = false;
  document.title = `${errCode === 'unknown_site' ? 'Unknown site' : 'Not available'} · herenow`;
}

// ---------------------------------------------------------------------------------------------
// Access: public stats, or private stats and the token

function setAccess(access, error) {
  body.dataset.access = access;
  const chip = $('access');
  const notice = $('access-notice');
  if (access === 'token') {
    chip.hidden = false;
    const exp = Number(claims?.exp);
    $('access-text').textContent = Number.isFinite(exp) ? `Private · token until ${momentLabel(exp * 1000, locale)}` : 'Private · token';
  } else {
    chip.hidden = access !== 'private' && access !== 'refused' && access !== 'expired';
    $('access-text').textContent = 'Private';
  }
  if (access === 'public' || access === 'token' || access === 'unknown') {
    notice.hidden = true;
    return;
  }
  const expAt = Number(claims?.exp) * 1000;
  let title;
  let why;
  if (access === 'private') {
    title = 'This site’s stats are private.';
    why = ['The live count is public; its rooms and history need the owner’s stats token. Add it to the address as ', code('#token=…'), ', or paste it here:'];
  } else if (access === 'expired') {
    title = Number.isFinite(expAt) ? `The stats token expired at ${momentLabel(expAt, locale)}.` : 'The stats token expired.';
    why = ['Mint a new one and paste it here (it stays in this browser):'];
  } else {
    title = 'The stats token was refused.';
    // What the token says explains most refusals; else the server's own sentence.
    const reason = claims === null
      ? 'It is not a token herenow can read.'
      : claims.site !== site
        ? `It is for the site “${claims.site}”, not “${site}”.`
        : claims.scope !== 'stats'
          ? `Its scope is “${claims.scope}”; the dashboard needs “stats”.`
          : error?.message || 'It is not signed with this site’s secret.';
    why = [reason, ' Paste another one:'];
  }
  const input = h('input', {
    type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'eyJhbGciOiJIUzI1NiIs…',
    'aria-label': 'Stats token', required: true,
  });
  notice.replaceChildren(
    h('div', { class: 'notice-text' },
      h('strong', {}, title), ' ', ...why),
    h('form', {
      class: 'token-form',
      onsubmit: (e) => {
        e.preventDefault();
        const value = input.value.trim();
        if (value) location.hash = `token=${encodeURIComponent(value)}`;
      },
    }, input, h('button', { type: 'submit', class: 'btn' }, 'Open')),
    h('p', { class: 'notice-help' },
      'Mint one with ', code(`npm run token -- --scope stats --site ${site}`),
      ', or in your back end: an HS256 JWT ', code(`{"site":"${site}","sub":"owner","scope":"stats","exp":…}`), ' signed with the site’s secret.'),
  );
  notice.dataset.kind = access;
  notice.hidden = false;
}

/** A 401 from /v1/rooms or /v1/history: which of the access states it is. */
function refusedAccess(error) {
  if (!token) return setAccess('private', error);
  const exp = Number(claims?.exp);
  if (Number.isFinite(exp) && exp + LEEWAY_S < Date.now() / 1000) return setAccess('expired', error);
  return setAccess('refused', error);
}

function accessOk() {
  setAccess(token ? 'token' : 'public');
  // A token that runs out while the page is open: look again just after it has.
  clearTimeout(accessOk.timer);
  const exp = Number(claims?.exp);
  if (token && Number.isFinite(exp)) {
    const wait = (exp + LEEWAY_S + 1) * 1000 - Date.now();
    if (wait > 0 && wait < 2 ** 31 - 1) accessOk.timer = setTimeout(() => loadHistory(), wait);
  }
}

const locked = () => ['private', 'refused', 'expired'].includes(body.dataset.access);

// ---------------------------------------------------------------------------------------------
// The rooms

let roomsTimer = null;
let roomsInFlight = false;
let roomsToken; // the token the request in flight carries

/** After a count changed: rooms again, at most every ROOMS_MIN_GAP_MS. */
function roomsSoon() {
  if (roomsTimer || locked() || body.dataset.state === 'refused') return;
  const wait = Math.max(0, state.roomsAt + ROOMS_MIN_GAP_MS - Date.now());
  roomsTimer = setTimeout(() => {
    roomsTimer = null;
    loadRooms();
  }, wait);
}

async function loadRooms() {
  // a new token asks at once; the answer to the old one is then dropped
  if ((roomsInFlight && roomsToken === token) || body.dataset.state === 'refused') return;
  const asked = token;
  roomsInFlight = true;
  roomsToken = asked;
  state.roomsAt = Date.now();
  const card = $('rooms-card');
  try {
    const res = await api(`/v1/rooms?site=${encodeURIComponent(site)}&limit=${ROOMS_LIMIT}`);
    if (asked !== token) return;
    if (res.status === 200) {
      accessOk();
      renderRooms(res.body.rooms ?? []);
      card.dataset.state = res.body.rooms?.length ? 'ready' : 'empty';
      $('rooms-updated').textContent = `Updated ${clock(Date.now())}`;
    } else if (res.status === 401) {
      refusedAccess(res.body?.error);
      card.dataset.state = 'locked';
      $('rooms').replaceChildren();
    } else if (res.status === 403 || res.status === 400) {
      onRefused(res.body?.error?.code ?? `http_${res.status}`, res.body?.error?.message ?? '');
    } else {
      card.dataset.state = state.roomsShown ? 'ready' : 'error';
      $('rooms-msg-error').textContent = `Rooms could not be loaded (${res.body?.error?.message ?? `HTTP ${res.status}`}). Retrying.`;
    }
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    // the feed shows the server as unreachable; the last rooms stay, dimmed
  } finally {
    if (roomsToken === asked) roomsInFlight = false;
  }
}

function renderRooms(rooms) {
  state.roomsShown = true;
  const max = Math.max(1, ...rooms.map((r) => r.sessions));
  $('rooms').replaceChildren(
    ...rooms.map((r) => {
      const name = String(r.room);
      const other = name === '~other';
      const pct = Math.max(2, Math.round((r.sessions / max) * 100));
      return h('li', { 'data-room': name, 'data-sessions': r.sessions, 'data-visitors': r.visitors },
        h('span', { class: `room-name${other ? ' room-other' : ''}`, title: other ? 'Rooms past the site’s room limit, counted together' : name },
          other ? 'Other rooms' : name),
        h('span', { class: 'room-s' }, nf(r.sessions)),
        h('span', { class: 'room-v' }, nf(r.visitors)),
        h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${pct}%` })));
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// The history

const chart = new HistoryChart($('chart'), { locale });
let historySeq = 0;
let historyTimer = null;

function setRange(next, { save = true } = {}) {
  range = next;
  for (const b of document.querySelectorAll('.range button[data-range]')) b.setAttribute('aria-pressed', String(b.dataset.range === range));
  $('peak-range').textContent = RANGES[range].short;
  if (save) {
    const url = new URL(location.href);
    url.searchParams.set('range', range);
    history.replaceState(null, '', url); // keeps the fragment (and the token) where it was
    try {
      localStorage.setItem(RANGE_KEY, range);
    } catch {
      // storage blocked: the URL remembers
    }
  }
}

async function loadHistory() {
  if (body.dataset.state === 'refused') return;
  clearTimeout(historyTimer);
  const seq = ++historySeq;
  const asked = range;
  const card = $('history');
  if (!state.history || state.history.range !== asked) card.dataset.state = 'loading';
  let res;
  try {
    res = await api(`/v1/history?site=${encodeURIComponent(site)}&range=${asked}`);
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    if (seq === historySeq) {
      if (card.dataset.state === 'loading' && !state.history) card.dataset.state = 'error';
      $('chart-error').textContent = 'The history could not be loaded: the server cannot be reached.';
      // the feed retries; when it is back, onConn loads the history again
    }
    return;
  }
  if (seq !== historySeq) return; // a newer request (another range) won
  if (res.status === 200 && Array.isArray(res.body?.points) && res.body.points.length) {
    accessOk();
    state.history = res.body;
    state.historyAt = Date.now();
    chart.setData(res.body);
    afterChartChange();
    scheduleHistory(res.body);
  } else if (res.status === 401) {
    refusedAccess(res.body?.error);
    card.dataset.state = 'locked';
    state.history = null;
    $('peak-n').textContent = '–';
    $('peak-n').closest('.tile').dataset.none = '';
    $('peak-when').textContent = 'private';
  } else if (res.status === 403) {
    onRefused(res.body?.error?.code ?? 'http_403', res.body?.error?.message ?? '');
  } else {
    if (!state.history || state.history.range !== asked) card.dataset.state = 'error';
    $('chart-error').textContent = `The history could not be loaded (${res.body?.error?.message ?? `HTTP ${res.status}`}). Retrying.`;
    historyTimer = setTimeout(loadHistory, RETRY_MS);
  }
}

/** Loads the history again just after the step in progress ends (on the server's clock). */
function scheduleHistory(hist) {
  const last = hist.points[hist.points.length - 1].t;
  let wait = last + hist.step_ms - Date.now();
  // The server's clock, as far as the points tell, is not this one (or a test moved it): a step.
  if (wait < 0 || wait > hist.step_ms) wait = hist.step_ms;
  historyTimer = setTimeout(loadHistory, wait + 1500);
}

/** The chart's data changed (a history answer, or the live count raised the step in progress). */
function afterChartChange() {
  const card = $('history');
  if (!chart.data) return;
  card.dataset.state = chart.isEmpty() ? 'empty' : 'ready';
  $('chart-empty-range').textContent = RANGES[chart.data.range].label.toLowerCase();
  const peak = chart.isEmpty() ? null : chart.peak();
  const tile = $('peak-n').closest('.tile');
  if (peak) delete tile.dataset.none;
  else tile.dataset.none = '';
  if (peak) {
    $('peak-n').textContent = nf(peak.sessions);
    $('peak-when').textContent = `${momentLabel(peak.t, locale)} · ${nf(peak.visitors)} ${peak.visitors === 1 ? 'visitor' : 'visitors'}`;
  } else {
    $('peak-n').textContent = '0';
    $('peak-when').textContent = 'nobody yet';
  }
  if ($('table').open) renderTable();
}

function renderTable() {
  const d = chart.data;
  if (!d) return;
  const rows = [...d.points].reverse();
  $('table-body').replaceChildren(
    ...rows.map((p, i) => h('tr', {},
      h('th', { scope: 'row' }, stepLabel(p.t, d.step, locale) + (i === 0 ? ' (in progress)' : '')),
      h('td', {}, nf(p.sessions)),
      h('td', {}, nf(p.visitors)))),
  );
}

// ---------------------------------------------------------------------------------------------
// Start

let feed;

function start() {
  showSite();
  setRange(range, { save: false });
  for (const b of document.querySelectorAll('.range button[data-range]')) {
    b.addEventListener('click', () => {
      if (b.dataset.range === range) return;
      setRange(b.dataset.range);
      loadHistory();
    });
  }
  $('table').addEventListener('toggle', () => {
    if ($('table').open) renderTable();
  });
  addEventListener('hashchange', () => {
    const next = readToken();
    if (next === token) return;
    token = next;
    claims = decodeClaims(token);
    body.dataset.access = 'unknown';
    $('access-notice').hidden = true;
    $('rooms-card').dataset.state = 'loading';
    loadRooms();
    loadHistory();
  });

  if (!SITE_KEY.test(site)) {
    onRefused('unknown_site', '');
    return;
  }
  body.dataset.access = 'unknown';
  feed = new LiveCounts({ site, onCount, onState: onConn, onRefused });
  feed.start();
  loadRooms();
  loadHistory();
  setInterval(() => {
    if (body.dataset.conn === 'live' && !locked() && Date.now() - state.roomsAt >= ROOMS_EVERY_MS - 500) loadRooms();
  }, ROOMS_EVERY_MS);
}

start();
