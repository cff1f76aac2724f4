#!/bin/sh
# make check's integration passes: the normal build and the ASan+UBSan build side by side
# (each mostly waits on sockets and timers, so two fit on two cores), each with its own
# residue of free ports (TT_PORT_SLOT of 2, tests/integration/helpers.py free_port) and its
# own log, printed when both are done. Fails if either fails.
set -u
cd "$(dirname "$0")/.."
mkdir -p build
normal=build/check-integration.log
asan=build/check-integration-asan.log
make integration TT_PORT_SLOT=0 TT_PORT_SLOTS=2 PYTEST_ARGS="${PYTEST_ARGS:-}" >"$normal" 2>&1 &
p1=$!
make asan-integration TT_PORT_SLOT=1 TT_PORT_SLOTS=2 \
    PYTEST_ARGS="${PYTEST_ARGS:-}" >"$asan" 2>&1 &
p2=$!
trap 'kill $p1 $p2 2>/dev/null; wait; exit 130' INT TERM
wait $p1; r1=$?
wait $p2; r2=$?
echo "== integration (normal build): exit $r1"; cat "$normal"
echo "== integration (ASan+UBSan build): exit $r2"; cat "$asan"
[ "$r1" -eq 0 ] && [ "$r2" -eq 0 ]
