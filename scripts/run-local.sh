#!/usr/bin/env bash
# The one-command local run: builds the web client and dmp-node, then starts
# the node in the foreground with its SQLite store, DNS on a loopback port,
# the HTTP API, DNS over HTTPS (/dns-query) and the web client at /. It
# prints the URL to open; Ctrl-C stops it.
#
# On a fresh machine it first installs what is missing (trunk,
# wasm-bindgen-cli, npm's binaryen; see docs/TOOLCHAIN.md), once.
#
# Usage: scripts/run-local.sh [dmp-node flags]     (see: scripts/run-local.sh --help)
#   e.g. scripts/run-local.sh --http-port 0        (any free port)
#
# Environment:
#   DMP_PROFILE     cargo profile of dmp-node (default: release; "dev" builds faster)
#   DMP_HTTP_HOST / DMP_HTTP_PORT   HTTP bind address (defaults 127.0.0.1 / 8053)
#   DMP_DNS_PORT    loopback DNS port (default 5353)
#   DMP_SERVED_ZONE mailbox domain the node serves (default mesh.local)
#   DMP_DB_PATH     SQLite file (default: ~/.local/share/dmp-rs/node.db)
#   DMP_NO_WEB=1    skip building the web client (serve an existing dist/)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[run-local] $*" >&2; }

case "${1:-}" in
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    echo >&2
    ;;
esac

profile="${DMP_PROFILE:-release}"
if [ "${DMP_NO_WEB:-0}" != 1 ]; then
  log "checking build tools (installs what is missing, once per machine)"
  eval "$(scripts/install-tools.sh --with-web)"
  log "building the web client (trunk build --release)"
  cargo fetch --locked >&2
  TRUNK_SKIP_VERSION_CHECK=true trunk build --release >&2
fi
[ -f dist/index.html ] || { log "dist/index.html is missing: build the web client first"; exit 1; }

log "building dmp-node (profile $profile)"
cargo build --locked -p dmp-node --profile "$profile" >&2

# A local run keeps its SQLite database in the user's data directory unless
# told otherwise (the node's own default is the system path /var/lib/dmp).
if [ -z "${DMP_DB_PATH:-}" ]; then
  export DMP_DB_PATH="${XDG_DATA_HOME:-$HOME/.local/share}/dmp-rs/node.db"
  mkdir -p "$(dirname "$DMP_DB_PATH")"
fi
export DMP_SERVED_ZONE="${DMP_SERVED_ZONE:-mesh.local}"
export DMP_WEB_DIR="$ROOT/dist"
log "database: $DMP_DB_PATH"
log "open the URL below in a browser; create an identity with mailbox domain $DMP_SERVED_ZONE"

dir="$profile"
[ "$profile" = dev ] && dir=debug
target_dir="$(cargo metadata --locked --no-deps --format-version 1 |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-$ROOT/target}/$dir/dmp-node" "$@"
