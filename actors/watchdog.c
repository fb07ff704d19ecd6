/* The per-message deadline watchdog; see watchdog.h. */
#include "actors/watchdog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "actors/metrics.h"
#include "actors/table.h"
#include "actors/timers.h"
#include "troupe/log.h"
#include "troupe/timer.h"

uint64_t tr_watchdog_arm(struct tr_actor *a)
{
    uint64_t start = tr_now_ms(), id = 0;
    tr_timer_spec spec = {.action = TR_TIMER_WATCHDOG, .target = a->self, .data = &start,
                          .size = sizeof(start), .delay_ms = a->handler_deadline_ms};
    if (tr_timers_add(a->sys, &spec, &id) != TR_OK)
        return 0;
    return id;
}

bool tr_watchdog_disarm(struct tr_actor *a, uint64_t id)
{
    return tr_timers_cancel(a->sys, id) == TR_ENOTFOUND;
}

void tr_watchdog_fire(tr_system *sys, tr_ref target, const void *data, size_t size)
{
    uint64_t start = 0;
    if (size == sizeof(start))
        memcpy(&start, data, sizeof(start));
    char name[64] = "";
    uint32_t deadline = 0;
    struct tr_actor *a;
    tr_table *t = tr_system_table(sys);
    if (tr_table_acquire(t, target, false, &a) == TR_OK) {
        tr_actor_name(sys, target, name, sizeof(name));
        deadline = a->handler_deadline_ms;
        tr_table_release(t, target);
    }
    tr_metrics_deadline_overrun(sys);
    /* logged even when nobody reads the metrics: a blocked worker must be
     * visible (as Tokio warns about blocked workers) */
    char ref[TR_REF_FORMAT_MAX];
    tr_log(TR_LOG_WARN, "watchdog",
           "actor '%s' %s has been in one handler for %" PRIu64 " ms, past its %" PRIu32
           " ms deadline; it fails with TR_EDEADLINE when the handler returns",
           name, tr_ref_format(target, ref, sizeof(ref)), tr_now_ms() - start, deadline);
}
