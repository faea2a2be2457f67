#!/usr/bin/env bash
# DNS and HTTP benchmark of dmp-node against NSD and the Python reference
# node (dnsmesh 0.7.5), all measured in this one run on this machine.
#
#   scripts/bench/dns-qps.sh
#
# What it does, everything on 127.0.0.1 and stopped on exit:
#   1. installs what is missing: Debian `dnsperf` and `nsd` (apt-get), the
#      reference (scripts/install-tools.sh's venv, or DMP_REFERENCE_PYTHON);
#   2. builds dmp-node and the load tool
#      (self-hosted-node/examples/http_publish_load.rs) in release;
#   3. writes one DMP-shaped data set (scripts/bench/dmp_dataset.py: chunk,
#      manifest (two strings), identity and prekey-pool records, plus 20 %
#      queries for names that do not exist) and serves it from
#        (a) dmp-node, loaded through its HTTP API,
#        (b) the reference node, rate limits off (DMP_DNS_RATE=0,
#            DMP_HTTP_RATE=0), loaded through its HTTP API,
#        (c) NSD with RRL off, from a zone file with the same records;
#   4. runs dnsperf against each with the same query file, duration and
#      load (UDP, EDNS 0) and prints QPS, average and p99 latency (p99 from
#      dnsperf -v per-query latencies) and the ratios;
#   5. HTTP publish throughput (records/s; concurrent keep-alive clients;
#      the reference speaks HTTP/1.0, so its clients reconnect per request)
#      of a fresh dmp-node vs a fresh reference node;
#   6. RSS of dmp-node holding DMP_BENCH_RSS_RECORDS records (published over
#      HTTP by step 5's run, then again after a restart that loads them
#      from SQLite).
#
# Goals reported: dmp-node >= 0.5x NSD and >= 25x the reference in QPS;
# publish throughput >= 20x the reference.
#
# Environment (defaults in brackets):
#   DMP_BENCH_DURATION        seconds of dnsperf per server [20]
#   DMP_BENCH_CLIENTS         dnsperf -c, UDP sockets [4]
#   DMP_BENCH_OUTSTANDING     dnsperf -q, queries in flight [100]
#   DMP_BENCH_NSD_SERVERS     NSD server-count (processes) [CPU count, as
#                             dmp-node runs one UDP worker per CPU]
#   DMP_BENCH_PUBLISH_SECONDS length of the durable and reference publish runs [10]
#   DMP_BENCH_CONCURRENCY     HTTP publish client counts against dmp-node,
#                             one run each, best counts ["32 128"]
#   DMP_BENCH_REF_CONCURRENCY the same against the reference ["4 8 16"]
#                             (its listen backlog is 5: beyond ~8 clients
#                             SYN retransmits only lower it)
#   DMP_BENCH_RSS_RECORDS     records published to dmp-node for step 6 [100000]
#   DMP_BENCH_SKIP            comma list of steps to skip: nsd,reference,http
#   DMP_REFERENCE_PYTHON      the reference venv's python (default: what
#                             scripts/install-tools.sh creates)
#   DMP_BENCH_KEEP=1          keep the work directory (logs, dnsperf output)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$PWD"

DURATION="${DMP_BENCH_DURATION:-20}"
CLIENTS="${DMP_BENCH_CLIENTS:-4}"
OUTSTANDING="${DMP_BENCH_OUTSTANDING:-100}"
NSD_SERVERS="${DMP_BENCH_NSD_SERVERS:-$(nproc 2>/dev/null || echo 1)}"
PUBLISH_SECONDS="${DMP_BENCH_PUBLISH_SECONDS:-10}"
CONCURRENCY="${DMP_BENCH_CONCURRENCY:-32 128}"
REF_CONCURRENCY="${DMP_BENCH_REF_CONCURRENCY:-4 8 16}"
RSS_RECORDS="${DMP_BENCH_RSS_RECORDS:-100000}"
SKIP=",${DMP_BENCH_SKIP:-},"
ZONE=mesh.test

log() { echo "== $*" >&2; }
die() {
  echo "dns-qps.sh: error: $*" >&2
  exit 1
}
skipped() { [[ "$SKIP" == *",$1,"* ]]; }

