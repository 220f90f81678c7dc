# TEST ONLY. openssl steps shared by the test-certificate scripts (test/hub-standin/certs, test/fault/certs):
# sourced, not run. Certificates are EC P-256, valid 2024-01-01 (a slightly wrong clock still accepts them)
# to 2123. `openssl ca` is used (not `req -x509`) because OpenSSL 3.0 can set a start date only there.
CERT_START=20240101000000Z
CERT_END=21231231000000Z

# ca_db DIR FIRST_SERIAL: an `openssl ca` database and config in DIR (extensions ca_ext, server_ext, client_ext).
ca_db() {
  mkdir -p "$1"
  : > "$1/index.txt"
  echo "$2" > "$1/serial"
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
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
CNF
}

# self_signed_ca NAME CN DBDIR: writes NAME.pem and NAME-key.pem.
self_signed_ca() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/O=TEST ONLY bedside-edge-gateway/CN=$2" -out "$3/$1.csr"
  openssl ca -batch -notext -config "$3/ca.cnf" -selfsign -keyfile "$1-key.pem" -in "$3/$1.csr" \
    -startdate "$CERT_START" -enddate "$CERT_END" -extensions ca_ext -out "$1.pem"
}

# leaf NAME CN EXTENSION CA_CERT CA_KEY DBDIR: writes NAME.pem and NAME-key.pem, signed by the CA.
leaf() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1-key.pem"
  openssl req -new -key "$1-key.pem" -subj "/O=TEST ONLY bedside-edge-gateway/CN=$2" -out "$6/$1.csr"
  openssl ca -batch -notext -config "$6/ca.cnf" -cert "$4" -keyfile "$5" -in "$6/$1.csr" \
    -startdate "$CERT_START" -enddate "$CERT_END" -extensions "$3" -out "$1.pem"
}
