#!/usr/bin/env bash
# `npm run soak [-- --minutes N --rate R]`: set up, build with the test hooks, then the soak
# (scripts/soak.mjs) under the pinned Node.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bash scripts/build.sh --test-hooks
HERENOW_SKIP_BUILD=1 exec node scripts/soak.mjs "$@"
