#!/usr/bin/env bash
# Failover of clients: servers A and B on loopback TCP (B peers with A); a
# room R hosted on B.
# 1. alice (--server A --server B) and bob (--server B) talk in R
# 2. kill -9 A: alice says so, reconnects through B, is back in R; bob sees
#    "alice is back"; both keep talking, each line once
# 3. bob is frozen (SIGSTOP) until B drops him; on SIGCONT he reconnects to
#    B (his only server), is back in R, and both keep talking
# 4. kill -9 B: alice finds no server within --reconnect 6 s and exits 4
#   usage: failover.sh path/to/troupe-chat
set -euo pipefail
TEST=failover
BIN=$(realpath "${1:?usage: failover.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

R=$(room_on A,B:B)
start_server A A tcp://127.0.0.1:0
start_server B B tcp://127.0.0.1:0 --peer "$URL_A"
wait_for "$W/B.out" "^server B: peer A at "
start_client alice "$R" --server "$URL_A" --server "$URL_B" --reconnect 6
start_client bob "$R" --server "$URL_B"
grep -q "you joined #$R on server B" "$W/alice.out" || fail "#$R is not on B"
wait_for "$W/alice.out" "\* bob joined"
say alice "before-1"; say bob "before-2"
wait_for "$W/bob.out" "<alice> before-1\$"
wait_for "$W/alice.out" "<bob> before-2\$"

# ---- 2. alice's server dies
kill -9 "$PID_A"
wait_for "$W/alice.out" "lost the connection to server A \(it went down or is unreachable\); reconnecting"
wait_for "$W/alice.out" "reconnected through server B as alice \(after losing server A\)"
wait_for "$W/alice.out" "you are back in #$R on server B"
wait_for "$W/bob.out" "\* alice is back\$"
say alice "after-1"; say bob "after-2"
wait_for "$W/bob.out" "<alice> after-1\$"
wait_for "$W/alice.out" "<bob> after-2\$"
for f in alice bob; do
    [[ $(grep -c "<[a-z]*> before-" "$W/$f.out") == 1 ]] || fail "$f saw a line before the failover twice"
done
kill -0 "$PID_alice" || fail "alice exited when her server died"
echo "$TEST: A killed: alice reconnected through B and is back in #$R; lines flow both ways"

# ---- 3. a frozen client comes back
kill -STOP "$PID_bob"
wait_for "$W/alice.out" "\* bob left"
kill -CONT "$PID_bob"
wait_for "$W/bob.out" "reconnected through server B as bob"
wait_for "$W/bob.out" "you are back in #$R on server B"
grep -q "this client was suspended for" "$W/bob.err" || fail "bob was not told he had been suspended"
wait_for "$W/alice.out" "\* bob is back\$"
say bob "thawed-1"; say alice "thawed-2"
wait_for "$W/alice.out" "<bob> thawed-1\$"
wait_for "$W/bob.out" "<alice> thawed-2\$"
echo "$TEST: bob frozen until B dropped him: on SIGCONT he reconnected and talks again"

# ---- 4. no server left: alice gives up after --reconnect seconds, exit 4
kill -9 "$PID_B"
wait_for "$W/alice.out" "lost the connection to server B"
wait_exit "$PID_alice"; [[ $RC == 4 ]] || fail "alice exited $RC with no server left (want 4)"
grep -q "no server reachable within 6 s" "$W/alice.err" || fail "alice did not say why she gave up"
kill -9 "$PID_bob" 2>/dev/null || true
echo "$TEST: no server left: alice gave up after 6 s, exit 4"
echo "$TEST: PASS"
