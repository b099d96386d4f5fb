#!/bin/sh
# SPDX-License-Identifier: MIT
# tools/cmasim/screenshot.sh REPORT.html OUT.png [WIDTH,HEIGHT]
#
# Takes a screenshot of a cmasim HTML report with headless Chromium (Debian's `chromium`; installed
# with apt-get when missing and running as root). The report is self-contained, so the browser is
# kept off the network. Default window 1400x2400.
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT]" >&2
    exit 2
fi
report=$1
out=$2
size=${3:-1400,2400}
if [ ! -r "$report" ]; then
    echo "$0: cannot read $report" >&2
    exit 2
fi

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then
        browser=$b
        break
    fi
done
if [ -z "$browser" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "$0: installing chromium" >&2
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null
        browser=chromium
    else
        echo "$0: chromium not found (apt-get install chromium)" >&2
        exit 77
    fi
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
case "$out" in
    /*) abs_out=$out ;;
    *) abs_out=$(pwd)/$out ;;
esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT INT TERM
rm -f "$abs_out"

# Chromium prints harmless D-Bus and GPU noise on stderr; keep it for failures only.
log="$profile/chromium.log"
if ! "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-default-apps --disable-extensions --mute-audio \
    --user-data-dir="$profile" --hide-scrollbars --window-size="$size" \
    --screenshot="$abs_out" "file://$abs_report" >"$log" 2>&1; then
    cat "$log" >&2
    echo "$0: chromium failed" >&2
    exit 1
fi
if [ ! -s "$abs_out" ]; then
    cat "$log" >&2
    echo "$0: no screenshot written" >&2
    exit 1
fi
echo "$abs_out"
