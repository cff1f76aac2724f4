#!/bin/sh
# fuzz-run.sh: run each libFuzzer target (built by `make fuzz` into build-fuzz/fuzz/) to a
# fixed number of executions, one process at a time and niced (the machine is shared),
# and print one summary line per target. Usage:
#
#   tools/fuzz-run.sh EXECS [TARGET...]      e.g. tools/fuzz-run.sh 10000000 h1_request
#
# Each target starts from its seed corpus fuzz/corpus/<name> and keeps what it finds in
# build-fuzz/corpus/<name> (so a second run goes on from there). A crash, leak, timeout or
# sanitizer report stops that target; the input is saved under build-fuzz/artifacts/<name>/
# and the script exits non-zero once every target has run. Summaries are appended to
# build-fuzz/fuzz-run.txt: target, executions, seconds, exec/s, corpus size, result.
set -u
execs=${1:?usage: $0 EXECS [TARGET...]}
shift
cd "$(dirname "$0")/.." || exit 2
if [ $# -eq 0 ]; then
    set -- $(for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); echo "${n#fuzz_}"; done)
fi
summary=build-fuzz/fuzz-run.txt
mkdir -p build-fuzz
failed=0
for name in "$@"; do
    bin=build-fuzz/fuzz/fuzz_$name
    if [ ! -x "$bin" ]; then
        echo "$name: $bin missing (run make fuzz)" >&2
        failed=1
        continue
    fi
    dict=
    for d in "fuzz/$name.dict" "fuzz/${name%%_*}.dict"; do
        if [ -f "$d" ]; then
            dict="-dict=$d"
            break
        fi
    done
    # fuzz_ws_frame copies the pending bytes for every split it tries (quadratic in the
    # input): 8 KiB inputs still hold every header form (7-, 16- and 64-bit lengths are a
    # few header bytes) and several frames, at ten times the speed of 64 KiB ones.
    maxlen=
    case $name in
    ws_frame) maxlen=-max_len=8192 ;;
    esac
    work=build-fuzz/corpus/$name
    art=build-fuzz/artifacts/$name
    log=build-fuzz/fuzz-$name.log
    mkdir -p "$work" "$art"
    start=$(date +%s)
    # shellcheck disable=SC2086 # $dict and $maxlen are one word or none
    nice -n 19 "$bin" -runs="$execs" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$art/" $maxlen $dict "$work" "fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    units=$(ls "$work" | wc -l)
    if [ $rc -eq 0 ]; then
        result=ok
    else
        result="FAILED rc=$rc (see $log, $art)"
        failed=1
    fi
    line="$name execs=${done_runs:-?} secs=$secs exec/s=${rate:-?} corpus=$units $result"
    echo "$line"
    echo "$(date -u +%Y-%m-%dT%H:%MZ) $line" >>"$summary"
done
exit $failed
