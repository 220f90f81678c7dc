#!/usr/bin/env bash
# TEST ONLY. Client certificates for the MLLP-over-TLS tests (test/fault/mllp-tls.test.ts). The server side
# reuses the IoT Hub stand-in's test CA and localhost certificate (test/hub-standin/certs); the clients here are
#   client-allowed.pem  CN=central-station-1, signed by the stand-in test CA  (the allow-listed sender)
#   client-other.pem    CN=intruder,          signed by the stand-in test CA  (valid chain, not allow-listed)
#   client-rogue.pem    CN=central-station-1, signed by rogue-ca.pem          (right name, wrong CA)
# The private keys are committed on purpose: they protect nothing. Never trust these anywhere else.
#
# Usage: bash test/fault/certs/make-certs.sh   (writes into the folder of this script; needs openssl)
set -euo pipefail
cd "$(dirname "$0")"
. ../../support/test-ca.sh
HUB=../../hub-standin/certs
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

ca_db "$tmp/hub" 2000
leaf client-allowed central-station-1 client_ext "$HUB/ca.pem" "$HUB/ca-key.pem" "$tmp/hub"
leaf client-other intruder client_ext "$HUB/ca.pem" "$HUB/ca-key.pem" "$tmp/hub"

# A second, unrelated CA that signs a client with the allow-listed name.
ca_db "$tmp/rogue" 2000
self_signed_ca rogue-ca "TEST ONLY rogue CA" "$tmp/rogue"
leaf client-rogue central-station-1 client_ext rogue-ca.pem rogue-ca-key.pem "$tmp/rogue"

openssl verify -CAfile "$HUB/ca.pem" client-allowed.pem client-other.pem
openssl verify -CAfile rogue-ca.pem client-rogue.pem
echo "TEST ONLY client certificates written to $(pwd)"
