#!/bin/sh
# SPDX-License-Identifier: MIT
# bad_inputs.sh - cmasim as a user meets it with bad inputs: every one gives its documented exit
# status (docs/cmasim.md, EXIT STATUS) and exactly the expected message on stderr, naming the real
# fault: the line or option, and the limit that was broken. Registered by tests/cmasim/CMakeLists.txt.
#
#   bad_inputs.sh CMASIM errors     every bad input: exit status and the whole of stderr
#   bad_inputs.sh CMASIM progress   the progress line on a terminal (through script(1); exit 77 when
#                                   script is missing) and none when stderr is not a terminal
#
# The commands run inside a scratch directory with relative file names, so messages are stable.
set -u
bin=$1
mode=$2
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cmasim-bad.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# exact CODE MESSAGE -- command...: the exit status, and stderr is exactly MESSAGE (one line, or
# several separated by newlines)
exact() {
    code=$1
    want=$2
    shift 3
    "$@" >out 2>err
    got=$?
    [ "$got" = "$code" ] || fail "'$*' exited $got, expected $code; stderr: $(cat err)"
    if [ -n "$want" ]; then printf '%s\n' "$want"; fi >want
    cmp -s want err || fail "'$*': stderr differs from the expected message:
$(diff want err)"
}

# usage_error MESSAGE -- command...: exit 2, the message, then the usage text
usage_error() {
    want="cmasim: $1
usage: cmasim run SCENARIO [options]
       cmasim replay TRACE [--format auto|native|ftrace] [--mem SIZE] [--cmdline \"cma=...\"] [options]
       cmasim scenarios [NAME]
       cmasim --help | --version
Try 'cmasim --help' for more."
    shift 2
    exact 2 "$want" -- "$@"
}

# A small valid scenario, and one line replaced at a time.
cat >ok.scn <<'SCN'
memory 256M
area cam 32M
duration 2s
background pagecache 0.5 clean=50 churn=5%/s
device cam area=cam sizes=4M burst=2 every=500ms hold=200ms
SCN
# with_line FILE LINE TEXT: ok.scn with line LINE replaced by TEXT
with_line() {
    awk -v L="$2" -v T="$3" 'NR == L { print T; next } { print }' ok.scn >"$1"
}

case $mode in
errors)
    # ---- exploding workloads: refused before generating, naming the line and the count -----------
    with_line explode.scn 5 "device cam area=cam sizes=4K burst=100000 every=1ns hold=1ns"
    exact 3 "cmasim: explode.scn:5: device cam (100,000 buffers every 1 ns, each allocated and released): \
320,000,000,000,000 events in 2.00 s; cmasim generates at most 50,000,000 events (docs/cmasim.md, LIMITS)" \
        -- "$bin" run explode.scn
    exact 3 "cmasim: explode.scn:5: device cam (100,000 buffers every 1 ns, each allocated and released): \
320,000,000,000,000 events in 2.00 s (--quick); cmasim generates at most 50,000,000 events (docs/cmasim.md, \
LIMITS)" -- "$bin" run explode.scn --quick
    # the issue's own example: 10 s of it, first burst when the 2 s ramp ends
    printf 'memory 256M\narea cam 32M\nduration 10s\ndevice cam area=cam sizes=4K burst=100000 every=1ns hold=1ns\n' \
        >explode10.scn
    exact 3 "cmasim: explode10.scn:4: device cam (100,000 buffers every 1 ns, each allocated and released): \
1,600,000,000,000,000 events in 10.00 s; cmasim generates at most 50,000,000 events (docs/cmasim.md, LIMITS)" \
        -- "$bin" run explode10.scn
    # a background class that churns a big machine for long: 2M live blocks, 2 events per churned one
    # per second for 800 s after the ramp, 2%/s of them flipping clean/dirty
    printf 'memory 16G\nduration 1000s\nbackground pagecache 0.5 churn=100%%/s\nbackground anon 0.1\n' >churn.scn
    exact 3 "cmasim: churn.scn:3: background pagecache: about 3,399,483,392 events in 1000.00 s; cmasim \
generates at most 50,000,000 events (docs/cmasim.md, LIMITS)" -- "$bin" run churn.scn

    # ---- machines beyond libcma's limits, named before any strategy runs --------------------------
    printf '0 alloc id=1 order=0\n1ms free id=1\n' >t.trace
    exact 2 "cmasim: --mem 1 EiB is 2^48 pages of 4 KiB; libcma manages at most 2^32-2 pages per machine \
(CMA_MAX_PAGES, just under 16 TiB with 4 KiB pages)" -- "$bin" replay t.trace --mem 1E
    exact 2 "cmasim: --mem 4,095 B holds no whole 4 KiB page" -- "$bin" replay t.trace --mem 4095
    with_line p.scn 1 "memory 1P"
    exact 3 "cmasim: p.scn:1: memory 1 PiB is 2^38 pages of 4 KiB; libcma manages at most 2^32-2 pages per \
machine (CMA_MAX_PAGES, just under 16 TiB with 4 KiB pages)" -- "$bin" run p.scn
    printf 'range 0 8T\nrange 0x100000000000 8T\nduration 1s\n' >ranges.scn
    exact 3 "cmasim: ranges.scn:2: range 8 TiB at 0x100000000000: the memory up to this range is 2^32 pages of \
4 KiB; libcma manages at most 2^32-2 pages per machine (CMA_MAX_PAGES, just under 16 TiB with 4 KiB pages)" \
        -- "$bin" run ranges.scn
    printf 'range 0 1G\nrange 0x4000000000000000 1G\nduration 1s\n' >sparse.scn
    exact 3 "cmasim: sparse.scn:2: range 1 GiB at 0x4000000000000000: the memory ranges span \
2,199,023,256,064 pageblocks from the lowest page to the highest (holes included); libcma allows at most \
2^32" -- "$bin" run sparse.scn
    printf 'machine memory=64M page_size=1M\n0 alloc id=1 order=0\n' >ps.trace
    exact 3 "cmasim: ps.trace:1: machine: page_size '1M': libcma supports pages of 4K to 64K, a power of two \
(CMA_PAGE_SHIFT_MIN..CMA_PAGE_SHIFT_MAX)" -- "$bin" replay ps.trace
    # the host cannot hold 8 TiB of page contents (its own size is in the message)
    printf 'memory 8T\nbacking host\nduration 1s\n' >host.scn
    "$bin" run host.scn >out 2>err
    rc=$?
    [ $rc = 4 ] || fail "run host.scn exited $rc, expected 4: $(cat err)"
    grep -q "^cmasim: host.scn:1: memory 8 TiB: the simulated machine needs 8216.0 GiB of host memory (12 bytes \
of memory map per page, and its contents), more than this host's [0-9.]* GiB: use \`backing none\`$" err ||
        fail "host.scn: $(cat err)"

    # ---- areas: the real fault, not the character where the entry starts ---------------------------
    exact 2 "cmasim: --cmdline \"cma=cam:256M@1\": area cam (256 MiB) refused by the library (EINVAL): the base \
0x1 is not a multiple of the CMA alignment, 4 MiB (the larger of a pageblock and a largest buddy block, with 4 KiB \
pages)" -- "$bin" replay t.trace --mem 1G --cmdline "cma=cam:256M@1"
    exact 2 "cmasim: --cmdline \"cma=cam:6M@4M\": area cam (6 MiB) refused by the library (EINVAL): at a fixed \
base the size (6 MiB) must be a multiple of the CMA alignment, 4 MiB" \
        -- "$bin" replay t.trace --mem 1G --cmdline "cma=cam:6M@4M"
    exact 2 "cmasim: --cmdline \"cma=cam:8M@2G\": area cam (8 MiB) refused by the library (EINVAL): \
[0x80000000, 0x80800000) is not entirely memory" -- "$bin" replay t.trace --mem 1G --cmdline "cma=cam:8M@2G"
    exact 2 "cmasim: --cmdline \"cma=cam:2G\": area cam (2 GiB) refused by the library (ENOMEM): no free room \
for 2 GiB aligned to 4 MiB in memory" -- "$bin" replay t.trace --mem 1G --cmdline "cma=cam:2G"
    exact 2 "cmasim: --cmdline \"cma=cam:64Mx\" refused at character 12: unexpected 'x' after the size" \
        -- "$bin" replay t.trace --mem 1G --cmdline "cma=cam:64Mx"
    with_line c.scn 2 "cmdline cma=cam:32M@0x100000"
    exact 3 "cmasim: c.scn:2: cmdline \"cma=cam:32M@0x100000\": area cam (32 MiB) refused by the library \
(EINVAL): the base 0x100000 is not a multiple of the CMA alignment, 4 MiB (the larger of a pageblock and a largest \
buddy block, with 4 KiB pages)" -- "$bin" run c.scn
    with_line a.scn 2 "area cam 32M @0x10000000"
    exact 3 "cmasim: a.scn:2: area cam (32 MiB at 0x10000000) refused by the library (EINVAL): \
[0x10000000, 0x12000000) is not entirely memory" -- "$bin" run a.scn
    with_line many.scn 2 "cmdline cma=a:4M,b:4M,c:4M,d:4M,e:4M,f:4M,g:4M,h:4M,cam:4M"
    exact 3 "cmasim: many.scn:2: cmdline \"cma=a:4M,b:4M,c:4M,d:4M,e:4M,f:4M,g:4M,h:4M,cam:4M\": more than 8 CMA \
areas (cmasim's limit)" -- "$bin" run many.scn

    # ---- silent wrong answers made loud -------------------------------------------------------------
    # a device larger than its area
    with_line dev.scn 5 "device cam area=cam sizes=4M,64M burst=2 every=500ms hold=200ms"
    exact 3 "cmasim: dev.scn:5: device cam: size 64 MiB is larger than area cam (32 MiB): every such \
allocation would fail; make the area larger or the size smaller" -- "$bin" run dev.scn
    printf '0 cma_alloc id=1 size=16M\n1ms cma_release id=1\n' >big.trace
    exact 0 "cmasim: warning: big.trace:1: cma_alloc of 16 MiB from area reserved (4 MiB) is larger than the \
area: it fails under every strategy; declare a larger area (e.g. --cmdline \"cma=16M\")" \
        -- "$bin" replay big.trace --mem 64M --cmdline "cma=4M" --csv
    # cma events and no area
    printf '0 cma_alloc id=1 count=16\n1ms cma_release id=1\n' >cma.trace
    exact 3 "cmasim: cma.trace:1: the trace allocates from CMA area 'reserved' (1 cma_alloc event, the largest \
64 KiB) but the machine declares no CMA area: declare it, e.g. --cmdline \"cma=SIZE\"" \
        -- "$bin" replay cma.trace --mem 64M
    # an ftrace area name that matches no declared area: an error, never a match by position
    cat >cam.ftrace <<'FT'
