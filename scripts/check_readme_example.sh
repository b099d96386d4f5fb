#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_readme_example.sh - the README's example is the code of examples/quickstart.c.
#
#   sh scripts/check_readme_example.sh [--update] [SOURCE_DIR]
#
# The lines between "/* README begin */" and "/* README end */" in examples/quickstart.c, with the
# function body's 4-space indentation removed, must equal the ```c block that follows the line
# "<!-- begin: examples/quickstart.c ... -->" in README.md. Without --update a difference is printed
# (diff -u, README side first) and the exit status is 1; with --update the README block is rewritten
# from the program. Also fails when either marker is missing.
set -eu

update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
prog=$src/examples/quickstart.c
readme=$src/README.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

awk '/\/\* README end \*\//   { inside = 0; found_end = 1 }
     inside                   { sub(/^    /, ""); print }
     /\/\* README begin \*\// { inside = 1; found_begin = 1 }
     END { if (!found_begin || !found_end) exit 1 }' "$prog" > "$tmp/prog" || {
    echo "check_readme_example: $prog lacks the README begin/end markers" >&2
    exit 1
}
[ -s "$tmp/prog" ] || { echo "check_readme_example: empty README region in $prog" >&2; exit 1; }

# state 0: before the marker; 1: marker seen, waiting for ```c; 2: inside the block; 3: after it
: > "$tmp/block"
awk -v out="$tmp/block" -v new="$tmp/prog" -v rewritten="$tmp/readme" '
    state == 2 && /^```[ \t]*$/ { state = 3; while ((getline l < new) > 0) print l > rewritten }
    state == 2 { print > out; next }
    { print > rewritten }
    state == 1 && /^```c[ \t]*$/ { state = 2 }
    state == 0 && /^<!-- begin: examples\/quickstart\.c[ -]/ { state = 1 }
    END { if (state != 3) exit 1 }' "$readme" || {
    echo "check_readme_example: $readme has no \`\`\`c block after <!-- begin: examples/quickstart.c -->" >&2
    exit 1
}

if [ $update -eq 1 ]; then
    cp "$tmp/readme" "$readme"
    echo "check_readme_example: README.md block rewritten from examples/quickstart.c"
    exit 0
fi
if ! diff -u "$tmp/block" "$tmp/prog" > "$tmp/diff"; then
    echo "check_readme_example: README.md's example differs from examples/quickstart.c" \
         "(fix one, or run: sh scripts/check_readme_example.sh --update)" >&2
    cat "$tmp/diff" >&2
    exit 1
fi
echo "check_readme_example: README.md shows examples/quickstart.c ($(wc -l < "$tmp/prog") lines)"
