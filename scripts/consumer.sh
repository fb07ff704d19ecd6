#!/usr/bin/env bash
# Prove the installed library is usable from outside: install Troupe into a
# temporary prefix, then build examples/pingpong as a separate project four
# ways and run each program:
#   1. find_package(Troupe) + Troupe::troupe_static
#   2. find_package(Troupe) + Troupe::troupe (shared)
#   3. pkg-config troupe (shared)
#   4. pkg-config --static troupe against libtroupe.a (Requires.private/Libs.private)
# Usage: scripts/consumer.sh            install from this tree into a temporary prefix
#        scripts/consumer.sh --system   use what is installed in /usr (the .deb packages)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

bash scripts/deps.sh
JOBS="${TROUPE_JOBS:-2}"
WORK=$(mktemp -d /tmp/troupe-consumer.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SRC="$ROOT/examples/pingpong/pingpong.c"
ROUNDS=2000

if [[ "${1:-}" == "--system" ]]; then
  PREFIX=/usr
  PCDIR=""                                   # pkg-config's own search path
  CMAKE_PREFIX=()
else
  PREFIX="$WORK/prefix"
  BUILD="build/install"
  echo "=== consumer: build and install the library into $PREFIX"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTROUPE_BUILD_TESTS=OFF \
        -DTROUPE_BUILD_EXAMPLES=OFF -DTROUPE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$BUILD" -j "$JOBS" >/dev/null
  cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
  PCDIR=$(dirname "$(find "$PREFIX" -name troupe.pc -print -quit)")
  CMAKE_PREFIX=(-DCMAKE_PREFIX_PATH="$PREFIX")
fi

passed=0
fail() { echo "consumer: FAILED: $1"; echo "FAILED: $passed passed, 1 failed"; exit 1; }
# Whether BINARY loads libtroupe.so (no `ldd | grep -q`: under pipefail grep's
# early exit can fail the pipeline with SIGPIPE).
uses_shared() { local libs; libs=$(ldd "$1"); [[ $libs == *libtroupe.so* ]]; }
run() { # NAME BINARY
  echo "=== consumer: run $1"
  "$2" "$ROUNDS" | tee "$WORK/$1.out"
  grep -q "finished $ROUNDS rounds (success)" "$WORK/$1.out" || fail "$1 did not finish its rounds"
  passed=$((passed + 1))
}

for kind in static shared; do
  shared=OFF; [[ $kind == shared ]] && shared=ON
  echo "=== consumer: find_package(Troupe) + $kind"
  cmake -S cmake/consumer -B "$WORK/cmake-$kind" "${CMAKE_PREFIX[@]}" \
        -DCONSUMER_SOURCE="$SRC" -DCONSUMER_SHARED=$shared >/dev/null || fail "configure ($kind)"
  cmake --build "$WORK/cmake-$kind" >/dev/null || fail "build ($kind)"
  if [[ $kind == shared ]]; then
    uses_shared "$WORK/cmake-$kind/consumer" || fail "find_package shared build does not use libtroupe.so"
  else
    ! uses_shared "$WORK/cmake-$kind/consumer" || fail "find_package static build uses libtroupe.so"
  fi
  run "find_package-$kind" "$WORK/cmake-$kind/consumer"
done

export PKG_CONFIG_PATH="${PCDIR}${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
LIBDIR=$(pkg-config --variable=libdir troupe)
echo "=== consumer: pkg-config troupe: $(pkg-config --cflags --libs troupe)"
# shellcheck disable=SC2046 # word splitting of the flags is intended
cc -std=c11 -Wall -Wextra -Werror "$SRC" -o "$WORK/pc-shared" \
   $(pkg-config --cflags --libs troupe) -Wl,-rpath,"$LIBDIR" || fail "pkg-config shared build"
run pkg-config-shared "$WORK/pc-shared"

static_libs=$(pkg-config --static --libs troupe)
echo "=== consumer: pkg-config --static troupe: $static_libs"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$SRC" -o "$WORK/pc-static" $(pkg-config --cflags troupe) \
   ${static_libs/-ltroupe/-l:libtroupe.a} || fail "pkg-config static build"
! uses_shared "$WORK/pc-static" || fail "pkg-config static build uses libtroupe.so"
run pkg-config-static "$WORK/pc-static"

echo "consumer: $passed passed, 0 failed"
