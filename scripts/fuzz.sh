#!/usr/bin/env bash
# Coverage-guided fuzzing of dmp-core with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [target ...]      (default: records message fec receive)
#
# Installs cargo-fuzz when it is missing (`cargo install cargo-fuzz
# --locked`), builds every target once, then runs each for FUZZ_SECONDS
# (libFuzzer -max_total_time). The working corpus is fuzz/corpus/<target>
# (gitignored, grows across runs); the committed seeds in fuzz/seeds/<target>
# are read as a second corpus. Exits 1 if any target finds a crash, timeout
# or OOM, printing each artifact's path (fuzz/artifacts/<target>/...) and how
# to reproduce and minimize it.
#
# Works on stable Rust: cargo-fuzz's -Z flags are enabled with
# RUSTC_BOOTSTRAP=1. AddressSanitizer works with the stable std on
# x86_64-linux; if the ASan build fails anyway, the script falls back to
# `--sanitizer none` (dmp-core itself forbids unsafe code, so panics and
# the harness invariants are what matter most).
#
# Environment:
#   FUZZ_SECONDS       seconds per target (default 20)
#   FUZZ_SANITIZER     address | none | ... (default address, with fallback)
#   FUZZ_UNIT_TIMEOUT  seconds before one input counts as a hang (default 10)
#   FUZZ_CHECK_SEEDS=1 first check that fuzz/seeds matches what
#                      `cargo run --example seeds` generates (a separate,
#                      non-instrumented build)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-20}"
UNIT_TIMEOUT="${FUZZ_UNIT_TIMEOUT:-10}"
SANITIZER="${FUZZ_SANITIZER:-address}"
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=(records message fec receive)
fi
export RUSTC_BOOTSTRAP=1

start=$(date +%s)
stamp() { echo "[fuzz] $(( $(date +%s) - start ))s: $*"; }

# 1. cargo-fuzz, installed only when missing.
if ! cargo fuzz --version >/dev/null 2>&1; then
    stamp "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
stamp "$(cargo fuzz --version)"

if [ "${FUZZ_CHECK_SEEDS:-0}" = 1 ]; then
    stamp "checking committed seeds"
    (cd fuzz && cargo run --release --quiet --example seeds -- --check)
fi

# 2. Build every target once (cargo fuzz run then finds them fresh).
stamp "building targets (sanitizer: $SANITIZER)"
if ! cargo fuzz build --fuzz-dir fuzz -s "$SANITIZER"; then
    if [ "$SANITIZER" = none ]; then
        exit 1
    fi
    echo "[fuzz] warning: build with sanitizer '$SANITIZER' failed; retrying with none" >&2
    SANITIZER=none
    cargo fuzz build --fuzz-dir fuzz -s none
fi
stamp "built"

# 3. Run each target for a bounded time.
found=()
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="$(mktemp)"
    stamp "running $t for ${SECONDS_PER_TARGET}s"
    set +e
    cargo fuzz run --fuzz-dir fuzz -s "$SANITIZER" "$t" \
        "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout="$UNIT_TIMEOUT" \
        -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        artifacts=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
        if [ -z "$artifacts" ]; then
            echo "[fuzz] $t exited with status $status and wrote no test unit (see above)" >&2
            found+=("$t: exit status $status")
        fi
        for a in $artifacts; do
            case "$a" in
                /*) found+=("$t: $a") ;;
                *) found+=("$t: $ROOT/$a") ;;
            esac
        done
    fi
    rm -f "$log"
done

stamp "done"
if [ "${#found[@]}" -gt 0 ]; then
    echo "[fuzz] FAILED: findings:" >&2
    for f in "${found[@]}"; do
        echo "  $f" >&2
    done
    echo "[fuzz] reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -s $SANITIZER <target> <file>" >&2
    echo "[fuzz] minimize:  RUSTC_BOOTSTRAP=1 cargo fuzz tmin --fuzz-dir fuzz -s $SANITIZER <target> <file>" >&2
    exit 1
fi
echo "[fuzz] OK: no crashes in ${TARGETS[*]} (${SECONDS_PER_TARGET}s each)"
