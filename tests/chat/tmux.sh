#!/usr/bin/env bash
# What a person sees: a client in a tmux pane, typed into with send-keys,
# read back with capture-pane, while a second client (on a fifo) talks to it:
# lines arrive while the person types (the input line stays whole), the
# person's own lines come back with time and nick, history is marked.
#   usage: tmux.sh path/to/troupe-chat      exit 77 = skipped (no tmux; exit 1 under CI)
set -euo pipefail
BIN=$(realpath "${1:?usage: tmux.sh path/to/troupe-chat}")

# tmux comes from scripts/deps.sh; without it the test is skipped (exit 77),
# which is a failure under CI (tests/support/skip.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../support/skip.sh"
command -v tmux >/dev/null 2>&1 || skip "tmux test: tmux is not installed (scripts/deps.sh installs it)"

TEST=tmux
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SOCK="$W/tmux.sock"
cleanup() {
    tmux -S "$SOCK" kill-server 2>/dev/null || true
    chat_cleanup
}
trap cleanup EXIT
fail() { echo "tmux test: FAIL: $*" >&2; for s in chat chat2; do tmux -S "$SOCK" capture-pane -p -t $s >&2 2>/dev/null || true; done; exit 1; }

pane() { tmux -S "$SOCK" capture-pane -p -t chat; }
wait_pane() { # REGEX
    local end=$((SECONDS + DEADLINE))
    while (( SECONDS < end )); do pane | grep -qE -- "$1" && return 0; sleep 0.1; done
    fail "pane never showed /$1/"
}

"$BIN" server --name A --listen tcp://127.0.0.1:0 --cookie "$COOKIE" >"$W/A.out" 2>&1 &
PID_A=$!
PIDS+=($!)
wait_for "$W/A.out" "^server A ready"
URL=$(sed -n 's/^server A listening on //p' "$W/A.out")

tmux -S "$SOCK" new-session -d -s chat -x 120 -y 30 \
    "$BIN client --server $URL --nick person --room lobby --cookie $COOKIE --listen tcp://127.0.0.1:0; sleep 30"
wait_pane "you joined #lobby on server A"

mkfifo "$W/bot.in"
"$BIN" client --server "$URL" --nick bot --room lobby --cookie "$COOKIE" \
    --listen tcp://127.0.0.1:0 <"$W/bot.in" >"$W/bot.out" 2>&1 &
PID_bot=$!
PIDS+=($!)
exec {BOT}>"$W/bot.in"
wait_for "$W/bot.out" "you joined #lobby"
wait_pane "\* bot joined"

printf 'hello person, this is bot\n' >&"$BOT"
wait_pane "^\[[0-9:]{8}\] <bot> hello person, this is bot$"

tmux -S "$SOCK" send-keys -t chat "hi bot, person here" Enter
wait_for "$W/bot.out" "<person> hi bot, person here$"

# the input line stays whole while lines arrive, on its own line at the bottom
tmux -S "$SOCK" send-keys -t chat "I am typing a long sen"
wait_pane "^> I am typing a long sen$"
printf 'interrupting!\n' >&"$BOT"
wait_pane "^\[[0-9:]{8}\] <bot> interrupting!$"
pane | grep -qE "^> I am typing a long sen$" || fail "the input line was split by an arriving line"
if pane | grep -q "sen\["; then fail "an arriving line was printed into the input line"; fi
tmux -S "$SOCK" send-keys -t chat "tence" Enter
wait_for "$W/bot.out" "<person> I am typing a long sentence$"
# one's own line comes back with time and nick (the typed one is replaced)
wait_pane "^\[[0-9:]{8}\] <person> I am typing a long sentence$"
if pane | grep -qE "^> I am typing a long sentence$"; then fail "the typed line stayed beside its echo"; fi
# history is marked as such
# (bot witnesses early's line in #hist, so the room has stored it)
printf '/join #hist\n' >&"$BOT"
wait_for "$W/bot.out" "you joined #hist"
mkfifo "$W/early.in"
"$BIN" client --server "$URL" --nick early --room '#hist' --cookie "$COOKIE" \
    --listen tcp://127.0.0.1:0 <"$W/early.in" >"$W/early.out" 2>&1 {BOT}>&- &
PIDS+=($!) # (without our end of the bot's fifo: the bot must see its end of input)
exec {EARLY}>"$W/early.in"
wait_for "$W/early.out" "you joined #hist"
printf 'from-before\n' >&"$EARLY"
wait_for "$W/bot.out" "<early> from-before$"
tmux -S "$SOCK" send-keys -t chat "/join #hist" Enter
wait_pane "^\[[0-9:]{8}\] #hist \(history\) <early> from-before$"
echo "tmux test: input line kept whole, own line echoed, history marked"

tmux -S "$SOCK" send-keys -t chat "/quit" Enter
wait_for "$W/bot.out" "\* person left"

# Ctrl-C leaves like /quit (exit 0) and gives the terminal back (echo on)
tmux -S "$SOCK" new-session -d -s chat2 -x 120 -y 30 \
    "$BIN client --server $URL --nick person2 --room lobby --cookie $COOKIE --listen tcp://127.0.0.1:0; echo rc=\$?; stty -a | grep -o -- '-\\?echo ' | head -1; sleep 30"
end=$((SECONDS + DEADLINE))
until tmux -S "$SOCK" capture-pane -p -t chat2 | grep -q "you joined #lobby"; do
    (( SECONDS < end )) || fail "person2 did not join"; sleep 0.1
done
tmux -S "$SOCK" send-keys -t chat2 "half a line"
tmux -S "$SOCK" send-keys -t chat2 C-c
wait_for "$W/bot.out" "\* person2 left"
end=$((SECONDS + DEADLINE))
until tmux -S "$SOCK" capture-pane -p -t chat2 | grep -qE "^-?echo ?$"; do
    (( SECONDS < end )) || fail "the Ctrl-C'd client's terminal state never showed"; sleep 0.1
done
tmux -S "$SOCK" capture-pane -p -t chat2 | grep -q "^rc=0$" || fail "Ctrl-C: exit code not 0"
tmux -S "$SOCK" capture-pane -p -t chat2 | grep -qE "^echo ?$" || fail "Ctrl-C left the terminal without echo"
echo "tmux test: Ctrl-C left cleanly (exit 0, terminal echo back on)"

# the bot leaves on end of input and the server stops on SIGTERM, both with
# exit code 0 (so the sanitizers' exit checks cover them)
exec {BOT}>&-
wait_exit "$PID_bot"; [[ $RC == 0 ]] || fail "the bot exited $RC at end of input (want 0)"
kill -TERM "$PID_A"
wait_exit "$PID_A"; [[ $RC == 0 ]] || fail "server A exited $RC on SIGTERM (want 0)"
echo "tmux test: PASS"
