#!/usr/bin/env bash
# Edge node stage: the worker under `wrangler dev` (workerd, local D1) must
# pass the same conformance suite as dmp-node, keep its records across a
# restart, sweep expired rows from its cron handler, and `wrangler deploy
# --dry-run` must succeed.
#
# Usage: scripts/test-edge.sh        (from anywhere; ~3 min warm, more on a cold cargo cache)
#
# Steps:
#   1. tools (scripts/install-tools.sh --with-edge), the dmp-conformance binary;
#   2. `wrangler d1 migrations apply DB --local` into a temp persist dir;
#   3. `wrangler dev` on 127.0.0.1 with the checked-in settings (.dev.vars:
#      open mode): the suite, a seeded record, the cron sweep via
#      /__scheduled, then the client hooks (edge_client_checks below);
#   4. restart on the same persist dir (reusing the built worker): the seeded record is still served,
#      and the swept one is gone from D1;
#   5. `wrangler dev` multi-tenant with an operator token and registration:
#      the suite again (rate-limit bindings off there: the suite's seven
#      registration calls exceed the deploy default of 5/min);
#   6. `wrangler deploy --dry-run`.
# Nothing talks to Cloudflare: wrangler runs offline with telemetry off.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "[test-edge] $*"; }
die() {
  echo "[test-edge] FAILED: $*" >&2
  exit 1
}

eval "$(bash scripts/install-tools.sh --with-edge)"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false CI=true
export WRANGLER_LOG_PATH="${TMPDIR:-/tmp}"
command -v wrangler >/dev/null || die "wrangler not found (scripts/install-tools.sh --with-edge)"
command -v worker-build >/dev/null || die "worker-build not found (scripts/install-tools.sh --with-edge)"

log "building dmp-conformance"
cargo build --locked -q -p dmp-conformance
CONF="$ROOT/target/debug/dmp-conformance"

WORK="$(mktemp -d)"
PERSIST="$WORK/state"
DEV_PGID=""
DEV_LOG=""

stop_dev() {
  [ -n "$DEV_PGID" ] || return 0
  # SIGINT: wrangler shuts workerd down cleanly (and flushes local D1).
  kill -INT -- "-$DEV_PGID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 -- "-$DEV_PGID" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$DEV_PGID" 2>/dev/null || true
  DEV_PGID=""
}
cleanup() {
  stop_dev
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_dev NAME [wrangler dev flags...]: starts wrangler dev in its own
# process group and waits for /health; sets BASE.
start_dev() {
  local name="$1"
  shift
  local port
  port="$(free_port)"
  DEV_LOG="$WORK/wrangler-$name.log"
  setsid npx wrangler dev --local --ip 127.0.0.1 --port "$port" --persist-to "$PERSIST" \
    --test-scheduled --show-interactive-dev-session=false "$@" >"$DEV_LOG" 2>&1 &
  DEV_PGID=$!
  BASE="http://127.0.0.1:$port"
  log "wrangler dev ($name) on $BASE, waiting for /health (the first start builds the worker)"
  for _ in $(seq 1 600); do
    if curl -fsS -m 5 "$BASE/health" >/dev/null 2>&1; then
      log "up: $(curl -sS -m 5 "$BASE/health")"
      return 0
    fi
    kill -0 "$DEV_PGID" 2>/dev/null || break
    sleep 1
  done
  tail -n 60 "$DEV_LOG" >&2
  die "wrangler dev ($name) did not come up"
}

d1_count() { # d1_count SQL -> the number the query's first column returns
  npx wrangler d1 execute DB --local --persist-to "$PERSIST" --json --command "$1" 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)[0]["results"][0]; print(list(r.values())[0])'
}

# edge_client_checks BASE_URL: the end-to-end client checks against the
# edge node. Each hook is a script that takes the edge base URL as its only
# argument and exits non-zero on failure:
#   scripts/test-edge-cli.sh BASE  - our CLI: alice and bob exchange
#                                    messages through the edge node (HTTP
#                                    writes, DoH reads, prekeys consumed);
#   scripts/test-edge-web.sh BASE  - the web client's two-profile browser
#                                    test with the edge node as the node.
# A hook that is not there yet is reported as skipped.
edge_client_checks() {
  local base="$1" hook
  for hook in scripts/test-edge-cli.sh scripts/test-edge-web.sh; do
    if [ -f "$hook" ]; then
      log "client hook: $hook $base"
      bash "$hook" "$base" || die "$hook against the edge node"
    else
      log "client hook $hook: not present yet, skipped"
    fi
  done
}

