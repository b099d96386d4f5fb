#!/bin/sh
# SPDX-License-Identifier: MIT
# cli_test.sh - cmasim's command-line tests (registered by tests/cmasim/CMakeLists.txt).
#
#   cli_test.sh CMASIM run-json NAME       `run NAME --quick --seed 1 --json` exits 0, the JSON parses
#                                          and every strategy has the documented keys
#   cli_test.sh CMASIM determinism NAME    two runs with one seed: identical JSON but for latency
#   cli_test.sh CMASIM errors              malformed scenarios (exit 3, "file:line:"), bad command
#                                          lines (exit 2), --help/--version/scenarios, CSV, subsets,
#                                          the iommu strategy on a device marked iommu beside a direct one
#   cli_test.sh CMASIM replay TRACE        `replay TRACE --json` exits 0 with events_replayed
#
# JSON is checked with python3 when it exists, else by looking for the keys with grep.
set -u
bin=$1
mode=$2
shift 2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cmasim-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

KEYS="name device_allocs device_alloc_failures latency_ns p50 p99 max pages_migrated pages_discarded
retries avail_bytes_avg avail_bytes_min ordinary_alloc_failures iommu pt_bytes_peak"

have_python() { command -v python3 >/dev/null 2>&1 && python3 -c 'import json' >/dev/null 2>&1; }

# check_json FILE NSTRATEGIES [extra keys...]
check_json() {
    f=$1
    n=$2
    shift 2
    if have_python; then
        python3 - "$f" "$n" "$@" <<'PY' || fail "$f: JSON check failed"
import json, sys
path, n, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
with open(path) as fh:
    doc = json.load(fh)
keys = ["name", "device_allocs", "device_alloc_failures", "latency_ns", "pages_migrated",
        "pages_discarded", "retries", "avail_bytes_avg", "avail_bytes_min",
        "ordinary_alloc_failures", "iommu"] + extra
s = doc["strategies"]
assert isinstance(s, list) and len(s) == n, "expected %d strategies, got %d" % (n, len(s))
for st in s:
    for k in keys:
        assert k in st, "strategy %s lacks %s" % (st.get("name"), k)
    for k in ("p50", "p99", "max"):
        assert isinstance(st["latency_ns"][k], int), "latency_ns.%s" % k
    assert st["device_alloc_failures"] <= st["device_allocs"]
    assert st["avail_bytes_min"] <= st["avail_bytes_avg"]
    io = st["iommu"]
    for k in ("buffers", "bytes", "iotlb_entries", "bytes_large_entries", "pt_bytes_peak",
              "iova_frag_avg", "iova_frag_max"):
        assert k in io, "strategy %s: iommu lacks %s" % (st["name"], k)
    if st["name"] != "iommu":
        assert io["buffers"] == 0 and io["pt_bytes_peak"] == 0, "%s mapped through an IOMMU" % st["name"]
    assert io["bytes_large_entries"] <= io["bytes"]
    assert (io["buffers"] == 0) == (io["iotlb_entries"] == 0)
PY
    else
        for k in $KEYS "$@"; do
            grep -q "\"$k\"" "$f" || fail "$f: no key $k"
        done
        grep -q '"strategies": \[' "$f" || fail "$f: no strategies array"
    fi
}

# expect CODE PATTERN -- command...: exit code and a pattern in stderr
expect() {
    code=$1
    pattern=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" = "$code" ] || fail "'$*' exited $got, expected $code; stderr: $(head -c 300 "$tmp/err")"
    if [ -n "$pattern" ]; then
        grep -q -e "$pattern" "$tmp/err" || fail "'$*': stderr lacks '$pattern': $(head -c 300 "$tmp/err")"
    fi
}

case $mode in
run-json)
    name=$1
    "$bin" run "$name" --quick --seed 1 --json >"$tmp/out.json" 2>"$tmp/err"
    rc=$?
    [ $rc = 0 ] || fail "run $name exited $rc: $(cat "$tmp/err")"
    check_json "$tmp/out.json" 5
    ;;
