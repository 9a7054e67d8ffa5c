// Runs a Worker for the bench under plain `workerd serve` (no wrangler dev, no Miniflare entry
// worker in front): a generated Cap'n Proto config with one socket on 127.0.0.1, the Worker's
// modules, its Durable Object namespaces backed by SQLite on a local disk directory, and its
// vars as text bindings. No rate-limiting binding is configured, so herenow's `PING_LIMITER`
// is absent and the Worker lets every request pass (as src/worker.rs documents).
//
// Every Worker is wrapped by a generated entry module (see entryModule) that
//   - counts Durable Object constructions, SQLite rows written, and per object what Cloudflare
//     bills (requests, alarms, socket events, `setAlarm`), and the Worker's requests
//     (lib/instrument.mjs), and
//   - answers `GET /__bench/stats` with those counters, before the Worker's own routing.
// The wrapped Worker's own modules are embedded unchanged.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './util.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..', '..');
export const WORKERD = path.join(ROOT, 'node_modules', 'workerd', 'bin', 'workerd');
const INSTRUMENT = path.join(HERE, 'instrument.mjs');

/** The same compatibility date as wrangler.toml, for every Worker in the bench. */
export const COMPATIBILITY_DATE = readCompatibilityDate();

function readCompatibilityDate() {
  const toml = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const m = toml.match(/^compatibility_date\s*=\s*"([^"]+)"/m);
  if (!m) throw new Error('wrangler.toml has no compatibility_date');
  return m[1];
}

/** A Cap'n Proto text literal (JSON string escapes are valid capnp escapes for ASCII). */
const lit = (s) => JSON.stringify(String(s));

/** `embed` paths are read relative to the config file (absolute paths are refused). */
const embed = (dir, file) => `embed ${lit(path.relative(dir, file))}`;

/**
 * The entry module: re-exports the Worker with each Durable Object class wrapped so that its
 * construction and its events are counted (and storage instrumented), and the default export
 * wrapped to count its requests and to answer `/__bench/stats`. Works for a default export that is a class (workers-rs emits a
 * WorkerEntrypoint subclass) or a plain `{ fetch }` object.
 */
function entryModule(main, classes) {
  const lines = [
    `import * as inner from ${lit(`./${main}`)};`,
    `import { noteConstructed, noteInstance, noteWorkerRequest, statsResponse, wrapHandlers } from "./bench-instrument.mjs";`,
    `const isStats = (req) => (noteWorkerRequest(req), req.url.endsWith("/__bench/stats"));`,
  ];
  for (const c of classes) {
    lines.push(
      `export class ${c} extends inner.${c} { constructor(ctx, env) { noteConstructed(ctx); super(ctx, env); noteInstance(this, ctx); } }`,
      `wrapHandlers(${c}, inner.${c});`,
    );
  }
  lines.push(
    `const Inner = inner.default;`,
    `export default typeof Inner === "function"`,
    `  ? class extends Inner { fetch(req) { return isStats(req) ? statsResponse() : super.fetch(req); } }`,
    `  : { fetch(req, env, ctx) { return isStats(req) ? statsResponse() : Inner.fetch(req, env, ctx); } };`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the config for one Worker into `dir` and returns its path.
 * `modules`: [{ name, path, type: 'esModule' | 'wasm' | 'text' }]; `main` is the name of the
 * Worker's own main module; `classes` its Durable Object classes (SQLite-backed).
 */
export function writeConfig({ dir, port, modules, main, classes, bindings = {}, doBindings = {} }) {
  fs.mkdirSync(path.join(dir, 'do'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'bench-entry.mjs'), entryModule(main, classes));
  const mods = [
    `(name = "bench-entry.mjs", esModule = ${embed(dir, path.join(dir, 'bench-entry.mjs'))})`,
    `(name = "bench-instrument.mjs", esModule = ${embed(dir, INSTRUMENT)})`,
    ...modules.map((m) => `(name = ${lit(m.name)}, ${m.type} = ${embed(dir, m.path)})`),
  ];
  const binds = [
    ...Object.entries(doBindings).map(
      ([name, className]) => `(name = ${lit(name)}, durableObjectNamespace = (className = ${lit(className)}))`,
    ),
    ...Object.entries(bindings).map(([name, value]) => `(name = ${lit(name)}, text = ${lit(value)})`),
  ];
  const namespaces = classes.map(
    (c) => `(className = ${lit(c)}, uniqueKey = ${lit(`bench-${c}`)}, enableSql = true)`,
  );
  const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    (name = "do-disk", disk = (path = ${lit(path.join(dir, 'do'))}, writable = true)),
  ],
  sockets = [(name = "http", address = ${lit(`127.0.0.1:${port}`)}, http = (), service = "main")],
);

const mainWorker :Workerd.Worker = (
  modules = [
    ${mods.join(',\n    ')},
  ],
  compatibilityDate = ${lit(COMPATIBILITY_DATE)},
  bindings = [
    ${binds.join(',\n    ')},
  ],
  durableObjectNamespaces = [
    ${namespaces.join(',\n    ')},
  ],
  durableObjectStorage = (localDisk = "do-disk"),
);
`;
  const file = path.join(dir, 'config.capnp');
  fs.writeFileSync(file, config);
  return file;
}

/**
 * Starts `workerd serve` on the config, pinned to `cpus` with taskset when given, and waits
 * until `GET /__bench/stats` answers. Returns { pid, base, stop(), logs() }.
 */
export async function startWorkerd({ config, port, cpus, readyTimeoutMs = 30_000, logFile, inspectorPort }) {
  const args = ['serve', config, '--experimental'];
  if (inspectorPort) args.push(`--inspector-addr=127.0.0.1:${inspectorPort}`);
  // The runtime's own log (uncaught errors, resets) when asked for: HERENOW_BENCH_VERBOSE=1.
  if (process.env.HERENOW_BENCH_VERBOSE === '1') args.push('--verbose');
  const [cmd, argv] = cpus ? ['taskset', ['-c', cpus, WORKERD, ...args]] : [WORKERD, args];
  const out = fs.openSync(logFile, 'w');
  const child = spawn(cmd, argv, { stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  let exited = null;
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  let last = 'no answer';
  for (let round = 0; round < 1000; round++) {
    if (exited || performance.now() - started > readyTimeoutMs) break;
    try {
      const res = await fetch(`${base}/__bench/stats`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        await res.text();
        return {
          pid: child.pid,
          base,
          readyMs: performance.now() - started,
          logs: () => fs.readFileSync(logFile, 'utf8'),
          stop: () => stopChild(child, exitPromise),
        };
      }
      last = `${res.status}`;
    } catch (err) {
      last = String(err.cause?.code ?? err.message);
    }
    await sleep(100);
  }
  await stopChild(child, exitPromise);
  throw new Error(`workerd did not become ready (${exited ? `exited ${JSON.stringify(exited)}` : last}):\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
}

/** SIGTERM, then SIGKILL after 3 s; the child runs in its own process group. */
export async function stopChild(child, exitPromise) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const done = await Promise.race([exitPromise.then(() => true), sleep(3000).then(() => false)]);
  if (!done) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await Promise.race([exitPromise, sleep(2000)]);
  }
}
