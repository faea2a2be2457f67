#!/usr/bin/env bash
# Browser end-to-end tests of the web client (tests/browser/run.mjs) in real
# headless Chromium through playwright-core: two browser profiles message
# each other through a node, the browser and the reference CLI (dnsmesh
# 0.7.5) message each other, reload/unlock, a wrong passphrase, offline
# start from the service worker, a phone-sized viewport. Screenshots go to
# test-artifacts/browser/ (gitignored).
#
# Usage: scripts/test-browser.sh [NODE_URL]
#   Without NODE_URL it builds dmp-node, starts it on 127.0.0.1 (free ports,
#   temporary SQLite, zone mesh.test) and stops it at the end. With NODE_URL
#   (say, an edge node) it runs against that node; set DMP_ZONE to its zone,
#   and DMP_DNS_ADDR=host:port for the reference CLI checks (or
#   DMP_SKIP_REFERENCE=1).
# Environment: DMP_SKIP_BUILD=1 reuses an existing dist/; DMP_ARTIFACTS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[test-browser] $*" >&2; }

eval "$(scripts/install-tools.sh --with-web --with-e2e)"
export DMP_REFERENCE_PYTHON

if [ "${DMP_SKIP_BUILD:-0}" != 1 ] || [ ! -f dist/index.html ]; then
  log "building the web client (trunk build --release)"
  cargo fetch --locked >/dev/null
  TRUNK_SKIP_VERSION_CHECK=true trunk build --release >&2
fi

work="$(mktemp -d)"
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

export DMP_ZONE="${DMP_ZONE:-mesh.test}"
export DMP_DIST="$ROOT/dist"
export DMP_ARTIFACTS="${DMP_ARTIFACTS:-$ROOT/test-artifacts/browser}"

if [ $# -ge 1 ]; then
  export DMP_NODE_URL="$1"
  log "using the node at $DMP_NODE_URL"
else
  log "building dmp-node"
  cargo build --locked -p dmp-node >&2
  node_bin="$(cargo metadata --locked --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/dmp-node"
  web_args=()
  if "$node_bin" --help 2>/dev/null | grep -q -- '--web-dir'; then
    web_args=(--web-dir "$DMP_DIST")
  fi
  DMP_SERVED_ZONE="$DMP_ZONE" DMP_AUTH_MODE=open DMP_HTTP_RATE=0 DMP_HTTP_BURST=0 \
    "$node_bin" --db-path "$work/node.db" --http-port 0 --dns-port 0 "${web_args[@]}" \
    >"$work/node.out" 2>"$work/node.err" &
  node_pid=$!
  for _ in $(seq 1 100); do
    grep -q '^dns: ' "$work/node.out" 2>/dev/null && break
    kill -0 "$node_pid" 2>/dev/null || { cat "$work/node.err" >&2; log "dmp-node did not start"; exit 1; }
    sleep 0.1
  done
  DMP_NODE_URL="$(sed -n 's/^dmp-node .* listening on \(http[^ ]*\).*/\1/p' "$work/node.out" | head -1)"
  DMP_NODE_URL="${DMP_NODE_URL%/}"
  export DMP_NODE_URL
  DMP_DNS_ADDR="$(sed -n 's/^dns: \([0-9.]*:[0-9]*\)\/.*/\1/p' "$work/node.out" | head -1)"
  export DMP_DNS_ADDR DMP_NODE_PID="$node_pid"
  [ -n "$DMP_NODE_URL" ] && [ -n "$DMP_DNS_ADDR" ] || { cat "$work/node.out" >&2; log "could not read the node's addresses"; exit 1; }
  [ ${#web_args[@]} -gt 0 ] && export DMP_APP_URL="$DMP_NODE_URL"
  log "dmp-node at $DMP_NODE_URL, DNS $DMP_DNS_ADDR"
fi

node tests/browser/run.mjs
