#!/usr/bin/env bash
# End-to-end: 2 server processes and 4 clients on loopback TCP.
#   usage: e2e.sh path/to/troupe-chat
# 1. servers A and B (B peers with A); room R_A is placed on A, R_B on B
# 2. alice (via A), bob (via B), carol (via A) join R_A; dave (via A) joins R_B
# 3. each of alice, bob, carol sends N lines through a fifo on its stdin;
#    every line must reach every other member of R_A exactly once, in sender order
# 3b. /msg across servers reaches only its addressee; /foo stays local; /who, /list
# 4. nickname taken, bad URL, unreachable server, over-long line: one-line errors, exit codes
# 5. kill -9 server B: alice and carol keep chatting; bob (his server died,
#    --reconnect 0) gets a clear notice and exits 4 (README); dave's room
#    (hosted on B) moves to A and dave stays in it
# 6. alice and carol /quit (exit 0); server A stops on SIGTERM and exits 0, so
#    the sanitizers' exit checks (LeakSanitizer under ASan) cover it too
# Every exit code is checked exactly: a sanitizer's exit (TSan 66, LSan 23,
# an ASan abort) never passes for an expected failure.
# Every wait polls for expected output with a deadline; no fixed sleeps.
set -euo pipefail
TEST=e2e
BIN=$(realpath "${1:?usage: e2e.sh path/to/troupe-chat}")
N=${CHAT_E2E_LINES:-30}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# clients here exit when their server is lost (--reconnect 0): failover.sh
# covers reconnecting
client() { # nick server-url room
    start_client "$1" "$3" --server "$2" --reconnect 0
}

# ---- 1. servers, placement
start_server A A tcp://127.0.0.1:0
start_server B B tcp://127.0.0.1:0 --peer "$URL_A"
wait_for "$W/B.out" "^server B: peer A at "
R_A=$(room_on A,B:A)
R_B=$(room_on A,B:B)
echo "e2e: servers A=$URL_A B=$URL_B; #$R_A on A, #$R_B on B"

# ---- 2. clients
client alice "$URL_A" "$R_A"
client bob "$URL_B" "$R_A"
client carol "$URL_A" "$R_A"
client dave "$URL_A" "$R_B"
grep -q "you joined #$R_A on server A" "$W/bob.out" || fail "bob's room is not on A"
grep -q "you joined #$R_B on server B" "$W/dave.out" || fail "dave's room is not on B"
wait_for "$W/alice.out" "\* carol joined"

# ---- 3. every line to every other member, exactly once, in order
for i in $(seq 1 "$N"); do
    for who in alice bob carol; do say "$who" "$who-line-$i"; done
done
for who in alice bob carol; do
    for from in alice bob carol; do
        [[ $who == "$from" ]] && continue
        wait_for "$W/$who.out" "<$from> $from-line-$N\$"
    done
done
for who in alice bob carol; do
    for from in alice bob carol; do
        [[ $who == "$from" ]] && continue
        got=$(grep -oE "<$from> $from-line-[0-9]+\$" "$W/$who.out" | sed 's/.*-line-//' | tr '\n' ' ')
        want=$(seq 1 "$N" | tr '\n' ' ')
        [[ $got == "$want" ]] || fail "$who saw $from's lines as: $got"
    done
    if grep -qE "<$who> " "$W/$who.out"; then fail "$who was sent its own lines"; fi
done
echo "e2e: $N lines x 3 senders reached every other member once, in order"

# format: [HH:MM:SS] <nick> text
grep -qE "^\[[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\] <bob> bob-line-1\$" "$W/alice.out" || fail "line format"

# ---- 3b. commands across processes: a private line reaches only its addressee
say alice "/MSG bob psst-private "
wait_for "$W/bob.out" "\] \*alice\* psst-private\$"
wait_for "$W/alice.out" "\] -> \*bob\* psst-private\$"
say alice "after-private"
wait_for "$W/carol.out" "<alice> after-private\$"
wait_for "$W/bob.out" "<alice> after-private\$"
if grep -q "psst-private" "$W/carol.out" "$W/dave.out"; then fail "a private line reached someone else"; fi
say carol "/foo secret-cmd"
wait_for "$W/carol.err" "unknown command /foo \(not sent\)"
say bob "/who"
wait_for "$W/bob.out" "\] - #$R_A on server A, 3 here: alice, bob, carol\$"
say dave "/list"
wait_for "$W/dave.out" "\] - 2 rooms with members:"
wait_for "$W/dave.out" "#$R_B +1 member +on server B"
say carol "barrier-1"
wait_for "$W/alice.out" "<carol> barrier-1\$"
if grep -q "secret-cmd" "$W/alice.out" "$W/bob.out"; then fail "an unknown command was sent"; fi
echo "e2e: /msg reached only its addressee; /foo stayed local; /who and /list across servers"

