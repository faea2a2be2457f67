#!/usr/bin/env bash
# Client hook of scripts/test-edge.sh: our CLI (dnsmesh) — alice and bob
# exchange messages through the edge node, writing over HTTP
# (/v1/records/*) and reading over DoH (/dns-query), and bob's one-time
# prekey is consumed (gone from the node) by alice's message.
#
# Usage: scripts/test-edge-cli.sh BASE_URL     (an open-mode edge node, e.g. http://127.0.0.1:8787)
set -euo pipefail

BASE="${1:?usage: scripts/test-edge-cli.sh BASE_URL}"
BASE="${BASE%/}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ZONE="edge$(date +%s).test"

log() { echo "[test-edge-cli] $*"; }
die() {
  echo "[test-edge-cli] FAILED: $*" >&2
  exit 1
}

cargo build --locked -q -p dmp-cli --bin dnsmesh
BIN="$ROOT/target/debug/dnsmesh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# dm USER ARGS...: dnsmesh as USER, with its own config home, reading via DoH.
dm() {
  local user="$1"
  shift
  local home="$WORK/$user"
  mkdir -p "$home/fake-home"
  env -u DMP_CONFIG_HOME -u DMP_HTTP_TOKEN -u RUST_LOG \
    HOME="$home/fake-home" DMP_TOKENS_HOME="$home/tokens" \
    DMP_PASSPHRASE="passphrase of $user" DMP_DOH_URL="$BASE/dns-query" \
    "$BIN" --config-home "$home" "$@" </dev/null
}

# pool_size USER: live prekeys of USER, counted from a DoH JSON answer.
pool_size() {
  local name
  name="prekeys.id-$(printf '%s' "$1" | sha256sum | cut -c1-12).$ZONE"
  curl -fsS -m 10 "$BASE/dns-query?name=$name&type=TXT" |
    python3 -c 'import json,sys; print(sum(1 for a in json.load(sys.stdin).get("Answer", []) if a["type"] == 16))'
}

for u in alice bob; do
  dm "$u" init "$u" --domain "$ZONE" --endpoint "$BASE" --no-probe-local-dns >/dev/null
  dm "$u" identity publish >/dev/null
done
dm bob identity refresh-prekeys --count 5 >/dev/null
dm alice contacts add "bob@$ZONE" >/dev/null
dm bob contacts add "alice@$ZONE" >/dev/null
[ "$(pool_size bob)" = 5 ] || die "bob's prekey pool: want 5, got $(pool_size bob)"

dm alice send "bob@$ZONE" "hello bob, via the edge" >"$WORK/send.out" 2>"$WORK/send.err" ||
  { cat "$WORK/send.out" "$WORK/send.err" >&2; die "alice send"; }
! grep -q "no forward secrecy" "$WORK/send.err" || die "alice sent without a prekey: $(cat "$WORK/send.err")"
dm bob recv >"$WORK/bob.out" || die "bob recv"
grep -q "hello bob, via the edge" "$WORK/bob.out" || die "bob did not get alice's message: $(cat "$WORK/bob.out")"
[ "$(pool_size bob)" = 4 ] || die "the used prekey is still served: pool has $(pool_size bob)"

dm bob send "alice@$ZONE" "hi alice, edge works" >/dev/null || die "bob send"
dm alice recv >"$WORK/alice.out" || die "alice recv"
grep -q "hi alice, edge works" "$WORK/alice.out" || die "alice did not get bob's reply: $(cat "$WORK/alice.out")"
log "alice and bob exchanged messages through $BASE (HTTP writes, DoH reads, prekey consumed)"
