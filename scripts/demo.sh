#!/usr/bin/env bash
# Build the default preset and run the demo: a live chat between two bots
# joined through two server nodes (examples/chat), when the troupe-chat
# program is built (it needs net/, issue 4); the ping-pong and fan-out
# examples otherwise, and always with TROUPE_DEMO=classic.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/chat-ready.sh

bash scripts/deps.sh
cmake --preset default
cmake --build --preset default -j "${TROUPE_JOBS:-2}"

CHAT=build/default/examples/chat/troupe-chat
if [[ -x $CHAT && ${TROUPE_DEMO:-chat} == chat ]]; then
    echo "=== chat: servers A and B on loopback, bots ada (via A) and bob (via B)"
    W=$(mktemp -d /tmp/troupe-demo.XXXXXX)
    PIDS=()
    trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"' EXIT
    wait_ready() { chat_wait_ready "$1" "$2" 20 demo || exit 1; } # FILE NAME
    "$CHAT" server --name A --listen tcp://127.0.0.1:0 --cookie demo >"$W/A.out" 2>&1 &
    PIDS+=($!)
    wait_ready "$W/A.out" A
    URL_A=$(sed -n 's/^server A listening on //p' "$W/A.out")
    "$CHAT" server --name B --listen tcp://127.0.0.1:0 --peer "$URL_A" --cookie demo >"$W/B.out" 2>&1 &
    PIDS+=($!)
    wait_ready "$W/B.out" B
    URL_B=$(sed -n 's/^server B listening on //p' "$W/B.out")
    "$CHAT" bots --server "$URL_A" --server "$URL_B" --cookie demo --room demo
    exit 0
fi

for ex in pingpong fanout echo; do
  echo "=== $ex"
  "build/default/examples/$ex"
done
