// The classic script, public/herenow.js: <script src=".../herenow.js" data-site="..." defer>.
// Reads its own tag, installs window.herenow, tracks the page unless data-track="false", and
// defines the elements. The Browser API section of the README documents all of it.

import {
  currentEntity,
  defineElements,
  identify,
  sessionId,
  setDefaults,
  setRoom,
  start,
  stop,
  subscribe,
  track,
  tracking,
  visitorId,
  watch,
} from './index.js';
import { identifyAtLoad } from './tracker.js';

function main() {
  const tag =
    document.currentScript ||
    document.querySelector('script[src*="herenow"][data-site]') ||
    document.querySelector('script[src*="herenow"]');
  const attr = (name) => (tag && tag.getAttribute('data-' + name)) || '';
  let origin = location.origin;
  try {
    origin = new URL(tag.src, location.href).origin;
  } catch (e) {
    /* an inline script: this page's origin */
  }
  setDefaults({ endpoint: () => attr('endpoint') || origin, site: () => attr('site') });
  start();

  window.herenow = Object.freeze({
    subscribe,
    setRoom,
    track,
    stop,
    identify,
    watch,
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

  try {
    identifyAtLoad(attr('entity'), attr('token'));
    if (attr('site') && attr('track') !== 'false') track({ site: attr('site'), room: attr('room'), endpoint: attr('endpoint') });
  } catch (e) {
    /* never into the page */
  }
  defineElements();
}

if (!window.herenow) {
  try {
    main();
  } catch (e) {
    /* never into the page */
  }
}
