#!/bin/sh
# `make testssl`: runs Debian's testssl.sh against a thumbtack TLS listener (a self-signed
# EC P-256 certificate made here) and fails unless every protocol below TLS 1.2 and every
# weak cipher category is "not offered", TLS 1.2 and 1.3 are, and ALPN offers h2. Slow
# (about 40 s), so it is not part of `make check`.
set -eu
cd "$(dirname "$0")/.."
TT=${THUMBTACK:-build/thumbtack}
command -v testssl >/dev/null || { echo "testssl: not installed (apt-get install testssl.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/tt-testssl.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM
ports=$(/usr/bin/python3 -c 'import socket
s=[socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $ports
http=$1 https=$2 pub=$3
mkdir -p "$work/runner/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/runner/certs/default_$https.key" -out "$work/runner/certs/default_$https.crt" 2>/dev/null
cat > "$work/pushpin.conf" <<CONF
[runner]
http_port=127.0.0.1:$http
https_ports=127.0.0.1:$https
log_level=1
[handler]
push_in_http_port=$pub
push_in_spec=
push_in_sub_specs=
command_spec=
CONF
"$TT" --config "$work/pushpin.conf" --route "* test" > "$work/thumbtack.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
    (echo > "/dev/tcp/127.0.0.1/$https") 2>/dev/null && break
    sleep 0.1
done
testssl --quiet --color 0 --warnings off -p -s -f -E --jsonfile "$work/out.json" "127.0.0.1:$https" \
    | tee "$work/testssl.txt"
/usr/bin/python3 - "$work/out.json" <<'PY'
import json, sys
found = {x["id"]: x["finding"] for x in json.load(open(sys.argv[1]))}
want = {
    "SSLv2": "not offered", "SSLv3": "not offered", "TLS1": "not offered",
    "TLS1_1": "not offered", "cipherlist_NULL": "not offered",
    "cipherlist_aNULL": "not offered", "cipherlist_EXPORT": "not offered",
    "cipherlist_LOW": "not offered", "cipherlist_3DES_IDEA": "not offered",
    "cipherlist_AVERAGE": "not offered", "cipherlist_STRONG": "offered",
    "TLS1_2": "offered", "TLS1_3": "offered with final", "ALPN_HTTP2": "h2",
}
bad = ["%s: %r (want %r)" % (k, found.get(k), v) for k, v in want.items() if found.get(k) != v]
if bad:
    print("testssl: FAILED\n  " + "\n  ".join(bad))
    sys.exit(1)
print("testssl: ok (no protocol below TLS 1.2, no weak cipher category, ALPN h2)")
PY
