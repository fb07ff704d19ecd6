/* Crash reports: one log line (log.h, TR_LOG_ERROR, subsystem "crash") when
 * an actor fails: its name and reference, behaviour, parent, what it was
 * doing (init, or the message type and sender it was handling), its queue
 * length and the reason, named through tr_strerror (so an application's
 * registered names appear). Erlang's proc_lib crash report, in one line; the
 * supervisor's decision follows in a line of its own (supervisor.c). */
#include <inttypes.h>
#include <stdio.h>

#include "actors/crash.h"
#include "actors/ext.h"
#include "actors/system_impl.h"
#include "troupe/log.h"

char *tr_ref_format(tr_ref ref, char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return buf;
    snprintf(buf, len, "<%" PRIu32 ".%" PRIu64 ".%" PRIu64 ">", tr_ref_node(ref),
             (uint64_t)(ref.id & ((UINT64_C(1) << 25) - 1)),
             (uint64_t)((ref.id >> 25) & ((UINT64_C(1) << 27) - 1)));
    return buf;
}

static const char *name_of(const struct tr_actor *a)
{
    tr_actor_ext *ext = a != NULL ? atomic_load_explicit(&a->ext, memory_order_acquire) : NULL;
    return ext != NULL && ext->name != NULL ? ext->name : "";
}

/* "type 257", or the name of a runtime message type. */
static const char *type_name(uint32_t type, char *buf, size_t len)
{
    static const char *const runtime[] = {
        [TR_MSG_REPLY] = "TR_MSG_REPLY",         [TR_MSG_ASK_TIMEOUT] = "TR_MSG_ASK_TIMEOUT",
        [TR_MSG_GROUP_DONE] = "TR_MSG_GROUP_DONE", [TR_MSG_DOWN] = "TR_MSG_DOWN",
        [TR_MSG_DEAD_LETTER] = "TR_MSG_DEAD_LETTER", [TR_MSG_EXIT] = "TR_MSG_EXIT",
        [TR_MSG_CANCELLED] = "TR_MSG_CANCELLED",
    };
    if (type < sizeof(runtime) / sizeof(runtime[0]) && runtime[type] != NULL)
        return runtime[type];
    snprintf(buf, len, "type %" PRIu32, type);
    return buf;
}

bool tr_crash_reports_on(tr_system *sys)
{
    return !sys->cfg.quiet_crashes && tr_log_enabled(TR_LOG_ERROR);
}

void tr_crash_report(struct tr_actor *a, const tr_msg *msg, int reason)
{
    if (!tr_crash_reports_on(a->sys))
        return;
    char self[TR_REF_FORMAT_MAX], parent[TR_REF_FORMAT_MAX], from[TR_REF_FORMAT_MAX];
    char doing[96], type[24];
    tr_ref_format(a->self, self, sizeof(self));
    if (msg == NULL)
        snprintf(doing, sizeof(doing), "in init");
    else if (tr_ref_is_none(msg->sender))
        snprintf(doing, sizeof(doing), "handling message %s%s",
                 type_name(msg->type, type, sizeof(type)), msg->corr != 0 ? " (an ask)" : "");
    else
        snprintf(doing, sizeof(doing), "handling message %s%s from %s",
                 type_name(msg->type, type, sizeof(type)), msg->corr != 0 ? " (an ask)" : "",
                 tr_ref_format(msg->sender, from, sizeof(from)));
    if (a->parent != NULL)
        tr_ref_format(a->parent->self, parent, sizeof(parent));
    tr_log(TR_LOG_ERROR, "crash",
           "actor '%s' %s (behaviour '%s') failed %s: reason %d '%s'; queue %" PRIu32
           "; parent %s%s%s%s",
           name_of(a), self, a->beh->name != NULL ? a->beh->name : "", doing, reason,
           tr_strerror(reason), tr_actor_queued(a), a->parent != NULL ? "'" : "none",
           a->parent != NULL ? name_of(a->parent) : "", a->parent != NULL ? "' " : "",
           a->parent != NULL ? parent : "");
}
