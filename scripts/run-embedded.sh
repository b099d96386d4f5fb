#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/run-embedded.sh IMAGE [TIMEOUT_SECONDS]
# Runs the bare-metal self-test image under QEMU's riscv64 virt machine (machine mode, no firmware,
# 128 MiB, one hart), prints its UART output, and passes only if the image ended the run through
# the test device with success (QEMU's exit status 0) and printed "libcma self-test: N passed,
# 0 failed". A hang ends at the timeout (default 120 s) as a failure.
set -u
img=$1
secs=${2:-120}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout "$secs" qemu-system-riscv64 -machine virt -bios none -m 128M -smp 1 -nographic \
    -monitor none -serial stdio -kernel "$img" > "$log" 2>&1
status=$?
cat "$log"
if [ $status = 124 ]; then
    echo "embedded: no verdict within ${secs} s" >&2
    exit 1
fi
if [ $status != 0 ]; then
    echo "embedded: the image reported failure (qemu exit status $status)" >&2
    exit 1
fi
if ! grep -Eq "libcma self-test: [1-9][0-9]* passed, 0 failed" "$log"; then
    echo "embedded: no passing self-test line" >&2
    exit 1
fi
echo "embedded: pass"
