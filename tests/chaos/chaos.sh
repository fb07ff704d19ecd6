#!/usr/bin/env bash
# The chaos run: 5 nodes in network namespaces exchange numbered messages
# (sends and asks, tests/chaos/chaos_node.c) while a seeded controller kills
# (-9) and restarts nodes, stops and continues them (SIGSTOP/SIGCONT), and
# cuts links both ways or one way (iptables). Then everything heals, the
# nodes stop, and tests/chaos/account.py checks every message sent: handled
# exactly once, or its loss reported (a refused send, a failed ask, or a
# DOWN of the receiver after the send); never handled twice; per-sender order
# kept within a session; memory near its warm-up baseline. Root only.
#
#   tests/chaos/chaos.sh [SEED] [SECONDS]     (default: random seed, 100 s)
#   TROUPE_CHAOS_BIN=path/to/troupe_chaos_node (default build/default/tests/...)
#
# The same seed replays the same faults in the same order at the same
# offsets (what the machine's timing does with them can differ). Exit 0 when
# the accounting holds; it prints the seed, the faults and the table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tests/support/skip.sh
bash scripts/deps.sh python3 >/dev/null # account.py; iptables comes with the base list
SEED=${1:-$((RANDOM * 32768 + RANDOM))}
SECONDS_TOTAL=${2:-100}
BIN=$(realpath "${TROUPE_CHAOS_BIN:-build/default/tests/troupe_chaos_node}")
N=5
[[ $(id -u) == 0 ]] || skip "chaos: needs root (network namespaces, iptables)"
command -v iptables >/dev/null || skip "chaos: iptables is not installed (scripts/deps.sh installs it)"
[[ -x $BIN ]] || { echo "chaos: $BIN not built (cmake --build --preset default)"; exit 1; }

W=$(mktemp -d /tmp/troupe-chaos.XXXXXX)
TAG=tc$$
HUB=$TAG-hub
PIDS=()
ns() { echo "$TAG-n$1"; }
ip4() { echo "10.215.0.$((10 + $1))"; }

