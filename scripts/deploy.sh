#!/usr/bin/env bash
# `npm run deploy [-- flags]`: set up, check the configuration (scripts/deploy-check.mjs), then
# `wrangler deploy`, which runs the production build itself ([build] in wrangler.toml).
#   --allow-any-origin=SITE[,SITE]  deploy a site whose origins include "*" (a public counter)
#   --allow-demo-pages              deploy with DEMO_PAGES="true"
# Every other flag goes to wrangler deploy (--config, --env, --dry-run, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
node scripts/deploy-check.mjs "$@"
args=()
skip=0
for arg in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$arg" in
    --allow-any-origin=* | --allow-demo-pages) ;;
    --allow-any-origin) skip=1 ;;
    *) args+=("$arg") ;;
  esac
done
export WRANGLER_SEND_METRICS="${WRANGLER_SEND_METRICS:-false}"
exec node_modules/.bin/wrangler deploy "${args[@]}"
