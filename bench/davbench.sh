#!/usr/bin/env bash
# WebDAV benchmark of amtsbote against nginx (dav + dav_ext) and Apache mod_dav, in one run,
# with the harness that produced shared/reference/perf-anchors.md (davbench.py).
#
#   bench/davbench.sh [RUNS]          # default 3 runs per server
#   TESTS=small bench/davbench.sh 5   # only some of davbench.py's tests (comma-separated)
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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${DAVBENCH:-$ROOT/../shared/reference/davbench.py}
CONFIGS=${DAVBENCH_CONFIGS:-$ROOT/../shared/reference/davbench-configs}
OUT_DIR=$ROOT/target/davbench
OUT=${OUT:-$OUT_DIR/results.jsonl}
WORK=$(mktemp -d "${BENCH_ROOT:-/tmp}/amtsbote-davbench.XXXXXX")
BIN=$ROOT/target/release/amtsbote
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

mkdir -p "$OUT_DIR" "$WORK"/{nginx/logs,apache,data/nginx,data/nginx-tmp,data/apache,amtsbote}
: >"$OUT"
chown -R www-data:www-data "$WORK/data" "$WORK/nginx" "$WORK/apache" 2>/dev/null || true
chmod 755 "$WORK"
htpasswd -bc "$WORK/htpasswd" bench bench >/dev/null 2>&1
for f in nginx-dav.conf apache2.conf; do
  sed "s#BENCH_DIR#$WORK#g" "$CONFIGS/$f" >"$WORK/$f"
done

(cd "$ROOT" && cargo build --release -q -p amtsbote)

echo "starting nginx, apache and amtsbote" >&2
nginx -c "$WORK/nginx-dav.conf" -p "$WORK/nginx"
APACHE_RUN_DIR=$WORK/apache apache2 -f "$WORK/apache2.conf" -k start
export AMTSBOTE_SERVER__DATA_DIR=$WORK/amtsbote
export AMTSBOTE_SCAN__MODE=off
"$BIN" member add --number 9001 --name "Benchmark" >/dev/null
"$BIN" user add --member 9001 --login bench --name Bench --email bench@example.invalid >/dev/null
printf '%s\n' "$PW" | "$BIN" user set-password bench --password-stdin >/dev/null
"$BIN" serve --listen 127.0.0.1:19086 >"$WORK/amtsbote.log" 2>&1 &
PIDS+=($!)
AMTSBOTE_PID=$!
for _ in $(seq 50); do
  curl -fs http://127.0.0.1:19086/healthz >/dev/null 2>&1 && break
  sleep 0.2
done
sleep 1

run() { # name url user password pid
  echo "== $1" >&2
  python3 "$HARNESS" --url "$2" --user "$3" --password "$4" --name "$1" --pid "$5" --runs "$RUNS" --tests "$TESTS" >>"$OUT"
}
run nginx http://127.0.0.1:19082/dav/ bench bench "$(cat "$WORK/nginx/nginx.pid")"
run apache http://127.0.0.1:19081/dav/ bench bench "$(cat "$WORK/apache/apache2.pid")"
run amtsbote http://127.0.0.1:19086/remote.php/dav/files/bench/an_KVBbg/ bench "$PW" "$AMTSBOTE_PID"

python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for r in rows:
    if r.get("stat") == "median":
        med[(r["server"], r["test"])] = r
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
