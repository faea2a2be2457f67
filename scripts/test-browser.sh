#!/usr/bin/env bash
# Browser end-to-end tests of the web client (tests/browser/run.mjs) in real
# headless Chromium through playwright-core: two browser profiles message
# each other through a node, the browser and the reference CLI (dnsmesh
# 0.7.5) message each other, reload/unlock, a wrong passphrase, offline
# start from the service worker, a phone-sized viewport, cluster mode
# (tests/browser/cluster.mjs, two local nodes) and bootstrap discovery
# (tests/browser/bootstrap.mjs, two local nodes). Screenshots go to
# test-artifacts/browser/ (gitignored).
#
# Usage: scripts/test-browser.sh [NODE_URL]
#   Without NODE_URL it builds dmp-node and runs the suite twice, each time
#   against a fresh node on 127.0.0.1 (free ports, temporary SQLite, zone
#   mesh.test, the client served at / by --web-dir): multi-tenant with
#   self-service registration, then open (adds the intro-queue check);
#   DMP_AUTH_MODE=open|multi-tenant runs just one. With NODE_URL
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

# start_node MODE: a fresh dmp-node (free ports, temporary SQLite) in auth
# mode MODE, its addresses exported for run.mjs.
start_node() {
  export DMP_AUTH_MODE="$1"
  unset DMP_CLI_TOKEN DMP_APP_URL
  rm -f "$work/node.db" "$work/node.out" "$work/node.err"
  web_args=()
  if "$node_bin" --help 2>/dev/null | grep -q -- '--web-dir'; then
    web_args=(--web-dir "$DMP_DIST")
  fi
  reg_env=()
  if [ "$DMP_AUTH_MODE" = multi-tenant ]; then
    # Every profile and the CLI register from 127.0.0.1: lift the per-IP
    # registration limit (5 per hour by default).
    # The reference CLI writes with the operator token: its `register`
    # cannot store a token for a host:port node (REFERENCE-NODE.md §0.3).
    DMP_CLI_TOKEN="op-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    export DMP_CLI_TOKEN
    reg_env=(DMP_REGISTRATION_ENABLED=1 DMP_NODE_HOSTNAME="$DMP_ZONE" DMP_REGISTRATION_ENDPOINT_RATE_BURST=100
      DMP_OPERATOR_TOKEN="$DMP_CLI_TOKEN")
  fi
  env "${reg_env[@]}" DMP_SERVED_ZONE="$DMP_ZONE" DMP_HTTP_RATE=0 DMP_HTTP_BURST=0 \
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
  if [ ${#web_args[@]} -gt 0 ]; then export DMP_APP_URL="$DMP_NODE_URL"; fi
}

if [ $# -ge 1 ]; then
  export DMP_NODE_URL="$1"
  log "using the node at $DMP_NODE_URL"
  node tests/browser/run.mjs
  exit 0
fi

log "building dmp-node"
cargo build --locked -p dmp-node >&2
node_bin="$(cargo metadata --locked --no-deps --format-version 1 |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/dmp-node"

# Default: a multi-tenant node with self-service registration, as a public
# node runs (the browser registers and publishes with its bearer token), then
# an open node, which also carries first-contact claims over HTTP and so adds
# the intro-queue check. DMP_AUTH_MODE picks one of them.
artifacts="$DMP_ARTIFACTS"
for mode in ${DMP_AUTH_MODE:-multi-tenant open}; do
  export DMP_ARTIFACTS="$artifacts/$mode"
  start_node "$mode"
  log "[$mode] dmp-node at $DMP_NODE_URL, DNS $DMP_DNS_ADDR"
  node tests/browser/run.mjs
  if kill -0 "$node_pid" 2>/dev/null; then kill "$node_pid"; fi
  wait "$node_pid" 2>/dev/null || true
  node_pid=""
done

# Cluster mode: two open dmp-nodes as one cluster (tests/browser/cluster.mjs
# starts and stops them itself; about 30 s).
log "cluster mode: two dmp-nodes, manifest signed by dmp-cluster"
DMP_ARTIFACTS="$artifacts/cluster" DMP_NODE_BIN="$node_bin" \
  DMP_CLUSTER_BIN="$(dirname "$node_bin")/dmp-cluster" node tests/browser/cluster.mjs

# Bootstrap discovery: a signed _dmp.<zone> record leads the browser to the
# cluster (tests/browser/bootstrap.mjs, two local nodes; about 25 s).
log "bootstrap discovery: _dmp.<zone> signed by dmp-cluster, auto-pin"
DMP_ARTIFACTS="$artifacts/bootstrap" DMP_NODE_BIN="$node_bin" \
  DMP_CLUSTER_BIN="$(dirname "$node_bin")/dmp-cluster" node tests/browser/bootstrap.mjs
