#!/usr/bin/env bash
# `npm run dev [-- wrangler dev flags]`: set up, build and serve the demo on 127.0.0.1:8787.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
defaults=()
case " $* " in *" --ip"*) ;; *) defaults+=(--ip 127.0.0.1) ;; esac
case " $* " in *" --port"*) ;; *) defaults+=(--port 8787) ;; esac
export WRANGLER_SEND_METRICS=false
# wrangler runs scripts/build.sh itself (the [build] command), and again when src/ changes.
exec node_modules/.bin/wrangler dev "${defaults[@]}" "$@"
