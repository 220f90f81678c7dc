#!/usr/bin/env bash
# TEST ONLY. Regenerates the throw-away CA and server certificate used by the IoT Hub stand-in
# (test/hub-standin). The private keys are committed on purpose: they protect nothing and must
# never be trusted outside the test suite. Tests read the committed files; openssl is needed only
# to run this script.
#
# Usage: bash test/hub-standin/certs/make-certs.sh   (writes into the folder of this script)
set -euo pipefail
cd "$(dirname "$0")"
. ../../support/test-ca.sh
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

ca_db "$tmp" 1000
self_signed_ca ca "TEST ONLY hub stand-in CA" "$tmp"
# Server certificate for localhost / 127.0.0.1 / ::1.
leaf server localhost server_ext ca.pem ca-key.pem "$tmp"

openssl verify -CAfile ca.pem server.pem
echo "TEST ONLY certificates written to $(pwd)"
