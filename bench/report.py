#!/usr/bin/env python3
"""Summarises the raw CSV written by bench/run.sh into results.csv, chart.png
and a markdown report (docs/benchmarks.md for a full run). Standard library
only; the chart is drawn with gnuplot when it is installed.

The hand-written parts of the report (how each peer was tuned, reading the
results) live in bench/tuning.md and bench/analysis.md and are copied in."""
import argparse
import csv
import datetime
import os
import platform
import shutil
import statistics
import subprocess

SYSTEMS = ["troupe", "caf", "erlang", "tokio", "go"]
PEERS = SYSTEMS[1:]
NAMES = {"troupe": "Troupe", "caf": "CAF", "erlang": "Erlang", "tokio": "Tokio", "go": "Go"}
ORDER = ["pingpong", "counting", "threadring", "chameneos", "fjthrput", "big", "skynet",
         "fjcreate", "spawn", "spawnmsg", "cancel", "idle", "mem"]
WHAT = {
    "pingpong": "PingPong: 2 actors, N round trips; the ping values are summed and every "
                "echo compared with the ping",
    "counting": "Counting: N increments to one counter actor, then a get",
    "threadring": "ThreadRing: 100 actors in a ring, a token passed N hops",
    "chameneos": "Chameneos: 100 chameneos, a mall, N meetings (sum of meetings checked)",
    "fjthrput": "Fork-Join throughput: 60 actors x N messages carrying the round number "
                "(sums checked)",
    "fjcreate": "Fork-Join create: N actors, one message each",
    "big": "Big: 120 actors x N pings to random peers, each answered (pings counted in "
           "each actor's state)",
    "skynet": "SkyNet: 1,111,111 actors (N leaves), 10 children per node, sum checked",
    "spawn": "Spawn+complete: N actors, each runs (adds its index to a sum) and ends",
    "spawnmsg": "Spawn, one message, reply: a driver spawns N actors, sends each its index, "
                "each replies with it and ends; the replies are summed",
    "cancel": "Cancel a 1->100->100->100 tree (N actors): from the stop of the root until "
              "every actor has ended; nothing may end before it",
    "idle": "Idle: 10,000 idle actors, CPU ms the process uses over the window",
    "mem": "Memory: N idle actors alive at once; resident memory growth (VmRSS) per actor",
}
# goal per row (ratio of the best peer's median to Troupe's)
KIND = {b: ("message", 3.0) for b in ["pingpong", "counting", "threadring", "chameneos",
                                      "fjthrput", "big"]}
KIND.update({b: ("spawn", 10.0) for b in ["skynet", "fjcreate", "spawn", "spawnmsg"]})
KIND["cancel"] = ("cancel", 10.0)
MEM_GOAL = 200.0  # bytes per idle actor at 10M


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except Exception:
        return ""


def fnum(x, digits=1):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits + 1}f}"


def load(raw):
    rows = {}
    with open(raw, newline="") as f:
        for r in csv.DictReader(f):
            key = (r["bench"], r["scale"], r["system"])
            e = rows.setdefault(key, {"ms": [], "size": "", "fails": 0, "skips": [],
                                      "metrics": {}})
            st = r["status"]
            if st == "unavailable" or st.startswith("skipped"):
                e["skips"].append(st)
                continue
            for kv in filter(None, (r["metrics"] or "").split(";")):
                k, v = kv.split("=", 1)
                e["metrics"].setdefault(k, []).append(float(v))
            if st != "ok":
                e["fails"] += 1
                continue
            e["ms"].append(float(r["ms"]))
            e["size"] = r["size"]
    return rows


def summarise(rows):
    out = {}
    for key, e in rows.items():
        ms = e["ms"]
        out[key] = {
            "size": e["size"],
            "runs": len(ms) + e["fails"],
            "ok": len(ms),
            "skip": e["skips"][0] if e["skips"] and not ms and not e["fails"] else None,
            "median": statistics.median(ms) if ms else None,
            "min": min(ms) if ms else None,
            "max": max(ms) if ms else None,
            "metrics": {k: statistics.median(v) for k, v in e["metrics"].items()},
        }
    return out


def value(s, bench, scale, system):
    """The figure compared: wall ms, or bytes per actor for mem."""
    e = s.get((bench, scale, system))
    if not e or e["median"] is None:
        return None
    if bench == "mem":
        return e["metrics"].get("bytes_per_actor")
    return e["median"]


def ratio(s, bench, scale, system):
    t, o = value(s, bench, scale, "troupe"), value(s, bench, scale, system)
    if not t or o is None:
        return None
    return o / t