log "applying D1 migrations locally"
npx wrangler d1 migrations apply DB --local --persist-to "$PERSIST" >"$WORK/migrations.log" 2>&1 ||
  { cat "$WORK/migrations.log" >&2; die "wrangler d1 migrations apply"; }

# --- open mode (the checked-in wrangler dev settings) --------------------------
start_dev open
"$CONF" --base-url "$BASE" run --mode open || { tail -n 40 "$DEV_LOG" >&2; die "conformance (open mode)"; }
KEEP="keep.persist-$(date +%s).conformance.example"
"$CONF" --base-url "$BASE" seed --name "$KEEP" --value "survives-restart" --ttl 3600
GONE="gone.sweep-$(date +%s).conformance.example"
"$CONF" --base-url "$BASE" seed --name "$GONE" --value "expires" --ttl 1
sleep 2.2
curl -fsS -m 30 "$BASE/__scheduled?cron=*/5+*+*+*+*" >/dev/null || die "triggering the cron handler"
edge_client_checks "$BASE"
stop_dev

# Later starts reuse the worker the first one built (edge-node/build/):
# the same config without its [build] step, next to a copy of .dev.vars.
mkdir -p "$ROOT/.wrangler"
python3 - "$ROOT/wrangler.toml" "$ROOT/.wrangler/test-edge.toml" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
src = re.sub(r"(?ms)^\[build\]\n.*?^command = .*?\n", "", src)
src = src.replace('main = "edge-node/', 'main = "../edge-node/').replace('migrations_dir = "migrations"', 'migrations_dir = "../migrations"')
assert "[build]" not in src and "../edge-node/build/index.js" in src
open(sys.argv[2], "w").write(src)
PY
cp "$ROOT/.dev.vars" "$ROOT/.wrangler/.dev.vars"
PREBUILT=(--config "$ROOT/.wrangler/test-edge.toml")

# --- restart: local D1 persistence and the sweep ---------------------------------
n="$(d1_count "SELECT COUNT(*) AS n FROM records WHERE name = '$KEEP'")"
[ "$n" = 1 ] || die "reading local D1 after the run: want 1 row at $KEEP, got '$n'"
n="$(d1_count "SELECT COUNT(*) AS n FROM records WHERE name = '$GONE'")"
[ "$n" = 0 ] || die "the cron sweep left $n expired row(s) at $GONE"
log "cron sweep removed the expired row"
start_dev restarted "${PREBUILT[@]}"
"$CONF" --base-url "$BASE" expect --name "$KEEP" --value "survives-restart" ||
  die "records did not survive a wrangler dev restart"
stop_dev

# --- multi-tenant with an operator token and registration ------------------------
OP_TOKEN="edge-test-operator-$(date +%s)"
start_dev multi-tenant "${PREBUILT[@]}" --var DMP_AUTH_MODE:multi-tenant --var "DMP_OPERATOR_TOKEN:$OP_TOKEN" \
  --var DMP_NODE_HOSTNAME:conformance.example --var DMP_RATE_LIMIT:off
"$CONF" --base-url "$BASE" --operator-token "$OP_TOKEN" run --mode multi-tenant --registration ||
  { tail -n 40 "$DEV_LOG" >&2; die "conformance (multi-tenant)"; }
stop_dev

# --- deploy dry run -------------------------------------------------------------
log "wrangler deploy --dry-run"
npx wrangler deploy --dry-run --outdir "$WORK/out" >"$WORK/deploy.log" 2>&1 ||
  { cat "$WORK/deploy.log" >&2; die "wrangler deploy --dry-run"; }
grep -E "Total Upload|--dry-run" "$WORK/deploy.log" || true
log "all edge checks passed"
