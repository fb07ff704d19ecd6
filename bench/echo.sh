#!/usr/bin/env bash
# Socket echo: Troupe's examples/echo (one actor per connection) against a
# minimal epoll echo server in C (bench/peers/epoll_echo.c), both driven by
# the same client (bench/echo_client.c: 64-byte lines, 16 in flight per
# connection, every echo checked), 1 and 100 connections, alternated
# ROUNDS times; prints each run and the medians side by side with the
# machine's load. Then the empty blocking-call round trip (bench_blocking).
#
#   bash bench/echo.sh [ROUNDS] [BUILD_DIR]     (default 3, build/release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${1:-3}
B=${2:-build/release}
[[ -x $B/examples/echo && -x $B/bench/echo_client && -x $B/bench/epoll_echo ]] || {
    cmake --preset release >/dev/null
    cmake --build --preset release -j2 --target echo echo_client epoll_echo bench_blocking >/dev/null
}
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT

start() { # name -> PID, PORT
    case $1 in
    troupe) "$B/examples/echo" tcp://127.0.0.1:0 >"$W/$1.out" 2>&1 & ;;
    epoll) "$B/bench/epoll_echo" 0 >"$W/$1.out" 2>&1 & ;;
    esac
    PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -oE '(port |listening on )[0-9]+' "$W/$1.out" | grep -oE '[0-9]+$' || true)
        [[ -n $PORT ]] && return
        sleep 0.05
    done
    echo "echo.sh: $1 did not start" >&2
    exit 1
}
run() { # server conns lines -> prints lines/s
    start "$1"
    local out
    out=$("$B/bench/echo_client" "$PORT" "$2" "$3")
    kill "$PID"; wait "$PID" 2>/dev/null || true
    echo "$out" | awk '/^METRIC echo lines_per_s/ {print $4}'
}
echo "host: $(uptime)"
declare -A rates
for ((r = 0; r < ROUNDS; r++)); do
    for conns in 1 100; do
        lines=$((conns == 1 ? 200000 : 4000))
        for server in troupe epoll; do
            v=$(run $server $conns $lines)
            rates[$server,$conns]+="$v "
            echo "round $r: $server, $conns connection(s): $v lines/s"
        done
    done
done
median() { printf '%s\n' $1 | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "=== socket echo, 64 B lines, median of $ROUNDS alternated rounds (lines/s)"
for conns in 1 100; do
    t=$(median "${rates[troupe,$conns]}"); e=$(median "${rates[epoll,$conns]}")
    awk -v c=$conns -v t="$t" -v e="$e" \
        'BEGIN {printf "%3d connection(s): troupe %9.0f   epoll %9.0f   troupe/epoll %.2f\n", c, t, e, t / e}'
done
echo "=== blocking pool handoff"
"$B/bench/bench_blocking" 100000 | grep METRIC
echo "host: $(uptime)"
