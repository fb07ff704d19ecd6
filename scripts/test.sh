#!/usr/bin/env bash
# Configure, build and test each flavour: scripts/test.sh [default|asan|tsan ...]
# TROUPE_TEST_LABEL=unit limits ctest to one label.
# TROUPE_JOBS sets build parallelism (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh

FLAVOURS=("$@")
[[ ${#FLAVOURS[@]} -gt 0 ]] || FLAVOURS=(default asan tsan)
JOBS="${TROUPE_JOBS:-2}"
EXAMPLES=(pingpong fanout echo bank crawler restart_state)
LOGDIR="build/logs"
mkdir -p "$LOGDIR"

# Sanitizer runtimes (gcc 12 / clang 14) break when the kernel uses more than
# 28 bits of mmap randomness ("FATAL: ThreadSanitizer: unexpected memory
# mapping", ASan segfaults or hangs). Running the tests with ASLR disabled via
# setarch -R fixes that; the personality is inherited by every test process.
# Fallback where personality() is refused: lower vm.mmap_rnd_bits to 28 for
# the duration of this script (root only), restoring it on exit.
SAN_WRAP=()
ORIG_RND_BITS=""
restore_rnd_bits() {
  if [[ -n "$ORIG_RND_BITS" ]]; then
    echo "$ORIG_RND_BITS" > /proc/sys/vm/mmap_rnd_bits || true
  fi
}
trap restore_rnd_bits EXIT
setup_san_wrap() {
  [[ ${#SAN_WRAP[@]} -eq 0 && -z "$ORIG_RND_BITS" ]] || return 0
  if setarch "$(uname -m)" -R true 2>/dev/null; then
    SAN_WRAP=(setarch "$(uname -m)" -R)
    return 0
  fi
  local bits
  bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)"
  if (( bits > 28 )); then
    if [[ -w /proc/sys/vm/mmap_rnd_bits ]]; then
      echo "test: setarch -R unavailable; lowering vm.mmap_rnd_bits $bits -> 28 for this run"
      ORIG_RND_BITS="$bits"
      echo 28 > /proc/sys/vm/mmap_rnd_bits
    else
      echo "test: WARNING vm.mmap_rnd_bits=$bits and no setarch -R: sanitizers may crash" >&2
    fi
  fi
}

# Pull "N tests failed out of M" from a ctest log; prints "passed failed skipped".
# ctest counts a skipped test as not failed: it is taken out of the passes here.
ctest_counts() {
  local line
  line="$(grep -E 'tests? passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1 || true)"
  if [[ -z "$line" ]]; then echo "0 0 0"; return; fi
  local failed total skipped
  failed="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  skipped="$(ctest_skipped "$1" | grep -c . || true)"
  echo "$((total - failed - skipped)) $failed $skipped"
}

# The names of the tests a ctest log reports as skipped, one a line.
ctest_skipped() {
  sed -n '/The following tests did not run:/,/^$/p' "$1" | grep -E '\(Skipped\)' \
    | sed -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(Skipped\).*/\1/' || true
}

# Under CI a skip is a failure (tests/support/skip.h, skip.sh make the tests
# themselves fail); this catches a skip that went around them.
under_ci() { case "${CI:-}" in "" | 0 | false) return 1 ;; *) return 0 ;; esac; }

TOTAL_PASSED=0
TOTAL_SKIPPED=0
SUMMARY=()
SKIPPED=()
for flavour in "${FLAVOURS[@]}"; do
  echo "=== [$flavour] configure"
  cmake --preset "$flavour"
  echo "=== [$flavour] build"
  cmake --build --preset "$flavour" -j "$JOBS"

  wrap=()
  ctest_args=(--preset "$flavour")
  case "$flavour" in
    asan|tsan) setup_san_wrap; wrap=("${SAN_WRAP[@]}") ;;
  esac
  if [[ -n "${TROUPE_TEST_LABEL:-}" ]]; then
    ctest_args+=(-L "$TROUPE_TEST_LABEL")
  fi

  echo "=== [$flavour] test: ${wrap[*]:+${wrap[*]} }ctest ${ctest_args[*]}"
  log="$LOGDIR/ctest-$flavour.log"
  if ! "${wrap[@]}" ctest "${ctest_args[@]}" 2>&1 | tee "$log"; then
    read -r passed failed skipped < <(ctest_counts "$log")
    echo "test: [$flavour] FAILED in ctest ($passed passed, $failed failed, $skipped skipped; log $log)"
    echo "FAILED: $passed passed, $failed failed"
    exit 1
  fi
  read -r passed failed skipped < <(ctest_counts "$log")
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
  while read -r name; do
    if [[ -n "$name" ]]; then SKIPPED+=("[$flavour] $name"); fi
  done < <(ctest_skipped "$log")
  if (( skipped > 0 )) && under_ci; then
    echo "test: [$flavour] FAILED: $skipped skipped under CI=$CI (a skip is a failure in CI):"
    ctest_skipped "$log" | sed 's/^/  skipped: /'
    exit 1
  fi
  extra=""
  (( skipped == 0 )) || extra=", $skipped SKIPPED"

  # Sanitizer flavours also run the examples.
  if [[ "$flavour" == asan || "$flavour" == tsan ]]; then
    ran=0
    for ex in "${EXAMPLES[@]}"; do
      bin="build/$flavour/examples/$ex"
      [[ -x "$bin" ]] || continue
      echo "=== [$flavour] example $ex"
      if ! ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
           TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
           timeout 300 "${wrap[@]}" "$bin"; then
        echo "test: [$flavour] FAILED: example $ex under sanitizer"
        echo "FAILED: $((TOTAL_PASSED + ran)) passed, 1 failed"
        exit 1
      fi
      ran=$((ran + 1))
    done
    TOTAL_PASSED=$((TOTAL_PASSED + ran))
    extra="$extra, $ran examples ok"
  fi
  SUMMARY+=("test: [$flavour] OK: $passed ctest tests passed$extra")
  echo "${SUMMARY[-1]}"
done

echo "=== summary (${FLAVOURS[*]})"
printf '%s\n' "${SUMMARY[@]}"
if (( ${#SKIPPED[@]} > 0 )); then
  echo "skipped (tested nothing; a failure under CI):"
  printf '  %s\n' "${SKIPPED[@]}"
fi
echo "total: $TOTAL_PASSED passed, 0 failed, $TOTAL_SKIPPED skipped"
