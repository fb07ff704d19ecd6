#!/usr/bin/env bash
# Lines are confirmed end to end, and history is held by the next server
# without --data: servers A and B on loopback TCP, no --data; a room R
# hosted on A (B is its replica).
# 1. alice and bob (through B) and carol (through A only, --reconnect 2)
#    talk in R on A
# 2. A freezes (SIGSTOP): alice and carol each type a line, carol a private
#    line to bob too, which reach A (or wait on the way) but are never
#    handled, so never confirmed
# 3. kill -9 A: R moves to B; alice sends her unconfirmed line again and
#    bob sees it, once; carol, with no server left, gives up after 2 s and
#    is told her line was not delivered and her private line not confirmed
#    (a private line confirmed before is not mentioned; exit 4); dave, joining now, sees
#    the lines said on A as history (B held them in memory)
#   usage: confirm.sh path/to/troupe-chat
set -euo pipefail
TEST=confirm
BIN=$(realpath "${1:?usage: confirm.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

R=$(room_on A,B:A)
start_server A A tcp://127.0.0.1:0
start_server B B tcp://127.0.0.1:0 --peer "$URL_A"
wait_for "$W/B.out" "^server B: peer A is up"
start_client alice "$R" --server "$URL_B"
start_client bob "$R" --server "$URL_B"
start_client carol "$R" --server "$URL_A" --reconnect 2
for who in alice bob carol; do
    grep -q "you joined #$R on server A" "$W/$who.out" || fail "$who: #$R is not on A"
done
wait_for "$W/alice.out" "\* carol joined"
say alice "pre-alice"; say carol "pre-carol"; say carol "/msg bob psst"
wait_for "$W/bob.out" "<alice> pre-alice\$"
wait_for "$W/bob.out" "<carol> pre-carol\$"
wait_for "$W/bob.out" "\*carol\* psst\$"
wait_for "$W/carol.out" "-> \*bob\* psst\$"
echo "$TEST: alice, bob (through B) and carol (through A) talk in #$R on A"

# ---- 2. A freezes; a line from alice and one from carol go out
freeze "$PID_A"
say alice "while-A-froze"; say alice "/help"
say carol "doomed"; say carol "/msg bob doomed-too"; say carol "/help"
# /help is answered by the client itself, after it sent the line before it
wait_for "$W/alice.out" "\] - plain lines go to your current room"
wait_for "$W/carol.out" "\] - plain lines go to your current room"

# ---- 3. A dies
kill -9 "$PID_A"
wait_for "$W/alice.out" "you are back in #$R on server B"
wait_for "$W/alice.out" "\] - #$R: sending again 1 line\(s\) not confirmed before"
wait_for "$W/bob.out" "<alice> while-A-froze\$"
wait_exit "$PID_carol"; [[ $RC == 4 ]] || fail "carol exited $RC with no server left (want 4)"
grep -q "not delivered to #$R: doomed\$" "$W/carol.err" || fail "carol was not told 'doomed' was not delivered"
grep -q "not confirmed (server A was lost before bob's server answered; it may not have been delivered): /msg bob doomed-too\$" \
    "$W/carol.err" || fail "carol was not told her private line was not confirmed"
[[ $(grep -c "not confirmed\|not delivered" "$W/carol.err") == 2 ]] || fail "carol was told of other lines (psst?)"
grep -q "not delivered" "$W/alice.err" && fail "alice was told a line was not delivered"
say bob "after"
wait_for "$W/alice.out" "<bob> after\$"
[[ $(grep -c "<alice> while-A-froze\$" "$W/bob.out") == 1 ]] || fail "bob saw alice's line more than once"
grep -q "<carol> doomed" "$W/bob.out" && fail "bob saw carol's line that was never handled"
echo "$TEST: A killed: alice's unconfirmed line was sent again and delivered once; carol's reported not delivered"
start_client dave "$R" --server "$URL_B"
for line in "<alice> pre-alice" "<carol> pre-carol" "<alice> while-A-froze"; do
    grep -q "(history) $line\$" "$W/dave.out" || fail "dave's history of #$R lacks '$line'"
done
echo "$TEST: dave sees the lines said on A as history (held by B without --data)"
echo "$TEST: PASS"
