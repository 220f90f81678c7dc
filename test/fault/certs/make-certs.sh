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
HUB=../../hub-standin/certs
START=20240101000000Z
END=21231231000000Z
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

ca_conf() { # $1 = db dir
  mkdir -p "$1"
  : > "$1/index.txt"
  echo 2000 > "$1/serial"
  cat > "$1/ca.cnf" <<CNF
[ ca ]
default_ca = testca
[ testca ]
dir = $1
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
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
CNF
}

client() { # $1 = name, $2 = CN, $3 = CA cert, $4 = CA key, $5 = db dir
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/O=TEST ONLY bedside-edge-gateway/CN=$2" -out "$tmp/$1.csr"
  openssl ca -batch -notext -config "$5/ca.cnf" -cert "$3" -keyfile "$4" -in "$tmp/$1.csr" \
    -startdate "$START" -enddate "$END" -extensions client_ext -out "$1.pem"
}

ca_conf "$tmp/hub"
client client-allowed central-station-1 "$HUB/ca.pem" "$HUB/ca-key.pem" "$tmp/hub"
client client-other intruder "$HUB/ca.pem" "$HUB/ca-key.pem" "$tmp/hub"

# A second, unrelated CA that signs a client with the allow-listed name.
ca_conf "$tmp/rogue"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue-ca-key.pem
openssl req -new -key rogue-ca-key.pem -subj "/O=TEST ONLY bedside-edge-gateway/CN=TEST ONLY rogue CA" -out "$tmp/rogue-ca.csr"
openssl ca -batch -notext -config "$tmp/rogue/ca.cnf" -selfsign -keyfile rogue-ca-key.pem -in "$tmp/rogue-ca.csr" \
  -startdate "$START" -enddate "$END" -extensions ca_ext -out rogue-ca.pem
client client-rogue central-station-1 rogue-ca.pem rogue-ca-key.pem "$tmp/rogue"

openssl verify -CAfile "$HUB/ca.pem" client-allowed.pem client-other.pem
openssl verify -CAfile rogue-ca.pem client-rogue.pem
echo "TEST ONLY client certificates written to $(pwd)"
