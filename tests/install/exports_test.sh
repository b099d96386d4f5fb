#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/install/exports_test.sh LIBCMA_SO INCLUDE_DIR
# The shared library exports exactly the public API: every function declared in include/cma/*.h and
# nothing else (no internal cma__ names, no helpers of the host layer, no stray globals).
set -eu
so=$1
inc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols (functions and data), version suffixes stripped.
nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u > "$tmp/exported"

# Functions the headers declare: an identifier cma_... directly followed by "(" outside comments, on a
# line that is not a macro, a typedef or a function-pointer member.
for h in "$inc"/cma/*.h; do
    sed -e 's://.*$::' "$h" | awk '
        { line = $0 }
        incomment { if (sub(/.*\*\//, "", line)) incomment = 0; else next }
        { while (match(line, /\/\*/)) {
              start = RSTART
              rest = substr(line, start + 2)
              if (match(rest, /\*\//)) line = substr(line, 1, start - 1) " " substr(rest, RSTART + 2)
              else { line = substr(line, 1, start - 1); incomment = 1; break } } }
        line ~ /^[ \t]*#/ { next }
        { while (match(line, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
              name = substr(line, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
              if (name ~ /^cma_[a-z0-9]/) print name
              line = substr(line, RSTART + RLENGTH) } }'
done | sort -u > "$tmp/declared"

if [ ! -s "$tmp/declared" ]; then
    echo "no public functions found in $inc/cma/*.h" >&2
    exit 1
fi
fail=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
    echo "exported but not declared in a public header (internal symbols leak):" >&2
    echo "$extra" | sed 's/^/  /' >&2
    fail=1
fi
if [ -n "$missing" ]; then
    echo "declared in a public header but not exported:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    fail=1
fi
[ $fail = 0 ] || exit 1
echo "exports ok: $(wc -l < "$tmp/exported") public functions, nothing else"
