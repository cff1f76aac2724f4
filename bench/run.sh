#!/bin/sh
# Benchmark entry point (`make bench`): builds the C load tools into build/bench/
# (HTTP backend, load client, ZeroMQ publisher, zhttpreq handler, the bare-C floor) and runs
# bench/bench.py, which measures thumbtack, pushpin, nginx and nchan in one run and
# prints the markdown tables. BENCH_QUICK=1 for a short smoke run;
# every BENCH_* knob is listed at the top of bench/bench.py.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/bench
gcc -O2 -Wall -Wextra -D_GNU_SOURCE bench/backend.c -o build/bench/backend -pthread
gcc -O2 -Wall -Wextra -D_GNU_SOURCE bench/loadc.c -o build/bench/loadc
gcc -O2 -Wall -Wextra -D_GNU_SOURCE bench/floor.c -o build/bench/floor -pthread
gcc -O2 -Wall -Wextra -D_GNU_SOURCE bench/zpub.c -o build/bench/zpub -lzmq
gcc -O2 -Wall -Wextra -D_GNU_SOURCE bench/zreq_backend.c -o build/bench/zreq_backend -lzmq
for tool in wrk; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
# The held-connection tests need 10,000+ descriptors in the servers and clients.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# bench.py starts every server in its own process group and kills them on exit
# or on INT/TERM; the trap forwards those signals to it.
script=bench/bench.py
if [ "${1:-}" = "--tls" ]; then  # make bench-tls: TLS and HTTP/2 against nginx
    shift
    script=bench/tls_h2.py
fi
/usr/bin/python3 "$script" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM HUP
wait "$child"
