#!/usr/bin/env bash
# Builds the browser client (src/browser/ -> public/herenow.js, esbuild) and the Worker (Rust ->
# wasm + JS shim in build/) with worker-build, using the pinned tools that scripts/setup.sh
# installed, so nothing is downloaded at build time.
#   bash scripts/build.sh               the production build (what `wrangler deploy` ships)
#   bash scripts/build.sh --test-hooks  with the /v1/_test/* routes, for the tests, soak and bench
#   add --force (or HERENOW_FORCE_BUILD=1) to build the Worker even when build/ is up to date
# The Worker is built only when build/ holds another kind of build or an input is newer than it:
# `wrangler dev` runs this script twice before it serves (once to start, once more when its file
# watcher is ready, which it reports as "The file src changed"), and on every change under src/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
features=()
stamp=production
force="${HERENOW_FORCE_BUILD:-}"
for arg in "$@"; do
  case "$arg" in
    --test-hooks) features=(-- --features test-hooks) stamp=test-hooks ;;
    --force) force=1 ;;
    *) echo "build.sh: unknown argument $arg (use --test-hooks, --force)" >&2; exit 2 ;;
  esac
done
# HERENOW_KEEP_NAMES=1: a build that keeps the Wasm function names (see the strip below)
if [ "${HERENOW_KEEP_NAMES:-}" = 1 ]; then stamp="$stamp-names"; fi
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
export PATH="$HOME/.cargo/bin:$PATH"
# Up to date: the same kind of build, and no input changed since it started (build/KIND carries
# that time). Inputs: the Rust sources (src/browser/ is the browser client's), the manifests, this
# script, and the pinned tools.
if [ "$force" != 1 ] && [ -f build/worker/shim.mjs ] && [ -f build/index_bg.wasm ] \
    && [ "$(cat build/KIND 2>/dev/null)" = "$stamp" ] \
    && [ -z "$(find src Cargo.toml Cargo.lock scripts/build.sh node_modules/binaryen/package.json \
         "$(command -v worker-build)" "$(command -v wasm-bindgen)" \
         -path src/browser -prune -o -newer build/KIND -print -quit 2>/dev/null)" ]; then
  echo "build.sh: the Worker in build/ ($stamp) is up to date (--force to build it anyway)"
  exit 0
fi
started="$(mktemp)" # this build's start: an input changed during the build makes the next one run
trap 'rm -f "$started"' EXIT
rm -f build/KIND
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
WASM_OPT_BIN="$PWD/node_modules/binaryen/bin/wasm-opt"
ESBUILD_BIN="$(ls "$PWD"/node_modules/@esbuild/*/bin/esbuild 2>/dev/null | head -n 1)"
[ -n "$ESBUILD_BIN" ] || ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
export WASM_BINDGEN_BIN WASM_OPT_BIN ESBUILD_BIN
worker-build --release "${features[@]}"
# worker-build keeps the Wasm name section (function names for stack traces): 135 KB raw, 35 KB
# gzipped of the deployed bundle. Panics still log their message (console_error_panic_hook);
# only the function names in a Wasm stack trace are lost. HERENOW_KEEP_NAMES=1 keeps them (for
# a profile with Rust names: tests/bench/profile.mjs); the next build without it strips them.
[ "${HERENOW_KEEP_NAMES:-}" = 1 ] || "$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling
# Which kind of build is in build/ (the test harness checks it), dated when this build started.
echo "$stamp" > build/KIND
touch -r "$started" build/KIND
