#!/usr/bin/env bash
# Virus-scanning benchmark: what the ingest pipeline adds on top of clamd's own scan.
#
#   bench/scanbench.sh [RUNS]        # default 3 runs per figure; medians are printed
#
# In one run, on loopback only (clamd 127.0.0.1:19310, amtsbote 127.0.0.1:19087):
#   - `clamdscan --stream` of a 200 MiB file (the floor: clamd receiving and scanning it);
#   - the same size uploaded through the web form and through WebDAV PUT (release build,
#     SQLite, fsync, SHA-256 + SHA-1 + MD5, and the INSTREAM scan while the bytes arrive);
#     overhead = door time / clamdscan time - 1 (the target is at most 15 %);
#   - 8 uploads of 50 MiB through WebDAV at concurrency 1, 2, 4 and 8 against clamd with
#     MaxThreads 8 and scan.max_concurrent 8: total MiB/s, to show how throughput scales.
# Every transfer uses fresh random bytes: clamd caches verdicts by content hash, so a
# repeated file would be "scanned" in no time.
#
# Needs: clamav-daemon clamdscan (Debian), curl, python3; clamd runs with a test signature
# database of its own (EICAR and the ClamAV test file), as there is no internet here.
set -euo pipefail

RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/amtsbote
WORK=$(mktemp -d /tmp/amtsbote-scanbench.XXXXXX)
CLAMD_PORT=19310
PORT=19087
BASE=http://127.0.0.1:$PORT
PW=bench-Passwort-2026
MIB200=$((200 * 1024 * 1024))
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && cargo build --release -q -p amtsbote)

# --- clamd with test signatures
mkdir -p "$WORK/clamd/db" "$WORK/data" "$WORK/files"
printf '%s\n' '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' \
  'aa15bcf478d165efd2065190eb473bcb:544:ClamAV-Test-File' >"$WORK/clamd/db/bench.hdb"
cat >"$WORK/clamd/clamd.conf" <<EOF
TCPSocket $CLAMD_PORT
TCPAddr 127.0.0.1
DatabaseDirectory $WORK/clamd/db
LogFile $WORK/clamd/clamd.log
TemporaryDirectory $WORK/clamd
Foreground yes
SelfCheck 0
StreamMaxLength 300M
MaxScanSize 1G
MaxFileSize 1G
MaxThreads 8
EOF
clamd -c "$WORK/clamd/clamd.conf" </dev/null >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  python3 - "$CLAMD_PORT" <<'PY' 2>/dev/null && break
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"zPING\0")
assert s.recv(16).startswith(b"PONG")
PY
  sleep 0.2
done

# --- amtsbote with scanning on
export AMTSBOTE_SERVER__DATA_DIR=$WORK/data
export AMTSBOTE_SCAN__MODE=clamd
export AMTSBOTE_SCAN__CLAMD=tcp://127.0.0.1:$CLAMD_PORT
export AMTSBOTE_SCAN__CLAMD_CONFIG=$WORK/clamd/clamd.conf
export AMTSBOTE_SCAN__MAX_CONCURRENT=8
export AMTSBOTE_SCAN__TIMEOUT_SECONDS=300
export AMTSBOTE_LOG=warn
"$BIN" member add --number 9001 --name "Benchmark" >/dev/null
"$BIN" user add --member 9001 --login bench --name Bench --email bench@example.invalid >/dev/null
printf '%s\n' "$PW" | "$BIN" user set-password bench --password-stdin >/dev/null
"$BIN" serve --listen 127.0.0.1:$PORT >"$WORK/amtsbote.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
  curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$BASE/readyz" | grep -q '"scanner_state":"ready"' || {
  echo "amtsbote does not see clamd: $(curl -s "$BASE/readyz")" >&2
  exit 1
}

