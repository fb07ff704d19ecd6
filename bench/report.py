#!/usr/bin/env python3
"""Summarises bench/results/raw.csv (written by bench/run.sh) into
results.csv, chart.png and docs/benchmarks.md. Standard library only;
the chart is drawn with gnuplot (or matplotlib when gnuplot is missing)."""
import argparse
import csv
import os
import platform
import shutil
import statistics
import subprocess
import datetime

SYSTEMS = ["troupe", "caf", "erlang"]
NAMES = {"troupe": "Troupe", "caf": "CAF", "erlang": "Erlang"}
ORDER = ["pingpong", "counting", "threadring", "chameneos", "fjthrput", "fjcreate", "big",
         "skynet", "idle", "spawn", "cancel"]
WHAT = {
    "pingpong": "PingPong: 2 actors, N round trips",
    "counting": "Counting: N increments, then a get",
    "threadring": "ThreadRing: 100 actors, N hops",
    "chameneos": "Chameneos: 100 chameneos, N meetings",
    "fjthrput": "Fork-Join throughput: 60 actors x N messages",
    "fjcreate": "Fork-Join create: N actors, one message each",
    "big": "Big: 120 actors x N pings (each answered)",
    "skynet": "SkyNet: 1,111,111 actors (N leaves), sum checked",
    "idle": "Idle: 10,000 idle actors, CPU ms over the window",
    "spawn": "Spawn+complete N actors",
    "cancel": "Cancel a 1->100->100->100 tree (N actors)",
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=20).stdout.strip()
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
            e = rows.setdefault(key, {"ms": [], "size": "", "fails": 0, "metrics": {}})
            if r["status"] != "ok":
                e["fails"] += 1
                continue
            e["ms"].append(float(r["ms"]))
            e["size"] = r["size"]
            for kv in filter(None, (r["metrics"] or "").split(";")):
                k, v = kv.split("=", 1)
                e["metrics"].setdefault(k, []).append(float(v))
    return rows


def summarise(rows):
    out = {}
    for key, e in rows.items():
        ms = e["ms"]
        out[key] = {
            "size": e["size"],
            "runs": len(ms) + e["fails"],
            "ok": len(ms),
            "median": statistics.median(ms) if ms else None,
            "min": min(ms) if ms else None,
            "max": max(ms) if ms else None,
            "metrics": {k: statistics.median(v) for k, v in e["metrics"].items()},
        }
    return out


def ratio(s, bench, scale, system):
    t = s.get((bench, scale, "troupe"))
    o = s.get((bench, scale, system))
    if not t or not o or not t["median"] or o["median"] is None:
        return None
    return o["median"] / t["median"]


def keys_in_order(s):
    seen = sorted({(b, sc) for (b, sc, _) in s},
                  key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99,
                                 float(k[1].rstrip("x"))))
    return seen


def write_csv(s, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bench", "scale", "size", "system", "runs", "ok_runs", "median_ms", "min_ms",
                    "max_ms", "time_ratio_vs_troupe", "metrics_median"])
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


def chart(s, outdir):
    png = os.path.join(outdir, "chart.png")
    dat = os.path.join(outdir, "chart.dat")
    lines = []
    for b, sc in keys_in_order(s):
        rc, re_ = ratio(s, b, sc, "caf"), ratio(s, b, sc, "erlang")
        lines.append(f'"{b} {sc}" {rc if rc else "NaN"} {re_ if re_ else "NaN"}')
    with open(dat, "w") as f:
        f.write("# bench  CAF_time/Troupe_time  Erlang_time/Troupe_time\n")
        f.write("\n".join(lines) + "\n")
    if shutil.which("gnuplot"):
        script = f"""
set terminal pngcairo size 1400,600 noenhanced font ",10"
set output "{png}"
set title "Median time of CAF and Erlang divided by Troupe's (log scale; above 1 = Troupe faster / cheaper)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.01:*]
set ylabel "time ratio (other / Troupe)"
set xtics rotate by -40
set grid ytics
set key top left
f(x) = 1
plot "{dat}" using 2:xtic(1) title "CAF / Troupe", '' using 3 title "Erlang / Troupe", \\
     1 with lines lw 2 lc rgb "black" title "parity"
"""
        subprocess.run(["gnuplot"], input=script, text=True, check=False)
        if os.path.exists(png):
            return png
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        labels = [ln.split('"')[1] for ln in lines]
        rc = [float(ln.split('"')[2].split()[0]) for ln in lines]
        re_ = [float(ln.split('"')[2].split()[1]) for ln in lines]
        xs = range(len(labels))
        fig, ax = plt.subplots(figsize=(14, 6))
        ax.bar([x - 0.2 for x in xs], rc, 0.4, label="CAF / Troupe")
        ax.bar([x + 0.2 for x in xs], re_, 0.4, label="Erlang / Troupe")
        ax.axhline(1, color="black")
        ax.set_yscale("log")
        ax.set_xticks(list(xs), labels, rotation=40, ha="right")
        ax.set_title("Median time of CAF and Erlang divided by Troupe's (above 1 = Troupe faster)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(png)
        return png
    except Exception:
        return None


def machine():
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
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1048576:.1f} GiB"
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
        ("libcaf-dev (CAF)", ver("libcaf-dev")),
        ("erlang-nox (OTP)", ver("erlang-nox") + " (OTP " + sh("erl -noshell -eval "
         "'io:format(\"~s\", [erlang:system_info(otp_release)]), halt().'") + ")"),
        ("cmake", sh("cmake --version | head -1").replace("cmake version ", "")),
        ("Troupe commit", sh("git -C '%s' rev-parse --short HEAD" % os.path.dirname(
            os.path.dirname(os.path.abspath(__file__))))),
    ]


