#!/usr/bin/env bash
# Install the Debian packages needed to build and test Troupe (idempotent).
#   scripts/deps.sh [extra-package ...]   (e.g. scripts/coverage.sh adds gcovr)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config   # toolchain (gcc-12 brings libasan/libtsan/libubsan)
  libnng-dev libmsgpack-dev          # runtime dependencies
  libssl-dev                         # OpenSSL libcrypto: HMAC-SHA256 of the node handshake
  libcriterion-dev                   # test framework
  valgrind                           # scripts/valgrind-examples.sh
  util-linux                         # setarch: ASLR workaround for sanitizers
  iproute2 openssl                   # net tests: namespaces (ip netns), throwaway TLS certificates
  libreadline-dev tmux               # chat: the terminal's input line (readline), its tmux test
  libsqlite3-dev                     # chat: room history on disk
  iptables                           # partitions between namespaces (tests/chaos)
  tmux                               # tests/chat/tmux.sh: what a person sees in a terminal
  chromium nodejs                    # scripts/dashboard-test.sh: headless browser and its driver
)

PACKAGES+=("$@")

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
# npm (tests/browser): Debian's package, unless the installed nodejs brings its own.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

# Root runs apt-get directly; otherwise go through sudo when there is one.
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "deps: missing ${missing[*]} and not root (no sudo)" >&2
    exit 1
  fi
fi

echo "deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