# --- 1. tools -------------------------------------------------------------------
need_apt=()
command -v dnsperf >/dev/null 2>&1 || need_apt+=(dnsperf)
if ! skipped nsd && ! command -v nsd >/dev/null 2>&1 && [ ! -x /usr/sbin/nsd ]; then
  need_apt+=(nsd)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${need_apt[*]} and no apt-get: install them by hand"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  log "apt-get install ${need_apt[*]}"
  "${sudo_cmd[@]}" apt-get update >&2
  # The nsd package may try to start its system service; policy-rc.d is not
  # ours to change, so stop it afterwards if it came up.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y "${need_apt[@]}" >&2
fi
NSD_BIN="$(command -v nsd || echo /usr/sbin/nsd)"

if ! skipped reference; then
  if [ -z "${DMP_REFERENCE_PYTHON:-}" ]; then
    log "reference: scripts/install-tools.sh"
    eval "$(bash scripts/install-tools.sh)"
  fi
  PY_REF="$DMP_REFERENCE_PYTHON"
  "$PY_REF" -c 'import dmp.server' 2>/dev/null ||
    die "$PY_REF cannot import the reference node (dmp.server); set DMP_REFERENCE_PYTHON"
fi
PY="$(command -v python3)" || die "python3 is needed"

# --- 2. build --------------------------------------------------------------------
log "cargo build --release -p dmp-node (binary + load tool)"
cargo build --release --locked -p dmp-node --bin dmp-node --example http_publish_load >&2
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
NODE="$TARGET_DIR/release/dmp-node"
LOAD="$TARGET_DIR/release/examples/http_publish_load"

# --- process bookkeeping --------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dmp-bench.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "${DMP_BENCH_KEEP:-0}" = 1 ]; then
    echo "work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop() { # stop PID: TERM it and wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# A port free for both UDP and TCP on 127.0.0.1 (racy, but nothing else
# here binds ports in between).
free_port() {
  "$PY" - <<'EOF'
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); u.close(); continue
    t.close(); u.close(); print(port); break
EOF
}

# dns_probe PORT NAME: prints "rcode answers strings" of one UDP TXT query
# (EDNS 4096), or fails after 10 s without an answer.
dns_probe() {
  "$PY" - "$1" "$2" <<'EOF'
import socket, struct, sys, time
port, name = int(sys.argv[1]), sys.argv[2]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 1)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack(">HH", 16, 1) + b"\0\0\x29\x10\0\0\0\0\0\0\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
end = time.time() + 10
while time.time() < end:
    s.sendto(q, ("127.0.0.1", port))
    try:
        r = s.recv(65535)
    except OSError:
        continue
    rcode, an = r[3] & 15, struct.unpack(">H", r[6:8])[0]
    # Count the character-strings of every TXT answer.
    i = 12
    while r[i]: i += r[i] + 1
    i += 5
    strings = 0
    for _ in range(an):
        while r[i] and r[i] < 192: i += r[i] + 1
        i += 2 if r[i] >= 192 else 1
        rdlen = struct.unpack(">H", r[i + 8:i + 10])[0]; i += 10; end_rd = i + rdlen
        while i < end_rd: strings += 1; i += r[i] + 1
    print(rcode, an, strings); sys.exit(0)
sys.exit(1)
EOF
}

