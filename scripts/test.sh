#!/usr/bin/env bash
# `npm test`: set up, then every test: the native core tests, the browser client's type
# declarations, then the Worker in workerd (integration tests over HTTP and WebSockets) and the
# demo pages in a real browser.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Test files run side by side (HERENOW_TEST_JOBS, default 3): most of their time is spent waiting
# for timers (ttl, grace, hibernation), not on the 2 cores of the machine the suite is sized for.
JOBS="${HERENOW_TEST_JOBS:-3}"
# Each phase says how long it took.
phase() { [ -n "${phase_name:-}" ] && echo "-- $phase_name: $((SECONDS - phase_start)) s"; phase_name="$1"; phase_start=$SECONDS; [ -z "$1" ] || echo "== $1"; }
phase "set-up (scripts/setup.sh --browser)"
bash scripts/setup.sh --browser
phase "native tests (cargo test)"
cargo test --quiet
phase "browser client types (tsc --noEmit: public/herenow.d.ts against tests/types/)"
node_modules/.bin/tsc -p tests/types
phase "building the Worker"
bash scripts/build.sh --test-hooks
phase "integration and browser tests against the Worker in workerd (Miniflare), $JOBS files at a time"
export HERENOW_SKIP_BUILD=1 WRANGLER_SEND_METRICS=false
# Each file starts its own Worker (its own workerd, port and state directory) and Chromium, so
# files cannot see each other and run side by side; the longest start first.
first=(tests/ops/shards.test.mjs tests/browser/people-browser.test.mjs tests/ops/residency.test.mjs
  tests/browser/developer-browser.test.mjs tests/browser/dashboard-browser.test.mjs tests/ops/faults.test.mjs
  tests/entities/entities.test.mjs tests/ops/expiry.test.mjs)
files=("${first[@]}")
for f in tests/api/*.test.mjs tests/entities/*.test.mjs tests/ops/*.test.mjs tests/browser/*.test.mjs; do
  case " ${first[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
done
node --test --test-concurrency="$JOBS" --test-timeout=300000 "${files[@]}"
phase "deployable: the production build (no test hooks) through wrangler deploy --dry-run"
rm -rf build/deploy
env -u HERENOW_SKIP_BUILD node_modules/.bin/wrangler deploy --dry-run --outdir build/deploy 2>&1 \
  | grep -E "Total Upload|dry-run|rror" || true
test -f build/deploy/shim.js && ls build/deploy/*.wasm >/dev/null
gzipped="$(cat build/deploy/*.wasm build/deploy/shim.js | gzip -9 | wc -c)"
echo "deploy bundle: $(du -cb build/deploy/*.wasm build/deploy/shim.js | tail -1 | cut -f1) bytes raw, $gzipped bytes gzipped"
# A budget, not a timing: a crate linked in by accident shows here first (the url crate's
# Unicode tables once added 70 KB gzipped). `node tests/bench/wasm-size.mjs` says where bytes go.
BUNDLE_BUDGET=400000
if [ "$gzipped" -gt "$BUNDLE_BUDGET" ]; then
  echo "the deploy bundle is $gzipped bytes gzipped, over its budget of $BUNDLE_BUDGET: see tests/bench/wasm-size.mjs" >&2
  exit 1
fi
phase ""
