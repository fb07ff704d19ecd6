#!/usr/bin/env bash
# Build the default preset and run the examples (pingpong, then fanout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh
cmake --preset default
cmake --build --preset default -j "${TROUPE_JOBS:-2}"

for ex in pingpong fanout; do
  echo "=== $ex"
  "build/default/examples/$ex"
done
