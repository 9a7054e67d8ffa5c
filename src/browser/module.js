// The ES module, public/herenow.mjs:
//   import { track, subscribe, watch, members } from 'https://herenow.example.com/herenow.mjs';
// The same client as the classic script (one set of sources, two builds). Importing it defines
// the elements and installs window.herenow, and tracks nothing until track() is called. Its
// default endpoint is the origin it was loaded from; configure({site, endpoint}) sets the
// defaults that the classic script reads from its tag. If the classic script is already on the
// page, these exports use it (one tracker per page).

import { defineElements, install } from './api.js';
import { setDefaults } from './config.js';

let origin = '';
try {
  origin = new URL(import.meta.url).origin;
} catch (e) {
  /* a bundler inlined it: this page's origin */
}

const inert = () => () => {}; // what a call hands back if herenow could not start at all
let herenow;
try {
  [herenow] = install(() => {
    if (origin && origin !== 'null') setDefaults({ endpoint: () => origin });
  });
  defineElements();
} catch (e) {
  // never into the page: an import that fails would break the importing module
  herenow = window.herenow || { subscribe: inert, watch: inert, members: inert, track() {}, identify() {}, setRoom() {}, signal() {}, signalEnd() {}, stop() {}, configure() {} };
}

export default herenow;
export const subscribe = (options, callback) => herenow.subscribe(options, callback);
export const watch = (options, callback) => herenow.watch(options, callback);
export const members = (options, callback) => herenow.members(options, callback);
export const track = (options) => herenow.track(options);
export const identify = (entity, token) => herenow.identify(entity, token);
export const setRoom = (room) => herenow.setRoom(room);
// an older copy of the classic script installed first may not have them
export const signal = (name) => herenow.signal && herenow.signal(name);
export const signalEnd = (name) => herenow.signalEnd && herenow.signalEnd(name);
export const stop = () => herenow.stop();
export const configure = (defaults) => herenow.configure(defaults);