determinism)
    name=$1
    for i in 1 2; do
        "$bin" run "$name" --quick --seed 42 --json >"$tmp/r$i.json" || fail "run $name ($i) failed"
        grep -v '"latency_ns"' "$tmp/r$i.json" >"$tmp/r$i.cmp"
    done
    grep -q '"latency_ns"' "$tmp/r1.json" || fail "no latency line to ignore (format changed?)"
    cmp -s "$tmp/r1.cmp" "$tmp/r2.cmp" || { fail "same seed, different results:"; diff "$tmp/r1.cmp" "$tmp/r2.cmp" >&2; }
    "$bin" run "$name" --quick --seed 43 --json | grep -v '"latency_ns"' >"$tmp/r3.cmp"
    cmp -s "$tmp/r1.cmp" "$tmp/r3.cmp" && fail "seeds 42 and 43 gave identical results"
    ;;
errors)
    # a valid base scenario, then one broken line at a time
    cat >"$tmp/ok.scn" <<'SCN'
# small machine for the error tests
memory 256M
area cam 32M
duration 2s
step 10ms
background pagecache 0.5 clean=50 churn=5%/s
device cam area=cam sizes=4M burst=2 every=500ms hold=200ms
SCN
    expect 0 "" -- "$bin" run "$tmp/ok.scn" --quick --json
    check_json "$tmp/out" 5
    n=0
    while IFS='|' read -r line text what; do
        n=$((n + 1))
        f="$tmp/bad$n.scn"
        awk -v L="$line" -v T="$text" 'NR == L { print T; next } { print }' "$tmp/ok.scn" >"$f"
        expect 3 "bad$n.scn:$line: .*$what" -- "$bin" run "$f" --quick
    done <<'CASES'