def doc(s, args, png):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    L = []
    L.append("# Benchmarks against the field")
    L.append("")
    L.append("Troupe against [CAF](https://www.actor-framework.org/) (C++) and Erlang/OTP on "
             "the Savina subset, SkyNet and three runtime-cost figures. Generated by "
             "`bash bench/run.sh` (this file, `bench/results/results.csv`, "
             "`bench/results/raw.csv`, `bench/results/chart.png`); do not edit by hand.")
    L.append("")
    done = sorted({e["runs"] for e in s.values()})
    got = f"{done[0]}" if len(done) == 1 else f"{done[0]}-{done[-1]}"
    mode = ("quick smoke mode (1 run, 1/10 sizes)" if args.quick else
            f"{got} runs per cell (asked for {args.runs})")
    L.append(f"Run of {now}, {mode}; idle window {args.seconds:g} s.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    for k, v in machine():
        L.append(f"| {k} | {v} |")
    L.append("")
    load = args.load_before or "not recorded"
    L.append("**Noise.** This machine has 2 cores, shared by the three systems' threads and "
             f"anything else running; load average when the run started: {load}. Read the "
             "min-max spread next to each median, and treat ratios within about 1.5x as ties.")
    if args.core_rtt:
        L.append("")
        L.append(f"**Cross-core round trip** (`bench/core_rtt.c`, one cache line handed between "
                 f"CPU 0 and CPU 1): {args.core_rtt}. On this VM it is about 90 ns in most "
                 "runs and about 430 ns when the host places the two virtual CPUs far apart; "
                 "message-heavy benchmarks (chameneos, big, fjthrput) then take up to 3x "
                 "longer, for every system.")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("Median wall time in ms of the measured part (min-max over the runs in "
             "brackets); for `idle` the figure is the CPU time (ms) the whole process used "
             "during the window. **Lower is better.** The ratio columns are "
             "*other system's median / Troupe's median*: **above 1 means Troupe is faster "
             "(or cheaper)**, below 1 means the other system is.")
    L.append("")
    L.append("| benchmark | scale | size N | Troupe ms | CAF ms | Erlang ms | CAF / Troupe | "
             "Erlang / Troupe |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for b, sc in keys_in_order(s):
        cells = []
        size = ""
        for sysname in SYSTEMS:
            e = s.get((b, sc, sysname))
            if not e:
                cells.append("-")
                continue
            size = size or e["size"]
            if e["median"] is None:
                cells.append("FAILED")
                continue
            c = f"{fnum(e['median'])} ({fnum(e['min'])}-{fnum(e['max'])})"
            if e["ok"] < e["runs"]:
                c += f" [{e['runs'] - e['ok']} failed]"
            cells.append(c)
        rs = []
        for o in ("caf", "erlang"):
            r = ratio(s, b, sc, o)
            rs.append("-" if r is None else f"{r:.2f}x")
        L.append(f"| {b} | {sc} | {size} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")
    L.append("")
    L.append("### Extra figures (medians)")
    L.append("")
    L.append("| figure | Troupe | CAF | Erlang |")
    L.append("|---|---:|---:|---:|")
    extras = [
        ("idle", "pct_core", "idle: % of one core (target < 1%)", 3),
        ("spawn", "ns_per_actor", "spawn+complete: ns per actor", 0),
        ("spawn", "peak_rss_mb", "spawn+complete: peak RSS (MB, ru_maxrss)", 1),
        ("spawn", "bytes_per_actor", "spawn+complete: peak RSS growth per actor (B)", 1),
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
            for sysname in SYSTEMS:
                e = s.get((b, sc, sysname))
                v = e["metrics"].get(m) if e else None
                vals.append("-" if v is None else (f"{v:,.{d}f}"))
            if any(v != "-" for v in vals):
                L.append(f"| {label} ({sc}) | " + " | ".join(vals) + " |")
    L.append("")
    if png:
        L.append("![time ratios](../bench/results/chart.png)")
        L.append("")
    L.append("## What each benchmark does")
    L.append("")
    L.append("Every program does the same work with the same parameters and checks its "
             "result (a wrong count exits nonzero and the cell shows FAILED). `1x` is the "
             "Savina default size, `10x` ten times the messages or actors (`--scale 10`).")
    L.append("")
    for b in ORDER:
        L.append(f"- `{b}`: {WHAT[b]}.")
    L.append("")
    L.append("Sources: `bench/savina/savina.c` (Troupe), `bench/peers/caf/caf_savina.cpp` "
             "(CAF, built with `g++ -O2 -lcaf_core`), `bench/peers/erlang/savina.erl` (Erlang, "
             "`erlc`, run with `erl +P 5000000 -noshell`). Each system uses its defaults: "
             "Troupe one worker per core, CAF's default scheduler (one worker per core), "
             "Erlang's default schedulers. The timed part starts before the benchmark's actors "
             "are spawned and ends when the result is known; creating and destroying the "
             "runtime (and starting the Erlang VM) is not timed.")
    L.append("")
    L.append("Differences worth knowing:")
    L.append("")
    L.append("- Troupe's mailboxes are bounded (1024): its producers (Counting, Fork-Join "
             "throughput, Fork-Join create) send 256 messages per turn and queue themselves a "
             "`next` message, so backpressure applies. CAF and Erlang mailboxes are unbounded, "
             "so their producers send everything in one loop, as Savina does.")
    L.append("- Fork-Join create: Troupe and Erlang spawn the workers from a driver actor; "
             "CAF spawns them from the main thread as Savina does (spawning 40,000 actors "
             "from one CAF actor's handler was about 10x slower on 2 cores: the second "
             "worker steals them one at a time).")
    L.append("- Completion is counted the natural way for each system: Troupe in the "
             "`terminate` callback or the handler, CAF in the handler or an attached functor, "
             "Erlang with a message to the main process or by polling `process_count`.")
    L.append("- Cancel: Troupe `tr_stop(root)` (graceful: children first, mailboxes drained); "
             "CAF `anon_send_exit(root, user_shutdown)` through links (each parent keeps its "
             "children's handles, as CAF ends unreferenced actors); Erlang "
             "`exit(Root, shutdown)` through `spawn_link` links.")
    L.append("- Idle: CPU time of the whole process (all threads) over the window: "
             "`getrusage(RUSAGE_SELF)` for Troupe and CAF, `/proc/self/stat` for the Erlang VM "
             "(10 ms resolution).")
    L.append("- Peak RSS is `ru_maxrss` (Erlang: `VmHWM`, the same counter) and includes "
             "the runtime itself; per-actor figures are the growth over the value before the "
             "benchmark, divided by its actor count. In spawn+complete actors end as fast as "
             "they are spawned, so this is small when few are alive at once.")
    L.append("")
    L.append("Reproduce: `bash bench/run.sh` (`--runs N`, `--quick`, `--seconds S`, "
             "`--only pingpong,big`). Per-run output is kept in `bench/results/last-run.log`.")
    L.append("")
    os.makedirs(os.path.dirname(args.doc), exist_ok=True)
    with open(args.doc, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--load-before", default="", help="load average when the run started")
    ap.add_argument("--core-rtt", default="", help="bench/core_rtt figures, start and end")
    args = ap.parse_args()
    s = summarise(load(args.raw))
    write_csv(s, os.path.join(args.out, "results.csv"))
    png = chart(s, args.out)
    doc(s, args, png)


if __name__ == "__main__":
    main()
