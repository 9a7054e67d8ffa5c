// The systems under test: how each one is built, started and spoken to. The driver only uses
// the verbs here (liveUrl, ping body, join), so every target gets the same load.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { ROOT, startWorkerd, stopChild, writeConfig } from './workerd.mjs';
import { sleep } from './util.mjs';

const PEERS = path.join(ROOT, 'tests', 'bench', 'peers');

/** Vars of herenow as in wrangler.toml (the contract's defaults), plus the bench's sites. */
export function herenowVars(sites) {
  const toml = fs.readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const vars = {};
  const block = toml.split(/^\[vars\]\s*$/m)[1]?.split(/^\[/m)[0] ?? '';
  for (const m of block.matchAll(/^([A-Z_]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/gm)) vars[m[1]] = m[2] ?? m[3];
  vars.SITES = JSON.stringify(Object.fromEntries(sites.map((s) => [s, { origins: ['*'] }])));
  // GET /v1/_test/memory (the Wasm memory of the object, and rows written when the build has it).
  vars.HERENOW_TEST_HOOKS = 'true';
  // All of the bench's clients are one address (127.0.0.1, and no CF-Connecting-IP): the
  // per-address ceilings (64 sessions, 128 sockets by default) are lifted to their maxima, as
  // the rate limiter is (tests/bench/hostile.mjs measures them).
  vars.MAX_SESSIONS_PER_ADDRESS = '1000000';
  vars.MAX_SOCKETS_PER_ADDRESS = '32000';
  return vars;
}

/** esbuild the way `wrangler deploy` does by default: one ES module, bundled, not minified. */
async function bundle(entry, outfile) {
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:workers'],
    target: 'es2022',
    logLevel: 'silent',
  });
  return outfile;
}

function sizes(files) {
  const out = { files: {}, raw: 0, gzip: 0 };
  const all = [];
  for (const [label, file] of Object.entries(files)) {
    const buf = fs.readFileSync(file);
    all.push(buf);
    out.files[label] = { raw: buf.length, gzip: gzipSync(buf).length };
  }
  // wrangler's "Total Upload ... gzip": the modules concatenated, gzip at zlib's default level.
  const joined = Buffer.concat(all);
  out.raw = joined.length;
  out.gzip = gzipSync(joined).length;
  return out;
}

/**
 * A Worker target under workerd: `prepare(dir)` returns { modules, main, classes, doBindings,
 * bundleFiles }; `start` writes the config and runs workerd.
 */
function workerTarget({ name, label, prepare, vars }) {
  return {
    name,
    label,
    kind: 'worker',
    async start({ dir, port, cpus, sites, inspectorPort, extraVars = {} }) {
      const spec = await prepare(dir);
      const config = writeConfig({ dir, port, ...spec, bindings: { ...vars(sites), ...extraVars } });
      const server = await startWorkerd({ config, port, cpus, inspectorPort, logFile: path.join(dir, 'workerd.log') });
      return { ...server, bundle: sizes(spec.bundleFiles), wsBase: server.base.replace('http', 'ws') };
    },
    liveUrl: (wsBase, site) => `${wsBase}/v1/live?${new URLSearchParams({ site })}`,
  };
}

/** herenow's Worker from the build in `buildDir()` (worker-build's output: build/ by default). */
function herenowTarget(name, label, buildDir) {
  return workerTarget({
    name,
    label,
    vars: herenowVars,
    async prepare() {
      const build = buildDir();
      return {
        main: 'index.js',
        classes: ['SitePresence'],
        doBindings: { PRESENCE: 'SitePresence' },
        modules: [
          { name: 'index.js', path: path.join(build, 'index.js'), type: 'esModule' },
          { name: 'index_bg.wasm', path: path.join(build, 'index_bg.wasm'), type: 'wasm' },
        ],
        bundleFiles: {
          'worker/shim.mjs': path.join(build, 'worker', 'shim.mjs'),
          'index.js': path.join(build, 'index.js'),
          'index_bg.wasm': path.join(build, 'index_bg.wasm'),
        },
      };
    },
  });
}

export const TARGETS = {
  herenow: herenowTarget('herenow', 'herenow (Rust, workers-rs)', () => process.env.HERENOW_BENCH_BUILD ?? path.join(ROOT, 'build')),
  // Another build of herenow beside this one (ping-pair.mjs --b baseline): a copy of build/ made
  // before a change, named by HERENOW_BASELINE_BUILD.
  baseline: herenowTarget('baseline', 'herenow, the baseline build', () => {
    const dir = process.env.HERENOW_BASELINE_BUILD;
    if (!dir) throw new Error('the baseline target needs HERENOW_BASELINE_BUILD: a copy of build/ (cp -r build /tmp/base)');
    return dir;
  }),

  partyserver: workerTarget({
    name: 'partyserver',
    label: `partyserver ${pkgVersion('partyserver')} (TypeScript)`,
    vars: () => ({ PRESENCE_TTL_SECONDS: '45' }),
    async prepare(dir) {
      const out = await bundle(path.join(PEERS, 'partyserver', 'presence.ts'), path.join(dir, 'presence.js'));
      return {
        main: 'presence.js',
        classes: ['Presence'],
        doBindings: { Presence: 'Presence' },
        modules: [{ name: 'presence.js', path: out, type: 'esModule' }],
        bundleFiles: { 'presence.js': out },
      };
    },
  }),

  floor: workerTarget({
    name: 'floor',
    label: 'floor (smallest JS Durable Object)',
    vars: () => ({}),
    async prepare(dir) {
      const out = await bundle(path.join(PEERS, 'floor', 'floor.mjs'), path.join(dir, 'floor.js'));
      return {
        main: 'floor.js',
        classes: ['Floor'],
        doBindings: { FLOOR: 'Floor' },
        modules: [{ name: 'floor.js', path: out, type: 'esModule' }],
        bundleFiles: { 'floor.js': out },
      };
    },
  }),

  socketio: {
    name: 'socketio',
    label: `Socket.IO ${pkgVersion('socket.io')} (Node ${process.versions.node})`,
    kind: 'socketio',
    async start({ dir, port, cpus }) {
      const script = path.join(PEERS, 'socketio', 'server.mjs');
      const args = [script, '--port', String(port)];
      const [cmd, argv] = cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
      const logFile = path.join(dir, 'socketio.log');
      const out = fs.openSync(logFile, 'w');
      const child = spawn(cmd, argv, { stdio: ['ignore', out, out], detached: true, cwd: ROOT });
      fs.closeSync(out);
      const exitPromise = new Promise((resolve) => child.on('exit', resolve));
      const started = performance.now();
      for (let round = 0; round < 300; round++) {
        if (fs.readFileSync(logFile, 'utf8').includes('listening')) break;
        if (child.exitCode !== null) break;
        await sleep(50);
      }
      if (!fs.readFileSync(logFile, 'utf8').includes('listening')) {
        await stopChild(child, exitPromise);
        throw new Error(`the Socket.IO server did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
      }
      const base = `http://127.0.0.1:${port}`;
      return {
        pid: child.pid,
        base,
        wsBase: base.replace('http', 'ws'),
        readyMs: performance.now() - started,
        bundle: null,
        logs: () => fs.readFileSync(logFile, 'utf8'),
        stop: () => stopChild(child, exitPromise),
      };
    },
    // One count for the whole server: the seeds' design has no sites.
    liveUrl: (wsBase) => `${wsBase}/socket.io/?EIO=4&transport=websocket`,
  },
};

export function pkgVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}