# ---- 4. clear errors
set +e
"$BIN" client --server "$URL_A" --nick alice --room "$R_A" --cookie "$COOKIE" \
    --listen tcp://127.0.0.1:0 </dev/null >"$W/dup.out" 2>"$W/dup.err"; rc=$?
[[ $rc == 3 ]] && grep -q "nickname 'alice' is taken" "$W/dup.err" || fail "nick taken: rc=$rc"
"$BIN" client --server "htp:/nowhere" --nick zed --room x --cookie c </dev/null 2>"$W/url.err"; rc=$?
[[ $rc == 2 ]] && grep -q "bad server URL" "$W/url.err" || fail "bad URL: rc=$rc"
"$BIN" client --server tcp://127.0.0.1:1 --nick zed --room x --cookie c \
    --listen tcp://127.0.0.1:0 </dev/null 2>"$W/unreach.err"; rc=$?
[[ $rc == 4 ]] && grep -q "unreachable\|cannot connect" "$W/unreach.err" || fail "unreachable: rc=$rc"
set -e
for f in dup url unreach; do [[ $(wc -l <"$W/$f.err") -ge 1 ]] || fail "$f: no message"; done
say carol "$(head -c 600 /dev/zero | tr '\0' x)"
wait_for "$W/carol.err" "line too long \(600 bytes, max 512\)"
kill -0 "$PID_carol" || fail "an over-long line ended the client"
echo "e2e: nickname taken, bad URL, unreachable server, over-long line: clear errors"
set +e
"$BIN" client --server "$URL_A" --nick zed --room x --cookie "wrong-$COOKIE" \
    --listen tcp://127.0.0.1:0 </dev/null 2>"$W/cookie.err"; rc=$?
[[ $rc == 4 ]] && grep -q "refused the connection: its --cookie differs" "$W/cookie.err" || fail "wrong cookie: rc=$rc"
"$BIN" client --server "$URL_A" --nick zed --room x --cookie "" </dev/null 2>"$W/empty.err"; rc=$?
[[ $rc == 2 ]] && grep -q "empty --cookie" "$W/empty.err" || fail "empty cookie: rc=$rc"
"$BIN" client --server "$URL_A" --nick zed --room x </dev/null 2>"$W/nocookie.err"; rc=$?
[[ $rc == 2 ]] && grep -q "missing --cookie" "$W/nocookie.err" || fail "no cookie: rc=$rc"
"$BIN" server --name A2 --listen "$URL_A" --cookie "$COOKIE" </dev/null >"$W/inuse.out" 2>"$W/inuse.err"; rc=$?
[[ $rc == 2 ]] && grep -q "address already in use" "$W/inuse.err" || fail "address in use: rc=$rc"
"$BIN" server --name A --listen tcp://127.0.0.1:0 --peer "$URL_B" --cookie "$COOKIE" </dev/null >"$W/dupname.out" 2>"$W/dupname.err"; rc=$?
[[ $rc == 2 ]] && grep -q "server name 'A' is taken" "$W/dupname.err" || fail "a second server A: rc=$rc"
set -e
echo "e2e: wrong, empty and missing cookie, address in use, a server name taken: clear errors"

# ---- 5. a server dies
kill -9 "$PID_B"
wait_for "$W/bob.err" "lost the connection|went down|connection lost"
wait_for "$W/dave.out" "#$R_B.* now runs on server A \(the next in rendezvous order\)"
wait_for "$W/dave.out" "you are back in #$R_B on server A"
wait_exit "$PID_bob"; [[ $RC == 4 ]] || fail "bob exited $RC after losing his server (want 4)"
kill -0 "$PID_dave" || fail "dave exited when his room's server died"
wait_for "$W/alice.out" "\* bob left"
say alice "still-here-1"; say carol "still-here-2"
wait_for "$W/carol.out" "<alice> still-here-1\$"
wait_for "$W/alice.out" "<carol> still-here-2\$"
echo "e2e: server B killed: alice and carol keep chatting on A; bob told, exited 4; dave's room moved to A"

# ---- 6. /quit, then server A stops gracefully
say alice "/quit"
wait_exit "$PID_alice"; [[ $RC == 0 ]] || fail "/quit exit code $RC"
wait_for "$W/carol.out" "\* alice left"
# a graceful server stop: its client (carol) is told why and exits 4; A exits 0
kill -TERM "$PID_A"
wait_for "$W/carol.err" "server A is shutting down \\(stopped by its operator: SIGTERM\\)"
wait_exit "$PID_carol"; [[ $RC == 4 ]] || fail "carol after a graceful stop: exit code $RC"
wait_exit "$PID_dave"; [[ $RC == 4 ]] || fail "dave after a graceful stop: exit code $RC"
wait_exit "$PID_A"; [[ $RC == 0 ]] || fail "server A exited $RC on SIGTERM (want 0)"
grep -q "^server A stopping (SIGTERM)" "$W/A.out" || fail "server A did not say it was stopping"
echo "e2e: a graceful stop of A: carol told why, exit 4; A exited 0"
echo "e2e: PASS"
