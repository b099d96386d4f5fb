#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/check-freestanding.sh LIBCMA_A [NM]
# A freestanding libcma.a needs nothing from a C library beyond the eight primitives every
# freestanding toolchain provides (memcpy memset memmove memcmp strlen strcmp strncmp strchr), and
# nothing from a compiler runtime either (no __atomic_* libcalls, no 64-bit division helpers):
# every symbol the archive's objects leave undefined is defined by another of its objects or is one
# of those primitives. On 32-bit ARM the compiler calls them by their run-time ABI names
# (__aeabi_memcpy, __aeabi_memclr ...: the same primitives). The linker's own _GLOBAL_OFFSET_TABLE_
# (position-independent code) is fine.
# NM defaults to nm; cross-built archives may need llvm-nm.
set -eu
lib=$1
nm=${2:-nm}
allowed="memcpy memset memmove memcmp strlen strcmp strncmp strchr _GLOBAL_OFFSET_TABLE_"
for f in memcpy memmove memset memclr; do
    allowed="$allowed __aeabi_$f __aeabi_${f}4 __aeabi_${f}8"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$nm" -u "$lib" > "$tmp/nm-u"
"$nm" --defined-only "$lib" > "$tmp/nm-d"
awk '$1 == "U" { print $2 } NF == 1 && $1 !~ /:$/ { print $1 }' "$tmp/nm-u" | sort -u > "$tmp/undef"
awk 'NF >= 3 { print $3 }' "$tmp/nm-d" | sort -u > "$tmp/defined"
if [ ! -s "$tmp/defined" ]; then
    echo "$lib: no symbols defined (not a libcma archive?)" >&2
    exit 1
fi
printf '%s\n' $allowed | sort -u > "$tmp/allowed"
comm -23 "$tmp/undef" "$tmp/defined" > "$tmp/needed"
extra=$(comm -23 "$tmp/needed" "$tmp/allowed")
if [ -n "$extra" ]; then
    echo "$lib needs symbols beyond the freestanding primitives:" >&2
    echo "$extra" | sed 's/^/  /' >&2
    exit 1
fi
echo "freestanding ok: $lib needs only: $(tr '\n' ' ' < "$tmp/needed")"
