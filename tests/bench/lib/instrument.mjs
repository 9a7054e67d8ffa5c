// Runs INSIDE workerd, in the isolate of the Worker under test (herenow and the Worker peers).
// It lets the bench read, without touching the code under test:
//   - how many Durable Object instances were constructed (a wake from hibernation constructs
//     the object again, so this is how the bench knows an object really hibernated);
//   - rows written to SQLite, summed from the cursors' `rowsWritten` (what the platform bills),
//     and keys written through the key-value API (`storage.put` / `storage.delete`).
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
  /** Exceptions that escaped a microtask or a promise (the first few), for diagnosis. */
  uncaught: [],
  uncaughtCount: 0,
};

function noteUncaught(err) {
  stats.uncaughtCount += 1;
  if (stats.uncaught.length < 5) stats.uncaught.push(String(err?.stack ?? err).slice(0, 800));
}

// wasm-bindgen's futures run on queueMicrotask; an exception that escapes one of its callbacks
// would otherwise leave no trace here.
const queueMicrotaskOriginal = globalThis.queueMicrotask;
globalThis.queueMicrotask = (callback) =>
  queueMicrotaskOriginal(() => {
    try {
      callback();
    } catch (err) {
      noteUncaught(err);
      throw err;
    }
  });
globalThis.addEventListener?.('unhandledrejection', (event) => noteUncaught(event.reason));

// Cursors whose statement may not have run to completion yet: workerd runs a statement lazily
// as its cursor is read, and `rowsWritten` grows as it runs. Most writes finish inside exec().
const open = new Set();

function settle() {
  for (const c of open) {
    // A cursor is done once its iterator is exhausted; reading `rowsWritten` is always allowed.
    stats.rowsWritten += c.rowsWritten - (c.__benchCounted ?? 0);
    stats.rowsRead += c.rowsRead - (c.__benchRead ?? 0);
    c.__benchCounted = c.rowsWritten;
    c.__benchRead = c.rowsRead;
  }
  // Keep only a bounded number of cursors around; older ones are long finished.
  if (open.size > 256) open.clear();
}

let patched = false;

/** Call from the Durable Object's constructor (before the object's own code runs). */
export function noteConstructed(ctx) {
  stats.constructed += 1;
  const name = ctx.id?.name ?? String(ctx.id);
  stats.constructedBy[name] = (stats.constructedBy[name] ?? 0) + 1;
  if (stats.constructedAt.length < 50) stats.constructedAt.push([name, Date.now()]);
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
        stats.rowsWritten += cursor.__benchCounted;
        stats.rowsRead += cursor.__benchRead;
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
      return original.call(this, keyOrEntries, ...rest);
    };
  }
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
