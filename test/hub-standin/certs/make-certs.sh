#!/usr/bin/env bash
# TEST ONLY. Regenerates the throw-away CA and server certificate used by the IoT Hub stand-in
# (test/hub-standin). The private keys are committed on purpose: they protect nothing and must
# never be trusted outside the test suite. Tests read the committed files; openssl is needed only
# to run this script.
#
# Usage: bash test/hub-standin/certs/make-certs.sh   (writes into the folder of this script)
set -euo pipefail
cd "$(dirname "$0")"

# Valid from 2024-01-01 (so a machine with a slightly wrong clock still accepts them) for ~100 years.
START=20240101000000Z
END=21231231000000Z
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# `openssl ca` is used (not `req -x509`) because OpenSSL 3.0 can set a start date only there.
mkdir -p "$tmp/db"
: > "$tmp/db/index.txt"
echo 1000 > "$tmp/db/serial"
cat > "$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = testca
[ testca ]
dir = $tmp/db
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
organizationName = optional
commonName = supplied
[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
CNF

# Test CA (EC P-256: small and fast), self-signed.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
openssl req -new -key ca-key.pem -subj "/O=TEST ONLY bedside-edge-gateway/CN=TEST ONLY hub stand-in CA" \
  -out "$tmp/ca.csr"
openssl ca -batch -notext -config "$tmp/ca.cnf" -selfsign -keyfile ca-key.pem -in "$tmp/ca.csr" \
  -startdate "$START" -enddate "$END" -extensions ca_ext -out ca.pem

# Server certificate for localhost / 127.0.0.1 / ::1, signed by the test CA.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem
openssl req -new -key server-key.pem -subj "/O=TEST ONLY bedside-edge-gateway/CN=localhost" -out "$tmp/server.csr"
openssl ca -batch -notext -config "$tmp/ca.cnf" -cert ca.pem -keyfile ca-key.pem -in "$tmp/server.csr" \
  -startdate "$START" -enddate "$END" -extensions server_ext -out server.pem

openssl verify -CAfile ca.pem server.pem
echo "TEST ONLY certificates written to $(pwd)"