# tracer: nop
 cam-1 [000] ..... 100.000000: cma_alloc_finish: name=camera pfn=0x1000 page=0x1 count=256 align=8 errorno=0
 cam-1 [000] ..... 100.500000: cma_release: name=camera pfn=0x1000 page=0x1 count=256
 cam-1 [000] ..... 101.000000: cma_alloc_finish: name=camera pfn=0x1000 page=0x1 count=256 align=8 errorno=0
FT
    exact 3 "cmasim: cam.ftrace:2: the trace allocates from CMA area 'camera' (2 cma_alloc events, the largest \
1 MiB) but the machine declares no area of that name (it declares: video); area names must match" \
        -- "$bin" replay cam.ftrace --mem 1G --cmdline "cma=video:64M"
    exact 3 "cmasim: cam.ftrace:2: the trace allocates from CMA area 'camera' (2 cma_alloc events, the largest \
1 MiB) but the machine declares no CMA area: declare it, e.g. --cmdline \"cma=camera:SIZE\"" \
        -- "$bin" replay cam.ftrace --mem 1G
    exact 0 "" -- "$bin" replay cam.ftrace --mem 1G --cmdline "cma=camera:64M" --json
    # empty traces
    : >empty.trace
    exact 3 "cmasim: empty.trace: no events to replay (an empty trace?)" -- "$bin" replay empty.trace --mem 64M
    printf '# tracer: nop\n sh-1 [000] ..... 1.000000: sched_switch: prev_comm=sh\n' >other.ftrace
    exact 3 "cmasim: other.ftrace: no events to replay: all 1 events are of kinds cmasim does not replay \
(docs/trace-format.md)" -- "$bin" replay other.ftrace --mem 64M

    # ---- --report: checked before simulating, the reason given, nothing clobbered ------------------
    exact 5 "cmasim: --report nodir/r.html: cannot write it: No such file or directory" \
        -- "$bin" run ok.scn --quick --report nodir/r.html
    mkdir adir
    exact 5 "cmasim: --report adir: cannot write it: Is a directory" -- "$bin" run ok.scn --quick --report adir
    echo "an older report" >old.html
    exact 3 "cmasim: p.scn:1: memory 1 PiB is 2^38 pages of 4 KiB; libcma manages at most 2^32-2 pages per \
machine (CMA_MAX_PAGES, just under 16 TiB with 4 KiB pages)" -- "$bin" run p.scn --report old.html
    [ "$(cat old.html)" = "an older report" ] || fail "a failed run truncated the existing report"
    [ ! -e new.html ] || fail "new.html exists before the run"
    exact 3 "cmasim: explode.scn:5: device cam (100,000 buffers every 1 ns, each allocated and released): \
320,000,000,000,000 events in 2.00 s; cmasim generates at most 50,000,000 events (docs/cmasim.md, LIMITS)" \
        -- "$bin" run explode.scn --report new.html
    [ ! -e new.html ] || fail "the --report check left new.html behind"

    # ---- options a command does not take ------------------------------------------------------------
    usage_error "--quick applies to run only, not to replay" -- "$bin" replay t.trace --mem 64M --quick
    usage_error "--seed applies to run only, not to replay" -- "$bin" replay t.trace --mem 64M --seed 3
    usage_error "--mem applies to replay only, not to run" -- "$bin" run ok.scn --mem 1G
    usage_error "--cmdline applies to replay only, not to run" -- "$bin" run ok.scn --cmdline cma=4M
    usage_error "--format applies to replay only, not to run" -- "$bin" run ok.scn --format ftrace
    usage_error "--json applies to run and replay only, not to scenarios" -- "$bin" scenarios --json
    usage_error "--strategy applies to run and replay only, not to scenarios" -- "$bin" scenarios --strategy cma

    # ---- the exit statuses are documented where a user looks ---------------------------------------
    "$bin" --help >out 2>err
    for code in "0 ok" "2 bad command line" "3 scenario or trace" "4 the host cannot hold the machine" \
        "5 a report" "6 the invariant checker failed"; do
        tr -s ' \n' '  ' <out | grep -q "$code" || fail "--help does not document exit status '$code'"
    done
    ;;
