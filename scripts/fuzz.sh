#!/usr/bin/env bash
# Fuzz the network decoders with libFuzzer for a bounded time each
# (default 60 s): the data frame decoder (net/envelope.c), the
# handshake message decoder (net/handshake_msg.c) and the process-group
# payload decoder (net/pg_wire.c).
#   bash scripts/fuzz.sh [seconds]
# Installs clang when missing; builds each target with ASan+UBSan; seeds
# the corpus with valid frames/messages of every kind plus the kept inputs
# of tests/fuzz/corpus/<target>/ (replayed by the fuzz_replay_* ctests);
# exits non-zero on any crash. Copy a crash file into tests/fuzz/corpus/<target>/
# once fixed, so CI keeps replaying it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_TO_RUN="${1:-60}"
bash scripts/deps.sh
command -v clang >/dev/null || { apt-get update -q && apt-get install -y -q clang; }
OUT=build/fuzz
mkdir -p "$OUT/corpus/frame" "$OUT/corpus/handshake" "$OUT/corpus/pg"
CFLAGS=(-std=c11 -D_GNU_SOURCE -I. -Iinclude $(pkg-config --cflags msgpack) -g -O1)
LIBS=($(pkg-config --libs msgpack) -lcrypto)
DECODERS=(net/envelope.c net/msgpack_check.c net/handshake_msg.c net/pg_wire.c)
clang "${CFLAGS[@]}" tests/fuzz/make_corpus.c "${DECODERS[@]}" "${LIBS[@]}" -o "$OUT/make_corpus"
"$OUT/make_corpus" "$OUT/corpus"
for target in frame handshake pg; do
  cp tests/fuzz/corpus/$target/* "$OUT/corpus/$target/" 2>/dev/null || true
  clang "${CFLAGS[@]}" -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_$target.c "${DECODERS[@]}" \
    "${LIBS[@]}" -o "$OUT/fuzz_$target"
  # rss_limit: a decoder that tries a huge allocation fails the run
  setarch "$(uname -m)" -R "$OUT/fuzz_$target" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=1024 \
    -malloc_limit_mb=256 -max_len=65536 "$OUT/corpus/$target"
done
