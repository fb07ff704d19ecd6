# Sourced by scripts that start troupe-chat servers (demo.sh,
# valgrind-examples.sh): waits until a server has said it is ready.
#
#   chat_wait_ready FILE NAME SECONDS WHO
#
# Returns 0 once FILE (the server's output) has the line "server NAME ready";
# after SECONDS, prints "WHO: server NAME did not start" and FILE to stderr
# and returns 1.
chat_wait_ready() {
    local file=$1 name=$2 end=$((SECONDS + $3)) who=$4
    until grep -q "^server $name ready" "$file" 2>/dev/null; do
        if (( SECONDS >= end )); then
            echo "$who: server $name did not start" >&2
            cat "$file" >&2
            return 1
        fi
        sleep 0.1
    done
}
