// Where the client talks to and what it calls a room. The entry point sets the defaults: the
// classic script reads its own <script data-*> tag, a module build would use import.meta.url.

const defaults = {
  endpoint: () => location.origin,
  site: () => '',
};

/**
 * The herenow deployment and the site key used when a call or an element names none: strings,
 * or functions read at each use (as the script tag's attributes are). herenow.configure().
 */
export function setDefaults({ endpoint, site } = {}) {
  const getter = (v) => (typeof v === 'function' ? v : () => String(v));
  if (endpoint) defaults.endpoint = getter(endpoint);
  if (site) defaults.site = getter(site);
}

export const defaultSite = () => defaults.site();

/** An endpoint as origin + path without trailing slashes; '' when it is not a URL. */
export function endpointOf(endpoint) {
  try {
    const url = new URL(endpoint || defaults.endpoint(), location.href);
    return url.origin + url.pathname.replace(/\/+$/, '');
  } catch (e) {
    return '';
  }
}

/** A room as the contract allows it (at most 256 characters), by default this page's path. */
export const roomOf = (room) => String(room == null || room === '' ? location.pathname : room).slice(0, 256) || '/';

/** The page can be seen: only then does its session count. */
export const isVisible = () => document.visibilityState !== 'hidden' && !document.prerendering;