cleanup() {
    for i in $(seq 0 $((N - 1))); do
        [[ -n ${PIDS[$i]:-} ]] && { kill -CONT "${PIDS[$i]}" 2>/dev/null; kill -9 "${PIDS[$i]}" 2>/dev/null; } || true
    done
    wait 2>/dev/null || true
    for i in $(seq 0 $((N - 1))); do ip netns del "$(ns "$i")" 2>/dev/null || true; done
    ip netns del "$HUB" 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "chaos: logs kept in $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# ---- the network: a bridge in a hub namespace, one veth per node
ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
for i in $(seq 0 $((N - 1))); do
    ip netns add "$(ns "$i")"
    ip link add "$TAG-v$i" netns "$(ns "$i")" type veth peer name "v$i" netns "$HUB"
    ip -n "$HUB" link set "v$i" master br0 up
    ip -n "$(ns "$i")" addr add "$(ip4 "$i")/24" dev "$TAG-v$i"
    ip -n "$(ns "$i")" link set "$TAG-v$i" up
    ip -n "$(ns "$i")" link set lo up
done

start_node() { # i
    local i=$1 peers=()
    for j in $(seq 0 $((N - 1))); do
        [[ $j == "$i" ]] || peers+=("n$j=tcp://$(ip4 "$j"):7000")
    done
    ip netns exec "$(ns "$i")" "$BIN" "n$i" "tcp://$(ip4 "$i"):7000" "$W/n$i.log" "${peers[@]}" \
        >>"$W/n$i.out" 2>&1 &
    PIDS[$i]=$!
}
for i in $(seq 0 $((N - 1))); do start_node "$i"; done

# ---- the faults: a seeded schedule, applied at fixed offsets
RANDOM=$SEED
FAULTS=$W/faults
echo "chaos: seed $SEED, $SECONDS_TOTAL s, $N nodes (replay: tests/chaos/chaos.sh $SEED $SECONDS_TOTAL)"
log_fault() { echo "$(date +%s%3N) $*" >>"$FAULTS"; printf 'chaos: %6.1fs %s\n' "$(( $(date +%s%3N) - T0 ))e-3" "$*"; }
cut() { # from to: drop what node `from` receives from `to`
    ip netns exec "$(ns "$1")" iptables -A INPUT -s "$(ip4 "$2")" -j DROP
}
heal_all() {
    for i in $(seq 0 $((N - 1))); do ip netns exec "$(ns "$i")" iptables -F INPUT; done
}
T0=$(date +%s%3N)
END=$((T0 + SECONDS_TOTAL * 1000))
NEXT=$((T0 + 10000)) # 10 s of warm-up (memory baseline at 8 s)
declare -A UNDO      # time -> command that ends a fault
undo_at() { # MS COMMAND: COMMAND ends a fault at MS, or at the next ms free (two faults
    local t=$1    # ending in the same ms overwrote each other: a killed node never restarted)
    while [[ -n ${UNDO[$t]:-} ]]; do t=$((t + 1)); done
    UNDO[$t]=$2
}
declare -A DEAD      # nodes killed and not restarted yet
while (( $(date +%s%3N) < END )); do
    now=$(date +%s%3N)
    for t in "${!UNDO[@]}"; do
        if (( t <= now )); then eval "${UNDO[$t]}"; unset "UNDO[$t]"; fi
    done
    if (( now >= NEXT )); then
        a=$((RANDOM % N)); b=$(((a + 1 + RANDOM % (N - 1)) % N)); len=$((500 + RANDOM % 3000))
        fault=$((RANDOM % 4))
        (( fault <= 1 )) && [[ -n ${DEAD[$a]:-} ]] && fault=2 # a node waiting for its restart is only cut off
        case $fault in
        0) log_fault "kill -9 n$a, restart in ${len} ms"; kill -9 "${PIDS[$a]}" 2>/dev/null || true
           wait "${PIDS[$a]}" 2>/dev/null || true
           DEAD[$a]=1
           undo_at $((now + len)) "log_fault 'restart n$a'; unset 'DEAD[$a]'; start_node $a" ;;
        1) log_fault "SIGSTOP n$a for ${len} ms"; kill -STOP "${PIDS[$a]}" 2>/dev/null || true
           undo_at $((now + len)) "log_fault 'SIGCONT n$a'; kill -CONT ${PIDS[$a]} 2>/dev/null || true" ;;
        2) log_fault "partition n$a <-> n$b for ${len} ms"; cut "$a" "$b"; cut "$b" "$a"
           undo_at $((now + len)) "log_fault 'heal n$a <-> n$b'; ip netns exec $(ns "$a") iptables -D INPUT -s $(ip4 "$b") -j DROP; ip netns exec $(ns "$b") iptables -D INPUT -s $(ip4 "$a") -j DROP" ;;
        3) log_fault "one-way: n$a hears nothing from n$b for ${len} ms"; cut "$a" "$b"
           undo_at $((now + len)) "log_fault 'heal n$b -> n$a'; ip netns exec $(ns "$a") iptables -D INPUT -s $(ip4 "$b") -j DROP" ;;
        esac
        NEXT=$((now + 1000 + RANDOM % 3000))
    fi
    sleep 0.05
done

# ---- heal, let the last DOWNs fire and in-flight messages land, stop
for t in "${!UNDO[@]}"; do eval "${UNDO[$t]}"; done
heal_all
for i in $(seq 0 $((N - 1))); do kill -CONT "${PIDS[$i]}" 2>/dev/null || true; done
log_fault "all healed"
sleep 5 # a node's down_after is 1 s: every DOWN that is owed has fired by now
bad=0
for i in $(seq 0 $((N - 1))); do kill -TERM "${PIDS[$i]}"; done
for i in $(seq 0 $((N - 1))); do
    rc=0; wait "${PIDS[$i]}" || rc=$?
    if [[ $rc != 0 ]]; then echo "chaos: FAIL: n$i exited $rc at the end"; tail -5 "$W/n$i.out"; bad=1; fi
    PIDS[$i]=""
done
for i in $(seq 0 $((N - 1))); do
    if grep -q "Segmentation\|ERROR\|Sanitizer" "$W/n$i.out" 2>/dev/null; then
        echo "chaos: FAIL: n$i reported:"; grep -m5 "Segmentation\|ERROR\|Sanitizer" "$W/n$i.out"; bad=1
    fi
done
python3 tests/chaos/account.py "$W" "$N" || bad=1
echo "chaos: seed $SEED: $([[ $bad == 0 ]] && echo PASS || echo FAIL)"
exit $bad
