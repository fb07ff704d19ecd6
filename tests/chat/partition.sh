#!/usr/bin/env bash
# A network partition (iptables) and its healing: servers A, B and C, each
# in its own network namespace on one bridge; a room R hosted on A (C takes
# it when it is alone); alice through A, bob through B, carol through C,
# each client in its server's namespace.
# 1. all three talk in R on A
# 2. C is cut off from A and B (both ways): each side counts the other down;
#    carol's session moves R to C (a stand-in), alice and bob stay on A; each
#    side talks, lines are confirmed on both sides
# 3. the partition heals: the servers re-merge, carol follows R back to A
#    (one copy: /who shows all three), the lines said on C during the
#    partition reach alice and bob once, and carol sees the lines said on A
#    once (live or as history)
#   usage: partition.sh path/to/troupe-chat   (needs root, ip and iptables;
#   exit 77 = skipped, a failure under CI)
set -euo pipefail
TEST=partition
BIN=$(realpath "${1:?usage: partition.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/../support/skip.sh"
[[ $(id -u) == 0 ]] || skip "partition test: needs root (network namespaces, iptables)"
command -v ip >/dev/null 2>&1 || skip "partition test: the ip command (iproute2) is not installed"
command -v iptables >/dev/null 2>&1 || skip "partition test: iptables is not installed (scripts/deps.sh installs it)"
TAG=trcp$$
HUB=$TAG-hub
ns() { echo "$TAG-$1"; }
ip netns add "$HUB" 2>/dev/null || skip "partition test: cannot create a network namespace"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
    chat_cleanup_procs
    for s in A B C; do ip netns del "$(ns $s)" 2>/dev/null || true; done
    ip netns del "$HUB" 2>/dev/null || true
    chat_cleanup_dir
}
trap cleanup EXIT

declare -A ADDR=([A]=10.79.0.1 [B]=10.79.0.2 [C]=10.79.0.3)
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
i=0
for s in A B C; do
    ip netns add "$(ns $s)"
    ip link add "$TAG$s" netns "$(ns $s)" type veth peer name "v$s" netns "$HUB"
    ip -n "$HUB" link set "v$s" master br0 up
    ip -n "$(ns $s)" addr add "${ADDR[$s]}/24" dev "$TAG$s"
    ip -n "$(ns $s)" link set "$TAG$s" up
    ip -n "$(ns $s)" link set lo up
done
in_ns() { CHAT_PREFIX=(ip netns exec "$(ns "$1")"); }
# cut X Y: X drops what it receives from Y
cut() { ip netns exec "$(ns "$1")" iptables -A INPUT -s "${ADDR[$2]}" -j DROP; }
heal() { for s in A B C; do ip netns exec "$(ns $s)" iptables -F INPUT; done; }

# said_once FILE PATTERN: exactly one line of FILE matches
said_once() {
    wait_for "$1" "$2"
    [[ $(grep -cE -- "$2" "$1") == 1 ]] || fail "$(basename "$1"): more than one /$2/"
}

R=$(room_on A,B,C:A C:C)
in_ns A; start_server A A "tcp://${ADDR[A]}:7000"
in_ns B; start_server B B "tcp://${ADDR[B]}:7000" --peer "$URL_A"
in_ns C; start_server C C "tcp://${ADDR[C]}:7000" --peer "$URL_A" --peer "$URL_B"
wait_for "$W/C.out" "^server C: peer A is up"
wait_for "$W/C.out" "^server C: peer B is up"
in_ns A; start_client alice "$R" --server "$URL_A"
in_ns B; start_client bob "$R" --server "$URL_B"
in_ns C; start_client carol "$R" --server "$URL_C" --reconnect 120
for who in alice bob carol; do
    grep -q "you joined #$R on server A" "$W/$who.out" || fail "$who: #$R is not on A"
done
wait_for "$W/alice.out" "\* carol joined"
say carol "before"
said_once "$W/alice.out" "<carol> before\$"
said_once "$W/bob.out" "<carol> before\$"
echo "$TEST: alice (A), bob (B) and carol (C) talk in #$R on A"

# ---- 2. C is cut off from A and B
cut C A; cut C B; cut A C; cut B C
wait_for "$W/A.out" "^server A: peer C is down"
wait_for "$W/B.out" "^server B: peer C is down"
wait_for "$W/C.out" "^server C: peer A is down"
wait_for "$W/C.out" "^server C: peer B is down"
wait_for "$W/carol.out" "#$R.*(now runs on|moves to) server C"
wait_for "$W/carol.out" "you are back in #$R on server C"
wait_for "$W/alice.out" "\* carol left"
say alice "during-on-A"
say carol "during-on-C"
said_once "$W/bob.out" "<alice> during-on-A\$"
# nothing crosses the partition
say bob "/who"
wait_for "$W/bob.out" "\] - #$R on server A, 2 here: "
grep -q "<carol> during-on-C" "$W/alice.out" "$W/bob.out" && fail "a line crossed the partition"
echo "$TEST: C cut off: #$R runs on A (alice, bob) and on C (carol); each side talks"

# ---- 3. the partition heals
heal
wait_for "$W/A.out" "^server A: peer C is up" 2
wait_for "$W/C.out" "^server C: peer A is up" 2
wait_for "$W/carol.out" "#$R moves to server A \(the servers up changed: it hosts the room now\)"
wait_for "$W/carol.out" "you are back in #$R on server A"
said_once "$W/alice.out" "<carol> during-on-C\$"
said_once "$W/bob.out" "<carol> during-on-C\$"
# (live, when C's copy got A's lines before carol moved; else as history)
said_once "$W/carol.out" "\] (\(history\) )?<alice> during-on-A\$"
say bob "/who"
wait_for "$W/bob.out" "\] - #$R on server A, 3 here: "
say carol "after"
said_once "$W/alice.out" "<carol> after\$"
said_once "$W/bob.out" "<carol> after\$"
say alice "welcome-back"
said_once "$W/carol.out" "<alice> welcome-back\$"
for who in alice bob carol; do
    grep -q "not delivered" "$W/$who.err" && fail "$who was told a line was not delivered"
done
echo "$TEST: healed: one #$R on A with all three; the lines of both sides reached everyone once"
echo "$TEST: PASS"
