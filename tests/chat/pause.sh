#!/usr/bin/env bash
# A paused server re-merges: servers A and B (B peers with A), a room R
# hosted on A; alice through A, bob through B, both in R.
# 1. B is frozen (SIGSTOP) until A counts it down; R stays on A with alice
# 2. SIGCONT: B introduces itself to A again (both log the other up again);
#    bob, dropped meanwhile, reconnects through B and is back in the same R
#    on A: alice and bob talk again (one copy of R, not one per server)
#   usage: pause.sh path/to/troupe-chat
set -euo pipefail
TEST=pause
BIN=$(realpath "${1:?usage: pause.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

R=$(room_on A,B:A)
start_server A A tcp://127.0.0.1:0
start_server B B tcp://127.0.0.1:0 --peer "$URL_A"
wait_for "$W/B.out" "^server B: peer A is up"
start_client alice "$R" --server "$URL_A"
start_client bob "$R" --server "$URL_B"
wait_for "$W/alice.out" "\* bob joined"

kill -STOP "$PID_B"
wait_for "$W/A.out" "^server A: peer B is down"
wait_for "$W/alice.out" "\* bob left"
kill -CONT "$PID_B"
wait_for "$W/B.out" "^server B: peer A is up" 2
wait_for "$W/A.out" "^server A: peer B is up" 2
wait_for "$W/bob.out" "you are back in #$R on server A"
say bob "after-the-pause"
wait_for "$W/alice.out" "<bob> after-the-pause\$"
say alice "welcome-back"
wait_for "$W/bob.out" "<alice> welcome-back\$"
say alice "/who"
wait_for "$W/alice.out" "\] - #$R on server A, 2 here: "
echo "$TEST: B paused and resumed: A and B re-merged; bob is back in the one #$R on A"
echo "$TEST: PASS"
