#!/usr/bin/env bash
# Run each example of the default build under valgrind memcheck; any error or leak fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/chat-ready.sh

EXAMPLES=(pingpong fanout echo bank crawler restart_state)
BUILD=build/default

bash scripts/deps.sh
# Configure once, then let the build tool decide what is out of date.
[[ -f "$BUILD/CMakeCache.txt" ]] || cmake --preset default
cmake --build --preset default -j "${TROUPE_JOBS:-2}" --target "${EXAMPLES[@]}" nodes troupe-chat

VALGRIND=(valgrind --suppressions=scripts/valgrind-nng.supp --leak-check=full
          --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 -q)
passed=0
for ex in "${EXAMPLES[@]}"; do
  bin="$BUILD/examples/$ex"
  [[ -x "$bin" ]] || { echo "valgrind: $bin missing" >&2; exit 1; }
  echo "=== valgrind $ex"
  if ! timeout 900 "${VALGRIND[@]}" "$bin"; then
    echo "valgrind: $ex FAILED"
    echo "FAILED: $passed passed, 1 failed"
    exit 1
  fi
  passed=$((passed + 1))
done

# The two-node example: node a under valgrind (node b is killed by it with
# SIGKILL: nothing of it to check at exit).
echo "=== valgrind nodes (node a)"
if ! timeout 600 bash examples/nodes/run.sh "$BUILD/examples/nodes" "${VALGRIND[@]}"; then
  echo "valgrind: nodes FAILED"
  echo "FAILED: $passed passed, 1 failed"
  exit 1
fi
passed=$((passed + 1))

# The chat example: two servers and the bots, every process under valgrind;
# the servers are stopped with SIGTERM (their clean shutdown path).
chat_under_valgrind() {
  local chat="$BUILD/examples/chat/troupe-chat" w pa pb rc=0
  w=$(mktemp -d /tmp/troupe-vg.XXXXXX)
  wait_ready() { chat_wait_ready "$1" "$2" 60 "valgrind: chat"; } # FILE NAME
  "${VALGRIND[@]}" "$chat" server --name A --listen tcp://127.0.0.1:0 --cookie vg >"$w/A.out" 2>&1 &
  pa=$!
  wait_ready "$w/A.out" A || rc=1
  local url_a; url_a=$(sed -n 's/^server A listening on //p' "$w/A.out")
  "${VALGRIND[@]}" "$chat" server --name B --listen tcp://127.0.0.1:0 --peer "$url_a" --cookie vg >"$w/B.out" 2>&1 &
  pb=$!
  wait_ready "$w/B.out" B || rc=1
  local url_b; url_b=$(sed -n 's/^server B listening on //p' "$w/B.out")
  if (( rc == 0 )); then
    timeout 300 "${VALGRIND[@]}" "$chat" bots --server "$url_a" --server "$url_b" \
      --cookie vg --room vg --delay-ms 10 >"$w/bots.out" 2>&1 || rc=1
  fi
  kill -TERM "$pa" "$pb" 2>/dev/null || true
  wait "$pa" || rc=1
  wait "$pb" || rc=1
  if (( rc != 0 )); then cat "$w"/*.out >&2; fi
  rm -rf "$w"
  return "$rc"
}
echo "=== valgrind chat (servers A and B, bots)"
if ! chat_under_valgrind; then
  echo "valgrind: chat FAILED"
  echo "FAILED: $passed passed, 1 failed"
  exit 1
fi
passed=$((passed + 1))
echo "valgrind: $passed passed, 0 failed"