2|memory lots|usage: memory SIZE
2|memory 0|usage: memory SIZE
3|area cam 32M @oops|must be @ADDRESS
3|area cam 1G|refused by the library
4|duration forever|usage: duration
5|frobnicate 1|unknown key 'frobnicate'
6|background pagecache 2.0|share
6|background swap 0.1|unknown background class
6|background kernel 0.1 clean=50|clean= applies to pagecache only
6|background pagecache 0.5 order=12|order above
6|background pagecache 0.5 churn|expected key=value, got 'churn'
7|device cam area=nope sizes=4M every=1s hold=1s|no CMA area named 'nope'
7|device cam area=cam sizes=4Q every=1s hold=1s|is not a size
7|device cam area=cam sizes=4M every=1s|needs every= and hold=
7|device cam area=cam sizes=4M every=1s hold=1s colour=red|unknown device option
7|device cam area=cam sizes=4M every=1s hold=1s oops|expected key=value, got 'oops'
7|device cam area=cam sizes=4M every=1s hold=1s dma_bits=11|dma_bits '11' must be 12..64
7|device cam area=cam sizes=4M every=1s hold=1s dma_bits=65|dma_bits '65' must be 12..64
1|cmdline cma=64Mx|cmdline "cma=64Mx" refused
CASES
    # whole-file errors name the file
    printf 'duration 1s\n' >"$tmp/nomem.scn"
    expect 3 "nomem.scn: no memory" -- "$bin" run "$tmp/nomem.scn"
    expect 3 "no such built-in scenario or file" -- "$bin" run no-such-scenario
    expect 3 "missing.scn" -- "$bin" run "$tmp/missing.scn"
    # command line
    expect 2 "unknown option '--frob'" -- "$bin" run phone-camera --frob
    expect 2 "exclusive" -- "$bin" run phone-camera --json --csv
    expect 2 "bad --strategy" -- "$bin" run phone-camera --strategy carveout,bogus
    expect 2 "bad --seed" -- "$bin" run phone-camera --seed -1
    expect 2 "needs a value" -- "$bin" run phone-camera --seed
    expect 2 "unknown command" -- "$bin" frobnicate
    expect 2 "usage:" -- "$bin"
    printf '0 alloc id=1 order=0\n1ms free id=1\n' >"$tmp/nomachine.trace"
    expect 2 "does not describe the machine" -- "$bin" replay "$tmp/nomachine.trace" --format native
    expect 2 "bad --mem '0'" -- "$bin" replay "$tmp/nomachine.trace" --mem 0
    expect 2 "bad --mem '64Q'" -- "$bin" replay "$tmp/nomachine.trace" --mem 64Q
    expect 0 "" -- "$bin" replay "$tmp/nomachine.trace" --mem 64M --cmdline "cma=16M" --csv
    grep -q "^strategy,.*,events_replayed,events_skipped$" "$tmp/out" || fail "replay CSV header"
    expect 0 "" -- "$bin" --help
    grep -q "exit codes" "$tmp/out" || fail "--help lacks the exit codes"
    expect 0 "" -- "$bin" --version
    grep -q "^cmasim [0-9]" "$tmp/out" || fail "--version: $(cat "$tmp/out")"
    expect 0 "" -- "$bin" scenarios
    for s in phone-camera video-pipeline hugetlb-server pinned-storm; do
        grep -q "$s" "$tmp/out" || fail "scenarios does not list $s"
    done
    expect 0 "" -- "$bin" scenarios phone-camera
    grep -q "^device camera" "$tmp/out" || fail "scenarios phone-camera does not print the file"
    # a printed built-in loads as a file
    cp "$tmp/out" "$tmp/copy.scn"
    expect 0 "" -- "$bin" run "$tmp/copy.scn" --quick --strategy cma --json
    check_json "$tmp/out" 1
    # subsets and CSV
    expect 0 "" -- "$bin" run "$tmp/ok.scn" --quick --strategy cma-discard,carveout --csv
    [ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "CSV: expected a header and 2 rows: $(cat "$tmp/out")"
    head -1 "$tmp/out" | grep -q "^strategy,device_allocs," || fail "CSV header: $(head -1 "$tmp/out")"
    sed -n 2p "$tmp/out" | grep -q "^carveout," || fail "CSV rows not in strategy order"
    expect 0 "" -- "$bin" run "$tmp/ok.scn" --quick
    grep -q "memory available, average" "$tmp/out" || fail "table lacks memory available"
    grep -q "IO page tables" "$tmp/out" && fail "IOMMU rows shown though no device is behind an IOMMU"
    # the iommu strategy: a device marked iommu takes its buffers through one, a direct one keeps
    # its area; nothing migrates for the IOMMU device, its rows appear
    sed 's/^device cam area=cam \(.*\)$/device cam area=cam \1 iommu dma_bits=32/' "$tmp/ok.scn" >"$tmp/io.scn"
    printf 'area other 16M\ndevice disp area=other sizes=2M burst=1 every=300ms hold=100ms\n' >>"$tmp/io.scn"
    expect 0 "" -- "$bin" run "$tmp/io.scn" --quick --strategy cma,iommu --json
    check_json "$tmp/out" 2
    if have_python; then
        python3 - "$tmp/out" <<'PY' || fail "iommu strategy figures"
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["strategies"]}
io, cma = s["iommu"], s["cma"]
ok = io["device_allocs"] - io["device_alloc_failures"]
assert io["device_allocs"] == cma["device_allocs"]
# only the cam device's buffers (4M each) go through the IOMMU; disp (2M) keeps its area
assert 0 < io["iommu"]["buffers"] < ok, io["iommu"]
assert io["iommu"]["bytes"] == io["iommu"]["buffers"] * (4 << 20), io["iommu"]
assert io["iommu"]["iotlb_entries"] >= io["iommu"]["buffers"] * 2   # at least two 2 MiB entries
assert io["iommu"]["pt_bytes_peak"] >= 4096 * 3
PY
    fi
    expect 0 "" -- "$bin" run "$tmp/io.scn" --quick --strategy iommu
    for row in "IO page tables, peak" "IOTLB entries per buffer" "mapped by 2 MiB+ entries" \
        "reach of 64 IOTLB entries" "IOVA fragmentation, max"; do
        grep -q "$row" "$tmp/out" || fail "iommu table lacks '$row'"
    done
    expect 0 "" -- "$bin" run "$tmp/io.scn" --quick --strategy iommu,carveout --csv
    head -1 "$tmp/out" | grep -q ",iommu_buffers,iommu_bytes,iotlb_entries," || fail "CSV lacks the IOMMU columns"
    sed -n 3p "$tmp/out" | grep -q "^iommu," || fail "CSV rows not in strategy order"
    ;;
replay)
    trace=$1
    expect 0 "" -- "$bin" replay "$trace" --json
    check_json "$tmp/out" 5 events_replayed events_skipped
    ;;
*)
    echo "cli_test.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
if [ $failures -ne 0 ]; then
    echo "$failures failure(s)" >&2
    exit 1
fi
exit 0
