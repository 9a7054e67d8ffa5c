#!/usr/bin/env bash
# `npm test`: set up, then every test: the native core tests, the browser client's type
# declarations, then the Worker in workerd (integration tests over HTTP and WebSockets) and the
# demo pages in a real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
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
