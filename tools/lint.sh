#!/bin/sh
# House rules that a script can check (STYLE.md): no unbounded string functions, no
# atoi (no error reporting), every source file opens with a comment saying what it is,
# and exported names carry the tt_ prefix.
cd "$(dirname "$0")/.." || exit 2
fail=0
bad=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol)\(' src -r --include='*.c' --include='*.h' | grep -v 'snprintf')
if [ -n "$bad" ]; then
    echo "lint: unbounded or unchecked calls:"; echo "$bad"; fail=1
fi
for f in $(find src -name '*.h'); do
    head -1 "$f" | grep -q '^/\*' || { echo "lint: $f does not open with a comment"; fail=1; }
done
# Functions defined at file scope without `static` must be tt_-prefixed (main excepted).
bad=$(grep -nE '^[a-z][a-z0-9_ *]*[ *]([a-z_][a-z0-9_]*)\(' src -r --include='*.c' \
      | grep -vE '^[^:]*:[0-9]+:static ' | grep -vE '[ *](tt_[a-z0-9_]*|tt__[a-z0-9_]*|main)\(')
if [ -n "$bad" ]; then
    echo "lint: exported names without the tt_ prefix:"; echo "$bad"; fail=1
fi
[ $fail -eq 0 ] && echo "lint: ok"
exit $fail
