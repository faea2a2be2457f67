#!/usr/bin/env bash
# Builds the self-hosted node (dmp-node) and starts it in the foreground on
# this machine. It prints the URL it serves first; Ctrl-C stops it.
#
# Usage: scripts/run-local.sh [dmp-node flags]     (see: scripts/run-local.sh --help)
#   e.g. scripts/run-local.sh --http-port 0        (any free port)
#
# Environment:
#   DMP_PROFILE    cargo profile to build (default: release; "dev" builds faster)
#   DMP_HTTP_HOST / DMP_HTTP_PORT   bind address (defaults 127.0.0.1 / 8053)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

profile="${DMP_PROFILE:-release}"
echo "[run-local] building dmp-node (profile $profile)..." >&2
cargo build --locked -p dmp-node --profile "$profile" >&2

# A local run keeps its SQLite database in the user's data directory unless
# told otherwise (the node's own default is the system path /var/lib/dmp).
if [ -z "${DMP_DB_PATH:-}" ]; then
  export DMP_DB_PATH="${XDG_DATA_HOME:-$HOME/.local/share}/dmp-rs/node.db"
  mkdir -p "$(dirname "$DMP_DB_PATH")"
fi
echo "[run-local] database: $DMP_DB_PATH" >&2

dir="$profile"
[ "$profile" = dev ] && dir=debug
target_dir="$(cargo metadata --locked --no-deps --format-version 1 |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-$ROOT/target}/$dir/dmp-node" "$@"
