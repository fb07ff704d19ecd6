#!/usr/bin/env bash
# Benchmarks against the field: Troupe vs CAF (C++) vs Erlang/OTP on the Savina
# subset, SkyNet, idle cost, spawn+complete of 1M actors and cancelling a
# 1M-actor tree. One command from the repository root:
#
#   bash bench/run.sh [--runs N] [--quick] [--seconds S] [--only a,b,...]
#
#   --runs N     runs per benchmark and system (default 5)
#   --quick      smoke mode: 1 run, 1/10 sizes, idle over 1 s
#   --seconds S  idle-cost window (default 10)
#   --only LIST  comma-separated benchmarks (pingpong,counting,threadring,
#                chameneos,fjthrput,fjcreate,big,skynet,idle,spawn,cancel)
#
# Installs missing Debian packages (root), builds Troupe (release preset), the
# CAF program (g++ -O2 -lcaf_core) and the Erlang module (erlc), runs every
# benchmark for the three systems (the order of the systems rotates from run
# to run), then writes bench/results/raw.csv, bench/results/results.csv,
# bench/results/chart.png and docs/benchmarks.md (via bench/report.py).
# A benchmark whose result check fails is recorded as failed; the runner then
# exits nonzero after writing the report.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

RUNS=5
QUICK=0
SECONDS_IDLE=10
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --seconds) SECONDS_IDLE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    RUNS=1
    SECONDS_IDLE=1
fi

log() { echo "== $*" >&2; }

# ---- packages ----
PKGS=(build-essential cmake g++ libcaf-dev erlang-nox gnuplot-nox python3)
missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "run.sh: missing packages (${missing[*]}) and not root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- builds ----
log "building Troupe (release)"
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
TROUPE=("$ROOT/build/release/bench/savina/troupe_savina")

PEERS="$ROOT/build/release/bench/peers"
mkdir -p "$PEERS/erlang"
CAF=()
if [ ! -x "$PEERS/caf_savina" ] || [ "$ROOT/bench/peers/caf/caf_savina.cpp" -nt "$PEERS/caf_savina" ]; then
    log "building the CAF peer (g++ -O2 -lcaf_core)"
    if g++ -O2 -std=c++17 "$ROOT/bench/peers/caf/caf_savina.cpp" -o "$PEERS/caf_savina" \
        -lcaf_core -lpthread; then
        CAF=("$PEERS/caf_savina")
    else
        log "CAF peer did not build: CAF columns will be empty"
    fi
else
    CAF=("$PEERS/caf_savina")
fi
log "building the Erlang peer (erlc)"
erlc -o "$PEERS/erlang" "$ROOT/bench/peers/erlang/savina.erl"
ERLANG=(erl +P 5000000 -noshell -pa "$PEERS/erlang" -run savina main -extra)

# ---- the plan: bench, scale label, scale ----
SAVINA=(pingpong counting threadring chameneos fjthrput fjcreate big)
EXTRA=(skynet idle spawn cancel)
plan=()
for b in "${SAVINA[@]}"; do
    if [ "$QUICK" = 1 ]; then
        plan+=("$b 0.1x 0.1")
    else
        plan+=("$b 1x 1" "$b 10x 10")
    fi
done
for b in "${EXTRA[@]}"; do
    if [ "$QUICK" = 1 ]; then plan+=("$b 0.1x 0.1"); else plan+=("$b 1x 1"); fi
done
if [ -n "$ONLY" ]; then
    filtered=()
    for e in "${plan[@]}"; do
        case ",$ONLY," in *",${e%% *},"*) filtered+=("$e") ;; esac
    done
    plan=("${filtered[@]}")
fi

RES="$ROOT/bench/results"
mkdir -p "$RES"
RAW="$RES/raw.csv"
echo "run,system,bench,scale,size,ms,status,metrics" >"$RAW"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
# the machine's cross-core round trip (bench/core_rtt.c), before and after:
# on a VM it changes with where the host puts the two virtual CPUs
core_rtt() { "$ROOT/build/release/bench/core_rtt" 1 2>/dev/null | awk '{print $2 " ns"}'; }
RTT_BEFORE="$(core_rtt)"
LOGF="$RES/last-run.log"
: >"$LOGF"

systems=(troupe caf erlang)
fail=0

run_one() { # system bench scale_label scale run
    local sys=$1 bench=$2 label=$3 scale=$4 run=$5 cmd=()
    case $sys in
    troupe) cmd=("${TROUPE[@]}") ;;
    caf) cmd=("${CAF[@]}") ;;
    erlang) cmd=("${ERLANG[@]}") ;;
    esac
    if [ ${#cmd[@]} -eq 0 ]; then
        echo "$run,$sys,$bench,$label,,,unavailable," >>"$RAW"
        return
    fi
    local out rc=0
    out=$(timeout 600 "${cmd[@]}" "$bench" --scale "$scale" --seconds "$SECONDS_IDLE" 2>&1) || rc=$?
    { echo "### run $run $sys $bench $label (exit $rc)"; echo "$out"; } >>"$LOGF"
    local res size ms status metrics
    res=$(printf '%s\n' "$out" | awk '$1=="RESULT"{print $3, $4; exit}')
    size=${res% *}
    ms=${res#* }
    metrics=$(printf '%s\n' "$out" | awk '$1=="METRIC"{printf "%s%s=%s", sep, $3, $4; sep=";"}')
    status=ok
    if [ $rc -ne 0 ] || [ -z "$res" ]; then
        status="fail(exit $rc)"
        fail=1
        size=""
        ms=""
    fi
    echo "$run,$sys,$bench,$label,$size,$ms,$status,$metrics" >>"$RAW"
    printf '   %-7s %-10s %-5s %12s ms  %s\n' "$sys" "$bench" "$label" "${ms:--}" "$status" >&2
}

for ((r = 1; r <= RUNS; r++)); do
    log "run $r of $RUNS"
    for e in "${plan[@]}"; do
        read -r bench label scale <<<"$e"
        # alternate the systems: the starting system rotates with the run
        for ((k = 0; k < 3; k++)); do
            run_one "${systems[$(((r - 1 + k) % 3))]}" "$bench" "$label" "$scale" "$r"
        done
    done
done

RTT_AFTER="$(core_rtt)"
log "writing the report"
python3 "$ROOT/bench/report.py" --raw "$RAW" --out "$RES" --doc "$ROOT/docs/benchmarks.md" \
    --runs "$RUNS" --seconds "$SECONDS_IDLE" --load-before "$LOAD_BEFORE" \
    --core-rtt "${RTT_BEFORE:-?} at the start, ${RTT_AFTER:-?} at the end" \
    $([ "$QUICK" = 1 ] && echo --quick)
log "done: docs/benchmarks.md, bench/results/results.csv, bench/results/chart.png"
exit $fail
