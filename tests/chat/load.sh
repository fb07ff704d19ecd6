#!/usr/bin/env bash
# A small run of the load tool (bench/chat_load.sh: 3 servers, one process of
# clients): 90 clients in 3 rooms, 2 lines/s each for 3 s. Passes when every
# line reached every other member of its room exactly once and in order (the
# load tool's own count; its timings are printed, not checked).
#   usage: load.sh path/to/troupe-chat
set -euo pipefail
exec bash "$(dirname "$0")/../../bench/chat_load.sh" "${1:?usage: load.sh path/to/troupe-chat}" 90 3 2 3
