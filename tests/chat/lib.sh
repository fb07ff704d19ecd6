# Helpers shared by the chat's shell tests (e2e.sh, history.sh, failover.sh,
# tmux.sh); sourced, not run. The caller sets TEST (its name, for messages)
# and BIN (the troupe-chat program) first. This sets W (a work directory,
# removed at exit unless KEEP=1), COOKIE, DEADLINE (seconds each wait may
# take; CHAT_E2E_DEADLINE) and PIDS (killed at exit), and an EXIT trap.
#
# Every wait polls for an expected line with a deadline: no fixed sleeps.

DEADLINE=${CHAT_E2E_DEADLINE:-20}
COOKIE=$TEST-$$
W=$(mktemp -d "/tmp/troupe-chat-$TEST.XXXXXX")
PIDS=()
CHAT_PREFIX=() # e.g. (ip netns exec NS): what start_server/start_client run the program under

chat_cleanup_procs() {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
chat_cleanup_dir() {
    if [[ ${KEEP:-0} == 1 ]]; then echo "logs kept in $W"; else rm -rf "$W"; fi
}
chat_cleanup() {
    chat_cleanup_procs
    chat_cleanup_dir
}
trap chat_cleanup EXIT

# fail TEXT: says why, shows every log, exits 1.
fail() {
    echo "$TEST: FAIL: $*" >&2
    local f
    for f in "$W"/*.out "$W"/*.err; do [[ -f $f ]] && { echo "--- $f"; cat "$f"; }; done >&2
    exit 1
}

# wait_for FILE REGEX [COUNT]: until FILE has COUNT (default 1) lines matching REGEX.
wait_for() {
    local file=$1 re=$2 count=${3:-1} end=$((SECONDS + DEADLINE))
    while (( SECONDS < end )); do
        if [[ -f $file ]] && (( $(grep -cE -- "$re" "$file" || true) >= count )); then return 0; fi
        sleep 0.05
    done
    fail "timeout waiting for $count x /$re/ in $(basename "$file")"
}

# wait_exit PID: until the process ended; its exit code goes to RC.
wait_exit() {
    local pid=$1 end=$((SECONDS + DEADLINE))
    while (( SECONDS < end )); do
        if ! kill -0 "$pid" 2>/dev/null; then RC=0; wait "$pid" || RC=$?; return 0; fi
        sleep 0.05
    done
    fail "process $pid did not exit"
}

# start_server NAME LOG LISTEN [ARGS...]: a server listening on LISTEN
# (tcp://127.0.0.1:0 for any port), output in $W/LOG.out and .err; sets
# PID_NAME and URL_NAME once it is ready.
start_server() {
    local name=$1 log=$2 listen=$3
    shift 3
    "${CHAT_PREFIX[@]}" "$BIN" server --name "$name" --listen "$listen" --cookie "$COOKIE" "$@" \
        >"$W/$log.out" 2>"$W/$log.err" &
    PIDS+=($!)
    printf -v "PID_$name" %s $!
    wait_for "$W/$log.out" "^server $name ready"
    printf -v "URL_$name" %s "$(sed -n "s/^server $name listening on //p" "$W/$log.out")"
}

# start_client NICK ROOM [ARGS...]: a client reading its stdin from a fifo
# (say NICK TEXT writes a line to it), output in $W/NICK.out and .err; sets
# PID_NICK and waits until it joined ROOM. ARGS give --server and the rest.
start_client() {
    local nick=$1 room=$2 fd
    shift 2
    mkfifo "$W/$nick.in"
    "${CHAT_PREFIX[@]}" "$BIN" client --nick "$nick" --room "$room" --cookie "$COOKIE" \
        --listen tcp://127.0.0.1:0 "$@" \
        <"$W/$nick.in" >"$W/$nick.out" 2>"$W/$nick.err" &
    PIDS+=($!)
    printf -v "PID_$nick" %s $!
    exec {fd}>"$W/$nick.in" # kept open: the client reads until it is closed
    printf -v "FD_$nick" %s "$fd"
    wait_for "$W/$nick.out" "you joined #${room#\#}"
}

# say NICK TEXT: one line typed by NICK.
say() { local fd="FD_$1"; printf '%s\n' "$2" >&"${!fd}"; }

# room_on ORDER...: the first room name (room0, room1, ...) whose placement
# over each server list given is the server after the colon, e.g.
# room_on A,B,C:A B,C:B (hosted on A, and on B while A is down).
room_on() {
    local i want list owner ok
    for i in $(seq 0 500); do
        ok=1
        for want in "$@"; do
            list=${want%%:*}
            owner=$("$BIN" place --servers "$list" "room$i")
            [[ $owner == "${want#*:}" ]] || { ok=0; break; }
        done
        (( ok )) && { echo "room$i"; return 0; }
    done
    fail "no room placed as $*"
}

# freeze PID: SIGSTOP, then wait until every thread of PID is stopped (the
# signal takes effect asynchronously: on a busy machine the process may run
# on for a while, handling what reaches it).
freeze() {
    local pid=$1 end=$((SECONDS + DEADLINE)) f st running
    kill -STOP "$pid"
    while (( SECONDS < end )); do
        running=0
        for f in /proc/"$pid"/task/*/stat; do
            st=$(sed 's/.*) //' "$f" 2>/dev/null | cut -d' ' -f1) || continue
            [[ -z $st || $st == T || $st == t ]] || running=1
        done
        (( running )) || return 0
        sleep 0.01
    done
    fail "process $pid did not stop within $DEADLINE s of SIGSTOP"
}
