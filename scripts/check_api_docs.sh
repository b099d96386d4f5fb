#!/bin/sh
# SPDX-License-Identifier: MIT
#
# check_api_docs.sh - fails when a public function declared in include/cma/*.h has no doc comment.
#
#   sh scripts/check_api_docs.sh [header...]      (default: include/cma/*.h next to this script)
#
# A declaration is documented when
#   (a) the line right above its first line ends a comment ("*/", or is a "//" line), and that comment
#       is not a section separator ("/* ---- ... */"); or
#   (b) it follows, without a blank line, other declarations headed by such a comment, and that
#       comment names it (one comment for a pair such as cma_page_get / cma_page_put).
# Declarations are found at file scope outside comments, preprocessor lines and struct/enum/union
# bodies: a statement ending in ';' whose first "cma_name(" is not a function-pointer member. The
# script prints every undocumented function as file:line and exits 1; it also fails when it finds no
# declaration at all (a parser that sees nothing must not pass). Plain sh + awk, no other tools.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ]; then
    set -- "$here"/../include/cma/*.h
fi

awk '
function flush_group() { group_comment = ""; in_group = 0 }
FNR == 1 {
    in_comment = 0; in_define = 0; depth = 0; stmt = ""; stmt_line = 0
    prev_kind = "blank"; last_comment = ""; flush_group()
}
{
    line = $0
    # ---- preprocessor lines (and their continuations) are neither code nor documentation
    if (in_define) { in_define = (line ~ /\\$/); prev_kind = "other"; next }
    if (!in_comment && line ~ /^[ \t]*#/) { in_define = (line ~ /\\$/); prev_kind = "other"; flush_group(); next }

    # ---- comments: remember the text of the comment that ends on this line
    if (in_comment) {
        comment_text = comment_text " " line
        if (line ~ /\*\//) {
            in_comment = 0
            rest = line; sub(/.*\*\//, "", rest)
            if (rest ~ /^[ \t]*$/) { last_comment = comment_text; prev_kind = "comment"; next }
            line = rest
        } else next
    }
    if (line ~ /^[ \t]*\/\//) { last_comment = line; prev_kind = "comment"; next }
    if (line ~ /^[ \t]*\/\*/) {
        comment_text = line
        if (line ~ /\*\/[ \t]*$/) { last_comment = comment_text; prev_kind = "comment"; next }
        if (line !~ /\*\//) { in_comment = 1; next }
        sub(/^[ \t]*\/\*.*\*\//, "", line)          # a comment followed by code on the same line
    }
    sub(/\/\*.*\*\//, "", line)                        # trailing comments
    sub(/\/\/.*/, "", line)

    if (line ~ /^[ \t]*$/) { if (stmt == "") { prev_kind = "blank"; flush_group() } ; next }

    # ---- struct / enum / union bodies and extern "C" braces
    if (line ~ /^[ \t]*extern "C"/) { prev_kind = "other"; next }
    opens = gsub(/\{/, "{", line); closes = gsub(/\}/, "}", line)
    if (depth > 0 || opens > closes) {
        depth += opens - closes; if (depth < 0) depth = 0
        prev_kind = "other"; flush_group(); next
    }
    if (closes > opens) { prev_kind = "other"; flush_group(); next }   # closing an extern "C" block

    # ---- statements: collect lines up to the ";"
    if (stmt == "") { stmt_line = FNR; stmt_prev = prev_kind; stmt_comment = last_comment }
    stmt = stmt " " line
    if (line !~ /;[ \t]*$/) next
    decl = stmt; stmt = ""
    prev_kind = "decl"
    if (decl !~ /cma_[A-Za-z0-9_]*[ \t]*\(/ || decl ~ /^[ \t]*typedef/) { flush_group(); next }
    if (match(decl, /\(\*[ \t]*cma_/)) { flush_group(); next }
    match(decl, /cma_[A-Za-z0-9_]*[ \t]*\(/)
    name = substr(decl, RSTART, RLENGTH); sub(/[ \t]*\($/, "", name)
    ndecl++

    documented = 0
    if (stmt_prev == "comment" && stmt_comment !~ /\/\*[ \t]*-[-]+/) {
        documented = 1; group_comment = stmt_comment; in_group = 1
    } else if (stmt_prev == "decl" && in_group && index(group_comment, name) > 0) {
        documented = 1
    } else {
        flush_group()
    }
    if (!documented) {
        printf "%s:%d: public function %s has no doc comment directly above it\n", FILENAME, stmt_line, name
        bad++
    }
}
END {
    if (ndecl == 0) { print "check_api_docs: no function declarations found (parser broken?)"; exit 1 }
    if (bad) { printf "check_api_docs: %d of %d public functions undocumented\n", bad, ndecl; exit 1 }
    printf "check_api_docs: all %d public functions documented\n", ndecl
}
' "$@"
