#!/bin/sh
# Chromium for the explorer's browser tests (tests/browser): Debian's `chromium` package, driven by
# playwright-core (which never downloads a browser here). .ci/run calls this before `npm test`.
#
# Already there (or CHROMIUM_PATH set to a browser): nothing to do. Missing, as root with apt-get (CI, a
# fresh Debian machine or container): installs it. Otherwise exits 1 saying what to install.
set -eu
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed; installing Debian's chromium package (apt-get)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  if [ -x "$CHROMIUM" ] && "$CHROMIUM" --version >/dev/null 2>&1; then
    echo "chromium: $("$CHROMIUM" --version 2>/dev/null)"
    exit 0
  fi
  echo "chromium: apt-get installed the package, but $CHROMIUM does not run (on Ubuntu the package is a snap stub, which does not work in containers: use a Debian image, or Google Chrome and CHROMIUM_PATH)" >&2
  exit 1
fi

cat >&2 <<MESSAGE
chromium: not found at $CHROMIUM, and it cannot be installed from here (this needs root and apt-get).
The explorer's browser tests (tests/browser) need it. Install it:
    sudo apt-get install -y chromium          # Debian
or point CHROMIUM_PATH at a Chromium or Google Chrome binary.
MESSAGE
exit 1
