#!/usr/bin/env bash
# Builds the Tokio peer offline against Debian's crates (apt-get install cargo
# librust-tokio-dev librust-tokio-util-dev), with Debian's cargo and rustc even
# when a rustup toolchain is first on PATH, so the result is the same as on a
# fresh Debian 12 machine.
#
#   bash bench/peers/tokio/build.sh TARGET_DIR [PROFILE]
#       -> TARGET_DIR/PROFILE/tokio_bench (PROFILE: release (default) or quick)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${1:?target dir}
PROFILE=${2:-release}
CARGO=/usr/bin/cargo
RUSTC=/usr/bin/rustc
[ -x "$CARGO" ] || CARGO=cargo
[ -x "$RUSTC" ] || RUSTC=rustc
mkdir -p "$TARGET"
TARGET=$(cd "$TARGET" && pwd)
# the lock file is written next to the manifest; keep it in the target dir
cd "$HERE"
CARGO_HOME="$TARGET/cargo-home" RUSTC="$RUSTC" "$CARGO" build --profile "$PROFILE" --offline --quiet \
    --manifest-path "$HERE/Cargo.toml" --target-dir "$TARGET"
