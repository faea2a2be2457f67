#!/usr/bin/env bash
# THE test command of dmp-rs (README, and what CI runs through .ci/run).
#
# Usage: scripts/test.sh          (from any directory)
#
# Stages, in order; the first failure stops the run and says which stage:
#   tools        scripts/install-tools.sh (rust targets, dnsmesh 0.7.5 venv)
#   members      every workspace crate is checked natively or for wasm
#   fmt          cargo fmt --all --check
#   clippy       native crates, all targets, -D warnings
#   clippy-wasm  web + edge for wasm32-unknown-unknown, -D warnings
#   test         cargo test on the native crates (PROPTEST_CASES bounded)
#   no_std       dmp-core for wasm32v1-none (a target without std)
#   wasm-core    dmp-core alone for wasm32-unknown-unknown
#   wasm-web     dmp-web, profile wasm-release: the exact cargo build Trunk runs
#                (index.html), so a later `trunk build --release` reuses it
#   wasm-edge    dmp-edge, profile release: the exact cargo build worker-build
#                runs (wrangler.toml), so `wrangler dev/deploy` reuses it
#   reference    tests/reference/run_tests.sh against the Python reference, if present
#   fuzz         scripts/fuzz.sh: each cargo-fuzz target for FUZZ_SECONDS (default 10)
#
# Environment:
#   PROPTEST_CASES  cases per property test (default 256)
#   DMP_TOOLS_DIR   passed on to install-tools.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Crates that only build for wasm32-unknown-unknown. Every other workspace
# member must be in `default-members` (Cargo.toml), which the native stages use.
WASM_CRATES=(dmp-web dmp-edge)
wasm_p=()
for c in "${WASM_CRATES[@]}"; do wasm_p+=(-p "$c"); done

# Bounded fuzzing: the parsers' property tests run this many cases each.
export PROPTEST_CASES="${PROPTEST_CASES:-256}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

start_all=$SECONDS
summary=()

# run_stage NAME COMMAND...: banner, run, time; stop everything on failure.
run_stage() {
  local name="$1" t0=$SECONDS rc
  shift
  printf '\n==================== [%s] %s ====================\n' "$name" "$*"
  # Not in an `if`: bash ignores `set -e` inside conditionally run functions.
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  local took=$((SECONDS - t0))
  if [ "$rc" -ne 0 ]; then
    summary+=("$(printf 'FAIL  %-12s %4ss' "$name" "$took")")
    printf '\n==================== FAILED: stage [%s] (exit %s, %ss) ====================\n' "$name" "$rc" "$took"
    print_summary
    echo "test.sh: FAILED at stage [$name]"
    exit "$rc"
  fi
  summary+=("$(printf 'ok    %-12s %4ss' "$name" "$took")")
}

print_summary() {
  echo
  echo "-------------------- summary --------------------"
  local line
  for line in "${summary[@]}"; do echo "$line"; done
  echo "total: $((SECONDS - start_all))s"
}

stage_tools() {
  local exports
  exports="$(bash scripts/install-tools.sh)"
  # Exported to this script (not only the stage's subshell) below.
  printf '%s\n' "$exports" >"$TOOLS_ENV"
  printf '%s\n' "$exports"
}

stage_members() {
  # A crate listed in `members` but in neither list would silently go unchecked.
  cargo metadata --locked --no-deps --format-version 1 |
    "$DMP_REFERENCE_PYTHON" -c '
import json, sys
meta = json.load(sys.stdin)
wasm = set(sys.argv[1:])
default = set(meta.get("workspace_default_members", []))
names = {p["id"]: p["name"] for p in meta["packages"]}
bad = [names[i] for i in meta["workspace_members"] if i not in default and names[i] not in wasm]
both = [names[i] for i in default if names[i] in wasm]
for n in bad:
    print(f"crate {n} is in workspace members but neither in default-members (native) nor in WASM_CRATES (scripts/test.sh)")
for n in both:
    print(f"crate {n} is in default-members and in WASM_CRATES; pick one")
print("native:", ", ".join(sorted(names[i] for i in default)))
print("wasm:  ", ", ".join(sorted(wasm)))
sys.exit(1 if bad or both else 0)
' "${WASM_CRATES[@]}"
}

stage_reference() {
  if [ -f tests/reference/run_tests.sh ]; then
    bash tests/reference/run_tests.sh
  else
    echo "tests/reference/run_tests.sh not present yet: skipped"
  fi
}

TOOLS_ENV="$(mktemp)"
trap 'rm -f "$TOOLS_ENV"' EXIT

run_stage tools stage_tools
# shellcheck disable=SC1090
source "$TOOLS_ENV"
export DMP_REFERENCE_PYTHON
echo "DMP_REFERENCE_PYTHON=$DMP_REFERENCE_PYTHON  PROPTEST_CASES=$PROPTEST_CASES"

run_stage members stage_members
run_stage fmt cargo fmt --all --check
# Without -p/--workspace cargo takes `default-members`: the native crates.
run_stage clippy cargo clippy --locked --all-features --all-targets -- -D warnings
run_stage clippy-wasm cargo clippy --locked "${wasm_p[@]}" --target wasm32-unknown-unknown --all-targets -- -D warnings
run_stage test cargo test --locked --all-features
run_stage no_std cargo build --locked -p dmp-core --target wasm32v1-none
run_stage wasm-core cargo build --locked -p dmp-core --target wasm32-unknown-unknown
# One crate per invocation, as Trunk and worker-build do: building both at once
# unifies features differently and their artifacts would not be reused.
run_stage wasm-web cargo build --locked -p dmp-web --target wasm32-unknown-unknown --profile wasm-release
# The web client in headless Chromium against a local dmp-node and the reference CLI.
run_stage browser bash scripts/test-browser.sh
run_stage wasm-edge cargo build --locked -p dmp-edge --target wasm32-unknown-unknown --release
run_stage reference stage_reference
# The edge node under wrangler dev: conformance suite, persistence, cron, deploy dry run.
run_stage edge bash scripts/test-edge.sh
# Coverage-guided fuzzing of every parser and the receive state machine
# (cargo-fuzz, ASan), bounded: FUZZ_SECONDS per target.
run_stage fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-10}" bash scripts/fuzz.sh

print_summary
echo "test.sh: ALL STAGES PASSED"
echo "stages: ${#summary[@]} passed, 0 failed"
