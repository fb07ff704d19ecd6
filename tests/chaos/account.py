#!/usr/bin/env python3
"""The chaos run's accounting (tests/chaos/chaos.sh): every message sent is
handled exactly once, or its loss was reported; never handled twice; the
sends of one sender session reach one receiver session in order; memory at
the end near the warm-up baseline.

A loss is reported by the call (an error), or by the DOWN of the monitor
the send was made under (chaos_node.c holds one on every peer it sends to
and renews it after each DOWN), logged no earlier than the call started.
A DOWN of any other monitor does not cover a send: a monitor fires once,
and a send made after its DOWN (the link healed) needs a new one.

   account.py LOGDIR NODES     (reads LOGDIR/n<i>.log, chaos_node.c's format)
"""
import collections
import sys

logdir, n = sys.argv[1], int(sys.argv[2])

sends = {}                          # (from session, seq) -> (from, to, kind, rc, start ms, monitor)
handled = collections.Counter()     # (from session, seq) -> times handled
order = collections.defaultdict(list)  # (receiver session, from session) -> post seqs in handling order
downs = {}                          # (sender session, monitor) -> ms of its DOWN
ended = set()                       # sessions that stopped cleanly
killed = set()                      # sessions that never logged E
memory = {}                         # node -> (base, end) of its last session
sessions = collections.defaultdict(list)

for i in range(n):
    node, session = f"n{i}", None
    base = end = None
    try:
        lines = open(f"{logdir}/{node}.log").read().splitlines()
    except FileNotFoundError:
        print(f"account: {node} wrote no log")
        sys.exit(1)
    for line in lines:
        f = line.split()
        if len(f) < 2:
            continue  # a line cut by kill -9
        kind, ms = f[0], int(f[1])
        try:
            if kind == "B":
                session = f[2]
                sessions[node].append(session)
                base = end = None
            elif kind == "S":
                sends[(session, int(f[3]))] = (node, f[2], int(f[4]), int(f[5]), int(f[6]), int(f[7]))
            elif kind == "H":
                key = (f[3], int(f[4]))
                handled[key] += 1
                if f[5] == "0":
                    order[(session, f[3])].append(int(f[4]))
            elif kind == "D":
                downs.setdefault((session, int(f[4])), ms)
            elif kind == "M":
                if f[2] == "base":
                    base = int(f[3])
                else:
                    end = int(f[3])
                    memory[node] = (base, end)
            elif kind == "E":
                ended.add(session)
        except (IndexError, ValueError):
            continue  # a line cut by kill -9
    for s in sessions[node]:
        if s not in ended:
            killed.add(s)

rows = collections.Counter()
failures = []
for key, (frm, to, kind, rc, ms, monitor) in sends.items():
    times = handled.get(key, 0)
    what = "ask" if kind else "send"
    if times > 1:
        rows[f"{what}: handled {times} times"] += 1
        failures.append(f"{frm} {what} #{key[1]} to {to} handled {times} times")
    elif rc == 0 and times == 1:
        rows[f"{what}: handled once"] += 1
    elif rc == 0 and kind == 1:
        rows["ask: answered, never handled"] += 1
        failures.append(f"{frm} ask #{key[1]} to {to}: answered but never handled")
    elif rc != 0:
        rows[f"{what}: loss reported by the call (rc {rc})" + (", handled once" if times else "")] += 1
    elif downs.get((key[0], monitor), -1) >= ms:
        rows["send: lost, reported by the DOWN of its monitor"] += 1
    elif key[0] in killed:
        rows["send: lost with its sender (kill -9)"] += 1
    else:
        rows["send: LOST SILENTLY"] += 1
        down = downs.get((key[0], monitor))
        failures.append(f"{frm} send #{key[1]} to {to} at {ms} under monitor {monitor}: never handled, "
                        f"no loss reported (its DOWN: {'none' if down is None else down})")

# a message handled without a send record: its sender was killed before logging it
unsent = sum(1 for k in handled if k not in sends)

disorder = 0
for (rs, fs), seqs in order.items():
    disorder += sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
if disorder:
    failures.append(f"{disorder} posts handled out of their sender's order")

print(f"{'outcome':<58} {'messages':>9}")
for k in sorted(rows):
    print(f"{k:<58} {rows[k]:>9}")
print(f"{'handled, send not logged (sender killed mid-write)':<58} {unsent:>9}")
print(f"sessions: {sum(len(v) for v in sessions.values())} ({len(killed)} killed); "
      f"out-of-order posts: {disorder}")
for node in sorted(memory):
    base, end = memory[node]
    if base is None:
        print(f"memory {node}: end {end} kB (its last session had no warm-up baseline)")
        continue
    ok = end <= base * 2 + 16384
    print(f"memory {node}: baseline {base} kB, end {end} kB{'' if ok else '  TOO HIGH'}")
    if not ok:
        failures.append(f"{node}: memory {end} kB at the end, baseline {base} kB")
for f in failures[:20]:
    print("account: FAIL:", f)
if len(failures) > 20:
    print(f"account: ... {len(failures) - 20} more")
sys.exit(1 if failures else 0)
