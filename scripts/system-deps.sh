#!/usr/bin/env bash
# Installs the Debian packages the test suite needs:
#   socat     pseudo-terminal pairs for the serial tests
#   chromium  headless browser for the bedside display test (test/browser), driven by playwright-core
#   python3   drives a pseudo-terminal for the hash-password test (its pty module)
# Run by `npm test` (pretest). Needs root (as on CI and the dev machines) or the packages already present.
set -euo pipefail
need=()
command -v socat >/dev/null 2>&1 || need+=(socat)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/python3 ] || need+=(python3)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}; install with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
