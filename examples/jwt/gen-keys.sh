#!/bin/sh
# gen-keys.sh - make the example's keys under ./keys with OpenSSL: an RSA 2048 and an EC
# P-256 key pair and a 32-byte HMAC secret (hex).  Private keys and the secret stay on this
# machine (keys/ is ignored by git); pdpd reads only the public keys and the secret.
set -eu
cd "$(dirname "$0")"
mkdir -p keys
chmod 700 keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out keys/rs256.key.pem 2>/dev/null
openssl pkey -in keys/rs256.key.pem -pubout -out keys/rs256.pub.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out keys/es256.key.pem
openssl pkey -in keys/es256.key.pem -pubout -out keys/es256.pub.pem
openssl rand -hex 32 >keys/hs256.secret
chmod 600 keys/*.key.pem keys/hs256.secret
echo "keys written to $(pwd)/keys"
