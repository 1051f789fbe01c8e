#!/usr/bin/env bash
# Installs every peer the full test suite needs (Debian 12), skipping what is already there:
#
#   - chromium and nodejs/npm, and playwright-core + axe-core into tests/a11y/node_modules
#     (the accessibility audit, crates/server/tests/it/a11y.rs)
#   - litmus (WebDAV compliance: crates/dav/tests/litmus.rs, crates/server/tests/peers.rs)
#   - the sync/transfer clients owncloudcmd, nextcloudcmd and rclone (peers.rs)
#   - clamav-daemon, clamdscan and clamav-testfiles (the scanner tests start their own clamd)
#   - python3-aiosmtpd (the mail tests start their own SMTP server)
#   - poppler-utils (pdftotext, pdfinfo: the credential letter tests)
#   - openssl and testssl.sh (the clients of the TLS tests)
#
# Usage: sudo .ci/install-peers.sh     (as root; idempotent, quick when all is there)
#
# .ci/run sources this file and calls the install_* functions in its own phases. The
# database servers for the database passes (PostgreSQL, MariaDB) are not installed here;
# .ci/run starts them.

INSTALL_PEERS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
A11Y_DIR="${A11Y_DIR:-$INSTALL_PEERS_ROOT/tests/a11y}"
PLAYWRIGHT_VERSION=1.65.1
AXE_VERSION=4.14.1

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# apt_install PACKAGE...: installs without recommends; on failure runs apt-get update and
# retries once (a fresh machine has no package lists yet).
apt_install() {
  echo "installing $*"
  if ! apt_get install -y --no-install-recommends "$@"; then
    echo "apt-get install failed; running apt-get update and retrying"
    apt_get update
    apt_get install -y --no-install-recommends "$@"
  fi
}

# ------------------------------------------------------------------------------ browser peers
install_chromium() {
  if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" &&
    [ -x /usr/bin/chromium ]; then
    echo "chromium is installed"
    return
  fi
  apt_install chromium
}

install_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    echo "node and npm are installed"
    return
  fi
  apt_install nodejs npm
}

npm_version() { # npm_version PACKAGE → installed version in tests/a11y, or nothing
  local manifest="$A11Y_DIR/node_modules/$1/package.json"
  if [ -f "$manifest" ]; then
    node -p "require(process.argv[1]).version" "$manifest" 2>/dev/null || true
  fi
}

install_a11y_node_modules() {
  if [ "$(npm_version playwright-core)" = "$PLAYWRIGHT_VERSION" ] &&
    [ "$(npm_version axe-core)" = "$AXE_VERSION" ] &&
    [ -f "$A11Y_DIR/node_modules/axe-core/axe.min.js" ]; then
    echo "playwright-core@$PLAYWRIGHT_VERSION and axe-core@$AXE_VERSION are installed in $A11Y_DIR"
    return
  fi
  echo "npm install in $A11Y_DIR (playwright-core@$PLAYWRIGHT_VERSION, axe-core@$AXE_VERSION)"
  # tests/a11y/package.json pins exactly these two; no lock file is written into the checkout.
  (cd "$A11Y_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-package-lock)
  # Under sudo, node_modules belongs to whoever owns the checkout, not to root.
  chown -R --reference="$A11Y_DIR" "$A11Y_DIR/node_modules"
  [ "$(npm_version playwright-core)" = "$PLAYWRIGHT_VERSION" ] || {
    echo "error: playwright-core $PLAYWRIGHT_VERSION missing after npm install" >&2
    return 1
  }
  [ "$(npm_version axe-core)" = "$AXE_VERSION" ] || {
    echo "error: axe-core $AXE_VERSION missing after npm install" >&2
    return 1
  }
}

# ------------------------------------------------------------------------------ WebDAV peers
install_litmus() {
  if [ -x /usr/bin/litmus ] && [ -d /usr/libexec/litmus ]; then
    echo "litmus is installed"
    return
  fi
  apt_install litmus
}

# The clients the WebDAV door must serve unchanged (crates/server/tests/peers.rs).
# owncloud-client-cmd has no system exclude list; the tests pass their own --exclude file.
PEER_CLIENT_PACKAGES=(owncloud-client-cmd nextcloud-desktop-cmd rclone)

install_sync_clients() {
  if [ -x /usr/bin/owncloudcmd ] && [ -x /usr/bin/nextcloudcmd ] && [ -x /usr/bin/rclone ]; then
    echo "owncloudcmd, nextcloudcmd and rclone are installed"
    return
  fi
  # apt-get skips whichever of the three is already there.
  apt_install "${PEER_CLIENT_PACKAGES[@]}"
}

# ------------------------------------------------------------------------------ scanner, mail, letters
# ClamAV for the scanner tests (crates/server/tests/it/scan.rs): each test starts its own
# clamd with a test signature database (there is no internet for the official ones).
# policy-rc.d keeps the packages' scripts from starting clamd or freshclam on their own.
install_clamav() {
  if [ -x /usr/sbin/clamd ] && [ -x /usr/bin/clamdscan ] && [ -f /usr/share/clamav-testfiles/clam.zip ]; then
    echo "clamd, clamdscan and clamav-testfiles are installed"
    return
  fi
  local policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  apt_install clamav-daemon clamdscan clamav-testfiles
  if [ "$policy_created" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# A real SMTP server for the mail tests (crates/server/tests/it/smtp_sink.py runs it with
# Debian's /usr/bin/python3, which is the Python this package installs for).
install_smtp_sink() {
  if /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
    echo "python3-aiosmtpd is installed"
    return
  fi
  apt_install python3-aiosmtpd
}

# pdftotext and pdfinfo read the credential letters in the tests (crates/server/tests/it/letters.rs).
install_poppler() {
  if command -v pdftotext >/dev/null 2>&1 && command -v pdfinfo >/dev/null 2>&1; then
    echo "poppler-utils are installed"
    return
  fi
  apt_install poppler-utils
}

# OpenSSL's client and testssl.sh check what the TLS listener offers
# (crates/server/tests/it/tls_profile.rs).
install_tls_clients() {
  if command -v openssl >/dev/null 2>&1 && command -v testssl >/dev/null 2>&1; then
    echo "openssl and testssl.sh are installed"
    return
  fi
  apt_install openssl testssl.sh
}

install_all_peers() {
  install_chromium
  install_node
  install_a11y_node_modules
  install_litmus
  install_sync_clients
  install_clamav
  install_smtp_sink
  install_poppler
  install_tls_clients
}

# Run on its own (not sourced by .ci/run): install everything.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  if [ "$(id -u)" != 0 ]; then
    echo "error: run as root: sudo $0" >&2
    exit 1
  fi
  install_all_peers
  echo "=== every test peer is installed; ./test.sh runs the full suite"
fi
