// This tab's session id and this browser's visitor id, and the syntax of entity ids.
//
// The session id lives in sessionStorage so that a reload keeps the same session; a duplicated
// tab copies sessionStorage, so before the tracker may use the id it asks the other tabs whether
// the id is theirs (`ids.ready` says the question was answered). The visitor id lives in
// localStorage, or comes from a `pv_id` cookie the site set. Where storage is blocked the ids
// live in memory for this page only.

import { safe } from './util.js';

const SESSION_KEY = 'herenow:session';
const VISITOR_KEY = 'herenow:visitor';
/** Tabs of one browser talk over this BroadcastChannel; older herenow.js versions use it too. */
const TABS_CHANNEL = 'herenow:tabs';
/** How long a new tab waits for another tab to say "that session id is mine". */
const TWIN_WAIT_MS = 60;

/** Session and visitor ids, as the contract allows them. */
export const ID = /^[\w-]{8,64}$/;
/** Entity ids: 1-128 characters of A-Z a-z 0-9 . _ : @ - */
export const ENTITY_ID = /^[\w.:@-]{1,128}$/;

/** `ready`: the session id was checked against other tabs, so the tracker may join with it. */
export const ids = { session: '', visitor: '', ready: false };

/** `prefix` and 20 random hex digits. */
export function randomId(prefix) {
  const bytes = new Uint8Array(10);
  try {
    crypto.getRandomValues(bytes);
  } catch (e) {
    bytes.forEach((_, i) => {
      bytes[i] = Math.random() * 256;
    });
  }
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function kept(area, key, fresh) {
  let id = null;
  try {
    id = window[area].getItem(key);
  } catch (e) {
    /* storage blocked */
  }
  if (!ID.test(id || '')) {
    id = fresh();
    try {
      window[area].setItem(key, id);
    } catch (e) {
      /* kept in memory */
    }
  }
  return id;
}

function visitorCookie() {
  try {
    return (/(?:^|;\s*)pv_id=([\w-]{8,64})(?:;|$)/.exec(document.cookie) || [])[1];
  } catch (e) {
    return null;
  }
}

let channel = null;

/**
 * Reads (or makes) the ids and asks the other tabs about the session id; calls `onReady` once
 * the answer can no longer come, when the tracker may join.
 */
export function loadIds(onReady) {
  ids.session = kept('sessionStorage', SESSION_KEY, () => randomId('s_'));
  ids.visitor = visitorCookie() || kept('localStorage', VISITOR_KEY, () => randomId('v_'));
  try {
    listenToTabs();
    if (channel) channel.postMessage({ q: ids.session });
  } catch (e) {
    /* alone */
  }
  setTimeout(
    safe(() => {
      ids.ready = true;
      onReady();
    }),
    channel ? TWIN_WAIT_MS : 0,
  );
}

/**
 * Answers other tabs' questions (`{q: id}` -> `{dup: id}` when it is ours), and takes a new
 * session id when the answer to our own question says that a twin tab holds it. Called again
 * when a page comes back from the back/forward cache, as pagehide closed the channel.
 */
/**
 * This tab becomes a new session (another person signed in, or out: a session that carried an
 * entity is that entity's, and no other may touch it). Answers the id of the old one.
 */
export function newSession() {
  const old = ids.session;
  ids.session = randomId('s_');
  try {
    sessionStorage.setItem(SESSION_KEY, ids.session);
  } catch (x) {
    /* kept in memory */
  }
  return old;
}

export function listenToTabs() {
  if (channel || !window.BroadcastChannel) return;
  try {
    channel = new BroadcastChannel(TABS_CHANNEL);
    channel.onmessage = safe((e) => {
      const m = e.data || {};
      if (ids.ready && m.q === ids.session) channel.postMessage({ dup: m.q });
      else if (!ids.ready && m.dup === ids.session) {
        ids.session = randomId('s_');
        try {
          sessionStorage.setItem(SESSION_KEY, ids.session);
        } catch (x) {
          /* kept in memory */
        }
      }
    });
  } catch (e) {
    channel = null;
  }
}

/** pagehide: a page in the back/forward cache must hold no open channel. */
export function stopListeningToTabs() {
  if (channel) {
    channel.close();
    channel = null;
  }
}
