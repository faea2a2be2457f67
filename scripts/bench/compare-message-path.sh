#!/usr/bin/env bash
# Compare the message path of dmp-core against the Python reference
# (dnsmesh 0.7.5), both measured in this invocation on this machine.
#
#   scripts/bench/compare-message-path.sh [extra criterion args]
#
# Runs scripts/bench/reference_message_path.py (ops send, receive,
# receive_poll; 1 KiB and 20 KiB) and `cargo bench -p dmp-core --bench
# message_path` (release profile), then prints, per op and size, the median
# µs/msg of each, the ratio reference/ours and whether the >= 10x goal is met.
#
# Rows: send vs send; receive vs receive (ours is a whole ReceiveSession,
# which does more than the reference's receive op: claim poll, slot walk,
# claim verification); receive_poll compares the same Rust bench against the
# reference's whole receive_messages() call, the like-for-like operation.
#
# Environment:
#   DMP_REFERENCE_PYTHON   interpreter with dnsmesh 0.7.5 installed (default:
#                          ${DMP_TOOLS_DIR:-$HOME/.cache/dmp}/venv-dnsmesh-0.7.5/bin/python,
#                          as scripts/install-tools.sh creates it)
#   DMP_REFERENCE_ITERATIONS  timed iterations per reference op (default:
#                          the reference script's auto: 100 up to 4 KiB, else 20)
#   DMP_BENCH_STRICT=1     exit 1 when any send/receive row misses the goal
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PY="${DMP_REFERENCE_PYTHON:-${DMP_TOOLS_DIR:-$HOME/.cache/dmp}/venv-dnsmesh-0.7.5/bin/python}"
if ! "$PY" -c 'import dmp' 2>/dev/null; then
    echo "error: $PY cannot import the reference (dmp); set DMP_REFERENCE_PYTHON" >&2
    exit 2
fi

TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
touch "$WORK/start"

echo "== building the Rust bench (release profile)" >&2
cargo bench -p dmp-core --bench message_path --no-run >&2

echo "== reference: $("$PY" --version 2>&1), dnsmesh $("$PY" -c 'import importlib.metadata as m; print(m.version("dnsmesh"))' 2>/dev/null || echo '?')" >&2
ref_args=(--ops send,receive,receive_poll --sizes 1024,20480)
if [[ -n "${DMP_REFERENCE_ITERATIONS:-}" ]]; then
    ref_args+=(--iterations "$DMP_REFERENCE_ITERATIONS")
fi
"$PY" scripts/bench/reference_message_path.py "${ref_args[@]}" | tee "$WORK/reference.jsonl" >&2

echo "== ours: cargo bench -p dmp-core --bench message_path" >&2
cargo bench -p dmp-core --bench message_path -- "$@" >&2

"$PY" - "$WORK/reference.jsonl" "$TARGET_DIR/criterion" "$WORK/start" <<'EOF'
import json, os, sys

ref_path, crit_dir, start_file = sys.argv[1:4]
start = os.path.getmtime(start_file)
ref = {}
with open(ref_path) as f:
    for line in f:
        line = line.strip()
        if line.startswith("{"):
            r = json.loads(line)
            ref[(r["op"], r["size"])] = r["us_median"]

def ours(op, size):
    """Median µs/msg of criterion's bench `op/size` from this run, or None."""
    p = os.path.join(crit_dir, op, str(size), "new", "estimates.json")
    if not os.path.exists(p) or os.path.getmtime(p) < start:
        return None
    with open(p) as f:
        return json.load(f)["median"]["point_estimate"] / 1000.0

GOAL = 10.0
rows = []
for op, ours_op in (("send", "send"), ("receive", "receive"), ("receive_poll", "receive")):
    for size in (1024, 20480):
        r, o = ref.get((op, size)), ours(ours_op, size)
        ratio = r / o if r and o else None
        met = "n/a" if ratio is None else ("yes" if ratio >= GOAL else "NO")
        rows.append((op, size, r, o, ratio, met))

fmt = lambda v, spec: "-" if v is None else format(v, spec)
head = ("op", "size", "reference µs/msg", "ours µs/msg", "ratio", ">=10x")
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---", "---:", "---:", "---:", "---:", ":---:"]) + "|")
for op, size, r, o, ratio, met in rows:
    print(f"| {op} | {size} | {fmt(r, '.1f')} | {fmt(o, '.1f')} | {fmt(ratio, '.1f')}x | {met} |")
print("\nmedians; ratio = reference / ours; receive_poll uses our receive bench"
      " (a whole ReceiveSession) against the reference's receive_messages()")

missed = [r for r in rows if r[0] != "receive_poll" and r[5] != "yes"]
if missed and os.environ.get("DMP_BENCH_STRICT") == "1":
    sys.exit(1)
EOF
