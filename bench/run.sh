#!/usr/bin/env bash
# Benchmarks against the field: Troupe vs CAF (C++), Erlang/OTP, Tokio (Rust)
# and Go on the Savina subset, SkyNet, spawn, cancel, idle cost and memory per
# idle actor, plus the network rows of bench_net. One command from the
# repository root:
#
#   bash bench/run.sh [--runs N] [--quick] [--seconds S] [--only a,b,...]
#
#   --runs N     runs per benchmark and system (default 5)
#   --quick      result checks only (CI): 1 run, 1/10 sizes, idle over 1 s;
#                a few seconds per system, no timing judged, no network rows;
#                Tokio built with a faster-to-build cargo profile
#   --seconds S  idle-cost window (default 10)
#   --only LIST  comma-separated benchmarks (pingpong,counting,threadring,
#                chameneos,fjthrput,fjcreate,big,skynet,idle,spawn,spawnmsg,
#                cancel,mem,net,supervisor: bench/supervisor.sh's own table,
#                bench/results/supervisor.txt)
#
# Environment: CAF_OPTS (e.g. "--caf#scheduler.max-threads=2") is passed to the
# CAF program; MEM_BUDGET_GB (default 8) caps the 10M-actor memory rows: a
# system whose 1M figure says it would need more is not run at 10M (a line
# says so); BENCH_TIMEOUT (s, default 600, quick 300) bounds every program.
#
# Installs missing Debian packages (root; a package that cannot be installed
# turns its system's columns into a visible "unavailable" skip, never a silent
# gap), builds Troupe (release preset), the CAF program (g++ -O2), the Erlang
# module (erlc), the Tokio program (cargo, offline, against Debian's crates in
# /usr/share/cargo/registry) and the Go program (go build), runs every
# benchmark for every system (the order of the systems rotates from run to
# run: one alternated run), then writes bench/results/raw.csv, results.csv,
# chart.png and docs/benchmarks.md (via bench/report.py). A program whose result
# check fails (or that crashes or times out) is recorded as failed; the runner
# then exits nonzero after writing the report. In --quick mode the report goes
# to bench/results/quick.md and docs/benchmarks.md is left alone.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
T_START=$(date +%s)

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
    -h | --help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    RUNS=1
    SECONDS_IDLE=1
fi
TIMEOUT=${BENCH_TIMEOUT:-$([ "$QUICK" = 1 ] && echo 300 || echo 600)}
MEM_BUDGET_GB=${MEM_BUDGET_GB:-8}

log() { echo "== $*" >&2; }
skip() { echo "== SKIP: $*" >&2; SKIPPED+=("$*"); }
SKIPPED=()

# ---- packages: one group per system, so one that cannot be installed only
# ---- takes its own system out ----
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
APT_UPDATED=0
ensure() { # group-name packages... -> 0 if all are installed afterwards
    local name=$1 missing=() p
    shift
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        skip "$name: packages ${missing[*]} missing and not root"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = 0 ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 || true
        APT_UPDATED=1
    fi
    log "installing ${missing[*]}"
    if ! apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null 2>&1; then
        skip "$name: apt-get install ${missing[*]} failed"
        return 1
    fi
}
T_PKG0=$(date +%s)
ensure base build-essential cmake python3 time || { echo "run.sh: base packages missing" >&2; exit 1; }
ensure chart gnuplot-nox || true # without it the report has no chart
HAVE_CAF=0 HAVE_ERLANG=0 HAVE_TOKIO=0 HAVE_GO=0
ensure CAF g++ libcaf-dev && HAVE_CAF=1
ensure Erlang erlang-nox && HAVE_ERLANG=1
ensure Tokio cargo librust-tokio-dev librust-tokio-util-dev && HAVE_TOKIO=1
ensure Go golang-go && HAVE_GO=1
T_PKG=$(($(date +%s) - T_PKG0))

