#!/usr/bin/env bash
# WebDAV benchmark of amtsbote against nginx (dav + dav_ext) and Apache mod_dav, in one run,
# with the harness that produced shared/reference/perf-anchors.md (davbench.py).
#
#   bench/davbench.sh [RUNS]          # default 3 runs per server
#   TESTS=small bench/davbench.sh 5   # only some of davbench.py's tests (comma-separated)
#   INTERLEAVE=1 SERVERS=amtsbote,amtsbote-nochain TESTS=small bench/davbench.sh 9
#                                     # only some servers: nginx, apache, amtsbote, and
#                                     # amtsbote-nochain (audit.chain = false, a second
#                                     # instance: what the audit chain costs, same run;
#                                     # INTERLEAVE=1 runs the servers in turn, run by run)
#   BENCH_ROOT=/mnt/bench bench/davbench.sh  # the servers' data on another file system, e.g. a
#     fresh ext4: truncate -s 8G /var/tmp/bench.img && mkfs.ext4 -q -F /var/tmp/bench.img &&
#     mkdir -p /mnt/bench && mount -o loop /var/tmp/bench.img /mnt/bench
#
# Needs: python3, wrk, nginx-light + libnginx-mod-http-dav-ext, apache2 + apache2-utils
# (Debian: apt-get install --no-install-recommends nginx-light libnginx-mod-http-dav-ext
#  apache2 apache2-utils wrk). Everything listens on loopback only (19081, 19082, 19086),
# runs under a temporary directory and is stopped (by PID) at the end. Results: one JSON line
# per figure in $OUT (default target/davbench/results.jsonl) and a median table on stdout.
#
# amtsbote runs as built by `cargo build --release`, on SQLite and local disk (the embedded
# default), virus scanning off (the scanner is measured in its own benchmark), as a member
# user writing into its upload folder `an_KVBbg` — the path a sync client uses.
set -euo pipefail

RUNS=${1:-3}
TESTS=${TESTS:-big,small,propfind_10k,propfind_100_c32}
SERVERS=${SERVERS:-nginx,apache,amtsbote}
has() { [[ ",$SERVERS," == *",$1,"* ]]; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${DAVBENCH:-$ROOT/../shared/reference/davbench.py}
CONFIGS=${DAVBENCH_CONFIGS:-$ROOT/../shared/reference/davbench-configs}
OUT_DIR=$ROOT/target/davbench
OUT=${OUT:-$OUT_DIR/results.jsonl}
WORK=$(mktemp -d "${BENCH_ROOT:-/tmp}/amtsbote-davbench.XXXXXX")
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/amtsbote
PW=bench-Passwort-2026
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/apache/apache2.pid" ] && kill "$(cat "$WORK/apache/apache2.pid")" 2>/dev/null || true
  sleep 1
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$OUT_DIR" "$WORK"/{nginx/logs,apache,data/nginx,data/nginx-tmp,data/apache,amtsbote,amtsbote-nochain}
: >"$OUT"
chown -R www-data:www-data "$WORK/data" "$WORK/nginx" "$WORK/apache" 2>/dev/null || true
chmod 755 "$WORK"
if has nginx || has apache; then
  htpasswd -bc "$WORK/htpasswd" bench bench >/dev/null 2>&1
  for f in nginx-dav.conf apache2.conf; do
    sed "s#BENCH_DIR#$WORK#g" "$CONFIGS/$f" >"$WORK/$f"
  done
fi

(cd "$ROOT" && cargo build --release -q -p amtsbote)

echo "starting $SERVERS" >&2
has nginx && nginx -c "$WORK/nginx-dav.conf" -p "$WORK/nginx"
has apache && APACHE_RUN_DIR=$WORK/apache apache2 -f "$WORK/apache2.conf" -k start
export AMTSBOTE_SCAN__MODE=off
start_amtsbote() { # name port [VAR=value...]: a fresh data directory with the bench user
  local name=$1 port=$2
  shift 2
  (
    export AMTSBOTE_SERVER__DATA_DIR=$WORK/$name "$@"
    "$BIN" member add --number 9001 --name "Benchmark" >/dev/null
    "$BIN" user add --member 9001 --login bench --name Bench --email bench@example.invalid >/dev/null
    printf '%s\n' "$PW" | "$BIN" user set-password bench --password-stdin >/dev/null
    exec "$BIN" serve --listen "127.0.0.1:$port" >"$WORK/$name.log" 2>&1
  ) &
  PIDS+=($!)
  STARTED_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
}
if has amtsbote; then
  start_amtsbote amtsbote 19086
  AMTSBOTE_PID=$STARTED_PID
fi
if has amtsbote-nochain; then
  start_amtsbote amtsbote-nochain 19087 AMTSBOTE_AUDIT__CHAIN=false
  NOCHAIN_PID=$STARTED_PID
fi
sleep 1

run() { # name url user password pid
  echo "== $1" >&2
  python3 "$HARNESS" --url "$2" --user "$3" --password "$4" --name "$1" --pid "$5" --runs "$RUNS" --tests "$TESTS" >>"$OUT"
}
all_servers() {
  has nginx && run nginx http://127.0.0.1:19082/dav/ bench bench "$(cat "$WORK/nginx/nginx.pid")"
  has apache && run apache http://127.0.0.1:19081/dav/ bench bench "$(cat "$WORK/apache/apache2.pid")"
  has amtsbote && run amtsbote http://127.0.0.1:19086/remote.php/dav/files/bench/an_KVBbg/ bench "$PW" "$AMTSBOTE_PID"
  has amtsbote-nochain && run amtsbote-nochain http://127.0.0.1:19087/remote.php/dav/files/bench/an_KVBbg/ bench "$PW" "$NOCHAIN_PID"
  return 0
}
if [ "${INTERLEAVE:-0}" = 1 ]; then
  # One run of each server in turn, RUNS times: drift of the machine (the disk's
  # write-back, other load) then falls on all servers alike instead of on the last one.
  ALL_RUNS=$RUNS
  RUNS=1
  for _ in $(seq "$ALL_RUNS"); do all_servers; done
else
  all_servers
fi

python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
import statistics
med = {}
runs = {}
for r in rows:
    if r.get("stat") == "median":
        med[(r["server"], r["test"])] = r
    elif "run" in r:
        runs.setdefault((r["server"], r["test"]), []).append(r)
# The median of every single run, also across interleaved invocations.
for key, rs in runs.items():
    med[key] = {"value": statistics.median(x["value"] for x in rs), "unit": rs[0].get("unit", "")}
names = sorted({n for n, _ in med})
tests = sorted({t for _, t in med})
print("| test | " + " | ".join(names) + " |")
print("|---|" + "---|" * len(names))
for t in tests:
    cells = []
    for n in names:
        r = med.get((n, t))
        cells.append("-" if r is None else f'{r["value"]:.1f} {r.get("unit","")}')
    print(f"| {t} | " + " | ".join(cells) + " |")
PY
