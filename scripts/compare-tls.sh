#!/usr/bin/env bash
# smtpscope's TLS verdicts beside `openssl s_client -verify_return_error` and testssl.sh, one
# defect per server. Each server is tests/common/starttls_server.py (Python's ssl, that is
# OpenSSL, behind STARTTLS) on 127.0.0.1, with certificates made here by the openssl command
# line. Prints one block per defect: smtpscope's starttls verdict and first reason, s_client's
# verify code, and testssl.sh's lines about trust, validity, key, signature and protocols.
#
#   bash scripts/compare-tls.sh                 # all defects
#   ONLY="weak sha1" bash scripts/compare-tls.sh
#   SMTPSCOPE=target/release/smtpscope bash scripts/compare-tls.sh
#
# Needs openssl and python3; testssl.sh (Debian package `testssl.sh`, command `testssl`) is
# used when installed. Loopback only; every tool runs under `timeout`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SMTPSCOPE:-$here/target/debug/smtpscope}
server=$here/tests/common/starttls_server.py
[ -x "$bin" ] || { echo "no $bin: cargo build first (or set SMTPSCOPE)" >&2; exit 2; }
testssl=$(command -v testssl || command -v testssl.sh || true)

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

leaf_ext='subjectAltName=DNS:localhost
basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
authorityKeyIdentifier=keyid'
printf '%s\n' "$leaf_ext" >leaf.ext
grep -v subjectAltName leaf.ext >cn.ext
printf '%s\n' 'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign' \
    'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid' >ca.ext

q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 3650 \
    -subj "/CN=compare root"
# issue NAME KEY DIGEST EXT ISSUER [DAYS]
issue() {
    q openssl req -newkey "$2" -nodes -keyout "$1.key" -out "$1.csr" -subj /CN=localhost
    q openssl x509 -req -in "$1.csr" -CA "$5.pem" -CAkey "$5.key" -set_serial "$RANDOM$RANDOM" \
        -out "$1.pem" -days "${6:-365}" "-$3" -extfile "$4"
}
q openssl req -newkey rsa:2048 -nodes -keyout inter.key -out inter.csr -subj "/CN=compare intermediate"
q openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -set_serial 2 -out inter.pem \
    -days 3650 -sha256 -extfile ca.ext
issue good rsa:2048 sha256 leaf.ext inter
issue weak rsa:1024 sha256 leaf.ext root
issue sha1 rsa:2048 sha1 leaf.ext root
issue cnonly rsa:2048 sha256 cn.ext root
issue soon rsa:2048 sha256 leaf.ext root 5
issue plain rsa:2048 sha256 leaf.ext root
# Not yet valid: `openssl x509` (3.0) cannot set notBefore; `openssl ca` can.
mkdir -p ca/new && : >ca/index.txt && echo 1000 >ca/serial
cat >ca.cnf <<EOF
[ca]
default_ca = c
[c]
dir = ca
database = ca/index.txt
new_certs_dir = ca/new
serial = ca/serial
default_md = sha256
policy = p
copy_extensions = none
x509_extensions = x
[p]
commonName = supplied
[x]
$leaf_ext
EOF
q openssl req -newkey rsa:2048 -nodes -keyout future.key -out future.csr -subj /CN=localhost
q openssl ca -batch -config ca.cnf -cert root.pem -keyfile root.key -in future.csr \
    -out future.pem -startdate 20350101000000Z -enddate 20360101000000Z -notext
q openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.pem -days 365 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost
cat good.pem inter.pem >good.chain
cat good.pem inter.pem root.pem >private.chain

# name|chain|key|CA for s_client and smtpscope ("-": none, the system store)|server flags
cases='
complete chain|good.chain|good.key|root.pem|
missing intermediate|good.pem|good.key|root.pem|
private root, no --ca-file|private.chain|good.key|-|
self-signed|self.pem|self.key|root.pem|
RSA 1024 key|weak.pem|weak.key|root.pem|
SHA-1 signature|sha1.pem|sha1.key|root.pem|
name only in CN|cnonly.pem|cnonly.key|root.pem|
expires in 5 days|soon.pem|soon.key|root.pem|
not yet valid|future.pem|future.key|root.pem|
TLS 1.2 only|plain.pem|plain.key|root.pem|--tls-min 1.2 --tls-max 1.2
TLS 1.3 only|plain.pem|plain.key|root.pem|--tls-min 1.3
TLS 1.0 to 1.3|plain.pem|plain.key|root.pem|--tls-min 1.0
TLS 1.0 only|plain.pem|plain.key|root.pem|--tls-min 1.0 --tls-max 1.0
stalled handshake|plain.pem|plain.key|root.pem|--stall-handshake
'

start() { # chain key flags -> port
    # shellcheck disable=SC2086
    python3 "$server" --chain "$1" --key "$2" --lifetime 300 $3 >port.txt 2>/dev/null &
    pids+=($!)
    for _ in $(seq 50); do
        [ -s port.txt ] && { head -1 port.txt; return; }
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}

while IFS='|' read -r name chain key ca flags; do
    [ -n "$name" ] || continue
    if [ -n "${ONLY:-}" ] && ! grep -qiw -- "${ONLY%% *}" <<<"$name $chain"; then continue; fi
    port=$(start "$chain" "$key" "$flags")
    ca_args=()
    sc_ca=()
    ts_ca=()
    if [ "$ca" != "-" ]; then
        ca_args=(--ca-file "$ca")
        sc_ca=(-CAfile "$ca")
        ts_ca=(--add-ca "$work/$ca")
    fi
    echo "== $name"
    # smtpscope: the starttls scenario's verdict and headline, as `check` prints them.
    timeout 60 "$bin" check --server "127.0.0.1:$port" --tls-name localhost "${ca_args[@]}" \
        --helo probe.test --scenario starttls --timeout 5 2>&1 | sed -n 2p | sed 's/^ */  smtpscope: /' | cut -c1-220 || true
    # s_client: the verify code (or why the handshake failed).
    sc=$(timeout 15 openssl s_client -starttls smtp -connect "127.0.0.1:$port" -servername localhost \
        -verify_hostname localhost -verify_return_error "${sc_ca[@]}" </dev/null 2>&1 || true)
    code=$(grep -m1 -o 'Verify return code: .*' <<<"$sc" || grep -m1 -o 'verify error:.*' <<<"$sc" ||
        grep -m1 -E 'error|alert|didn.t' <<<"$sc" || echo "no answer within 15 s")
    echo "  s_client:  $code"
    if [ -n "$testssl" ]; then
        # testssl.sh exits non-zero when it finds something; only its running out of time
        # (timeout's 124) is worth a line of its own.
        status=0
        ts=$(timeout 120 "$testssl" --quiet --color 0 --warnings off --openssl-timeout 5 \
            "${ts_ca[@]}" -t smtp -S -p --ip 127.0.0.1 "localhost:$port" 2>&1) || status=$?
        grep -E '^ (TLS 1(\.[0-3])? |TLS 1 |Chain of trust|Trust \(hostname\)|Certificate Validity|Server key size|Signature Algorithm)' <<<"$ts" |
            sed 's/  */ /g; s/^ /  testssl:   /' || true
        [ "$status" != 124 ] || echo "  testssl:   (stopped after 120 s)"
    fi
done <<<"$cases"
