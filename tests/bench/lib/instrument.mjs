// Runs INSIDE workerd, in the isolate of the Worker under test (herenow and the Worker peers).
// It lets the bench read, without touching the code under test:
//   - how many Durable Object instances were constructed (a wake from hibernation constructs
//     the object again, so this is how the bench knows an object really hibernated);
//   - rows written to SQLite, summed from the cursors' `rowsWritten` (what the platform bills),
//     and keys written through the key-value API (`storage.put` / `storage.delete`);
//   - what Cloudflare bills per object (`objects`, by the name the object was found with):
//     requests that reached it (`fetch`), alarms run, WebSocket messages and closes that reached
//     its code (the runtime's `ping` auto-response does not), `setAlarm` calls (a row written
//     each), rows written and read, and the wall time during which it had an event in flight;
//   - requests that reached the Worker (the bench's own `/__bench/` and `/v1/_test/` excluded),
//     and of those the WebSocket upgrades.
// One isolate serves the Worker and all its objects, so module state here is shared by them.
// The patch wraps the prototype methods once; each call costs one extra JS call.

export const stats = {
  constructed: 0,
  /** Constructions per object, by the name the object was found with (the site). */
  constructedBy: {},
  /** [name, Date.now()] of the first constructions. */
  constructedAt: [],
  sqlExecs: 0,
  rowsWritten: 0,
  rowsRead: 0,
  kvKeysWritten: 0,
  setAlarms: 0,
  workerRequests: 0,
  workerUpgrades: 0,
  /** Per object name: see objectStats(). */
  objects: {},
  /** Exceptions that escaped a microtask or a promise (the first few), for diagnosis. */
  uncaught: [],
  uncaughtCount: 0,
};

function noteUncaught(err) {
  stats.uncaughtCount += 1;
  if (stats.uncaught.length < 5) stats.uncaught.push(String(err?.stack ?? err).slice(0, 800));
}

// wasm-bindgen's futures run on queueMicrotask; an exception that escapes one of its callbacks
// reaches the global `error` event. (queueMicrotask itself is not wrapped: a closure and a
// try/catch around every call would bill the Wasm targets, whose every `await` is one, for the
// bench's own code: 3% of a heartbeat's CPU in a profile.)
globalThis.addEventListener?.('error', (event) => noteUncaught(event.error ?? event.message));
globalThis.addEventListener?.('unhandledrejection', (event) => noteUncaught(event.reason));

// Cursors whose statement may not have run to completion yet: workerd runs a statement lazily
// as its cursor is read, and `rowsWritten` grows as it runs. Most writes finish inside exec().
const open = new Set();

function settle() {
  for (const c of open) {
    // A cursor is done once its iterator is exhausted; reading `rowsWritten` is always allowed.
    const written = c.rowsWritten - (c.__benchCounted ?? 0);
    const read = c.rowsRead - (c.__benchRead ?? 0);
    stats.rowsWritten += written;
    stats.rowsRead += read;
    if (c.__benchObject) {
      c.__benchObject.rowsWritten += written;
      c.__benchObject.rowsRead += read;
    }
    c.__benchCounted = c.rowsWritten;
    c.__benchRead = c.rowsRead;
  }
  // Keep only a bounded number of cursors around; older ones are long finished.
  if (open.size > 256) open.clear();
}

let patched = false;

/** The figures of one object (by name), created on first use. */
function objectStats(name) {
  return (stats.objects[name] ??= {
    requests: 0,
    alarms: 0,
    wsMessages: 0,
    wsCloses: 0,
    wsErrors: 0,
    setAlarms: 0,
    rowsWritten: 0,
    rowsRead: 0,
    kvKeysWritten: 0,
    /** Wall time (ms, the runtime's clock) with at least one event of the object in flight. */
    activeMs: 0,
    inflight: 0,
    activeFrom: 0,
  });
}

// The object an instance, its storage or its SQL handle belongs to (a name per object).
const names = new WeakMap();
const nameOf = (x) => (x && names.get(x)) ?? '?';

