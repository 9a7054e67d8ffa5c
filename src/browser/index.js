// The browser client's API, for every build: the classic script (script.js) and the ES module
// (module.js), both through api.js (window.herenow). Each starts the client once with start()
// before calling anything else.

import { isVisible } from './config.js';
import { hideCounts, resumeCounts } from './counts.js';
import { defineElements } from './elements.js';
import { hideAllFeeds, showAllFeeds } from './feeds.js';
import { ids, listenToTabs, loadIds, stopListeningToTabs } from './ids.js';
import { checkTokensDue } from './tokens.js';
import { idsReady } from './tracker.js';
import { safe } from './util.js';

export { subscribe } from './counts.js';
export { identify, setRoom, signal, signalEnd, stop, track, tracking, currentEntity } from './tracker.js';
export { watch } from './watch.js';
export { members } from './members.js';
export { setDefaults } from './config.js';
export { defineElements };

/** This tab's session id and this browser's visitor id. */
export const sessionId = () => ids.session;
export const visitorId = () => ids.visitor;

let started = false;

/**
 * Starts the client: the ids (and the duplicated-tab check), and the page lifecycle. The tracked
 * session counts only while the page is visible (hidden, it leaves, or goes away when it carries
 * an entity); status and members feeds live until pagehide.
 */
export function start() {
  if (started) return;
  started = true;
  loadIds(idsReady);
  // Between pagehide and a pageshow from the back/forward cache: an unloading page turns hidden
  // after its pagehide, and that must not make its session go away again after it left.
  let gone = false;
  const show = safe(() => {
    if (gone || !isVisible()) return;
    listenToTabs();
    checkTokensDue(); // a background tab's timers may have held a renewal back
    resumeCounts();
  });
  const hide = safe(() => {
    if (!gone) hideCounts();
  });
  document.addEventListener('visibilitychange', () => (isVisible() ? show() : hide()));
  document.addEventListener('prerenderingchange', show);
  window.addEventListener('pagehide', safe(() => {
    gone = true;
    hideAllFeeds(); // the tracked session leaves; every feed closes
    stopListeningToTabs();
  }));
  window.addEventListener('pageshow', safe((e) => {
    if (!e.persisted) return;
    gone = false;
    showAllFeeds();
    show();
  }));
}
