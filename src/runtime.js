// The runtime calls of a ping's hot path, each made here as one call from Wasm instead of one
// per header or per step: every call from Wasm into JS passes its strings through the Wasm
// memory both ways (the name out, the value back in), so five `headers.get` are five of those
// round trips where one template string is one. Used by src/worker/client_headers.rs and
// src/worker/guards.rs (the Worker), src/http.rs (a call to an object) and src/object/mod.rs
// (the object reading it). And one that is not hot, made here for the Wasm's size: a webhook's
// try (src/object/webhooks.rs).
// Header values never hold "\n" or "\0" (the Headers class refuses them), so "\n" parts them
// and "\0" says a header is absent.

const ABSENT = '\0';
const value = (headers, name) => headers.get(name) ?? ABSENT;

/** A client's headers that every ping reads, "\n"-joined, in the order of USUAL in Rust. */
export function usualHeaders(headers) {
  return `${value(headers, 'content-length')}\n${value(headers, 'origin')}\n${value(headers, 'cf-connecting-ip')}\n${value(headers, 'content-type')}\n${value(headers, 'user-agent')}`;
}

/**
 * A call to a site's object: `call` (base64url JSON, src/api/call.rs) in `herenow-call`, or in
 * `herenow-shard-call` for the objects' own protocol (`shard`); the client's `origin` in
 * `herenow-origin` when not undefined (a public call: its answer goes to the client as it is,
 * with the public headers for that origin); the WebSocket upgrade when `upgrade`. The stub's
 * `fetch` promise.
 */
export function callObject(env, name, call, shard, origin, upgrade) {
  const namespace = env.PRESENCE;
  if (namespace === undefined) throw new Error('the PRESENCE binding is missing');
  // a Headers object, not a plain one: the runtime converts a plain object's entries one by one
  // (about twice the CPU in a profile)
  const headers = new Headers();
  headers.set(shard ? 'herenow-shard-call' : 'herenow-call', call);
  if (origin !== undefined) headers.set('herenow-origin', origin);
  if (upgrade) headers.set('upgrade', 'websocket');
  return namespace.getByName(name).fetch('https://presence/', { headers });
}

/**
 * `env.ASSETS.fetch(input)`: a file of `public/` (`input` a request or a URL). Called here, not
 * through workers-rs's `Fetcher`, whose `fetch` links its `RequestInit` conversion (about 10 KB
 * of Wasm) even when no init is given.
 */
export function fetchAsset(env, input) {
  return env.ASSETS.fetch(input);
}

/** Whether the Worker has a rate limiter for pings (src/worker/guards.rs asks once per isolate). */
export function hasLimiter(env) {
  return env.PING_LIMITER !== undefined;
}

/** The limiter's answer for `key`: a promise of `{ success }`. */
export function askLimiter(env, key) {
  return env.PING_LIMITER.limit({ key });
}

/**
 * The call a request to an object carries: "c" and the site call, "p", the site call, "\n"
 * and the client's origin (a public call), "s" and a shard call, or "" when it carries none.
 */
export function callOf(request) {
  const headers = request.headers;
  const call = headers.get('herenow-call');
  if (call !== null) {
    const origin = headers.get('herenow-origin');
    return origin === null ? `c${call}` : `p${call}\n${origin}`;
  }
  const shard = headers.get('herenow-shard-call');
  return shard === null ? '' : `s${shard}`;
}

/**
 * One try of a webhook (src/object/webhooks.rs): a signed JSON POST to `url`, a promise of
 * whether it was answered 2xx within `timeoutMs` (a try that takes longer is aborted). Made here
 * in one call: built step by step from Rust, workers-rs's `RequestInit`, `Fetch` and a timer race
 * were about 15 KB of the Worker's Wasm for a request the object sends rarely.
 */
export async function postWebhook(url, body, signature, timeoutMs) {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'herenow-webhooks',
        'Herenow-Signature': signature,
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // the answer's body is not read: release it (whatever becomes of that, the try is decided)
    response.body?.cancel().catch(() => {});
    return response.ok;
  } catch {
    return false;
  }
}
