#!/usr/bin/env bash
# The chat's browser client in a real browser: server A serves the page and
# its WebSocket (--web), server B peers with A; tests/browser/chat.mjs drives
# Debian's headless chromium (playwright-core from npm, no browser download)
# as user "web" on A, and a terminal client "term" on B: lines both ways, a
# private line, /me, /who, an unknown command.
#
#   scripts/chat-browser-test.sh [SCREENSHOT.png]   (default build/logs/chat-web.png;
#                                                    docs/chat-web.png refreshes the README's)
#   TROUPE_CHAT=build/tsan/examples/chat/troupe-chat scripts/chat-browser-test.sh
#                                                   (another build, e.g. under TSan)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/browser-prepare.sh
browser_prepare build/logs/chat-web.png "$@" # sets SHOT and CHAT

W=$(mktemp -d /tmp/troupe-chat-web.XXXXXX)
PIDS=()
cleanup() {
    [[ ${#PIDS[@]} -gt 0 ]] && kill "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "chat-browser: FAILED: $1"; for f in "$W"/*.out; do echo "--- $f"; cat "$f"; done; exit 1; }

"$CHAT" server --name A --listen tcp://127.0.0.1:0 --cookie web --web http://127.0.0.1:0 >"$W/A.out" 2>&1 &
PIDS+=($!)
chat_wait_ready "$W/A.out" A 30 chat-browser || fail "server A did not start"
URL_A=$(sed -n 's/^server A listening on //p' "$W/A.out")
PAGE=$(sed -n 's/^server A web client on //p' "$W/A.out")
[[ -n "$PAGE" ]] || fail "server A printed no web client address"
"$CHAT" server --name B --listen tcp://127.0.0.1:0 --peer "$URL_A" --cookie web >"$W/B.out" 2>&1 &
PIDS+=($!)
chat_wait_ready "$W/B.out" B 30 chat-browser || fail "server B did not start"
URL_B=$(sed -n 's/^server B listening on //p' "$W/B.out")
grep -q "^server B: peer A" "$W/B.out" || fail "B did not peer with A"

echo "=== chat-browser: chromium at $PAGE, a terminal client on B"
node tests/browser/chat.mjs "$PAGE" "$CHAT" "$URL_B" web "$SHOT" || fail "the browser checks failed"
