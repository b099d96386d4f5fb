#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_no_outside_refs.sh - no file of the project cites material that is not in it.
#
#   sh scripts/check_no_outside_refs.sh [SOURCE_DIR]
#
# The project's docs stand on their own: what it needs to say about Linux is in docs/linux.md. This
# fails (exit 1, one "file:line: text" per hit) when a text file cites documents kept outside the
# repository: research notes by file name, their directory, or their numbered sections ("reference"
# followed by a section sign, or a section sign followed by a number; the repository's own docs
# number nothing that way). Files: those git tracks plus untracked ones it does not ignore when
# SOURCE_DIR is a git work tree, else every file below SOURCE_DIR outside build/ and .git/. Binary
# files are skipped. The patterns are written so that this script does not match itself.
set -eu

src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"

# One extended regex per cited thing; each bracket keeps the literal name out of this file.
patterns='linux-cma-referenc[e]
iommu-referenc[e]
api-sketc[h]\.md
style-anchor[s]\.md
shared/doc[s]
referenc[e][[:space:]]*§
§[[:space:]]*[0-9]'

list=$(mktemp)
hits=$(mktemp)
trap 'rm -f "$list" "$hits"' EXIT
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$src" ls-files -z --cached --others --exclude-standard > "$list"
else
    find . -path ./build -prune -o -path ./.git -prune -o -type f -print0 | sed -z 's|^\./||' > "$list"
fi
nfiles=$(tr -cd '\0' < "$list" | wc -c)
[ "$nfiles" -gt 0 ] || { echo "check_no_outside_refs: no files found under $src" >&2; exit 1; }

# Files deleted in the work tree but still in the index are skipped (-s).
printf '%s\n' "$patterns" > "$list.pat"
xargs -0 grep -I -n -s -E -f "$list.pat" -- < "$list" > "$hits" || true
rm -f "$list.pat"
if [ -s "$hits" ]; then
    echo "check_no_outside_refs: files cite material outside the repository (say it in docs/ instead):" >&2
    cat "$hits" >&2
    exit 1
fi
echo "check_no_outside_refs: $nfiles files, no outside citations"