wait_http() { # wait_http URL: until /health answers 200 (15 s)
  local i
  for i in $(seq 150); do
    "$PY" -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1/health" \
      >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# start_dmp_node DIR: runs dmp-node on a fresh port pair with its db in DIR;
# sets NODE_PID, NODE_URL, NODE_DNS_PORT.
start_dmp_node() {
  local dir="$1" i
  mkdir -p "$dir"
  "$NODE" "${NODE_EXTRA[@]}" --db-path "$dir/dmp.db" --http-host 127.0.0.1 --http-port 0 \
    --dns-host 127.0.0.1 --dns-port 0 --http-rate 0 --dns-rate 0 --served-zone "$ZONE" \
    >"$dir/stdout" 2>"$dir/stderr" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for i in $(seq 300); do
    grep -q '^dns: ' "$dir/stdout" 2>/dev/null && break
    kill -0 "$NODE_PID" 2>/dev/null || die "dmp-node exited: $(cat "$dir/stderr")"
    sleep 0.05
  done
  NODE_URL="$(head -1 "$dir/stdout" | awk '{print $NF}')"
  NODE_URL="${NODE_URL%/}"
  NODE_DNS_PORT="$(sed -n 's/^dns: [0-9.]*:\([0-9]*\)\/.*/\1/p' "$dir/stdout")"
  [ -n "$NODE_DNS_PORT" ] || die "dmp-node printed no DNS address: $(cat "$dir/stdout" "$dir/stderr")"
}

# start_reference DIR: the reference node with rate limits off; sets
# REF_PID, REF_URL, REF_DNS_PORT.
start_reference() {
  local dir="$1"
  mkdir -p "$dir"
  REF_DNS_PORT="$(free_port)"
  local http_port
  http_port="$(free_port)"
  env DMP_DB_PATH="$dir/dmp.db" DMP_CLUSTER_FILE="$dir/cluster.json" \
    DMP_DNS_HOST=127.0.0.1 DMP_DNS_PORT="$REF_DNS_PORT" \
    DMP_HTTP_HOST=127.0.0.1 DMP_HTTP_PORT="$http_port" \
    DMP_SERVED_ZONE="$ZONE" DMP_DNS_RATE=0 DMP_HTTP_RATE=0 DMP_LOG_LEVEL=WARNING \
    "$PY_REF" -m dmp.server >"$dir/log" 2>&1 &
  REF_PID=$!
  PIDS+=("$REF_PID")
  REF_URL="http://127.0.0.1:$http_port"
  wait_http "$REF_URL" || die "the reference node did not come up: $(tail -5 "$dir/log")"
}

NODE_EXTRA=() # extra dmp-node flags for the next start_dmp_node
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# --- 3. data set and servers ------------------------------------------------------
log "data set"
"$PY" scripts/bench/dmp_dataset.py --out "$WORK/data" --zone "$ZONE" >&2
DATA="$WORK/data"
PROBE_NAMES=(
  "$(grep -m1 '^chunk-' "$DATA/records.tsv" | cut -f1)"
  "$(grep -m1 '^slot-' "$DATA/records.tsv" | cut -f1)"
  "$(grep -m1 '^prekeys\.' "$DATA/records.tsv" | cut -f1)"
  "nothing-here.$ZONE"
)

declare -A QPS P99 AVG LOST PORT
SERVERS=()

log "dmp-node: start and load $(wc -l <"$DATA/records.tsv") records over HTTP"
start_dmp_node "$WORK/dmp-node"
DMP_PID="$NODE_PID"
"$LOAD" --url "$NODE_URL" --file "$DATA/records.tsv" --concurrency 8 >"$WORK/dmp-node/load.json"
PORT[dmp-node]="$NODE_DNS_PORT"
SERVERS+=(dmp-node)

if ! skipped reference; then
  log "reference: start (rate limits off) and load the same records over HTTP"
  start_reference "$WORK/reference"
  DNS_REF_PID="$REF_PID"
  "$LOAD" --url "$REF_URL" --file "$DATA/records.tsv" --concurrency 8 >"$WORK/reference/load.json"
  PORT[reference]="$REF_DNS_PORT"
  SERVERS+=(reference)
fi

if ! skipped nsd; then
  log "NSD: zone file with the same records, RRL off, server-count $NSD_SERVERS"
  mkdir -p "$WORK/nsd"
  NSD_PORT="$(free_port)"
  cat >"$WORK/nsd/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1
  port: $NSD_PORT
  server-count: $NSD_SERVERS
  username: ""
  chroot: ""
  zonesdir: "$WORK/nsd"
  zonelistfile: "$WORK/nsd/zone.list"
  database: ""
  xfrdfile: "$WORK/nsd/xfrd.state"
  xfrdir: "$WORK/nsd"
  pidfile: "$WORK/nsd/nsd.pid"
  logfile: "$WORK/nsd/nsd.log"
  verbosity: 0
  hide-version: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  ipv4-edns-size: 4096
remote-control:
  control-enable: no
zone:
  name: "$ZONE"
  zonefile: "$DATA/zone.db"
EOF
  "$NSD_BIN" -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/stdout" 2>&1 &
  NSD_PID=$!
  PIDS+=("$NSD_PID")
  PORT[nsd]="$NSD_PORT"
  SERVERS+=(nsd)
fi

# The three must answer alike: same rcode, RR count and string count.
log "checking that every server gives the same answers"
for name in "${PROBE_NAMES[@]}"; do
  want=""
  for s in "${SERVERS[@]}"; do
    got="$(dns_probe "${PORT[$s]}" "$name")" || die "$s does not answer DNS on port ${PORT[$s]}"
    # NSD adds the SOA to negative answers; compare rcode and answers only.
    if [ -z "$want" ]; then
      want="$got"
    elif [ "$got" != "$want" ]; then
      die "$s answers $name with '$got' (rcode answers strings), dmp-node with '$want'"
    fi
  done
  echo "   $name: rcode/answers/strings $want on all" >&2
done

# --- 4. dnsperf -----------------------------------------------------------------
for s in "${SERVERS[@]}"; do
  log "dnsperf $s: ${DURATION}s, -c $CLIENTS -q $OUTSTANDING, UDP, EDNS"
  out="$WORK/dnsperf-$s"
  dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -d "$DATA/queries.txt" -l "$DURATION" \
    -c "$CLIENTS" -q "$OUTSTANDING" -e -v >"$out.v" 2>"$out.err" || die "dnsperf $s failed: $(cat "$out.err")"
  QPS[$s]="$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$out.v")"
  AVG[$s]="$(sed -n 's/^ *Average Latency (s): *\([0-9.]*\).*/\1/p' "$out.v")"
  LOST[$s]="$(sed -n 's/^ *Queries lost: *\([0-9]*\) (\(.*\))/\2/p' "$out.v")"
  # p99 over every answered query: the last field of each "> RCODE name TYPE s" line.
  P99[$s]="$(awk '/^> / {print $NF}' "$out.v" | sort -g | awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print v[i]}')"
  grep -v '^> ' "$out.v" | sed -n '/Statistics/,$p' | sed 's/^/   /' >&2
  grep -v "^> " "$out.v" >"$out.txt"; rm -f "$out.v"
