#!/usr/bin/env bash
# A/B comparison of two troupe_savina builds on a noisy machine: runs them
# alternately (A B A B ...) and prints the median, min and max of the wall
# time (the RESULT line, ms) and of the CPU time (user + sys, ms) of each.
#
#   bash bench/ab.sh N BINARY_A BINARY_B BENCH [ARGS...]
#
# e.g. build the old commit elsewhere (git archive OLD | tar -x -C /tmp/old;
# cmake --preset release && cmake --build --preset release -j2 there), then
#   bash bench/ab.sh 9 /tmp/old/build/release/bench/savina/troupe_savina \
#        build/release/bench/savina/troupe_savina fjthrput --scale 10
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n '2,12p' "$0"
    exit 2
fi
N=$1 A=$2 B=$3
shift 3

wall_a=() wall_b=() cpu_a=() cpu_b=()
run() { # binary args... -> sets wall, cpu
    local bin=$1 out
    shift
    out=$({ /usr/bin/time -f "CPU %U %S" "$bin" "$@"; } 2>&1) || true
    wall=$(echo "$out" | awk '/^RESULT/ {print $4; exit}')
    cpu=$(echo "$out" | awk '/^CPU/ {printf "%.0f", ($2 + $3) * 1000}')
    [ -n "$wall" ] || { echo "ab.sh: no RESULT from $bin" >&2; exit 1; }
}
for ((i = 0; i < N; i++)); do
    run "$A" "$@"; wall_a+=("$wall"); cpu_a+=("$cpu")
    run "$B" "$@"; wall_b+=("$wall"); cpu_b+=("$cpu")
done
stats() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
        END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
             printf "median %.1f min %.1f max %.1f", m, v[1], v[NR]}'
}
echo "$*: A wall ms $(stats "${wall_a[@]}") | cpu ms $(stats "${cpu_a[@]}")  [n=$N]"
echo "$*: B wall ms $(stats "${wall_b[@]}") | cpu ms $(stats "${cpu_b[@]}")  [n=$N]"
