// Builds the browser client from src/browser/*.js (native ES modules), one set of sources into
// two minified files with a short banner:
//   public/herenow.js   a classic script (an IIFE; entry script.js): <script src defer>
//   public/herenow.mjs  an ES module (entry module.js): import { track } from '.../herenow.mjs'
// `npm run build:browser` (`-- --sizes` prints raw, minified and gzipped sizes); scripts/build.sh
// runs it whenever an input is newer than the outputs. A file is rewritten only when its content
// changes (otherwise only its time is), so a running `wrangler dev` sees no needless change.
// public/herenow.d.ts (the TypeScript declarations of both) is written by hand, not built.

import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src', 'browser');

const about =
  ' live presence ("42 online now", "Online", "Away", "Last seen 5 min ago", who is here), no dependencies.\n' +
  ' * API: docs/browser.md; types: herenow.d.ts; built from src/browser/ by scripts/build-browser.mjs. */\n';

const OUTPUTS = [
  {
    file: 'herenow.js',
    entry: 'script.js',
    format: 'iife',
    // The sources are ES modules, strict by nature; the bundle is a classic script, so it says so.
    banner: '/*! herenow.js:' + about + '"use strict";',
  },
  { file: 'herenow.mjs', entry: 'module.js', format: 'esm', banner: '/*! herenow.mjs:' + about.trimEnd() },
];

// Browsers with ?? and ?. (2020); the sources use nothing newer, so esbuild transforms nothing.
const TARGET = ['chrome80', 'edge80', 'firefox78', 'safari13.1'];

const sizes = [];
for (const out of OUTPUTS) {
  const options = {
    entryPoints: [path.join(SRC, out.entry)],
    bundle: true,
    format: out.format,
    target: TARGET,
    banner: { js: out.banner },
    legalComments: 'none',
    // ASCII only (the default): a page in another encoding still reads "\u2026" right.
    write: false,
    logLevel: 'warning',
  };
  const result = await build({ ...options, minify: true });
  const code = result.outputFiles[0].text;
  const target = path.join(ROOT, 'public', out.file);
  let before = null;
  try {
    before = fs.readFileSync(target, 'utf8');
  } catch {
    // first build
  }
  if (before !== code) fs.writeFileSync(target, code);
  else fs.utimesSync(target, new Date(), new Date()); // up to date: scripts/build.sh compares times
  if (process.argv.includes('--sizes')) {
    const raw = (await build(options)).outputFiles[0].text;
    sizes.push(`public/${out.file}: ${raw.length} bytes unminified, ${code.length} minified, ${gzipSync(code, { level: 9 }).length} gzipped`);
  }
}
if (sizes.length) console.log(sizes.join('\n'));
