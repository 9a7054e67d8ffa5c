// The `herenow` object: window.herenow for both builds (the classic script and the ES module),
// and the module's default export. Whichever build a page loads first installs it; a second
// copy (the other build, or the same one twice) uses that one instead of starting another
// tracker, so a page never counts itself twice.

import {
  currentEntity,
  defineElements,
  identify,
  members,
  sessionId,
  setDefaults,
  setRoom,
  signal,
  signalEnd,
  start,
  stop,
  subscribe,
  track,
  tracking,
  visitorId,
  watch,
} from './index.js';

/**
 * The page's herenow: the one already installed, or a new one (started, installed as
 * window.herenow, elements defined), after `before()` ran (defaults, an identity).
 * Returns `[herenow, isNew]`.
 */
export function install(before) {
  if (window.herenow) return [window.herenow, false];
  if (before) before();
  start();
  const herenow = Object.freeze({
    subscribe,
    watch,
    members,
    track,
    identify,
    setRoom,
    signal,
    signalEnd,
    stop,
    configure: setDefaults,
    get session() {
      return sessionId();
    },
    get visitor() {
      return visitorId();
    },
    get identity() {
      return currentEntity();
    },
    get tracking() {
      return tracking();
    },
  });
  window.herenow = herenow;
  return [herenow, true];
}

export { defineElements };
