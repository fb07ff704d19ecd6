/* Monitors: one-way notification that an actor ended (Erlang's monitor).
 * The watcher receives exactly one TR_MSG_DOWN per monitor, whose data is a
 * tr_down, sent past the watcher's mailbox bound (one per monitor). */
#ifndef TROUPE_MONITOR_H
#define TROUPE_MONITOR_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The payload of TR_MSG_DOWN. */
typedef struct tr_down {
    tr_ref actor;     /* the actor that ended */
    uint64_t monitor; /* the id tr_monitor returned */
    int reason;       /* its exit reason: TR_OK normal, TR_ESHUTDOWN, TR_EKILLED, a
                       * failure code, or TR_EDEAD if it was gone before the monitor */
} tr_down;

/* Makes `watcher` receive one TR_MSG_DOWN when `target` ends. If target is
 * already dead the DOWN is sent at once (with its reason if still
 * remembered, else TR_EDEAD). Writes the monitor id to *id (may be NULL).
 * Returns TR_OK, TR_EINVAL, TR_ENOMEM, or TR_EDEAD when the watcher is gone. */
TR_API int tr_monitor(tr_system *sys, tr_ref watcher, tr_ref target, uint64_t *id);

/* Removes a monitor before it fires. Returns TR_OK, or TR_ENOTFOUND when it
 * already fired (its DOWN may be queued) or never existed. */
TR_API int tr_demonitor(tr_system *sys, tr_ref target, uint64_t id);

#ifdef __cplusplus
}
#endif
#endif
