#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/install/install_test.sh BUILD_DIR SOURCE_DIR
# Installs the build into a temporary prefix and builds a consumer twice: with pkg-config
# (`pkg-config --cflags --libs libcma`) and with CMake (`find_package(cma)` + `cma::cma`). Both must
# compile against <cma/cma.h> alone, link and run.
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/app.c" <<'C'
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
    printf("libcma %s ok\n", cma_version());
    return cma_mm_destroy(mm);
}
C
libdir=$(ls -d "$tmp/prefix"/lib*/pkgconfig | head -n 1)
if command -v pkg-config >/dev/null 2>&1; then
    export PKG_CONFIG_PATH="$libdir"
    cc "$tmp/app.c" $(pkg-config --cflags libcma) $(pkg-config --libs --static libcma) -o "$tmp/app_pc"
    LD_LIBRARY_PATH="$(dirname "$libdir")" "$tmp/app_pc"
else
    echo "pkg-config not installed: skipping the pkg-config consumer"
fi
mkdir "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(cma REQUIRED)
add_executable(app $tmp/app.c)
target_link_libraries(app PRIVATE cma::cma)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/b" >/dev/null
"$tmp/cm/b/app"
