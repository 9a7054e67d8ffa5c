#!/usr/bin/env bash
# `npm run dev [-- wrangler dev flags]`: set up, build and serve the demo on 127.0.0.1:8787
# (the demo pages and the open "demo" site, which a deployment does not have).
# The first run writes .dev.vars (gitignored): a random secret for the demo site's entity tokens.
# Every run prints links to the chat, agent and docs (team) demos with fresh tokens, and to the
# owner's dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
defaults=()
case " $* " in *" --ip"*) ;; *) defaults+=(--ip 127.0.0.1) ;; esac
case " $* " in *" --port"*) ;; *) defaults+=(--port 8787) ;; esac

# wrangler dev reads .dev.vars (dotenv format) and its values override wrangler.toml [vars]: the
# committed wrangler.toml is the production configuration (a placeholder site, no demo pages), and
# .dev.vars gives the demo its open "demo" site and a secret. Single quotes keep the JSON literal.
DEMO_SITES='{"demo":{"origins":["*"],"secret_env":"HERENOW_DEMO_SECRET"}}'
if [ ! -e .dev.vars ]; then
  secret="$(node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("hex"))')"
  (
    umask 077
    cat > .dev.vars <<EOF
# Local secrets for \`npm run dev\` (written by scripts/dev.sh; not committed).
HERENOW_DEMO_SECRET=$secret
SITES='$DEMO_SITES'
EOF
  )
  echo "== wrote .dev.vars: the demo site signs entity tokens with a new random HERENOW_DEMO_SECRET"
elif ! grep -q '^SITES=' .dev.vars; then
  # without it the demo would get wrangler.toml's placeholder site
  printf "SITES='%s'\n" "$DEMO_SITES" >> .dev.vars
  echo "== added the demo site to .dev.vars (SITES)"
fi

# Where the demo will be: --port and --ip from the arguments (either "--port N" or "--port=N").
port=8787 host=127.0.0.1 prev=
for arg in "$@"; do
  case "$prev" in --port) port="$arg" ;; --ip) host="$arg" ;; esac
  case "$arg" in --port=*) port="${arg#--port=}" ;; --ip=*) host="${arg#--ip=}" ;; esac
  prev="$arg"
done
case "$host" in 0.0.0.0 | :: | '*') host=127.0.0.1 ;; *:*) host="[$host]" ;; esac
base="http://$host:$port"

token() { node scripts/token.mjs --ttl 86400 "$@"; }
if track="$(token --sub customer:conv_123 --scope track --info '{"name":"Ada Lovelace"}')" &&
  watch="$(token --sub agent:demo --scope watch --watch 'customer:*,agent:*')" &&
  sam="$(token --sub agent:sam --scope track --info '{"name":"Sam"}')" &&
  see_sam="$(token --sub customer:conv_123 --scope watch --watch 'agent:*')" &&
  readers="$(token --sub team:demo --scope watch --rooms '/docs/*')" &&
  ada="$(token --sub user:ada --scope track --info '{"name":"Ada Lovelace","avatar":"/avatars/ada.svg"}')" &&
  grace="$(token --sub user:grace --scope track --info '{"name":"Grace Hopper","avatar":"/avatars/grace.svg"}')" &&
  alan="$(token --sub user:alan --scope track --info '{"name":"Alan Turing"}')" &&
  linus="$(token --sub user:linus --scope track --info '{"name":"Linus Torvalds","avatar":"/avatars/linus.svg"}')"; then
  cat <<EOF

== herenow demo on $base/
   customer chat (tracks customer:conv_123):  $base/chat.html#token=$track&watch=$see_sam
   agent console (watches customer:*, is Sam): $base/agent.html#token=$watch&me=$sam
   docs page with its readers' faces:          $base/team.html#watch=$readers&people=$ada,$grace,$alan,$linus
   owner's dashboard (live, rooms, history):   $base/dashboard.html?site=demo
   (tokens valid for 24 h; more with: npm run token -- --sub customer:conv_123 --scope track)

EOF
else
  echo "== no entity demo links: scripts/token.mjs found no HERENOW_DEMO_SECRET (see .dev.vars)" >&2
  echo "== owner's dashboard: $base/dashboard.html?site=demo"
fi

export WRANGLER_SEND_METRICS=false
# wrangler runs scripts/build.sh itself (the [build] command) before it serves, once more when its
# file watcher starts ("The file src changed"), and on every change under src/; the build skips
# what is up to date, so a built checkout is ready in seconds. DEMO_PAGES turns on the demo pages,
# which a deployment does not serve.
exec node_modules/.bin/wrangler dev "${defaults[@]}" --var DEMO_PAGES:true "$@"
