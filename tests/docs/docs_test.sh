#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/docs/docs_test.sh CHECK SOURCE_DIR - runs one of the documentation checks on the source tree,
# then proves that it can fail: the same check on a scratch copy with one defect planted must exit 1
# and name the defect. CHECK is one of
#   api-docs       scripts/check_api_docs.sh: every public function in include/cma/*.h has a doc comment
#   outside-refs   scripts/check_no_outside_refs.sh: no file cites material outside the repository
#   readme-example scripts/check_readme_example.sh: README's example is examples/quickstart.c's code
set -eu
check=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "docs_test $check: $*" >&2
    exit 1
}

# expect_fail WHAT PATTERN CMD...: CMD must exit 1 and print PATTERN.
expect_fail() {
    what=$1
    pattern=$2
    shift 2
    rc=0
    "$@" > "$tmp/out" 2>&1 || rc=$?
    [ $rc -eq 1 ] || { cat "$tmp/out" >&2; fail "$what: exit status $rc, expected 1"; }
    grep -q -- "$pattern" "$tmp/out" || { cat "$tmp/out" >&2; fail "$what: output lacks '$pattern'"; }
    echo "ok: fails on $what"
}

case $check in
api-docs)
    sh "$src/scripts/check_api_docs.sh" "$src"/include/cma/*.h
    mkdir "$tmp/h"
    # 1. the comment above cma_release removed
    awk '/^\/\*\* Releases \[pfn, pfn\+count\)/ { skip = 1 }
         skip && /\*\/$/ { skip = 0; next }
         !skip' "$src/include/cma/contig.h" > "$tmp/h/contig.h"
    cmp -s "$src/include/cma/contig.h" "$tmp/h/contig.h" && fail "could not remove cma_release's comment"
    expect_fail "a removed doc comment" "cma_release has no doc comment" \
        sh "$src/scripts/check_api_docs.sh" "$tmp/h/contig.h"
    # 2. a pair's shared comment that does not name the second function
    sed 's|^ \* cma_page_get / cma_page_put - | * cma_page_get - |' "$src/include/cma/contig.h" > "$tmp/h/contig.h"
    cmp -s "$src/include/cma/contig.h" "$tmp/h/contig.h" && fail "could not rename the pair's comment"
    expect_fail "a group comment that does not name a function" "cma_page_put has no doc comment" \
        sh "$src/scripts/check_api_docs.sh" "$tmp/h/contig.h"
    # 3. a section separator is not documentation
    printf '/* ---- section -------- */\nint cma_undocumented(void);\n' > "$tmp/h/sep.h"
    expect_fail "a separator above a function" "cma_undocumented has no doc comment" \
        sh "$src/scripts/check_api_docs.sh" "$tmp/h/sep.h"
    # 4. a file without declarations is an error, not a pass
    printf '/* nothing */\n' > "$tmp/h/empty.h"
    expect_fail "a header without declarations" "no function declarations found" \
        sh "$src/scripts/check_api_docs.sh" "$tmp/h/empty.h"
    ;;
outside-refs)
    sh "$src/scripts/check_no_outside_refs.sh" "$src"
    # The planted citations are assembled from pieces so that this file does not contain them.
    sec=$(printf '\302\247')
    n=0
    for cite in "docs/linux-cma-$(echo reference).md" "iommu-$(echo reference).md" \
                "/work/shared/$(echo docs)/notes" "reference ${sec}2.6" "(${sec}9.5)"; do
        n=$((n + 1))
        rm -rf "$tmp/tree"
        mkdir -p "$tmp/tree/src" "$tmp/tree/docs"
        printf '/* fine */\n' > "$tmp/tree/src/a.c"
        printf 'text\nas said in %s\n' "$cite" > "$tmp/tree/docs/x$n.md"
        expect_fail "citation '$cite'" "docs/x$n.md:2:" sh "$src/scripts/check_no_outside_refs.sh" "$tmp/tree"
    done
    ;;
readme-example)
    sh "$src/scripts/check_readme_example.sh" "$src"
    mkdir -p "$tmp/tree/examples"
    cp "$src/README.md" "$tmp/tree/README.md"
    # one changed line in the program's README region
    awk '/README begin/ { inside = 1 } inside && /cma_mm_online/ && !done { sub(/cma_mm_online/, "cma_mm_online /* changed */"); done = 1 } { print }' \
        "$src/examples/quickstart.c" > "$tmp/tree/examples/quickstart.c"
    cmp -s "$src/examples/quickstart.c" "$tmp/tree/examples/quickstart.c" && fail "could not change the program"
    expect_fail "a program that drifted from the README" "differs from examples/quickstart.c" \
        sh "$src/scripts/check_readme_example.sh" "$tmp/tree"
    # --update repairs it
    sh "$src/scripts/check_readme_example.sh" --update "$tmp/tree" > /dev/null
    sh "$src/scripts/check_readme_example.sh" "$tmp/tree" > /dev/null || fail "--update did not repair the README"
    echo "ok: --update rewrites the README block"
    # markers missing
    grep -v 'README begin' "$src/examples/quickstart.c" > "$tmp/tree/examples/quickstart.c"
    expect_fail "a program without markers" "lacks the README begin/end markers" \
        sh "$src/scripts/check_readme_example.sh" "$tmp/tree"
    ;;
*)
    fail "unknown check (api-docs, outside-refs, readme-example)"
    ;;
esac
