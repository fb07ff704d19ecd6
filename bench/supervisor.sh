#!/usr/bin/env bash
# Supervisor figures beside Erlang/OTP 25 (bench/peers/erlang/supervisor_bench.erl):
#   - restart to next message: crash -> the restarted child handles a ping,
#     median and p99 over N crashes, at most one per millisecond;
#   - the shutdown of an N-child simple-one-for-one pool.
#
#   bash bench/supervisor.sh [--quick]     N = 10000 (--quick, as in CI: 200)
#
# Prints one table (and the host's load, since the figures are noisy on a
# shared machine). Needs the release build (run.sh makes it) and erlang-nox.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=10000
SCALE=1
if [ "${1:-}" = --quick ]; then
    N=200
    SCALE=0.02
fi
LIMIT=${BENCH_TIMEOUT:-600} # seconds per program, as run.sh
BIN="$ROOT/build/release/bench/bench_supervisor"
if [ ! -x "$BIN" ]; then
    cmake --preset release >/dev/null
    cmake --build --preset release -j2 --target bench_supervisor >/dev/null
fi
ERLDIR="$ROOT/build/release/bench/peers/erlang"
mkdir -p "$ERLDIR"
erlc -o "$ERLDIR" "$ROOT/bench/peers/erlang/supervisor_bench.erl"
erl_run() { timeout "$LIMIT" erl +P 5000000 -noshell -pa "$ERLDIR" -run supervisor_bench main -extra "$@"; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
troupe=$(timeout "$LIMIT" "$BIN" "$SCALE" restart2,pool)
erl_restart=$(erl_run restart2 "$N")
erl_pool=$(erl_run pool "$N")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
printf '%s\n%s\n%s\n' "$troupe" "$erl_restart" "$erl_pool" | grep -v '^RESULT'

# RESULT <bench> <k1> <v1> <k2> <v2> ...: the value after key $2 of bench $1
pick() { awk -v b="$1" -v k="$2" '$1 == "RESULT" && $2 == b {
    for (i = 3; i < NF; i += 2) if ($i == k) { print $(i + 1); exit } }'; }
t_med=$(pick restart_next_message median_us <<<"$troupe")
t_p99=$(pick restart_next_message p99_us <<<"$troupe")
t_pool=$(pick pool_shutdown ms <<<"$troupe")
e_med=$(pick restart_next_message median_us <<<"$erl_restart")
e_p99=$(pick restart_next_message p99_us <<<"$erl_restart")
e_pool=$(pick pool_shutdown ms <<<"$erl_pool")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1fx", b / a; else print "-" }'; }
echo "supervisors, N = $N (load $load_before before, $load_after after; 1, 5, 15 min)"
printf '| %-40s | %10s | %10s | %-14s |\n' figure Troupe Erlang "Erlang/Troupe"
printf '| %-40s | %10s | %10s | %-14s |\n' "restart to next message, median (us)" "$t_med" "$e_med" "$(ratio "$t_med" "$e_med")"
printf '| %-40s | %10s | %10s | %-14s |\n' "restart to next message, p99 (us)" "$t_p99" "$e_p99" "$(ratio "$t_p99" "$e_p99")"
printf '| %-40s | %10s | %10s | %-14s |\n' "shutdown of a $N-child pool (ms)" "$t_pool" "$e_pool" "$(ratio "$t_pool" "$e_pool")"
[ -n "$t_med" ] && [ -n "$e_med" ] && [ -n "$t_pool" ] && [ -n "$e_pool" ]
