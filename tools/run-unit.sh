#!/bin/sh
# Runs each unit test binary in its own process; prints one closing total line.
pass=0; fail=0
for t in "$@"; do
    out=$(timeout 60 "$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
    if [ $rc -ne 0 ]; then
        printf '%s\n' "$out"; echo "FAIL: $t (exit $rc)"; [ "${f:-0}" = 0 ] && fail=$((fail + 1))
    else
        echo "ok: $(basename "$t") (${p:-0} checks)"
    fi
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]