done
# The DNS servers are done with; free the cores for the HTTP runs.
stop "$DMP_PID"
[ -n "${DNS_REF_PID:-}" ] && stop "$DNS_REF_PID"
[ -n "${NSD_PID:-}" ] && stop "$NSD_PID"

# --- 5./6. HTTP publish throughput and RSS ---------------------------------------
# publish_run NAME URL ARGS...: runs the load tool, keeps its JSON in
# $WORK/NAME.json and prints its records/s.
publish_run() {
  local name="$1" url="$2"
  shift 2
  "$LOAD" --url "$url" --zone "$ZONE" "$@" >"$WORK/$name.json" ||
    die "load tool failed against $name: $(cat "$WORK/$name.json")"
  echo "   $name: $(cat "$WORK/$name.json")" >&2
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["per_sec"])' "$WORK/$name.json"
}
PUB_ROWS=() RSS_HTTP="" RSS_RESTART="" RSS_IDLE="" STORED=""
read -r -a CONC_LIST <<<"$CONCURRENCY"
read -r -a REF_CONC_LIST <<<"$REF_CONCURRENCY"
if ! skipped http; then
  # Throughput is what a node sustains when enough clients keep it busy, so
  # each node gets a small sweep of client counts and its best row counts;
  # every row is printed.
  for c in "${CONC_LIST[@]}"; do
    log "HTTP publish: dmp-node (durable: fsync per commit), ${PUBLISH_SECONDS}s, $c keep-alive clients"
    start_dmp_node "$WORK/publish-durable-$c"
    PUB_ROWS+=("pub node $c $(publish_run "publish-durable-$c" "$NODE_URL" --count "$RSS_RECORDS" \
      --concurrency "$c" --duration "$PUBLISH_SECONDS")")
    stop "$NODE_PID"
  done

  # The reference runs SQLite with synchronous=NORMAL (no fsync per commit);
  # --durability normal puts dmp-node on the same footing and loads the RSS
  # set fast.
  NODE_EXTRA=(--durability normal)
  for c in "${CONC_LIST[@]}"; do
    log "HTTP publish: dmp-node --durability normal, $RSS_RECORDS records, $c clients"
    start_dmp_node "$WORK/publish-node-$c"
    RSS_IDLE="$(rss_kb "$NODE_PID")"
    PUB_ROWS+=("pub nofsync $c $(publish_run "publish-node-$c" "$NODE_URL" --count "$RSS_RECORDS" --concurrency "$c")")
    STORED="$("$PY" -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["records"])' "$NODE_URL/stats")"
    RSS_HTTP="$(rss_kb "$NODE_PID")"
    stop "$NODE_PID"
    RSS_DIR="$WORK/publish-node-$c"
  done
  NODE_EXTRA=()
  log "dmp-node restart on the same database (index loaded from SQLite)"
  mv "$RSS_DIR/stdout" "$RSS_DIR/stdout.1"
  start_dmp_node "$RSS_DIR"
  wait_http "$NODE_URL" || die "dmp-node did not come back"
  RSS_RESTART="$(rss_kb "$NODE_PID")"
  stop "$NODE_PID"

  if ! skipped reference; then
    for c in "${REF_CONC_LIST[@]}"; do
      log "HTTP publish: reference, ${PUBLISH_SECONDS}s, $c clients (HTTP/1.0: a connection per request)"
      start_reference "$WORK/publish-ref-$c"
      PUB_ROWS+=("pub ref $c $(publish_run "publish-ref-$c" "$REF_URL" --count "$RSS_RECORDS" \
        --concurrency "$c" --duration "$PUBLISH_SECONDS")")
      stop "$REF_PID"
    done
  fi
