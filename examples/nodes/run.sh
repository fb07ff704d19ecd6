#!/usr/bin/env bash
# Runs examples/nodes as its two processes: node b (the echo server) in the
# background, node a (1000 calls, kill -9 of b, the DOWN) in the foreground.
# Succeeds when a exits 0 having printed the DOWN with "node down"
# (TR_ENODEDOWN) and b died of SIGKILL. The test suite runs it (ctest
# example_nodes) and so does scripts/valgrind-examples.sh, with node a
# under valgrind. Usage (from the repository root):
#     bash examples/nodes/run.sh [NODES_PROGRAM [WRAPPER...]]
# e.g. bash examples/nodes/run.sh build/default/examples/nodes valgrind -q
set -euo pipefail
bin=${1:-build/default/examples/nodes}
shift || true
dir=$(mktemp -d /tmp/troupe-nodes.XXXXXX)
b_pid=""
cleanup() {
  if [[ -n "$b_pid" ]]; then kill -9 "$b_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
url="ipc://$dir/b"
# 30 heartbeat periods of silence before a peer is down: a node slowed down
# by a sanitizer or valgrind on a loaded machine is not taken for dead
opts=(--cookie nodes-example --heartbeat-ms 100 --down-after-ms 3000)

"$bin" --node b "${opts[@]}" --listen "$url" >"$dir/b.out" 2>&1 &
b_pid=$!
rc=0
"$@" "$bin" --node a "${opts[@]}" --connect "$url" "$b_pid" >"$dir/a.out" 2>&1 || rc=$?
if (( rc != 0 )); then kill -9 "$b_pid" 2>/dev/null || true; fi # a failed before killing it
b_rc=0
wait "$b_pid" 2>/dev/null || b_rc=$? # bash would print "Killed"
b_pid=""
cat "$dir/a.out"
fail() {
  echo "nodes: FAILED: $*" >&2
  echo "--- node b's output:" >&2
  cat "$dir/b.out" >&2
  exit 1
}
(( rc == 0 )) || fail "node a exited with $rc"
grep -q '^down: node down' "$dir/a.out" || fail "node a did not print the DOWN with TR_ENODEDOWN"
(( b_rc == 128 + 9 )) || fail "node b exited with $b_rc, not killed by SIGKILL"
echo "nodes: OK (node b killed by SIGKILL, node a got the DOWN)"
