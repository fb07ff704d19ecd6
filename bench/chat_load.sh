#!/usr/bin/env bash
# The chat under load: 3 servers (A, B, C) on loopback, and one load process
# with 1,000 clients (member actors) spread over them, in 10 rooms, each
# client saying a numbered line every 2 s for a minute. Checks that every line
# reached every other member of its room exactly once and in order, and was
# confirmed to its sender (the load process counts); prints p50/p99 latency
# (say -> printed, say -> confirmed), lines/s, and each
# server's RSS and CPU (from /proc) with the host's load beside them.
#   usage: bench/chat_load.sh [path/to/troupe-chat] [clients] [rooms] [rate] [seconds]
set -euo pipefail
BIN=$(realpath "${1:-build/default/examples/chat/troupe-chat}")
CLIENTS=${2:-1000}
ROOMS=${3:-10}
RATE=${4:-0.5}
SECONDS_=${5:-60}
COOKIE=load-$$
W=$(mktemp -d /tmp/troupe-chat-load.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"' EXIT

wait_ready() { # FILE NAME
    for _ in $(seq 200); do grep -q "^server $2 ready" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "chat_load: server $2 did not start" >&2; cat "$1" >&2; exit 1
}
url_of() { sed -n "s/^server $1 listening on //p" "$W/$1.out"; }

peers=()
for s in A B C; do
    args=(server --name "$s" --listen tcp://127.0.0.1:0 --cookie "$COOKIE")
    for p in "${peers[@]}"; do args+=(--peer "$p"); done
    "$BIN" "${args[@]}" >"$W/$s.out" 2>"$W/$s.err" &
    PIDS+=($!)
    eval "PID_$s=$!"
    wait_ready "$W/$s.out" "$s"
    peers+=("$(url_of "$s")")
done

HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
declare -A T0
for s in A B C; do eval "T0[$s]=\$(cpu_ticks \$PID_$s)"; done
start=$(date +%s.%N)
echo "chat_load: host before: $(uptime)"
set +e
"$BIN" load --server "${peers[0]}" --server "${peers[1]}" --server "${peers[2]}" --cookie "$COOKIE" \
    --clients "$CLIENTS" --rooms "$ROOMS" --rate "$RATE" --seconds "$SECONDS_"
rc=$?
set -e
end=$(date +%s.%N)
echo "chat_load: host after: $(uptime)"
for s in A B C; do
    eval "pid=\$PID_$s"
    t1=$(cpu_ticks "$pid")
    awk -v s="$s" -v t0="${T0[$s]}" -v t1="$t1" -v hz="$HZ" -v a="$start" -v b="$end" -v rss="$(rss_kib "$pid")" \
        'BEGIN { printf "chat_load: server %s: RSS %.1f MiB, CPU %.1f s over %.1f s (%.0f%% of one core)\n", s, rss/1024, (t1-t0)/hz, b-a, 100*(t1-t0)/hz/(b-a) }'
done
exit "$rc"
