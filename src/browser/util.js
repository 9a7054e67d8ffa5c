// Small pieces every module of the browser client shares. The rule behind them: nothing in
// herenow ever throws into the host page, and each mistake the page's developer must fix is said
// once on the console, not once per heartbeat.

/** Does nothing: what an API call hands back when it could not start anything. */
export const nop = () => {};

/** `fn`, except that an exception stays inside herenow. */
export const safe = (fn) => (...args) => {
  try {
    return fn(...args);
  } catch (e) {
    /* never into the page */
  }
};

const warned = new Set();

/** `console.warn('herenow: ' + message)`, once per `key` for the life of the page. */
export function warnOnce(key, message) {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn('herenow: ' + message);
}

/** An exception from the page's own callback: reported as uncaught ones are, never rethrown. */
export function reportError(error) {
  (window.reportError || console.error)(error);
}

/** `fetch` options that give up after `ms`, where the browser can say so. */
export const timeoutAfter = (ms) => (AbortSignal.timeout ? { signal: AbortSignal.timeout(ms) } : {});

/**
 * A refused answer in the contract's shape, as `{code, text}` for warnings and callbacks. For a
 * refusal the page cannot cure itself (its origin, or its site, is not configured), the text also
 * says what to change and where: the deployment's SITES var.
 */
export function httpError(response, body, site) {
  const error = (body && body.error) || {};
  const code = error.code || 'http_' + response.status;
  const text = `HTTP ${response.status} ${error.code || ''}${error.message ? ': ' + error.message : ''}`;
  const origin = location.origin;
  const fix =
    code === 'forbidden_origin'
      ? `This page's origin is ${origin}: add "${origin}" to the "origins" of site "${site}" in the SITES var of the herenow deployment.`
      : code === 'unknown_site'
        ? `The SITES var of the herenow deployment has no site "${site}": add it there (with "${origin}" in its "origins"), or correct the site this page names.`
        : '';
  return { code, text: fix ? `${text.trimEnd().replace(/\.$/, '')}. ${fix}` : text };
}

/** A 4xx other than 429: the server will answer the same next time, so retrying is pointless. */
export const isFinalRefusal = (status) => status >= 400 && status < 500 && status !== 429;

/** Sends JSON as text/plain: a "simple" request (no CORS preflight), as sendBeacon sends it. */
export const TEXT_BODY = { 'Content-Type': 'text/plain' };
