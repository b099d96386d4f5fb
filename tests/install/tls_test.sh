#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/install/tls_test.sh LIBCMA_SO
# The shared library can be dlopen()ed into any process: it must not use initial-exec TLS, which
# needs room in the static TLS block reserved at program start (the dynamic section then carries
# the STATIC_TLS flag).
set -eu
so=$1
if ! command -v readelf >/dev/null 2>&1; then
    echo "readelf not found (binutils)" >&2
    exit 77
fi
if readelf -d "$so" | grep -q STATIC_TLS; then
    echo "$so uses initial-exec TLS (STATIC_TLS): it cannot be dlopen()ed without static TLS room" >&2
    exit 1
fi
readelf -lW "$so" | grep -q -w TLS || { echo "no TLS segment in $so (the default CPU slot?)" >&2; exit 1; }
echo "tls ok: $(readelf -rW "$so" | grep -o -E 'R_[A-Z0-9_]*(TLSDESC|DTPMOD|DTPOFF|TPOFF)[A-Z0-9_]*' | sort -u | tr '\n' ' ')"
