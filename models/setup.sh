#!/usr/bin/env bash
# Installs the Debian Python packages the training step needs (not needed by tests or the agent):
#   python3-sklearn python3-onnx python3-numpy, used through /usr/bin/python3.
# Needs root (as on CI and the dev machines) or the packages already present.
set -euo pipefail
if /usr/bin/python3 -c 'import sklearn, onnx, numpy' >/dev/null 2>&1; then exit 0; fi
pkgs=(python3-sklearn python3-onnx python3-numpy)
if [ "$(id -u)" -ne 0 ]; then
  echo "models/setup.sh: missing Python packages; install with: sudo apt-get install -y ${pkgs[*]}" >&2
  exit 1
fi
echo "models/setup.sh: installing ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
