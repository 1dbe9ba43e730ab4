#!/bin/sh
# mint.sh - sign a test token with the keys gen-keys.sh made (openssl only).
# Usage: mint.sh rs256|es256|hs256 SUB [SECONDS [EXTRA_CLAIMS_JSON]]
#   mint.sh rs256 alice 600 '"roles":["admin"],"scope":"data.query api.view","tenant":"acme"'
# Prints the token.  For tests and demos: a real issuer signs tokens in production.
set -eu
cd "$(dirname "$0")"
alg=$1 sub=$2 ttl=${3:-600} extra=${4:-}
now=$(date +%s)
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
case $alg in
rs256) kid=rs-2026-1 name=RS256 ;;
es256) kid=es-2026-1 name=ES256 ;;
hs256) kid=hs-2026-1 name=HS256 ;;
*) echo "mint.sh: alg rs256, es256 or hs256" >&2; exit 2 ;;
esac
header=$(printf '{"alg":"%s","typ":"JWT","kid":"%s"}' "$name" "$kid" | b64url)
body=$(printf '{"iss":"https://idp.example.com","aud":"pdpd","sub":"%s","iat":%s,"exp":%s,"jti":"%s-%s"%s}' \
  "$sub" "$now" $((now + ttl)) "$sub" "$now" "${extra:+,$extra}" | b64url)
input="$header.$body"
# JWS ES256 signs with r||s, 32 bytes each; openssl gives DER: take the two INTEGERs.
rs_of_der() {
  openssl asn1parse -inform DER | sed -n 's/.*INTEGER *://p' |
    while read -r hex; do printf '%064s' "$hex" | tr ' ' 0; done | xxd -r -p
}
if [ "$alg" = rs256 ]; then
  sig=$(printf '%s' "$input" | openssl dgst -sha256 -sign keys/rs256.key.pem -binary | b64url)
elif [ "$alg" = es256 ]; then
  sig=$(printf '%s' "$input" | openssl dgst -sha256 -sign keys/es256.key.pem -binary | rs_of_der | b64url)
else
  sig=$(printf '%s' "$input" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat keys/hs256.secret)" -binary | b64url)
fi
printf '%s.%s\n' "$input" "$sig"