fi

# --- report ---------------------------------------------------------------------
{
  for s in "${SERVERS[@]}"; do
    printf 'dns %s %s %s %s %s\n' "$s" "${QPS[$s]:-0}" "${AVG[$s]:-0}" "${P99[$s]:-0}" "${LOST[$s]:-?}"
  done
  for row in ${PUB_ROWS[@]+"${PUB_ROWS[@]}"}; do printf '%s\n' "$row"; done
  printf 'rss %s %s %s %s\n' "${RSS_IDLE:--}" "${RSS_HTTP:--}" "${RSS_RESTART:--}" "${STORED:--}"
} >"$WORK/results"
"$PY" - "$WORK/results" "$DURATION" "$CLIENTS" "$OUTSTANDING" "$NSD_SERVERS" \
  "$PUBLISH_SECONDS" "$RSS_RECORDS" <<'EOF'
import sys
path, dur, clients, outstanding, nsd_servers, pub_s, rss_n = sys.argv[1:8]
dns, pub, rss = {}, {}, None
for line in open(path):
    f = line.split()
    if f[0] == "dns":
        dns[f[1]] = (float(f[2]), float(f[3]), float(f[4]), f[5])
    elif f[0] == "pub":
        pub.setdefault(f[1], []).append((int(f[2]), float(f[3])))
    elif f[0] == "rss" and f[1] != "-":
        rss = [int(x) for x in f[1:5]]

def goal(r, g):
    return f"goal >= {g}x: {'met' if r >= g else 'NOT met'}"

print()
print(f"DNS: dnsperf UDP + EDNS, {dur} s per server, -c {clients} -q {outstanding}, "
      f"same query file; NSD server-count {nsd_servers}, RRL off")
print(f"| server    |        QPS |  avg ms |  p99 ms |   lost |")
print(f"|-----------|-----------:|--------:|--------:|-------:|")
for s, (q, a, p, l) in dns.items():
    print(f"| {s:<9} | {q:>10.0f} | {a*1000:>7.3f} | {p*1000:>7.3f} | {l:>6} |")
ours = dns.get("dmp-node", (0,))[0]
for other, g in (("nsd", 0.5), ("reference", 25)):
    if other in dns and dns[other][0] > 0:
        r = ours / dns[other][0]
        print(f"dmp-node / {other}: {r:.2f}x ({goal(r, g)})")
if pub:
    labels = {
        "node": "dmp-node (fsync per commit)",
        "nofsync": "dmp-node (durability normal)",
        "ref": "reference (sync=NORMAL)",
    }
    print()
    print("HTTP publish, POST /v1/records/<name>, 241-byte chunk records; "
          "each node's best row (*) counts")
    print("| node                          | clients | records/s |")
    print("|-------------------------------|--------:|----------:|")
    best = {k: max(rows, key=lambda r: r[1]) for k, rows in pub.items()}
    for k in ("node", "nofsync", "ref"):
        for c, v in pub.get(k, []):
            mark = "*" if (c, v) == best[k] else " "
            print(f"| {labels[k]:<29} | {c:>7} | {v:>8.0f}{mark} |")
    if "ref" in best and best["ref"][1] > 0:
        for k, label in (("node", "durability full"), ("nofsync", "durability normal")):
            if k in best:
                r = best[k][1] / best["ref"][1]
                print(f"dmp-node ({label}) / reference, best rows: {r:.2f}x ({goal(r, 20)})")
                same = [v for c, v in pub[k] if c == 32]
                if same and k == "node":
                    r32 = same[0] / best["ref"][1]
                    print(f"  (at 32 clients: {r32:.2f}x)")
if rss:
    idle, http, restart, stored = rss
    print()
    print(f"dmp-node RSS: {idle/1024:.1f} MiB idle; holding {stored} records "
          f"({rss_n} published): {http/1024:.1f} MiB after the HTTP load, "
          f"{restart/1024:.1f} MiB after a restart (index loaded from SQLite)")
EOF
