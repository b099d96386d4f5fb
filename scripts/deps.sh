#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what the build needs on a fresh Debian machine (as root), or says what is missing.
#   deps.sh build  - compiler, cmake
#   deps.sh bench  - jemalloc and mimalloc for the same-run baselines (optional: skipped peers are named)
#   deps.sh clang  - clang (also what cross-compiles the freestanding library: make freestanding)
#   deps.sh embedded - clang, lld and qemu-system-riscv64 for the bare-metal image (make embedded)
#   deps.sh clang  - clang, for the clang builds of CI and the sanitizer runtimes it links
set -u
need=""
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_install() {
    if [ "$(id -u)" = 0 ] && have apt-get; then
        if [ ! -f /tmp/.libcma-apt-updated ]; then
            apt-get update -qq >/dev/null 2>&1 && touch /tmp/.libcma-apt-updated
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
    else
        return 1
    fi
}
case "${1:-build}" in
build)
    have cc || need="$need gcc"
    have cmake || need="$need cmake"
    have make || need="$need make"
    if [ -n "$need" ]; then
        echo "deps: installing$need" >&2
        apt_install $need || { echo "deps: cannot install$need (need root and apt-get)" >&2; exit 1; }
    fi
    ;;
bench)
    for p in libjemalloc-dev libmimalloc-dev; do
        pkg_installed "$p" || need="$need $p"
    done
    if [ -n "$need" ]; then
        echo "deps: installing$need for the benchmark baselines" >&2
        apt_install $need || echo "deps: could not install$need; the benchmark will say which peer it skips" >&2
    fi
    ;;
clang | embedded)
    have clang || need="$need clang"
    if [ "$1" = embedded ]; then
        have ld.lld || need="$need lld"
        have qemu-system-riscv64 || need="$need qemu-system-misc"
    fi
    if [ -n "$need" ]; then
        echo "deps: installing$need" >&2
        # without recommends: qemu-system-misc would pull in some 150 packages instead of 25
        apt_install --no-install-recommends $need ||
            { echo "deps: cannot install$need (need root and apt-get)" >&2; exit 1; }
    fi
    ;;
esac
exit 0
