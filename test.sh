#!/usr/bin/env bash
# The test command of amtsbote: `cargo test --workspace` (with --no-fail-fast, so that every
# target runs), then the count of skipped tests.
#
#   ./test.sh [cargo test arguments]       e.g. ./test.sh -p amtsbote --test it -- letters::
#   ./test.sh --database-pass [arguments]  the tests that depend on the main test database
#
# A test whose prerequisite is missing (a peer program such as litmus or clamd, a file, a
# database URL; see tests/prereq.rs) is skipped and writes one line
# "SKIPPED <test>: needs <what> (<how to get it>)". This script collects those lines in a
# fresh file (AMTSBOTE_SKIP_LOG) and always ends with
#
#   === N tests skipped        followed by the SKIPPED lines
#
# (under AMTSBOTE_REQUIRE_ALL=1 a missing prerequisite fails its test instead, and is listed
# as a MISSING line before the count).
# It exits non-zero when cargo failed, or when N > 0 and AMTSBOTE_REQUIRE_ALL=1 (as in CI,
# where a missing prerequisite already fails the test itself).
#
# --database-pass (CI's PostgreSQL and MariaDB passes, with AMTSBOTE_TEST_DATABASE set):
# runs only the `it` target of crates/server, whose tests run against the main test
# database. It leaves out, with libtest's --skip, the tests that talk to external peers
# and do not depend on that database; they run in the full pass (SQLite):
#   a11y::         the accessibility audit (chromium, axe-core)
#   scan::         the virus scanner tests (a clamd of their own)
#   notify::an_infected_upload_tells_the_admins_and_no_member   (clamd)
#   mail::         `amtsbote mail test` against the SMTP sink: it never opens a database
#   tls_profile::  TLS against OpenSSL's client and testssl.sh, on a SQLite database of its own
# It does not run the other targets: crates/server/tests/peers.rs (litmus, sync clients,
# rclone), crates/dav/tests/litmus.rs, crates/core/tests/schema_parity.rs (it tests every
# database itself) and the unit tests.
# The other tests on the SMTP sink stay (notify::, letters::, second_factor::): their mails
# go through the outbox, which lives in the database.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

# rustup installs into ~/.cargo/bin, which a non-login shell may not have on its PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi

DATABASE_PASS_SKIPS=(
  a11y::
  scan::
  notify::an_infected_upload_tells_the_admins_and_no_member
  mail::
  tls_profile::
)

require_all() {
  case "${AMTSBOTE_REQUIRE_ALL:-}" in
  1 | true | yes) return 0 ;;
  *) return 1 ;;
  esac
}

SKIP_LOG="$(mktemp "${TMPDIR:-/tmp}/amtsbote-skipped.XXXXXX")"
export AMTSBOTE_SKIP_LOG="$SKIP_LOG"
CARGO_RC=1 # stays 1 if the script ends before cargo does
MODE=full

finish() {
  local lines=() skipped=() missing=() line
  if [ -s "$SKIP_LOG" ]; then
    mapfile -t lines < <(sort "$SKIP_LOG")
  fi
  rm -f "$SKIP_LOG"
  for line in ${lines[@]+"${lines[@]}"}; do
    case "$line" in
    "MISSING "*) missing+=("$line") ;;
    *) skipped+=("$line") ;;
    esac
  done
  local n=${#skipped[@]} m=${#missing[@]}
  echo
  if [ "$MODE" = database ]; then
    echo "=== database pass: left out ${DATABASE_PASS_SKIPS[*]} and the targets peers, litmus," \
      "schema_parity and the unit tests; they run in the full pass (./test.sh)"
  fi
  if [ "$m" -gt 0 ]; then
    echo "=== $m $(plural "$m") failed for a missing prerequisite (sudo .ci/install-peers.sh installs every peer)"
    printf '%s\n' "${missing[@]}"
  fi
  if [ "$n" -eq 0 ] && [ "$m" -eq 0 ]; then
    echo "=== 0 tests skipped (every prerequisite present)"
  else
    echo "=== $n $(plural "$n") skipped"
    if [ "$n" -gt 0 ]; then printf '%s\n' "${skipped[@]}"; fi
  fi
  if [ "$CARGO_RC" -ne 0 ]; then
    exit "$CARGO_RC"
  fi
  if [ "$n" -gt 0 ] && require_all; then
    echo "error: AMTSBOTE_REQUIRE_ALL=1, but tests were skipped (sudo .ci/install-peers.sh installs every peer)" >&2
    exit 1
  fi
  exit 0
}

plural() { # plural N → "test" or "tests"
  if [ "$1" -eq 1 ]; then echo test; else echo tests; fi
}
trap finish EXIT

if [ "${1:-}" = "--database-pass" ]; then
  shift
  MODE=database
  # Our --skip filters go after the caller's own `--` arguments, if any.
  cargo_args=()
  test_args=()
  seen_separator=0
  for arg in "$@"; do
    if [ "$seen_separator" = 0 ] && [ "$arg" = "--" ]; then
      seen_separator=1
    elif [ "$seen_separator" = 0 ]; then
      cargo_args+=("$arg")
    else
      test_args+=("$arg")
    fi
  done
  for group in "${DATABASE_PASS_SKIPS[@]}"; do
    test_args+=(--skip "$group")
  done
  echo "=== database pass on ${AMTSBOTE_TEST_DATABASE:-SQLite (AMTSBOTE_TEST_DATABASE is not set)}"
  echo "=== left out (no database involved; they run in the full pass): ${DATABASE_PASS_SKIPS[*]}"
  echo "=== and the targets peers, litmus, schema_parity and the unit tests"
  set +e
  cargo test -p amtsbote --test it --no-fail-fast "${cargo_args[@]}" -- "${test_args[@]}"
  CARGO_RC=$?
  set -e
else
  set +e
  # --no-fail-fast: a failing target does not hide the tests (and skips) of the others.
  cargo test --workspace --no-fail-fast "$@"
  CARGO_RC=$?
  set -e
fi
