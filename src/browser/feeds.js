// The feeds a page holds, in one shape for every kind: count feeds (counts.js), status feeds
// (watch.js) and members feeds (members.js). A registry keeps each kind's feeds by key: a feed is
// shared by every subscription with the same key, made on first use and dropped when its last
// subscription goes. The page's lifecycle reaches them all here: on pagehide every feed closes
// (a page in the back/forward cache holds no socket); a pageshow from that cache opens them
// again. Each feed has `pageHide()` and `pageShow()`.

import { reportError, safe } from './util.js';

const registries = [];
let gone = false; // between pagehide and a pageshow from the back/forward cache

/** The page was hidden for good or put in the back/forward cache: no feed may connect now. */
export const pageGone = () => gone;

export class FeedRegistry {
  constructor() {
    this.feeds = new Map();
    registries.push(this);
  }

  /** The feed of `key`, made by `make()` the first time. */
  get(key, make) {
    let feed = this.feeds.get(key);
    if (!feed) this.feeds.set(key, (feed = make()));
    return feed;
  }

  /** Forgets `feed`, if it is still the one of `key` (its last subscription went). */
  drop(key, feed) {
    if (this.feeds.get(key) !== feed) return false;
    this.feeds.delete(key);
    return true;
  }

  values() {
    return [...this.feeds.values()];
  }

  entries() {
    return [...this.feeds.entries()];
  }
}

/** pagehide: every feed of every kind closes. */
export function hideAllFeeds() {
  gone = true;
  for (const r of registries) r.values().forEach(safe((feed) => feed.pageHide()));
}

/** pageshow from the back/forward cache: every feed opens again. */
export function showAllFeeds() {
  gone = false;
  for (const r of registries) r.values().forEach(safe((feed) => feed.pageShow()));
}

/** Calls a page's callback with `value`; what it throws is reported, never thrown into herenow. */
export function deliver(callback, value) {
  try {
    callback(value);
  } catch (e) {
    reportError(e);
  }
}
