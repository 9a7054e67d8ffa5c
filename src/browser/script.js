// The classic script, public/herenow.js: <script src=".../herenow.js" data-site="..." defer>.
// Reads its own tag, installs window.herenow, tracks the page unless data-track="false", and
// defines the elements. docs/browser.md documents all of it.

import { defineElements, install } from './api.js';
import { setDefaults } from './config.js';
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
  const [herenow, isNew] = install(() => {
    // The tag's data-endpoint (else the origin it came from) and data-site are the defaults.
    setDefaults({ endpoint: () => attr('endpoint') || origin, site: () => attr('site') });
    try {
      identifyAtLoad(attr('entity'), attr('token'), attr('token-url'));
    } catch (e) {
      /* never into the page */
    }
  });
  if (!isNew) return; // another copy (this script twice, or herenow.mjs first) runs the page
  try {
    if (attr('site') && attr('track') !== 'false') herenow.track({ site: attr('site'), room: attr('room'), endpoint: attr('endpoint') });
  } catch (e) {
    /* never into the page */
  }
  defineElements();
}

try {
  main();
} catch (e) {
  /* never into the page */
}
