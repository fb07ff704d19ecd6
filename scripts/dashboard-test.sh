#!/usr/bin/env bash
# The dashboard in a real browser: starts two troupe-chat servers (A with
# --http, B peered with A), keeps the chat bots talking through both, and
# drives Debian's headless chromium at A's dashboard
# (tests/browser/dashboard.mjs, playwright-core from npm, no browser
# download): the tree and the figures must appear and change, and a client
# the driver starts and ends on A must show in the tree and the event log.
#
#   scripts/dashboard-test.sh [SCREENSHOT.png]   (default build/logs/dashboard.png;
#                                                 docs/dashboard.png refreshes the README's)
#   TROUPE_CHAT=build/tsan/examples/chat/troupe-chat scripts/dashboard-test.sh
#                                                (another build, e.g. under TSan)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/browser-prepare.sh
browser_prepare build/logs/dashboard.png "$@" # sets SHOT and CHAT

W=$(mktemp -d /tmp/troupe-dashboard.XXXXXX)
PIDS=()
cleanup() {
    touch "$W/stop"                         # ends the bots loop after its current run
    [[ -n "${BOTS_LOOP:-}" ]] && wait "$BOTS_LOOP" 2>/dev/null || true
    [[ ${#PIDS[@]} -gt 0 ]] && kill "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "dashboard: FAILED: $1"; for f in "$W"/*.out; do echo "--- $f"; cat "$f"; done; echo "dashboard: 0 passed, 1 failed"; exit 1; }

"$CHAT" server --name A --listen tcp://127.0.0.1:0 --cookie dash --http http://127.0.0.1:0 >"$W/A.out" 2>&1 &
PIDS+=($!)
chat_wait_ready "$W/A.out" A 30 dashboard || fail "server A did not start"
URL_A=$(sed -n 's/^server A listening on //p' "$W/A.out")
HTTP_A=$(sed -n 's/^server A dashboard on \([^ ]*\)\/ .*/\1/p' "$W/A.out")
[[ -n "$HTTP_A" ]] || fail "server A printed no dashboard address"
"$CHAT" server --name B --listen tcp://127.0.0.1:0 --peer "$URL_A" --cookie dash >"$W/B.out" 2>&1 &
PIDS+=($!)
chat_wait_ready "$W/B.out" B 30 dashboard || fail "server B did not start"
URL_B=$(sed -n 's/^server B listening on //p' "$W/B.out")

# The bots, again and again until the browser is done (timeouts: a hang
# fails the test instead of stalling it).
(
    while [[ ! -e "$W/stop" ]]; do
        timeout 120 "$CHAT" bots --server "$URL_A" --server "$URL_B" --cookie dash --room demo \
            --delay-ms 150 >>"$W/bots.out" 2>&1 || true
    done
) &
BOTS_LOOP=$!

echo "=== dashboard: chromium at $HTTP_A/"
timeout 600 node tests/browser/dashboard.mjs "$HTTP_A/" "$CHAT" "$URL_A" dash "$SHOT" || fail "the browser checks failed"
