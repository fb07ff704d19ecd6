#!/usr/bin/env bash
# Run each example of the default build under valgrind memcheck; any error or leak fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

EXAMPLES=(pingpong fanout)
BUILD=build/default

bash scripts/deps.sh
# Configure once, then let the build tool decide what is out of date.
[[ -f "$BUILD/CMakeCache.txt" ]] || cmake --preset default
cmake --build --preset default -j "${TROUPE_JOBS:-2}" --target "${EXAMPLES[@]}"

passed=0
for ex in "${EXAMPLES[@]}"; do
  bin="$BUILD/examples/$ex"
  [[ -x "$bin" ]] || { echo "valgrind: $bin missing" >&2; exit 1; }
  echo "=== valgrind $ex"
  if ! timeout 900 valgrind --leak-check=full \
      --errors-for-leak-kinds=definite,indirect,possible \
      --error-exitcode=1 -q "$bin"; then
    echo "valgrind: $ex FAILED"
    echo "FAILED: $passed passed, 1 failed"
    exit 1
  fi
  passed=$((passed + 1))
done
echo "valgrind: $passed passed, 0 failed"
