#!/usr/bin/env bash
# Fuzz the frame decoder with libFuzzer for a bounded time (default 60 s):
#   bash scripts/fuzz.sh [seconds]
# Installs clang when missing; builds the target with ASan+UBSan; seeds the
# corpus with valid frames of every kind; exits non-zero on any crash.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_TO_RUN="${1:-60}"
bash scripts/deps.sh
command -v clang >/dev/null || { apt-get update -q && apt-get install -y -q clang; }
OUT=build/fuzz
mkdir -p "$OUT/corpus"
CFLAGS=(-std=c11 -D_GNU_SOURCE -I. -Iinclude $(pkg-config --cflags msgpack) -g -O1)
clang "${CFLAGS[@]}" tests/fuzz/make_corpus.c net/envelope.c net/msgpack_check.c \
  $(pkg-config --libs msgpack) -o "$OUT/make_corpus"
"$OUT/make_corpus" "$OUT/corpus"
clang "${CFLAGS[@]}" -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_frame.c net/envelope.c \
  net/msgpack_check.c $(pkg-config --libs msgpack) -o "$OUT/fuzz_frame"
# rss_limit: a decoder that tries a huge allocation fails the run
setarch "$(uname -m)" -R "$OUT/fuzz_frame" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=1024 \
  -malloc_limit_mb=256 -max_len=65536 "$OUT/corpus"
