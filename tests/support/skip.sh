# Test support for shell tests: skipping a test that cannot run here, which
# is a failure under CI (the shell twin of tests/support/skip.h).
#   source "$(dirname "$0")/../support/skip.sh"; ... ; skip "tmux is not installed"
# Outside CI: prints "TROUPE-SKIP: reason" and exits 77 (the SKIP_RETURN_CODE
# tests/CMakeLists.txt gives shell tests). Under CI (CI set and not "", "0"
# or "false"): prints the reason and exits 1, because CI installs what the
# tests need (scripts/deps.sh) and a skip there means nothing was tested.
skip() {
    case "${CI:-}" in
        "" | 0 | false)
            echo "TROUPE-SKIP: $*"
            exit 77 ;;
        *)
            echo "FAIL: a skip is a failure under CI: $*" >&2
            exit 1 ;;
    esac
}
