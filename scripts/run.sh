#!/usr/bin/env bash
# `bash scripts/run.sh CMD ARGS...`: runs CMD with the project's pinned Node first on PATH
# (scripts/env.sh), so that `npm run token` and the other npm scripts use it even when npm itself
# was started by an older Node.
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$@"