# ---- builds ----
T_BUILD0=$(date +%s)
log "building Troupe (release)"
cmake --preset release >/dev/null
cmake --build --preset release -j2 >/dev/null
TROUPE=("$ROOT/build/release/bench/savina/troupe_savina")

PEERS="$ROOT/build/release/bench/peers"
mkdir -p "$PEERS/erlang"
CAF=() ERLANG=() TOKIO=() GO=()
read -r -a CAF_EXTRA <<<"${CAF_OPTS:-}"
if [ "$HAVE_CAF" = 1 ]; then
    src="$ROOT/bench/peers/caf/caf_savina.cpp"
    if [ -x "$PEERS/caf_savina" ] && [ ! "$src" -nt "$PEERS/caf_savina" ] ||
        { log "building the CAF peer (g++ -O2 -lcaf_core)"
          g++ -O2 -std=c++17 "$src" -o "$PEERS/caf_savina" -lcaf_core -lpthread; }; then
        CAF=("$PEERS/caf_savina")
    else
        skip "CAF: the CAF program did not build"
    fi
fi
if [ "$HAVE_ERLANG" = 1 ]; then
    log "building the Erlang peer (erlc)"
    if erlc -o "$PEERS/erlang" "$ROOT/bench/peers/erlang/savina.erl"; then
        ERLANG=(erl +P 5000000 -noshell -pa "$PEERS/erlang" -run savina main -extra)
    else
        skip "Erlang: savina.erl did not compile"
    fi
fi
if [ "$HAVE_TOKIO" = 1 ]; then
    log "building the Tokio peer (cargo --offline, Debian's crates)"
    if [ "$QUICK" = 1 ]; then profile=quick; else profile=release; fi
    if bash "$ROOT/bench/peers/tokio/build.sh" "$PEERS/tokio" $profile >&2; then
        TOKIO=("$PEERS/tokio/$profile/tokio_bench")
    else
        skip "Tokio: the Tokio program did not build"
    fi
fi
if [ "$HAVE_GO" = 1 ]; then
    log "building the Go peer (go build)"
    if (cd "$ROOT/bench/peers/go" && GOCACHE="$PEERS/go-cache" GOPATH="$PEERS/gopath" \
        GOPROXY=off go build -o "$PEERS/go_bench" .) >&2; then
        GO=("$PEERS/go_bench")
    else
        skip "Go: the Go program did not build"
    fi
fi
T_BUILD=$(($(date +%s) - T_BUILD0))

# ---- the plan: bench, scale label, scale ----
SAVINA=(pingpong counting threadring chameneos fjthrput fjcreate big)
EXTRA=(skynet idle spawn spawnmsg cancel)
plan=()
for b in "${SAVINA[@]}"; do
    if [ "$QUICK" = 1 ]; then plan+=("$b 0.1x 0.1"); else plan+=("$b 1x 1" "$b 10x 10"); fi
done
for b in "${EXTRA[@]}"; do
    if [ "$QUICK" = 1 ]; then plan+=("$b 0.1x 0.1"); else plan+=("$b 1x 1"); fi
done
if [ "$QUICK" = 1 ]; then plan+=("mem 0.1x 0.1"); else plan+=("mem 1x 1" "mem 10x 10"); fi
want() { [ -z "$ONLY" ] || case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
filtered=()
for e in "${plan[@]}"; do want "${e%% *}" && filtered+=("$e"); done
plan=("${filtered[@]}")

# which benchmarks each system has (Tokio and Go: the seeds' benchmarks)
supports() { # system bench
    case $1 in
    tokio | go) case $2 in pingpong | skynet | spawn | spawnmsg | cancel | mem) return 0 ;; *) return 1 ;; esac ;;
    *) return 0 ;;
    esac
}

