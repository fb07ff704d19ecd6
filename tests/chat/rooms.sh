#!/usr/bin/env bash
# Failover of rooms, with history: servers A, B and C with --data on
# loopback TCP; a room R hosted on A, whose next server in rendezvous order
# is B (its replica).
# 1. alice (--server A --server C), bob (via B), carol (via C) talk in R on A
# 2. kill -9 A: R moves to B with its members (alice reconnects through C);
#    all keep talking, each line once; dave, joining now, sees the lines said
#    on A before it died as history (replicated to B)
# 3. A starts again (same command, same data): B and C introduce themselves
#    again, R moves back to A with every member (/who: one copy, all four on
#    A); all keep talking; erin, joining now, sees the lines said on the
#    stand-in B as history
# 4. C is paused (SIGSTOP) until A counts it down, then resumed: the servers
#    re-merge, and a newcomer through C is in the same #R on A
#   usage: rooms.sh path/to/troupe-chat
set -euo pipefail
TEST=rooms
BIN=$(realpath "${1:?usage: rooms.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# each line X said by $1 reaches every other of the following clients once
said_once() { # from line others...
    local from=$1 line=$2 who
    shift 2
    for who in "$@"; do
        wait_for "$W/$who.out" "<$from> $line\$"
        [[ $(grep -c "<$from> $line\$" "$W/$who.out") == 1 ]] || fail "$who saw '$line' more than once"
    done
}

R=$(room_on A,B,C:A B,C:B)
start_server A A.1 tcp://127.0.0.1:0 --data "$W/data"
start_server B B tcp://127.0.0.1:0 --data "$W/data" --peer "$URL_A"
start_server C C tcp://127.0.0.1:0 --data "$W/data" --peer "$URL_A" --peer "$URL_B"
wait_for "$W/C.out" "^server C: peer B at "
wait_for "$W/C.out" "^server C: peer A at "
start_client alice "$R" --server "$URL_A" --server "$URL_C"
start_client bob "$R" --server "$URL_B"
start_client carol "$R" --server "$URL_C"
for who in alice bob carol; do
    grep -q "you joined #$R on server A" "$W/$who.out" || fail "$who: #$R is not on A"
done
wait_for "$W/alice.out" "\* carol joined"
say alice "pre-alice"; say bob "pre-bob"; say carol "pre-carol"
said_once alice pre-alice bob carol
said_once bob pre-bob alice carol
said_once carol pre-carol alice bob
echo "$TEST: alice, bob, carol talk in #$R on A"

# ---- 2. the room's server dies
kill -9 "$PID_A"
for who in bob carol; do # (the words depend on what is seen first: the room's end or A's)
    wait_for "$W/$who.out" "#$R: its server A is down; (moving it to the next server|it now runs on server B)"
    wait_for "$W/$who.out" "#$R.* now runs on server B \(the next in rendezvous order\)"
done
wait_for "$W/alice.out" "reconnected through server C as alice"
for who in alice bob carol; do
    wait_for "$W/$who.out" "you are back in #$R on server B"
done
say alice "mid-alice"; say bob "mid-bob"; say carol "mid-carol"
said_once alice mid-alice bob carol
said_once bob mid-bob alice carol
said_once carol mid-carol alice bob
start_client dave "$R" --server "$URL_C"
grep -q "you joined #$R on server B" "$W/dave.out" || fail "dave: #$R is not on B"
for line in "<alice> pre-alice" "<bob> pre-bob" "<carol> pre-carol" "<bob> mid-bob"; do
    grep -q "(history) $line\$" "$W/dave.out" || fail "dave's history of #$R lacks '$line'"
done
echo "$TEST: A killed: #$R moved to B with its members and its history"

# ---- 3. the room's server returns: everyone follows the room back
start_server A A.2 "$URL_A" --data "$W/data"
wait_for "$W/B.out" "^server B: peer A is up" 2
wait_for "$W/C.out" "^server C: peer A is up" 2
for who in alice bob carol dave; do
    wait_for "$W/$who.out" "#$R moves to server A \(the servers up changed: it hosts the room now\)"
    wait_for "$W/$who.out" "you are back in #$R on server A"
done
say bob "/who"
wait_for "$W/bob.out" "\] - #$R on server A, 4 here: "
grep -E "\] - #$R on server A, 4 here: " "$W/bob.out" | grep -q "alice" || fail "/who: alice missing"
say alice "post-alice"; say dave "post-dave"
said_once alice post-alice bob carol dave
said_once dave post-dave alice bob carol
start_client erin "$R" --server "$URL_B"
grep -q "you joined #$R on server A" "$W/erin.out" || fail "erin: #$R is not on A"
for line in "<bob> mid-bob" "<carol> mid-carol" "<alice> post-alice"; do
    grep -q "(history) $line\$" "$W/erin.out" || fail "erin's history of #$R lacks '$line'"
done
echo "$TEST: A back: #$R moved back with all four members (one copy); its history kept"

# ---- 4. a paused server re-merges: C is frozen until A counts it down
kill -STOP "$PID_C"
wait_for "$W/A.2.out" "^server A: peer C is down"
kill -CONT "$PID_C"
wait_for "$W/A.2.out" "^server A: peer C is up" 2
wait_for "$W/C.out" "^server C: peer A is up" 3
start_client frank "$R" --server "$URL_C"
grep -q "you joined #$R on server A" "$W/frank.out" || fail "frank (via C, after its pause): #$R is not on A"
say frank "after-the-pause"
said_once frank after-the-pause bob erin
echo "$TEST: C paused and resumed: it re-merged; a newcomer through C is in the one #$R on A"
echo "$TEST: PASS"
