/* Links: two-way exit propagation between actors (Erlang's link).
 *
 * When a linked actor ends with an abnormal reason (anything but TR_OK),
 * every partner that does not trap exits ends with the same reason
 * (TR_EKILLED stays TR_EKILLED, TR_ESHUTDOWN stays TR_ESHUTDOWN). A partner
 * that traps exits (tr_trap_exits) instead receives one TR_MSG_EXIT whose
 * data is a tr_exit_signal, for normal exits too. A normal exit (TR_OK) of
 * a partner does nothing to an actor that does not trap.
 *
 * Links are symmetric, idempotent (linking twice is one link) and removed
 * when either side ends or tr_unlink is called; each exit signal is
 * delivered exactly once. Exit signals overtake queued messages: a
 * non-trapping partner starts failing before it handles anything else. */
#ifndef TROUPE_LINK_H
#define TROUPE_LINK_H

#include "troupe/actor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The payload of TR_MSG_EXIT (msg->sender is `from` as well). */
typedef struct tr_exit_signal {
    tr_ref from; /* the linked actor that ended */
    int reason;  /* its exit reason, or TR_EDEAD if it was gone before the link
                  * and its reason is no longer remembered */
} tr_exit_signal;

/* Links `a` and `b`. Any thread. If one of them has already ended, the other
 * gets its exit signal at once, as if it had just died (with its remembered
 * reason, else TR_EDEAD). Returns TR_OK, TR_EINVAL (a none ref or a == b),
 * TR_ENOMEM, or TR_EDEAD when both have ended. */
TR_API int tr_link(tr_system *sys, tr_ref a, tr_ref b);

/* Removes the link between `a` and `b`; no exit signal travels along it
 * afterwards. Any thread. Returns TR_OK, or TR_ENOTFOUND when they were not
 * linked (or one had already ended and taken the link with it). */
TR_API int tr_unlink(tr_system *sys, tr_ref a, tr_ref b);

/* From a callback: turns trapping of exits on or off for the calling actor.
 * Exit signals are judged when they arrive, with the setting of that moment.
 * Call it in init to trap from the start. */
TR_API void tr_trap_exits(tr_ctx *self, bool on);

#ifdef __cplusplus
}
#endif
#endif