progress)
    # without a terminal, a good run prints nothing on stderr
    exact 0 "" -- "$bin" run ok.scn --quick
    printf '0 alloc id=1 order=0\n1ms free id=1\n' >t.trace
    exact 0 "" -- "$bin" replay t.trace --mem 64M
    command -v script >/dev/null 2>&1 || { echo "script(1) missing: the terminal case is not tested"; exit 77; }
    # on a terminal (script gives the command one), every phase shows
    COLUMNS=200 script -qec "'$bin' run ok.scn --quick >/dev/null" /dev/null >tty.out 2>&1 </dev/null ||
        fail "run under script failed: $(cat tty.out)"
    tr '\r' '\n' <tty.out >tty.txt
    for phase in "generating the workload (ok)" "strategy 1 of 5 (carveout): building the machine" \
        "strategy 2 of 5 (cma-linux): replaying" "strategy 4 of 5 (cma-discard): freeing and checking" \
        "strategy 5 of 5 (iommu): replaying"; do
        grep -q "cmasim: $phase" tty.txt || fail "no progress line '$phase' on a terminal: $(cat tty.txt)"
    done
    COLUMNS=200 script -qec "'$bin' replay t.trace --mem 64M --strategy cma,carveout >/dev/null" /dev/null \
        >tty.out 2>&1 </dev/null || fail "replay under script failed: $(cat tty.out)"
    tr '\r' '\n' <tty.out >tty.txt
    for phase in "reading t.trace" "strategy 1 of 2 (carveout): building the machine" \
        "strategy 2 of 2 (cma): replaying"; do
        grep -q "cmasim: $phase" tty.txt || fail "no progress line '$phase' on a terminal: $(cat tty.txt)"
    done
    ;;
*)
    echo "bad_inputs.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
if [ $failures -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
exit 0