/** Call from the Durable Object's constructor (before the object's own code runs). */
export function noteConstructed(ctx) {
  stats.constructed += 1;
  const name = ctx.id?.name ?? String(ctx.id);
  stats.constructedBy[name] = (stats.constructedBy[name] ?? 0) + 1;
  if (stats.constructedAt.length < 50) stats.constructedAt.push([name, Date.now()]);
  try {
    names.set(ctx.storage, name);
    names.set(ctx.storage.sql, name);
  } catch {
    // no SQL storage: the rows are then counted without a name
  }
  if (patched) return;
  patched = true;
  const storage = ctx.storage;
  const sql = storage?.sql;
  if (sql) {
    const proto = Object.getPrototypeOf(sql);
    const exec = proto.exec;
    proto.exec = function benchExec(...args) {
      const cursor = exec.apply(this, args);
      stats.sqlExecs += 1;
      try {
        cursor.__benchCounted = cursor.rowsWritten;
        cursor.__benchRead = cursor.rowsRead;
        cursor.__benchObject = objectStats(nameOf(this));
        stats.rowsWritten += cursor.__benchCounted;
        stats.rowsRead += cursor.__benchRead;
        cursor.__benchObject.rowsWritten += cursor.__benchCounted;
        cursor.__benchObject.rowsRead += cursor.__benchRead;
        open.add(cursor);
      } catch {
        // a cursor without the counters: nothing to add
      }
      return cursor;
    };
  }
  const sproto = Object.getPrototypeOf(storage);
  for (const name of ['put', 'delete']) {
    const original = sproto[name];
    if (typeof original !== 'function') continue;
    sproto[name] = function benchKv(keyOrEntries, ...rest) {
      let keys = 1;
      if (Array.isArray(keyOrEntries)) keys = keyOrEntries.length;
      else if (keyOrEntries && typeof keyOrEntries === 'object') keys = Object.keys(keyOrEntries).length;
      stats.kvKeysWritten += keys;
      objectStats(nameOf(this)).kvKeysWritten += keys;
      return original.call(this, keyOrEntries, ...rest);
    };
  }
  const setAlarm = sproto.setAlarm;
  if (typeof setAlarm === 'function') {
    sproto.setAlarm = function benchSetAlarm(...args) {
      stats.setAlarms += 1;
      objectStats(nameOf(this)).setAlarms += 1;
      return setAlarm.apply(this, args);
    };
  }
}

/** Call from the constructor once the object exists (`instance` is what the runtime calls). */
export function noteInstance(instance, ctx) {
  names.set(instance, ctx.id?.name ?? String(ctx.id));
}

const HANDLERS = { fetch: 'requests', alarm: 'alarms', webSocketMessage: 'wsMessages', webSocketClose: 'wsCloses', webSocketError: 'wsErrors' };

/**
 * Wraps the event handlers `Base` has (and only those: the runtime looks at which exist) on
 * `Wrapped`, its subclass, so that each event is counted for its object and the object's
 * active time (some event in flight, from its start until its promise settles) is summed.
 * The runtime's clock moves only on I/O, so the time of pure computation shows as none.
 */
export function wrapHandlers(Wrapped, Base) {
  for (const [method, counter] of Object.entries(HANDLERS)) {
    const original = Base.prototype[method];
    if (typeof original !== 'function') continue;
    Object.defineProperty(Wrapped.prototype, method, {
      configurable: true,
      writable: true,
      value: function benchHandler(...args) {
        const o = objectStats(nameOf(this));
        o[counter] += 1;
        if (o.inflight++ === 0) o.activeFrom = Date.now();
        const done = () => {
          if (--o.inflight === 0) o.activeMs += Date.now() - o.activeFrom;
        };
        let result;
        try {
          result = original.apply(this, args);
        } catch (err) {
          done();
          throw err;
        }
        if (result && typeof result.then === 'function') {
          return result.then(
            (value) => {
              done();
              return value;
            },
            (err) => {
              done();
              throw err;
            },
          );
        }
        done();
        return result;
      },
    });
  }
}

/** Call for each request the Worker's entry gets. */
export function noteWorkerRequest(request) {
  const url = request.url;
  if (url.includes('/__bench/') || url.includes('/v1/_test/')) return;
  stats.workerRequests += 1;
  if (request.headers.get('upgrade') === 'websocket') stats.workerUpgrades += 1;
}

/** The answer of `GET /__bench/stats` (served by the Worker entry wrapper). */
export function statsResponse() {
  settle();
  // workers-rs's shim keeps whether the Wasm instance hit a critical error and how often it
  // was re-instantiated (after a panic or an exception through Wasm).
  const init = globalThis.__worker_init_state;
  const body = { ...stats, wasmInstanceId: init?.instanceId ?? null, wasmCriticalError: init?.criticalError ?? null };
  return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
}
