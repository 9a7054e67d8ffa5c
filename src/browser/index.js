// The browser client's API, for every build: the classic script (script.js, window.herenow) and
// an ES module build (a second esbuild entry point over this file). Each starts the client once
// with start() before calling anything else.

import { isVisible } from './config.js';
import { defineElements } from './elements.js';
import { ids, listenToTabs, loadIds, stopListeningToTabs } from './ids.js';
import { idsReady, pauseCounts, resumeCounts } from './tracker.js';
import { safe } from './util.js';
import { closeStatusFeeds, reopenStatusFeeds } from './watch.js';

export { identify, setRoom, stop, subscribe, track, tracking, currentEntity } from './tracker.js';
export { watch } from './watch.js';
export { setDefaults } from './config.js';
export { defineElements };

/** This tab's session id and this browser's visitor id. */
export const sessionId = () => ids.session;
export const visitorId = () => ids.visitor;

let started = false;

/**
 * Starts the client: the ids (and the duplicated-tab check), and the page lifecycle. The tracked
 * session is present only while the page is visible; status feeds live until pagehide.
 */
export function start() {
  if (started) return;
  started = true;
  loadIds(idsReady);
  const show = safe(() => {
    if (isVisible()) {
      listenToTabs();
      resumeCounts();
    }
  });
  const hide = safe(pauseCounts);
  document.addEventListener('visibilitychange', () => (isVisible() ? show() : hide()));
  document.addEventListener('prerenderingchange', show);
  window.addEventListener('pagehide', safe(() => {
    hide();
    stopListeningToTabs();
    closeStatusFeeds();
  }));
  window.addEventListener('pageshow', safe((e) => {
    if (!e.persisted) return;
    show();
    reopenStatusFeeds();
  }));
}
