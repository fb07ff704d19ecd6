# Sourced by the browser tests (chat-browser-test.sh, dashboard-test.sh),
# from the repository root; brings chat_wait_ready (chat-ready.sh) along.
#
#   browser_prepare DEFAULT_SHOT [SHOT]
#
# Sets SHOT to the screenshot to write (SHOT if given, else DEFAULT_SHOT; an
# absolute path) and makes its folder, installs the dependencies
# (scripts/deps.sh) and the browser driver (tests/browser, playwright-core
# from npm), and sets CHAT to the troupe-chat to test: $TROUPE_CHAT when set
# (another build, e.g. under TSan), else the default preset's, built first.
source scripts/chat-ready.sh

browser_prepare() {
    SHOT=$(realpath -m "${2:-$1}")
    mkdir -p "$(dirname "$SHOT")"
    bash scripts/deps.sh
    if [[ -z ${TROUPE_CHAT:-} ]]; then
        [[ -f build/default/CMakeCache.txt ]] || cmake --preset default >/dev/null
        cmake --build --preset default -j "${TROUPE_JOBS:-2}" --target troupe-chat >/dev/null
    fi
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
    CHAT=$(realpath "${TROUPE_CHAT:-build/default/examples/chat/troupe-chat}")
}
