#!/usr/bin/env bash
# Installs what herenow needs, idempotently: quick when everything is already there.
#   bash scripts/setup.sh            build and run (Rust target, worker-build, wasm-bindgen, npm)
#   bash scripts/setup.sh --browser  also Debian's Chromium, for the browser tests
# Nothing is downloaded from GitHub: the tools come from crates.io, npm and Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
# The pinned Node 22 (installed into .tools/node the first time) and ~/.cargo/bin first on PATH.
source scripts/env.sh
say() { printf '[setup] %s\n' "$*"; }

WORKER_BUILD_VERSION=0.8.7
# wasm-bindgen-cli must equal the wasm-bindgen the lockfile resolved, to the patch.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --force
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # not --locked: the registry lacks a pinned transitive crate of its lockfile
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# npm packages (wrangler with its workerd and miniflare, binaryen's wasm-opt, the test clients), as
# locked, installed by npm under the pinned Node.
if [ ! -x node_modules/.bin/wrangler ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium for the browser tests"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
say "ready"
