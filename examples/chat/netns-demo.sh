#!/usr/bin/env bash
# The multi-machine layout of README.md on one machine, with network
# namespaces standing in for machines:
#   troupe-a  10.77.0.1  server A
#   troupe-b  10.77.0.2  server B   (--peer A)
#   troupe-c  10.77.0.3  the bots: ada through A, bob through B
# joined by a bridge inside a fourth namespace (troupe-br), so nothing is
# added to the host's own network. Everything is removed on exit.
#   usage (as root): examples/chat/netns-demo.sh [path/to/troupe-chat]
# Prints "skipped" and exits 0 when namespaces cannot be created here.
set -euo pipefail
BIN=$(realpath "${1:-$(dirname "$0")/../../build/default/examples/chat/troupe-chat}")
NS=(troupe-a troupe-b troupe-c)
IPS=(10.77.0.1 10.77.0.2 10.77.0.3)
BR=troupe-br
COOKIE=netns-demo
W=$(mktemp -d /tmp/troupe-chat-netns.XXXXXX)
PIDS=()

[[ -x $BIN ]] || { echo "netns-demo: build troupe-chat first ($BIN not found)" >&2; exit 1; }

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "${NS[@]}" "$BR"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$W"
}

if ! command -v ip >/dev/null 2>&1 || ! ip netns add "$BR" 2>/dev/null; then
    echo "netns-demo: skipped (creating network namespaces is not permitted here; run as root)"
    exit 0
fi
trap cleanup EXIT

ip -n "$BR" link add br0 type bridge
ip -n "$BR" link set br0 up
for i in 0 1 2; do
    ns=${NS[$i]}
    ip netns add "$ns"
    # the veth pair is created inside the bridge namespace: the host never sees it
    ip -n "$BR" link add "v$i" type veth peer name eth0 netns "$ns"
    ip -n "$BR" link set "v$i" master br0 up
    ip -n "$ns" addr add "${IPS[$i]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done

wait_for() { # FILE REGEX
    local end=$((SECONDS + 20))
    while (( SECONDS < end )); do grep -qE -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "netns-demo: timeout waiting for /$2/ in $1" >&2; cat "$1" >&2; exit 1
}

echo "# machine A (10.77.0.1):"
echo "  troupe-chat server --name A --listen tcp://10.77.0.1:7000 --cookie $COOKIE"
ip netns exec troupe-a "$BIN" server --name A --listen tcp://10.77.0.1:7000 --cookie "$COOKIE" \
    >"$W/A.out" 2>&1 &
PIDS+=($!)
wait_for "$W/A.out" "^server A ready"

echo "# machine B (10.77.0.2):"
echo "  troupe-chat server --name B --listen tcp://10.77.0.2:7000 --peer tcp://10.77.0.1:7000 --cookie $COOKIE"
ip netns exec troupe-b "$BIN" server --name B --listen tcp://10.77.0.2:7000 \
    --peer tcp://10.77.0.1:7000 --cookie "$COOKIE" >"$W/B.out" 2>&1 &
PIDS+=($!)
wait_for "$W/B.out" "^server B ready"

echo "# machine C (10.77.0.3): two bots, one through each server (they only dial: no --listen)"
echo "  troupe-chat bots --server tcp://10.77.0.1:7000 --server tcp://10.77.0.2:7000 --cookie $COOKIE"
ip netns exec troupe-c "$BIN" bots --server tcp://10.77.0.1:7000 --server tcp://10.77.0.2:7000 \
    --cookie "$COOKIE" --room demo
echo "netns-demo: done"
