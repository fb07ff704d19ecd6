#!/usr/bin/env bash
# Runs troupe_savina with the metrics endpoint on (TROUPE_OBSERVE) and a
# scraper fetching /metrics once a second, like a Prometheus server would:
# the "B" side of the endpoint-cost figure (README, "Operating a node").
#
#   bash bench/ab.sh 7 build/release/bench/savina/troupe_savina bench/observed.sh fjthrput
#
# The scraper (curl) is started before the benchmark is exec'd in this
# process, so its own CPU time is not the benchmark's (it runs elsewhere in
# production); it stops when the benchmark's process is gone.
# OBSERVED_BIN overrides the program, OBSERVE_PORT the port (19464).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${OBSERVED_BIN:-$ROOT/build/release/bench/savina/troupe_savina}"
PORT="${OBSERVE_PORT:-19464}"
me=$$
(
    while kill -0 "$me" 2>/dev/null; do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/metrics" || true
        sleep 1
    done
) </dev/null >/dev/null 2>&1 &
disown
TROUPE_OBSERVE="http://127.0.0.1:$PORT" exec "$BIN" "$@"
