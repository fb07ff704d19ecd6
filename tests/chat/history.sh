#!/usr/bin/env bash
# History survives a restart of the whole cluster: servers A and B with
# --data, lines said in a room hosted on each, both servers stopped
# (SIGTERM) and started again on the same data; a newcomer sees the lines,
# marked "(history)".
#   usage: history.sh path/to/troupe-chat
set -euo pipefail
BIN=$(realpath "${1:?usage: history.sh path/to/troupe-chat}")
DEADLINE=${CHAT_E2E_DEADLINE:-20}
COOKIE=history-$$
W=$(mktemp -d /tmp/troupe-chat-history.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
fail() { echo "history: FAIL: $*" >&2; for f in "$W"/*.out "$W"/*.err; do echo "--- $f"; cat "$f"; done >&2; exit 1; }
wait_for() { # FILE REGEX
    local end=$((SECONDS + DEADLINE))
    while (( SECONDS < end )); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    fail "timeout waiting for /$2/ in $(basename "$1")"
}
wait_exit() { # PID: sets RC
    local end=$((SECONDS + DEADLINE))
    while (( SECONDS < end )); do
        if ! kill -0 "$1" 2>/dev/null; then RC=0; wait "$1" || RC=$?; return 0; fi
        sleep 0.05
    done
    fail "process $1 did not exit"
}
start_server() { # name run [peer-url]
    local name=$1 run=$2; shift 2
    local args=(server --name "$name" --listen tcp://127.0.0.1:0 --cookie "$COOKIE" --data "$W/data")
    [[ $# -gt 0 ]] && args+=(--peer "$1")
    "$BIN" "${args[@]}" >"$W/$name.$run.out" 2>"$W/$name.$run.err" &
    PIDS+=($!)
    eval "PID_$name=$!"
    wait_for "$W/$name.$run.out" "^server $name ready"
    eval "URL_$name=$(sed -n "s/^server $name listening on //p" "$W/$name.$run.out")"
}

R_A=""; R_B=""
for i in $(seq 0 200); do
    owner=$("$BIN" place --servers A,B "room$i")
    [[ -z $R_A && $owner == A ]] && R_A="room$i"
    [[ -z $R_B && $owner == B ]] && R_B="room$i"
    [[ -n $R_A && -n $R_B ]] && break
done

start_server A 1
start_server B 1 "$URL_A"
wait_for "$W/B.1.out" "^server B: peer A at "
# alice says a line in each room (the room hosted on A, then on B); bob,
# in both, is the witness that each room has it
mkfifo "$W/alice.in" "$W/bob.in"
"$BIN" client --server "$URL_B" --nick bob --room "#$R_A" --cookie "$COOKIE" \
    --listen tcp://127.0.0.1:0 <"$W/bob.in" >"$W/bob.out" 2>"$W/bob.err" &
PIDS+=($!); PID_bob=$!
exec {BOB}>"$W/bob.in"
wait_for "$W/bob.out" "you joined #$R_A"
printf '/join #%s\n' "$R_B" >&"$BOB"
wait_for "$W/bob.out" "you joined #$R_B"
"$BIN" client --server "$URL_A" --nick alice --room "#$R_A" --cookie "$COOKIE" \
    --listen tcp://127.0.0.1:0 <"$W/alice.in" >"$W/alice.out" 2>"$W/alice.err" &
PIDS+=($!); PID_alice=$!
exec {ALICE}>"$W/alice.in"
wait_for "$W/alice.out" "you joined #$R_A"
printf 'kept on A\n/join #%s\nkept on B\n' "$R_B" >&"$ALICE"
wait_for "$W/bob.out" "#$R_A <alice> kept on A$"
wait_for "$W/bob.out" "#$R_B <alice> kept on B$"
printf '/quit\n' >&"$ALICE"; printf '/quit\n' >&"$BOB"
wait_exit "$PID_alice"; wait_exit "$PID_bob"

# the whole cluster stops (gracefully) and starts again on the same data
kill -TERM "$PID_B" "$PID_A"
wait_exit "$PID_B"; [[ $RC == 0 ]] || fail "B stopped with $RC"
wait_exit "$PID_A"; [[ $RC == 0 ]] || fail "A stopped with $RC"
[[ -s $W/data/A.sqlite3 && -s $W/data/B.sqlite3 ]] || fail "no database files under --data"
start_server A 2
start_server B 2 "$URL_A"
wait_for "$W/B.2.out" "^server B: peer A at "
mkfifo "$W/carol.in"
"$BIN" client --server "$URL_B" --nick carol --room "$R_A" --cookie "$COOKIE" \
    --listen tcp://127.0.0.1:0 <"$W/carol.in" >"$W/carol.out" 2>"$W/carol.err" &
PIDS+=($!); PID_carol=$!
exec {CAROL}>"$W/carol.in"
wait_for "$W/carol.out" "you joined #$R_A on server A"
grep -qE "^\[[0-9:]{8}\] \(history\) <alice> kept on A$" "$W/carol.out" || fail "no history of #$R_A"
printf '/join %s\n' "$R_B" >&"$CAROL"
wait_for "$W/carol.out" "you joined #$R_B on server B"
grep -qE "^\[[0-9:]{8}\] #$R_B \(history\) <alice> kept on B$" "$W/carol.out" || fail "no history of #$R_B"
printf '/quit\n' >&"$CAROL"
wait_exit "$PID_carol"; [[ $RC == 0 ]] || fail "carol: exit code $RC"
echo "history: PASS (both rooms' lines came back after a restart of A and B)"
