#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/install/subproject_test.sh SOURCE_DIR C_COMPILER
# A parent project pulls libcma in with add_subdirectory() and links cma::cma, as integrators do.
# Checks: only the library is built (no tests, no tools), no -Werror reaches libcma's compile lines,
# the parent's build type is left alone, cma::cma and cma::cma_shared link, and the program runs.
set -eu
src=$1
cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/parent"
ln -s "$src" "$tmp/parent/libcma"
cat > "$tmp/parent/app.c" <<'C'
#include <cma/cma.h>
#include <stdio.h>
int main(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    cma_pfn_t pfn;
    cma_mm_config_default(&cfg);
    if (cma_mm_create(&cfg, &mm) || cma_memblock_add(mm, 0, 64u << 20) || cma_mm_online(mm) ||
        cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) || cma_free_pages(mm, pfn, 0))
        return 1;
    printf("libcma %s as a subproject ok\n", cma_version());
    return cma_mm_destroy(mm);
}
C
cat > "$tmp/parent/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(parent C)
add_subdirectory(libcma)
add_executable(app app.c)
target_link_libraries(app PRIVATE cma::cma)
add_executable(app_shared app.c)
target_link_libraries(app_shared PRIVATE cma::cma_shared)
CM
cmake -S "$tmp/parent" -B "$tmp/b" -DCMAKE_C_COMPILER="$cc" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fail=0
if grep -q -- '-Werror' "$tmp/b/compile_commands.json"; then
    echo "-Werror is imposed on the parent project's build of libcma" >&2
    fail=1
fi
if grep -q -e 'cmasim' -e 'tests/' -e 'examples/' "$tmp/b/compile_commands.json"; then
    echo "tests, tools or examples are built as part of the parent project:" >&2
    grep -o '"file": "[^"]*"' "$tmp/b/compile_commands.json" | grep -e cmasim -e tests/ -e examples/ | head >&2
    fail=1
fi
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$tmp/b/CMakeCache.txt")
if [ -n "$bt" ]; then
    echo "libcma set the parent's CMAKE_BUILD_TYPE to '$bt'" >&2
    fail=1
fi
if grep -rq 'add_test' "$tmp/b/libcma" --include=CTestTestfile.cmake 2>/dev/null; then
    echo "libcma registered tests in the parent project" >&2
    fail=1
fi
[ $fail = 0 ] || exit 1
cmake --build "$tmp/b" -j 2 >/dev/null
"$tmp/b/app"
LD_LIBRARY_PATH="$tmp/b/libcma" "$tmp/b/app_shared"
