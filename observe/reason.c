/* Short names of error codes, end kinds and member states, used as label
 * values in /metrics and /api/overview. */
#include <stddef.h>

#include "observe/render.h"
#include "troupe/errors.h"

/* The label value of a reason: the error code's name without TR_E. */
const char *tr_observe_reason_label(int code)
{
    static const char *const names[] = {
        [TR_OK] = "other",          [TR_EINVAL] = "inval",         [TR_ENOMEM] = "nomem",
        [TR_EDEAD] = "dead",        [TR_EFULL] = "full",           [TR_ETIMEDOUT] = "timedout",
        [TR_ECLOSED] = "closed",    [TR_ESTOPPING] = "stopping",   [TR_ENOTFOUND] = "notfound",
        [TR_ECONTEXT] = "context",  [TR_ESHUTDOWN] = "shutdown",   [TR_EKILLED] = "killed",
        [TR_EFAILED] = "failed",    [TR_EDROPPED] = "dropped",     [TR_ETOOBIG] = "toobig",
        [TR_EINTENSITY] = "intensity", [TR_EDEADLINE] = "deadline", [TR_ECANCELLED] = "cancelled",
        [TR_ENODEDOWN] = "nodedown", [TR_ENOTCONN] = "notconn",    [TR_EREFUSED] = "refused",
        [TR_EPROTO] = "proto",      [TR_EEXIST] = "exist",         [TR_EADDR] = "addr",
    };
    if (code >= 0 && (size_t)code < sizeof(names) / sizeof(names[0]) && names[code] != NULL)
        return names[code];
    return "other";
}

const char *tr_observe_end_label(tr_end_kind kind)
{
    static const char *const names[TR_END_KINDS] = {
        [TR_END_NORMAL] = "normal",       [TR_END_SHUTDOWN] = "shutdown",
        [TR_END_KILLED] = "killed",       [TR_END_CANCELLED] = "cancelled",
        [TR_END_CRASHED] = "crashed",
    };
    return (unsigned)kind < TR_END_KINDS ? names[kind] : "crashed";
}

const char *tr_observe_member_state(tr_member_state state)
{
    switch (state) {
    case TR_MEMBER_CONNECTING: return "connecting";
    case TR_MEMBER_UP: return "up";
    case TR_MEMBER_DOWN: return "down";
    case TR_MEMBER_LEFT: return "left";
    }
    return "unknown";
}
