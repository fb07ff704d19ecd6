#!/usr/bin/env bash
# History survives a restart of the whole cluster: servers A and B with
# --data, lines said in a room hosted on each, both servers stopped
# (SIGTERM) and started again on the same data; a newcomer sees the lines,
# marked "(history)".
#   usage: history.sh path/to/troupe-chat
set -euo pipefail
TEST=history
BIN=$(realpath "${1:?usage: history.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

R_A=$(room_on A,B:A)
R_B=$(room_on A,B:B)

start_server A A.1 tcp://127.0.0.1:0 --data "$W/data"
start_server B B.1 tcp://127.0.0.1:0 --data "$W/data" --peer "$URL_A"
wait_for "$W/B.1.out" "^server B: peer A at "
# alice says a line in each room (the room hosted on A, then on B); bob,
# in both, is the witness that each room has it
start_client bob "#$R_A" --server "$URL_B"
say bob "/join #$R_B"
wait_for "$W/bob.out" "you joined #$R_B"
start_client alice "#$R_A" --server "$URL_A"
say alice "kept on A"; say alice "/join #$R_B"; say alice "kept on B"
wait_for "$W/bob.out" "#$R_A <alice> kept on A$"
wait_for "$W/bob.out" "#$R_B <alice> kept on B$"
say alice /quit; say bob /quit
wait_exit "$PID_alice"; wait_exit "$PID_bob"

# the whole cluster stops (gracefully) and starts again on the same data
kill -TERM "$PID_B" "$PID_A"
wait_exit "$PID_B"; [[ $RC == 0 ]] || fail "B stopped with $RC"
wait_exit "$PID_A"; [[ $RC == 0 ]] || fail "A stopped with $RC"
[[ -s $W/data/A.sqlite3 && -s $W/data/B.sqlite3 ]] || fail "no database files under --data"
start_server A A.2 tcp://127.0.0.1:0 --data "$W/data"
start_server B B.2 tcp://127.0.0.1:0 --data "$W/data" --peer "$URL_A"
wait_for "$W/B.2.out" "^server B: peer A at "
start_client carol "$R_A" --server "$URL_B"
wait_for "$W/carol.out" "you joined #$R_A on server A"
grep -qE "^\[[0-9:]{8}\] \(history\) <alice> kept on A$" "$W/carol.out" || fail "no history of #$R_A"
say carol "/join $R_B"
wait_for "$W/carol.out" "you joined #$R_B on server B"
grep -qE "^\[[0-9:]{8}\] #$R_B \(history\) <alice> kept on B$" "$W/carol.out" || fail "no history of #$R_B"
say carol /quit
wait_exit "$PID_carol"; [[ $RC == 0 ]] || fail "carol: exit code $RC"
echo "history: PASS (both rooms' lines came back after a restart of A and B)"