RES="$ROOT/bench/results"
mkdir -p "$RES"
if [ "$QUICK" = 1 ]; then TAG=quick-; else TAG=; fi
RAW="$RES/${TAG}raw.csv"
echo "run,system,bench,scale,size,ms,status,metrics" >"$RAW"
uptime_load() { cut -d' ' -f1-3 /proc/loadavg; }
# the builds above raise the load average by themselves: in a full run, give the
# 1-minute average up to 3 minutes to settle below 0.7 before taking the host's state
if [ "$QUICK" = 0 ]; then
    for _ in $(seq 36); do
        awk '{exit !($1 < 0.7)}' /proc/loadavg && break
        sleep 5
    done
fi
LOAD_BEFORE="$(uptime_load)"
# the machine's cross-core round trip (bench/core_rtt.c), before and after:
# on a VM it changes with where the host puts the two virtual CPUs
# (not in --quick: at a high load one trial takes tens of seconds)
core_rtt() {
    [ "$QUICK" = 1 ] && return 0
    timeout 120 "$ROOT/build/release/bench/core_rtt" 1 2>/dev/null | awk '{print $2}' || true
}
RTT_BEFORE="$(core_rtt)"
LOGF="$RES/${TAG}last-run.log"
: >"$LOGF"

systems=(troupe caf erlang tokio go)
nsys=${#systems[@]}
fail=0
declare -A MEM1M # system -> bytes per actor at 1M (decides the 10M row)

run_one() { # system bench scale_label scale run
    local sys=$1 bench=$2 label=$3 scale=$4 run=$5 cmd=() extra=()
    supports "$sys" "$bench" || return 0
    case $sys in
    troupe) cmd=("${TROUPE[@]}") ;;
    caf) cmd=("${CAF[@]}"); [ ${#CAF[@]} -gt 0 ] && extra=("${CAF_EXTRA[@]}") ;;
    erlang) cmd=("${ERLANG[@]}") ;;
    tokio) cmd=("${TOKIO[@]}") ;;
    go) cmd=("${GO[@]}") ;;
    esac
    if [ ${#cmd[@]} -eq 0 ]; then
        echo "$run,$sys,$bench,$label,,,unavailable," >>"$RAW"
        return
    fi
    if [ "$bench" = mem ] && [ "$label" = 10x ]; then
        local per=${MEM1M[$sys]:-} avail_kb need_gb
        avail_kb=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
        if [ -z "$per" ]; then
            echo "$run,$sys,$bench,$label,,,skipped(no 1M figure)," >>"$RAW"
            return
        fi
        need_gb=$(awk -v p="$per" 'BEGIN {printf "%.1f", p * 1e7 / 2^30}')
        if awk -v n="$need_gb" -v b="$MEM_BUDGET_GB" -v a="$avail_kb" \
            'BEGIN {exit !(n > b || n * 2^20 > a * 0.7)}'; then
            log "not running $sys mem at 10M: it would need about ${need_gb} GB (budget ${MEM_BUDGET_GB} GB)"
            echo "$run,$sys,$bench,$label,,,skipped(needs ${need_gb} GB)," >>"$RAW"
            return
        fi
    fi
    local out rc=0
    out=$(timeout "$TIMEOUT" /usr/bin/time -f "PEAKRSS_KB %M" "${cmd[@]}" "$bench" --scale "$scale" \
        --seconds "$SECONDS_IDLE" "${extra[@]}" 2>&1) || rc=$?
    { echo "### run $run $sys $bench $label (exit $rc)"; echo "$out"; } >>"$LOGF"
    local res size ms status metrics peak
    res=$(printf '%s\n' "$out" | awk '$1=="RESULT"{print $3, $4; exit}')
    size=${res% *}
    ms=${res#* }
    metrics=$(printf '%s\n' "$out" | awk '$1=="METRIC"{printf "%s%s=%s", sep, $3, $4; sep=";"}')
    peak=$(printf '%s\n' "$out" | awk '$1=="PEAKRSS_KB"{print $2; exit}')
    [ -n "$peak" ] && metrics="${metrics:+$metrics;}process_peak_rss_mb=$(awk -v k="$peak" 'BEGIN {printf "%.1f", k / 1024}')"
    status=ok
    if [ $rc -ne 0 ] || [ -z "$res" ] || printf '%s\n' "$out" | grep -q "CHECK FAILED"; then
        status="fail(exit $rc)"
        fail=1
        size=""
        ms=""
        printf '%s\n' "$out" | grep "CHECK FAILED" >&2 || true
    fi
    if [ "$bench" = mem ] && [ "$label" != 10x ] && [ "$status" = ok ]; then
        MEM1M[$sys]=$(printf '%s\n' "$out" | awk '$1=="METRIC" && $3=="bytes_per_actor"{print $4; exit}')
    fi
    echo "$run,$sys,$bench,$label,$size,$ms,$status,$metrics" >>"$RAW"
    printf '   %-7s %-10s %-5s %12s ms  %s\n' "$sys" "$bench" "$label" "${ms:--}" "$status" >&2
}

T_RUN0=$(date +%s)
for ((r = 1; r <= RUNS; r++)); do
    log "run $r of $RUNS (load $(uptime_load))"
    for e in "${plan[@]}"; do
        read -r bench label scale <<<"$e"
        # alternate the systems: the starting system rotates with the run
        for ((k = 0; k < nsys; k++)); do
            run_one "${systems[$(((r - 1 + k) % nsys))]}" "$bench" "$label" "$scale" "$r"
        done
    done
done
T_RUN=$(($(date +%s) - T_RUN0))

# ---- network rows: bench_net (Troupe node to node, raw NNG, ...) ----
# (not in --quick: bench_net has its own tests in tests/net; its fixed 20,000
# round trips per case take minutes on a loaded 2-core machine)
NETF="$RES/${TAG}net.txt"
: >"$NETF"
if [ "$QUICK" = 0 ] && want net; then
    if [ -x "$ROOT/build/release/bench/bench_net" ]; then
        log "network: bench_net"
        rc=0
        timeout "$TIMEOUT" "$ROOT/build/release/bench/bench_net" >"$NETF" 2>&1 || rc=$?
        if [ $rc -ne 0 ]; then
            echo "bench_net exited with $rc" >>"$NETF"
            log "bench_net exited with $rc"
            fail=1
        fi
    else
        skip "network: build/release/bench/bench_net not built"
    fi
fi

# supervisor figures beside Erlang/OTP: bench/supervisor.sh prints its own table
if [ -z "$ONLY" ] || [[ ",$ONLY," == *,supervisor,* ]]; then
    bash "$ROOT/bench/supervisor.sh" $([ "$QUICK" = 1 ] && echo --quick) | tee "$RES/supervisor.txt" >&2 || fail=1
fi
RTT_AFTER="$(core_rtt)"
LOAD_AFTER="$(uptime_load)"
if [ "$QUICK" = 1 ]; then DOC="$RES/quick.md"; else DOC="$ROOT/docs/benchmarks.md"; fi
log "writing the report"
T_REPORT0=$(date +%s)
python3 "$ROOT/bench/report.py" --raw "$RAW" --out "$RES" --doc "$DOC" --net "$NETF" \
    --runs "$RUNS" --seconds "$SECONDS_IDLE" --load-before "$LOAD_BEFORE" --load-after "$LOAD_AFTER" \
    --rtt-before "${RTT_BEFORE:-}" --rtt-after "${RTT_AFTER:-}" \
    --caf-opts "${CAF_OPTS:-}" --mem-budget "${MEM_BUDGET_GB} GB" --skipped "$(printf '%s\n' "${SKIPPED[@]+"${SKIPPED[@]}"}")" \
    $([ "$QUICK" = 1 ] && echo --quick)
for s in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do echo "== SKIPPED: $s" >&2; done
log "done: $DOC, $RES/${TAG}results.csv"
log "time: packages ${T_PKG} s, builds ${T_BUILD} s, benchmarks ${T_RUN} s, report $(($(date +%s) - T_REPORT0)) s, total $(($(date +%s) - T_START)) s"
exit $fail
