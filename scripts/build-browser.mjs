// Builds the browser client: src/browser/*.js (native ES modules) -> public/herenow.js, one
// minified classic script (an IIFE) with a short banner. `npm run build:browser`; scripts/build.sh
// runs it whenever an input is newer than the output. The file is rewritten only when its
// content changes (otherwise only its time is), so a running `wrangler dev` sees no needless change.
// A second entry point (an ES module build of src/browser/index.js) fits beside this one.

import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'public', 'herenow.js');

const BANNER =
  '/*! herenow.js: live presence ("42 online now", "Online", "Last seen 5 min ago"), no dependencies.\n' +
  ' * API: README.md "Browser API"; built from src/browser/ by scripts/build-browser.mjs. */\n' +
  // The sources are ES modules, strict by nature; the bundle is a classic script, so it says so.
  '"use strict";';

// Browsers with ?? and ?. (2020); the sources use nothing newer, so esbuild transforms nothing.
const TARGET = ['chrome80', 'edge80', 'firefox78', 'safari13.1'];

const result = await build({
  entryPoints: [path.join(ROOT, 'src', 'browser', 'script.js')],
  bundle: true,
  format: 'iife',
  minify: true,
  target: TARGET,
  banner: { js: BANNER },
  legalComments: 'none',
  // ASCII only (the default): a page in another encoding still reads "\u2026" right.
  write: false,
  logLevel: 'warning',
});

const code = result.outputFiles[0].text;
let before = null;
try {
  before = fs.readFileSync(OUT, 'utf8');
} catch {
  // first build
}
if (before !== code) fs.writeFileSync(OUT, code);
else fs.utimesSync(OUT, new Date(), new Date()); // up to date: scripts/build.sh compares times
if (process.argv.includes('--sizes')) {
  const { gzipSync } = await import('node:zlib');
  console.log(`public/herenow.js: ${code.length} bytes, ${gzipSync(code, { level: 9 }).length} gzipped`);
}
