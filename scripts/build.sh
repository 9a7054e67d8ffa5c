#!/usr/bin/env bash
# Builds the browser client (src/browser/ -> public/herenow.js, esbuild) and the Worker (Rust ->
# wasm + JS shim in build/) with worker-build, using the pinned tools that scripts/setup.sh
# installed, so nothing is downloaded at build time.
#   bash scripts/build.sh               the production build (what `wrangler deploy` ships)
#   bash scripts/build.sh --test-hooks  with the /v1/_test/* routes, for the tests, soak and bench
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
features=()
stamp=production
if [ "${1:-}" = "--test-hooks" ]; then
  features=(-- --features test-hooks)
  stamp=test-hooks
fi
# The browser client, even when the Worker build is skipped: the served client must match its
# sources (public/herenow.js and herenow.mjs are build outputs, not committed). Only when an
# input is newer than them: wrangler dev runs this script twice before it binds its port, so it
# must stay instant. (The build touches both outputs, so herenow.mjs is never the older one.)
if [ ! -f public/herenow.js ] || [ ! -f public/herenow.mjs ] || [ -n "$(find src/browser \
    scripts/build-browser.mjs node_modules/esbuild/package.json -newer public/herenow.js -print -quit 2>/dev/null)" ]; then
  node scripts/build-browser.mjs
fi
if [ "${HERENOW_SKIP_BUILD:-}" = 1 ] && [ -f build/worker/shim.mjs ]; then
  exit 0
fi
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
WASM_OPT_BIN="$PWD/node_modules/binaryen/bin/wasm-opt"
ESBUILD_BIN="$(ls "$PWD"/node_modules/@esbuild/*/bin/esbuild 2>/dev/null | head -n 1)"
[ -n "$ESBUILD_BIN" ] || ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_BINDGEN_BIN WASM_OPT_BIN ESBUILD_BIN
worker-build --release "${features[@]}"
# worker-build keeps the Wasm name section (function names for stack traces): 135 KB raw, 35 KB
# gzipped of the deployed bundle. Panics still log their message (console_error_panic_hook);
# only the function names in a Wasm stack trace are lost.
"$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
# Which kind of build is in build/ (the test harness checks it).
echo "$stamp" > build/KIND
