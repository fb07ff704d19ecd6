#!/usr/bin/env bash
# Non-blank, non-comment lines of each comparison program, Troupe beside
# Erlang: bash docs/erlang/count.sh (from the repository root).
# C: a line counts unless it is blank or only comment (starts with /*, *, //).
# Erlang: a line counts unless it is blank or starts with %.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
c_lines() { grep -cvE '^\s*($|/\*|\*|//)' "$1"; }
erl_lines() { grep -cvE '^\s*($|%)' "$1"; }
for p in bank crawler nodes; do
    erl="docs/erlang/$p.erl"
    c="examples/$p/$p.c"
    if [[ -f "$c" ]]; then
        printf '%-8s troupe %3d  erlang %3d  ratio %.2f\n' "$p" "$(c_lines "$c")" "$(erl_lines "$erl")" \
            "$(echo "$(c_lines "$c") / $(erl_lines "$erl")" | bc -l)"
    else
        printf '%-8s troupe   -  erlang %3d  (no Troupe program yet)\n' "$p" "$(erl_lines "$erl")"
    fi
done