def best_peer(s, bench, scale):
    cands = [(value(s, bench, scale, p), p) for p in PEERS]
    cands = [(v, p) for v, p in cands if v is not None]
    return min(cands) if cands else (None, None)


def keys_in_order(s):
    return sorted({(b, sc) for (b, sc, _) in s},
                  key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99,
                                 float(k[1].rstrip("x"))))


def write_csv(s, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bench", "scale", "size", "system", "runs", "ok_runs", "median_ms", "min_ms",
                    "max_ms", "ratio_vs_troupe", "metrics_median"])
        for b, sc in keys_in_order(s):
            for sysname in SYSTEMS:
                e = s.get((b, sc, sysname))
                if not e:
                    continue
                r = ratio(s, b, sc, sysname)
                w.writerow([b, sc, e["size"], sysname, e["runs"], e["ok"],
                            "" if e["median"] is None else f"{e['median']:.3f}",
                            "" if e["min"] is None else f"{e['min']:.3f}",
                            "" if e["max"] is None else f"{e['max']:.3f}",
                            "" if r is None else f"{r:.3f}",
                            ";".join(f"{k}={v:.3f}" for k, v in sorted(e["metrics"].items()))])


def chart(s, outdir, tag):
    png = os.path.join(outdir, f"{tag}chart.png")
    dat = os.path.join(outdir, f"{tag}chart.dat")
    lines = []
    for b, sc in keys_in_order(s):
        if b == "idle":
            continue
        rs = [ratio(s, b, sc, p) for p in PEERS]
        lines.append(f'"{b} {sc}" ' + " ".join(f"{r:.4f}" if r else "NaN" for r in rs))
    with open(dat, "w") as f:
        f.write("# bench  " + "  ".join(f"{NAMES[p]}/Troupe" for p in PEERS) + "\n")
        f.write("\n".join(lines) + "\n")
    if not shutil.which("gnuplot"):
        return None
    plots = ", ".join(
        (f'"{dat}" using {i + 2}:xtic(1)' if i == 0 else f"'' using {i + 2}") +
        f' title "{NAMES[p]} / Troupe"' for i, p in enumerate(PEERS))
    script = f"""
set terminal pngcairo size 1500,650 noenhanced font ",10"
set output "{png}"
set title "Median of each peer divided by Troupe's (time; bytes per actor for mem). Log scale; above 1 = Troupe faster / smaller"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.1:*]
set ylabel "peer / Troupe"
set xtics rotate by -40
set grid ytics
set key top left
plot {plots}, 1 with lines lw 2 lc rgb "black" title "parity"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False, capture_output=True)
    return png if os.path.exists(png) else None


def machine(root):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass

    def ver(p):
        return sh(f"dpkg-query -W -f='${{Version}}' {p} 2>/dev/null") or "not installed"

    return [
        ("cores (nproc)", sh("nproc")),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", platform.release()),
        ("OS", sh(". /etc/os-release && echo $PRETTY_NAME")),
        ("gcc / g++", sh("gcc -dumpfullversion")),
        ("CAF (libcaf-dev)", ver("libcaf-dev")),
        ("Erlang (erlang-nox)", ver("erlang-nox") + " (OTP " + sh(
            "erl -noshell -eval 'io:format(\"~s\", [erlang:system_info(otp_release)]), "
            "halt().' 2>/dev/null") + ")"),
        ("Tokio (librust-tokio-dev / -util-dev)",
         ver("librust-tokio-dev") + " / " + ver("librust-tokio-util-dev") + ", " +
         (sh("/usr/bin/rustc --version 2>/dev/null") or "no rustc")),
        ("Go (golang-go)", ver("golang-go") + ", " + (sh("go version 2>/dev/null") or "no go")),
        ("cmake", sh("cmake --version | head -1").replace("cmake version ", "")),
        ("Troupe commit", sh(f"git -C '{root}' rev-parse --short HEAD")),
    ]


def host_state(args):
    try:
        load = float(args.load_before.split()[0])
    except (ValueError, IndexError):
        load = None
    rtts = []
    for r in (args.rtt_before, args.rtt_after):
        try:
            rtts.append(float(r))
        except ValueError:
            pass
    quiet = (load is not None and load < 0.7 and len(rtts) == 2 and
             all(80.0 <= r <= 120.0 for r in rtts))
    return quiet, load, rtts


def cell(e, bench):
    if not e:
        return "-"
    if e["skip"]:
        return e["skip"].replace("unavailable", "n/a")
    if e["median"] is None:
        return "FAILED"
    if bench == "mem":
        v = e["metrics"].get("bytes_per_actor")
        c = "-" if v is None else f"{v:,.0f} B"
    else:
        c = f"{fnum(e['median'])} ({fnum(e['min'])}-{fnum(e['max'])})"
    if e["ok"] < e["runs"]:
        c += f" [{e['runs'] - e['ok']} failed]"
    return c


def include(path):
    try:
        with open(path) as f:
            return f.read().rstrip("\n").split("\n")
    except OSError:
        return [f"(missing: {os.path.basename(path)})"]


def doc(s, args, png, root):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    quiet, load, rtts = host_state(args)
    L = []
    L.append("# Benchmarks against the field")
    L.append("")
    L.append("Troupe against [CAF](https://www.actor-framework.org/) (C++), Erlang/OTP, "
             "[Tokio](https://tokio.rs/) (Rust) and Go on the Savina subset, SkyNet, spawn, "
             "cancel, idle cost and memory per idle actor, with the network rows of "
             "`bench_net`. Generated by `bash bench/run.sh` (this file, "
             "`bench/results/results.csv`, `raw.csv`, `chart.png`, `last-run.log`); do not "
             "edit by hand (the hand-written parts are `bench/tuning.md` and "
             "`bench/analysis.md`).")
    L.append("")
    done = sorted({e["runs"] for e in s.values() if e["runs"]})
    got = (f"{done[0]}" if len(done) == 1 else f"{done[0]}-{done[-1]}") if done else "0"
    mode = ("QUICK smoke mode (1 run, 1/10 sizes): result checks only, the times mean "
            "nothing" if args.quick else f"{got} runs per cell (asked for {args.runs})")
    L.append(f"Run of {now}, {mode}; idle window {args.seconds:g} s. One alternated run: "
             "for every benchmark the five systems run one after the other, the starting "
             "system rotating from run to run, so a change in the host's state hits all of "
             "them alike.")
    L.append("")
    rtt_txt = ", ".join(f"{r:.1f} ns" for r in rtts) if rtts else "not measured"
    if quiet:
        L.append(f"**Host state: quiet.** Load average at the start {args.load_before} "
                 f"(at the end {args.load_after}); cross-core round trip (`bench/core_rtt`) "
                 f"{rtt_txt} (start, end).")
    else:
        L.append(f"**Host state: NOT QUIET: taken on a shared, loaded host.** Load average at "
                 f"the start {args.load_before} (at the end {args.load_after}; the goal for a "
                 f"publishable run is below 0.7 at the start); cross-core round trip "
                 f"(`bench/core_rtt`) {rtt_txt} (start, end; about 90-110 ns is this VM's "
                 "normal state, about 430 ns when the host places its two virtual CPUs far "
                 "apart). Absolute times here are inflated and noisy; the ratios, from one "
                 "alternated run, are what to read, and ratios within about 1.5x are ties. "
                 "A rerun on a quiet machine remains to be done.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    for k, v in machine(root):
        L.append(f"| {k} | {v} |")
    L.append("")
    L.append("Threads each system ran with (what the program reported):")
    L.append("")
    L.append("| | " + " | ".join(NAMES[p] for p in SYSTEMS) + " |")
    L.append("|---|" + "---:|" * len(SYSTEMS))
    tv = []
    for p in SYSTEMS:
        vals = {int(e["metrics"]["threads"]) for (b, sc, sy), e in s.items()
                if sy == p and "threads" in e["metrics"]}
        tv.append("/".join(str(v) for v in sorted(vals)) or "-")
    L.append("| worker threads | " + " | ".join(tv) + " |")
    L.append("")
    L.append("Troupe: one worker per core (`tr_system_create` defaults); CAF: "
             + (f"`{args.caf_opts}`" if args.caf_opts else "its default scheduler "
                "(CAF 0.17 starts max(4, cores) workers)")
             + "; Erlang: one scheduler per core (VM default); Tokio: the multi-thread "
             "runtime's default, one worker per core; Go: `GOMAXPROCS` default, one P per core.")
    if args.skipped.strip():
        L.append("")
        L.append("**Skipped in this run:**")
        L.append("")
        for line in args.skipped.strip().split("\n"):
            L.append(f"- {line}")
    L.append("")

    L.append("## Results")
    L.append("")
    L.append("Median wall time in ms of the measured part, min-max over the runs in brackets "
             "(for `idle`: CPU ms used in the window; for `mem`: bytes of resident memory per "
             "idle actor). **Lower is better.** *best peer / Troupe* is the fastest (smallest) "
             "of the four peers divided by Troupe: **above 1 means Troupe is ahead**. The goal "
             "column is the issue-17 target: at least 3x the best peer on message rows, 10x "
             "on spawn and cancel rows, below 200 B per idle actor at 10M. `-` means the peer "
             "has no program for that benchmark (Tokio and Go: the seeds' benchmarks only).")
    L.append("")
    L.append("| benchmark | scale | N | " + " | ".join(NAMES[p] for p in SYSTEMS) +
             " | best peer / Troupe | goal |")
    L.append("|---|---|---:|" + "---:|" * len(SYSTEMS) + "---:|---|")
    goals = []
    for b, sc in keys_in_order(s):
        size = ""
        cells = []
        for p in SYSTEMS:
            e = s.get((b, sc, p))
            size = size or (e["size"] if e else "")
            cells.append(cell(e, b))
        bv, bp = best_peer(s, b, sc)
        t = value(s, b, sc, "troupe")
        if bv is not None and t:
            r = bv / t
            rtxt = f"{r:.2f}x ({NAMES[bp]})"
        else:
            r, rtxt = None, "-"
        g = "-"
        if args.quick:
            g = "not judged (quick)"
        elif b in KIND and r is not None:
            kind, want = KIND[b]
            met = r >= want
            g = f"{want:g}x: {'met' if met else '**NOT met**'}"
            goals.append((b, sc, kind, want, r, bp, met))
        elif b == "mem" and sc == "10x" and t is not None:
            met = t < MEM_GOAL
            g = f"< {MEM_GOAL:.0f} B: {'met' if met else '**NOT met**'} ({t:.0f} B)"
            goals.append((b, sc, "memory", MEM_GOAL, t, None, met))
        elif b == "mem" and t is not None:
            g = f"({t:.0f} B at {sc})"
        L.append(f"| {b} | {sc} | {size} | " + " | ".join(cells) + f" | {rtxt} | {g} |")
    L.append("")
    if png:
        L.append(f"![peer / Troupe ratios](../bench/results/{os.path.basename(png)})")
        L.append("")

    L.append("### Goals (issue 17), in this run")
    L.append("")
    if args.quick:
        L.append("Not judged: a quick run checks results only.")
    elif goals:
        met = [g for g in goals if g[6]]
        L.append(f"{len(met)} of {len(goals)} rows meet their goal.")
        L.append("")
        for b, sc, kind, want, r, bp, ok in goals:
            if kind == "memory":
                L.append(f"- mem {sc}: Troupe {r:.0f} B per idle actor (goal < {want:.0f} B): "
                         f"{'met' if ok else 'NOT met'}")
            else:
                L.append(f"- {b} {sc} ({kind}): Troupe {r:.2f}x the best peer "
                         f"({NAMES[bp]}; goal {want:g}x): {'met' if ok else 'NOT met'}")
    else:
        L.append("No rows with both Troupe and a peer.")
    L.append("")

    L.append("### Memory")
    L.append("")
    L.append("Bytes of resident memory (VmRSS growth over the value before the actors were "
             "started, divided by N) per idle actor, with N alive at once; each actor has "
             "started (run its init or first poll) and waits for a message. A 10M row is "
             f"only run for a system whose 1M figure says it fits in {args.mem_budget} "
             "(MEM_BUDGET_GB).")
    L.append("")
    L.append("| live actors | " + " | ".join(NAMES[p] for p in SYSTEMS) + " |")
    L.append("|---|" + "---:|" * len(SYSTEMS))
    for sc in sorted({k[1] for k in s if k[0] == "mem"}, key=lambda x: float(x.rstrip("x"))):
        row = []
        size = ""
        for p in SYSTEMS:
            e = s.get(("mem", sc, p))
            size = size or (e["size"] if e else "")
            row.append(cell(e, "mem"))
        L.append(f"| {int(size):,} | " if size else f"| {sc} | ")
        L[-1] += " | ".join(row) + " |"
    L.append("")
    L.append("Peak resident memory of the whole process per benchmark (MB, `/usr/bin/time` "
             "maximum RSS, median over the runs; includes the runtime itself, e.g. the "
             "Erlang VM):")
    L.append("")
    L.append("| benchmark | scale | " + " | ".join(NAMES[p] for p in SYSTEMS) + " |")
    L.append("|---|---|" + "---:|" * len(SYSTEMS))
    for b, sc in keys_in_order(s):
        row = []
        for p in SYSTEMS:
            e = s.get((b, sc, p))
            v = e["metrics"].get("process_peak_rss_mb") if e else None
            row.append("-" if v is None else f"{v:,.1f}")
        L.append(f"| {b} | {sc} | " + " | ".join(row) + " |")
    L.append("")

    L.append("### Extra figures (medians)")
    L.append("")
    L.append("| figure | " + " | ".join(NAMES[p] for p in SYSTEMS) + " |")
    L.append("|---|" + "---:|" * len(SYSTEMS))
    extras = [
        ("idle", "pct_core", "idle: % of one core (target < 1%)", 3),
        ("spawn", "ns_per_actor", "spawn+complete: ns per actor", 0),
        ("spawnmsg", "ns_per_actor", "spawn, message, reply: ns per actor", 0),
        ("cancel", "ns_per_actor", "cancel tree: ns per actor", 0),
        ("cancel", "build_ms", "cancel tree: time to build it (ms)", 0),
        ("cancel", "bytes_per_actor", "cancel tree: peak RSS growth per live actor (B)", 0),
        ("pingpong", "msgs_per_s", "pingpong: messages/s", 0),
        ("big", "msgs_per_s", "big: messages/s", 0),
        ("fjthrput", "msgs_per_s", "fork-join throughput: messages/s", 0),
    ]
    for b, m, label, d in extras:
        for sc in sorted({k[1] for k in s if k[0] == b}, key=lambda x: float(x.rstrip("x"))):
            vals = []
            for p in SYSTEMS:
                e = s.get((b, sc, p))
                v = e["metrics"].get(m) if e else None
                vals.append("-" if v is None else f"{v:,.{d}f}")
            if any(v != "-" for v in vals):
                L.append(f"| {label} ({sc}) | " + " | ".join(vals) + " |")
    L.append("")

    L.append("## Network")
    L.append("")
    net = []
    if args.net and os.path.exists(args.net):
        with open(args.net) as f:
            net = [ln.rstrip("\n") for ln in f if ln.strip()]
    if net:
        L.append("`build/release/bench/bench_net` output in this run (it runs its own "
                 "comparisons; see its header comment for what each line measures):")
        L.append("")
        L.append("```")
        L.extend(net)
        L.append("```")
    else:
        L.append("Not run in this run (`--only` without `net`, or bench_net not built).")
    L.append("")

    L.append("## What each benchmark does")
    L.append("")
    L.append("Every program does the same work with the same parameters and checks its "
             "result while its runtime still runs, with a check that a lost or duplicated "
             "message (or actor) would change: sums over payload values, counts taken before "
             "teardown, and for cancel that nothing ended before the cancel and everything "
             "after it. A failed check exits nonzero and the cell shows FAILED. `1x` is the "
             "Savina default size, `10x` ten times the messages or actors (`--scale 10`).")
    L.append("")
    for b in ORDER:
        L.append(f"- `{b}`: {WHAT[b]}.")
    L.append("")
    L.append("Sources: `bench/savina/savina.c` (Troupe), `bench/peers/caf/caf_savina.cpp`, "
             "`bench/peers/erlang/savina.erl`, `bench/peers/tokio/src/main.rs`, "
             "`bench/peers/go/main.go`. The timed part starts before the benchmark's actors "
             "are spawned and ends when the result is known; creating and destroying the "
             "runtime (and starting the Erlang VM) is not timed.")
    L.append("")
    L.extend(include(os.path.join(root, "bench", "tuning.md")))
    L.append("")
    L.extend(include(os.path.join(root, "bench", "analysis.md")))
    L.append("")
    L.append("Reproduce: `bash bench/run.sh` (`--runs N`, `--quick`, `--seconds S`, "
             "`--only pingpong,big`; `CAF_OPTS`, `MEM_BUDGET_GB`). Per-run output is kept in "
             "`bench/results/last-run.log`.")
    L.append("")
    os.makedirs(os.path.dirname(os.path.abspath(args.doc)), exist_ok=True)
    with open(args.doc, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--net", default="")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--rtt-before", default="")
    ap.add_argument("--rtt-after", default="")
    ap.add_argument("--caf-opts", default="")
    ap.add_argument("--mem-budget", default="8 GB")
    ap.add_argument("--skipped", default="")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tag = "quick-" if args.quick else ""
    s = summarise(load(args.raw))
    write_csv(s, os.path.join(args.out, f"{tag}results.csv"))
    png = chart(s, args.out, tag)
    doc(s, args, png, root)


if __name__ == "__main__":
    main()
