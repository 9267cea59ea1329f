#!/bin/sh
# make_ca.sh OUTDIR: a throwaway test CA, a server certificate for 127.0.0.1 and
# localhost, and two client certificates for TLS client-certificate auth tests.
# Uses only the openssl CLI. Everything it writes is for tests; never deploy it.
#
# OUTDIR/ca.crt ca.key                 the test CA (valid 7 days)
# OUTDIR/server.crt server.key         CN=localhost, SAN IP:127.0.0.1, DNS:localhost
#                                      (+ $MAKE_CA_SERVER_SAN, e.g. IP:10.99.0.254)
# OUTDIR/client.crt client.key         CN=lockbox-test-client, clientAuth
# OUTDIR/client2.crt client2.key       CN=lockbox-other-client (same CA, not registered)
# OUTDIR/client.sha256 client2.sha256  SHA-256 of the DER certificate, lower-case hex
set -eu

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
command -v openssl >/dev/null 2>&1 || { echo "make_ca.sh: openssl not found" >&2; exit 77; }

out=$1
mkdir -p "$out"
umask 077
cd "$out"

newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

newkey ca.key
openssl req -x509 -new -key ca.key -sha256 -days 7 -subj "/CN=lockbox throwaway test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.crt 2>/dev/null

# issue NAME CN EXTENDED_KEY_USAGE [SAN]
issue() {
    name=$1 cn=$2 eku=$3 san=${4:-}
    newkey "$name.key"
    openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
    {
        echo "[ext]"
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$eku"
        if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
    } >"$name.ext"
    serial=0x$(openssl rand -hex 16)
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -set_serial "$serial" \
        -days 7 -sha256 -extfile "$name.ext" -extensions ext -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
    openssl x509 -in "$name.crt" -noout -fingerprint -sha256 |
        sed -e 's/^.*=//' -e 's/://g' | tr 'A-F' 'a-f' >"$name.sha256"
}

issue server localhost serverAuth "IP:127.0.0.1,DNS:localhost${MAKE_CA_SERVER_SAN:+,$MAKE_CA_SERVER_SAN}"
issue client lockbox-test-client clientAuth
issue client2 lockbox-other-client clientAuth
rm -f server.sha256

# Certificates are public; keys stay 0600.
chmod 0644 ca.crt server.crt client.crt client2.crt client.sha256 client2.sha256
