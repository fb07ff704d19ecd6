#!/usr/bin/env bash
# Build the Debian packages (libtroupe0, libtroupe-dev, troupe-chat) into
# build/package/, then, with --install-test: install them on this machine
# with apt (which must find every Depends), build and run examples/pingpong
# against them as an outside project (scripts/consumer.sh --system), run the
# installed troupe-chat, and remove the packages again.
#
#   scripts/package.sh                  build the .deb files
#   scripts/package.sh --install-test   build, install, check, remove (CI; root)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh
BUILD=build/package
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DTROUPE_BUILD_TESTS=OFF -DTROUPE_BUILD_BENCH=OFF -DTROUPE_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$BUILD" -j "${TROUPE_JOBS:-2}" >/dev/null
rm -f "$BUILD"/*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEBS=("$BUILD"/libtroupe0_*.deb "$BUILD"/libtroupe-dev_*.deb "$BUILD"/troupe-chat_*.deb)
for deb in "${DEBS[@]}"; do
    [[ -f $deb ]] || { echo "package: $deb missing"; echo "FAILED: 0 passed, 1 failed"; exit 1; }
    echo "=== $(basename "$deb")"
    dpkg-deb --field "$deb" Package Version Architecture Depends
    dpkg-deb --contents "$deb" | awk '{print "    " $6 ($7 ? " " $7 " " $8 : "")}'
done

[[ "${1:-}" == "--install-test" ]] || exit 0

PKGS=(libtroupe0 libtroupe-dev troupe-chat)
remove() { apt-get purge -y -q "${PKGS[@]}" >/dev/null 2>&1 || true; }
trap remove EXIT
echo "=== package: apt-get install ${DEBS[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${DEBS[@]/#/./}" >/dev/null
dpkg -s "${PKGS[@]}" | grep -E '^(Package|Status|Depends):'

echo "=== package: troupe-chat from the package"
out=$(troupe-chat --help 2>&1 || true)
grep -q "troupe-chat server" <<<"$out" || { echo "package: installed troupe-chat does not run: $out"; exit 1; }
echo "$out" | head -1
bash scripts/consumer.sh --system
