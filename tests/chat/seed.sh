#!/usr/bin/env bash
# A DNS seed: one name for every server, for clients and for servers.
# Inside a network namespace whose
# /etc/hosts (ip netns exec mounts /etc/netns/NAME/hosts over it) maps
# chat-seed.test to 127.0.0.1 and 127.0.0.2, server A listens on the first
# address and B on the second (same port), B's --peer being that name; a
# client names only
# --server tcp://chat-seed.test:PORT. It logs in through one of them; kill -9
# of that one: it reconnects through the other, found through the name.
#   usage: seed.sh path/to/troupe-chat     (needs root for the namespace;
#   exit 77 = skipped, a failure under CI)
set -euo pipefail
TEST=seed
BIN=$(realpath "${1:?usage: seed.sh path/to/troupe-chat}")
source "$(dirname "${BASH_SOURCE[0]}")/../support/skip.sh"
command -v ip >/dev/null 2>&1 || skip "seed test: the ip command (iproute2) is not installed"
NS=troupe-chat-seed-$$
ip netns add "$NS" 2>/dev/null || skip "seed test: cannot create a network namespace (needs root)"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() {
    chat_cleanup_procs
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "/etc/netns/$NS"
    chat_cleanup_dir
}
trap cleanup EXIT
mkdir -p "/etc/netns/$NS"
printf '127.0.0.1 chat-seed.test\n127.0.0.2 chat-seed.test\n' >"/etc/netns/$NS/hosts"
ip netns exec "$NS" ip link set lo up
IN_NS=(ip netns exec "$NS")
R=$(room_on A,B:B)
CHAT_PREFIX=("${IN_NS[@]}")
# A takes a free port on 127.0.0.1; B listens on the same port of 127.0.0.2
start_server A A tcp://127.0.0.1:0
PORT=${URL_A##*:}
# B names its peers by the same name (which also stands for B itself)
start_server B B "tcp://127.0.0.2:$PORT" --peer "tcp://chat-seed.test:$PORT"
wait_for "$W/B.out" "^server B: seed tcp://chat-seed.test:$PORT \(2 addresses"
wait_for "$W/B.out" "^server B: peer A is up"
wait_for "$W/A.out" "^server A: peer B is up"
start_client alice "$R" --server "tcp://chat-seed.test:$PORT"
start_client bob "$R" --server "$URL_B"
first=$(sed -n 's/.*connected to server \([AB]\) as alice.*/\1/p' "$W/alice.out")
[[ $first == A || $first == B ]] || fail "alice did not say which server she reached"
other=B; [[ $first == B ]] && other=A
echo "$TEST: alice reached server $first through chat-seed.test"
pid="PID_$first"
kill -9 "${!pid}"
wait_for "$W/alice.out" "reconnected through server $other as alice \(after losing server $first\)"
if [[ $first == B ]]; then
    # bob's server died too: alice is alone; her room moved to A
    wait_for "$W/alice.out" "you are back in #$R on server A"
else
    wait_for "$W/alice.out" "you are back in #$R on server B"
    say alice "through-the-seed"
    wait_for "$W/bob.out" "<alice> through-the-seed\$"
fi
echo "$TEST: server $first killed: alice found server $other through the same name"
echo "$TEST: PASS"
