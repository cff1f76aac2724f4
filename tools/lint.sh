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
# Includes point down only (DESIGN.md "Layers"): each folder may include these folders.
allowed() {
    case "$1" in
    core) echo "core" ;;
    http) echo "core http" ;;
    net) echo "core net" ;;
    grip) echo "core http grip" ;;
    routes) echo "core routes" ;;
    ws) echo "core http ws" ;;
    pubsub) echo "core http ws pubsub" ;;
    publish) echo "core http grip pubsub publish" ;;
    zmq) echo "core pubsub publish zmq" ;;
    proxy) echo "core http net ws grip routes pubsub zmq proxy" ;;
    hold) echo "core http net ws grip routes pubsub zmq proxy hold" ;;
    websocket) echo "core http net ws grip routes pubsub zmq proxy websocket" ;;
    h2) echo "core http net grip routes pubsub zmq proxy h2" ;;
    stats) echo "core http pubsub publish zmq stats" ;;
    *) echo "" ;;
    esac
}
for dir in $(cd src && ls -d */ | tr -d /); do
    ok=$(allowed "$dir")
    if [ -z "$ok" ]; then
        echo "lint: src/$dir has no place in the layer list of tools/lint.sh"; fail=1; continue
    fi
    for inc in $(grep -rhoE '^#include "[a-z]+/' "src/$dir" | sed -E 's/#include "([a-z]+)\//\1/' | sort -u); do
        case " $ok " in
        *" $inc "*) ;;
        *) echo "lint: src/$dir includes $inc/ (a layer above it):"
           grep -rn "#include \"$inc/" "src/$dir"; fail=1 ;;
        esac
    done
done
[ $fail -eq 0 ] && echo "lint: ok"
exit $fail
