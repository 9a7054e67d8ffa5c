#!/usr/bin/env bash
# `npm test`: set up, then every test: the native core tests, the browser client's type
# declarations, then the Worker in workerd (integration tests over HTTP and WebSockets) and the
# demo pages in a real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh --browser
echo "== native tests (cargo test)"
cargo test --quiet
echo "== browser client types (tsc --noEmit: public/herenow.d.ts against tests/types/)"
node_modules/.bin/tsc -p tests/types
echo "== building the Worker"
bash scripts/build.sh --test-hooks
echo "== integration and browser tests against the Worker in workerd"
export HERENOW_SKIP_BUILD=1 WRANGLER_SEND_METRICS=false
node --test --test-concurrency=1 --test-timeout=300000 tests/*.test.mjs
echo "== deployable: the production build (no test hooks) through wrangler deploy --dry-run"
rm -rf build/deploy
env -u HERENOW_SKIP_BUILD node_modules/.bin/wrangler deploy --dry-run --outdir build/deploy 2>&1 \
  | grep -E "Total Upload|dry-run|rror" || true
test -f build/deploy/shim.js && ls build/deploy/*.wasm >/dev/null
echo "deploy bundle: $(du -cb build/deploy/*.wasm build/deploy/shim.js | tail -1 | cut -f1) bytes raw, $(cat build/deploy/*.wasm build/deploy/shim.js | gzip -9 | wc -c) bytes gzipped"
