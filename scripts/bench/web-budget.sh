#!/usr/bin/env bash
# Web client budget report: the initial download (wasm + js + css + html,
# gzip -9) against the 350 KB budget, and the time to unlock an identity in
# headless Chromium (median of DMP_RUNS, default 5) against a local dmp-node.
# A report, not a timed test: only the size budget can fail the script.
#
# Usage: scripts/bench/web-budget.sh      (DMP_SKIP_BUILD=1 reuses dist/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
log() { echo "[web-budget] $*" >&2; }
BUDGET=$((350 * 1024))

eval "$(scripts/install-tools.sh --with-web --with-e2e)"
if [ "${DMP_SKIP_BUILD:-0}" != 1 ] || [ ! -f dist/index.html ]; then
  log "building the web client (trunk build --release)"
  cargo fetch --locked >/dev/null
  TRUNK_SKIP_VERSION_CHECK=true trunk build --release >&2
fi

# What the browser fetches before the first screen: the page, the glue, its
# snippets, the wasm and the stylesheet (the worker script comes on unlock
# and reuses the cached wasm).
total=0
printf '%-50s %10s %10s\n' file bytes gzip
for f in dist/index.html dist/dmp-web.js dist/dmp-web_bg.wasm dist/style.css dist/snippets/*/*.js; do
  raw=$(wc -c <"$f")
  gz=$(gzip -9c "$f" | wc -c)
  total=$((total + gz))
  printf '%-50s %10d %10d\n' "${f#dist/}" "$raw" "$gz"
done
printf '%-50s %10s %10d  (%d.%d KB of %d KB)\n' "initial load, gzip" "" "$total" \
  $((total / 1024)) $(((total % 1024) * 10 / 1024)) $((BUDGET / 1024))

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
log "building dmp-node"
cargo build --locked -p dmp-node >&2
node_bin="$(cargo metadata --locked --no-deps --format-version 1 |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/dmp-node"
DMP_SERVED_ZONE=mesh.test DMP_AUTH_MODE=open DMP_HTTP_RATE=0 DMP_HTTP_BURST=0 \
  "$node_bin" --db-path "$work/node.db" --http-port 0 --dns-port 0 --web-dir "$ROOT/dist" \
  >"$work/node.out" 2>"$work/node.err" &
node_pid=$!
for _ in $(seq 1 100); do
  grep -q '^dns: ' "$work/node.out" 2>/dev/null && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$work/node.err" >&2; exit 1; }
  sleep 0.1
done
url="$(sed -n 's/^dmp-node .* listening on \(http[^ ]*\).*/\1/p' "$work/node.out" | head -1)"
url="${url%/}"
result="$(DMP_APP_URL="$url" DMP_NODE_URL="$url" DMP_ZONE=mesh.test node tests/browser/unlock-bench.mjs)"
echo "unlock in headless Chromium: $result"

if [ "$total" -gt "$BUDGET" ]; then
  log "OVER BUDGET: initial load is $total bytes gzip (budget $BUDGET)"
  exit 1
fi
