#!/usr/bin/env bash
# Line and branch coverage of the runtime, per folder: scripts/coverage.sh
# Builds the coverage preset (gcc --coverage with atomic counters: the runtime
# is multi-threaded; Debug), runs the ctest suite
# (TROUPE_TEST_LABEL=unit limits it to one label), then prints what gcovr
# (Debian's) measured for each runtime folder and in total. The HTML report
# with every line is build/coverage/html/index.html.
# TROUPE_JOBS sets build parallelism (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh gcovr

JOBS="${TROUPE_JOBS:-2}"
FOLDERS=(actors mailbox supervisor net observe) # the library's folders (CMakeLists.txt TROUPE_SOURCES)
OUT=build/coverage

cmake --preset coverage
cmake --build --preset coverage -j "$JOBS"
find "$OUT" -name '*.gcda' -delete # counts from this run only

ctest_args=(--preset coverage)
if [[ -n "${TROUPE_TEST_LABEL:-}" ]]; then
  ctest_args+=(-L "$TROUPE_TEST_LABEL")
fi
ctest "${ctest_args[@]}"

filters=()
for f in "${FOLDERS[@]}"; do filters+=(--filter "$f/"); done
mkdir -p "$OUT/html"
# Branches the compiler adds where no source decision exists are left out.
gcovr --root . --object-directory "$OUT" "${filters[@]}" --exclude-unreachable-branches \
  --exclude-directories "$OUT/CMakeFiles/[0-9]" \
  --json-summary "$OUT/summary.json" --html-details "$OUT/html/index.html" >/dev/null

# Per folder: sum the per-file counts of gcovr's JSON summary.
python3 - "$OUT/summary.json" "${FOLDERS[@]}" <<'EOF'
import json, sys

summary = json.load(open(sys.argv[1]))
folders = sys.argv[2:]
rows = {f: [0, 0, 0, 0] for f in folders}
for entry in summary["files"]:
    top = entry["filename"].split("/")[0]
    if top in rows:
        r = rows[top]
        r[0] += entry["line_covered"]
        r[1] += entry["line_total"]
        r[2] += entry["branch_covered"]
        r[3] += entry["branch_total"]

def pct(a, b):
    return f"{100.0 * a / b:5.1f}%" if b else "    -"

print(f"{'folder':<12} {'lines':>8} {'covered':>15} {'branches':>9} {'covered':>15}")
total = [0, 0, 0, 0]
for f in folders:
    r = rows[f]
    total = [t + x for t, x in zip(total, r)]
    print(f"{f + '/':<12} {pct(r[0], r[1]):>8} {r[0]:>7} of {r[1]:<5} {pct(r[2], r[3]):>9} {r[2]:>7} of {r[3]:<5}")
print(f"{'total':<12} {pct(total[0], total[1]):>8} {total[0]:>7} of {total[1]:<5} "
      f"{pct(total[2], total[3]):>9} {total[2]:>7} of {total[3]:<5}")
EOF
echo "coverage: line-by-line report in $OUT/html/index.html"