# --- web session: log in, find the upload folder an_KVBbg and its form token
JAR=$WORK/cookies
csrf_of() { grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//'; }
TOKEN=$(curl -fs -c "$JAR" -b "$JAR" "$BASE/login" | csrf_of)
curl -fs -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf=$TOKEN" \
  --data-urlencode login=bench --data-urlencode "password=$PW" "$BASE/login"
SPACE_PAGE=$(curl -fsL -c "$JAR" -b "$JAR" "$BASE/")
FOLDER_URL=$(printf '%s' "$SPACE_PAGE" | grep '<bdi>an_KVBbg</bdi>' |
  grep -o 'href="/spaces/[0-9]*/folders/[0-9]*"' | head -1 | sed 's/href="//; s/"$//')
[ -n "$FOLDER_URL" ] || { echo "an_KVBbg not found on the start page" >&2; exit 1; }
FORM_TOKEN=$(curl -fs -c "$JAR" -b "$JAR" "$BASE$FOLDER_URL" | csrf_of)

fresh() { # fresh FILE BYTES: random content nobody has scanned before
  head -c "$2" /dev/urandom >"$1"
}
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$2"; }
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

CLAMDSCAN=() WEB=() PUT=()
for run in $(seq "$RUNS"); do
  echo "run $run/$RUNS: 200 MiB through clamdscan, the web form and WebDAV" >&2
  f=$WORK/files/scan.bin
  fresh "$f" $MIB200
  t0=$(now)
  clamdscan --config-file="$WORK/clamd/clamd.conf" --stream --no-summary "$f" >/dev/null
  CLAMDSCAN+=("$(secs "$t0" "$(now)")")

  fresh "$f" $MIB200
  t0=$(now)
  code=$(curl -s -o /dev/null -w '%{http_code}' -c "$JAR" -b "$JAR" \
    -F "csrf=$FORM_TOKEN" -F "files=@$f;filename=web-$run.bin" "$BASE$FOLDER_URL/upload")
  WEB+=("$(secs "$t0" "$(now)")")
  [ "$code" = 200 ] || { echo "web upload answered $code" >&2; exit 1; }

  fresh "$f" $MIB200
  t0=$(now)
  code=$(curl -s -o /dev/null -w '%{http_code}' -u "bench:$PW" -T "$f" \
    "$BASE/remote.php/dav/files/bench/an_KVBbg/put-$run.bin")
  PUT+=("$(secs "$t0" "$(now)")")
  [ "$code" = 201 ] || { echo "PUT answered $code" >&2; exit 1; }
done

# --- 8 × 50 MiB at rising concurrency
declare -A PAR
for c in 1 2 4 8; do
  RATES=()
  for run in $(seq "$RUNS"); do
    for i in $(seq 8); do fresh "$WORK/files/p$i.bin" $((50 * 1024 * 1024)); done
    t0=$(now)
    seq 8 | xargs -P "$c" -I{} curl -s -o /dev/null -u "bench:$PW" -T "$WORK/files/p{}.bin" \
      "$BASE/remote.php/dav/files/bench/an_KVBbg/par-$c-$run-{}.bin"
    t=$(secs "$t0" "$(now)")
    RATES+=("$(python3 -c "print(f'{400 / float(\"$t\"):.1f}')")")
  done
  PAR[$c]=$(median "${RATES[@]}")
  echo "concurrency $c: ${RATES[*]} MiB/s" >&2
done
STORED=$(find "$WORK/data/storage/blobs" -type f | wc -l)
EXPECTED=$((RUNS * 2 + 4 * 8 * RUNS))
[ "$STORED" = "$EXPECTED" ] || { echo "stored $STORED files, expected $EXPECTED" >&2; exit 1; }

C=$(median "${CLAMDSCAN[@]}")
W=$(median "${WEB[@]}")
P=$(median "${PUT[@]}")
python3 - "$C" "$W" "$P" <<'PY'
import sys
c, w, p = map(float, sys.argv[1:])
print(f"200 MiB, medians of runs (s and MiB/s):")
print(f"  clamdscan --stream   {c:7.2f} s  {200 / c:7.1f} MiB/s")
print(f"  web form upload      {w:7.2f} s  {200 / w:7.1f} MiB/s  overhead {100 * (w / c - 1):+.0f} %")
print(f"  WebDAV PUT           {p:7.2f} s  {200 / p:7.1f} MiB/s  overhead {100 * (p / c - 1):+.0f} %")
PY
echo "8 x 50 MiB through WebDAV, clamd MaxThreads 8, total MiB/s (median):"
for c in 1 2 4 8; do echo "  concurrency $c: ${PAR[$c]} MiB/s"; done
echo "machine: $(nproc) cores; clamd $(clamd --version | head -1)"
