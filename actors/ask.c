/* Request/reply. An ask is a normal message carrying a correlation id; the
 * asker remembers (corr, timeout timer, monitor of a remote callee). The
 * reply, the failure and the timeout are delivered past the mailbox bound
 * (at most one of each per ask, plus one failure per ask a callee owes),
 * and tr_ask_accept lets through only the first. See ask.h for how a
 * callee's end fails the asks it has not answered. */
#include "actors/ask.h"

#include <stdlib.h>
#include <string.h>

#include "actors/dead_letters.h"
#include "actors/ext.h"
#include "actors/inbox_impl.h"
#include "actors/monitor_impl.h"
#include "actors/remote.h"
#include "actors/send.h"
#include "actors/timers.h"
#include "troupe/inbox.h"
#include "troupe/monitor.h"

void tr_ask_ext_fini(void *part)
{
    tr_ask_ext *ask = part;
    tr_vec_free(&ask->pending);
    tr_vec_free(&ask->owed);
}

/* ---- asker side ---- */

static bool ask_remove(tr_actor_ext *ext, uint64_t corr, tr_pending_ask *out)
{
    for (uint32_t i = 0; i < ext->ask.pending.len; i++) {
        if (ext->ask.pending.at[i].corr == corr) {
            *out = ext->ask.pending.at[i];
            tr_vec_remove_swap(&ext->ask.pending, i);
            return true;
        }
    }
    return false;
}

/* Ends a pending ask's timer and monitor (it is complete). */
static void ask_release(struct tr_actor *a, tr_actor_ext *ext, const tr_pending_ask *p)
{
    tr_timers_cancel(a->sys, p->timer);
    if (p->monitor != 0) {
        tr_remote_demonitor(a->sys, p->callee, p->monitor);
        ext->ask.nmonitored--;
    }
}

static tr_mnode *failure_node(tr_ref callee, uint64_t corr, int reason)
{
    int32_t r = reason == TR_OK ? TR_EDEAD : reason;
    tr_mnode *n = tr_mnode_copy(TR_MSG_ASK_FAILED, &r, sizeof(r));
    if (n != NULL) {
        n->msg.sender = callee;
        n->msg.corr = corr;
    }
    return n;
}

/* A DOWN for one of our asks' monitors (a remote callee ended or its node
 * went down) becomes that ask's failure. */
static tr_mnode *ask_down(struct tr_actor *a, tr_actor_ext *ext, tr_mnode *m)
{
    tr_down d;
    if (m->msg.size != sizeof(d))
        return m;
    memcpy(&d, m->msg.data, sizeof(d));
    for (uint32_t i = 0; i < ext->ask.pending.len; i++) {
        tr_pending_ask p = ext->ask.pending.at[i];
        if (p.monitor == 0 || p.monitor != d.monitor || !tr_ref_equal(p.callee, d.actor))
            continue;
        tr_vec_remove_swap(&ext->ask.pending, i);
        ext->ask.nmonitored--;
        tr_timers_cancel(a->sys, p.timer);
        tr_mnode *f = failure_node(p.callee, p.corr, d.reason);
        if (f == NULL) /* cannot say why: the timeout will */
            return m;
        tr_mnode_free(m);
        return f;
    }
    return m;
}

tr_mnode *tr_ask_accept(struct tr_actor *a, tr_mnode *m)
{
    uint32_t type = m->msg.type;
    if (type != TR_MSG_REPLY && type != TR_MSG_ASK_FAILED && type != TR_MSG_DOWN)
        return m;
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (type == TR_MSG_DOWN)
        return ext != NULL && ext->ask.nmonitored > 0 ? ask_down(a, ext, m) : m;
    tr_pending_ask p;
    if (ext == NULL || !ask_remove(ext, m->msg.corr, &p)) {
        /* a late reply (its ask already failed) is a dead letter; a second
         * failure (a callee that owed it and its node both reporting) is not */
        if (type == TR_MSG_REPLY)
            tr_dead_letter_record(a->sys, a->self, m->msg.sender, type, TR_ETIMEDOUT);
        tr_mnode_free(m);
        return NULL;
    }
    ask_release(a, ext, &p);
    return m;
}

void tr_ask_cancel_all(struct tr_actor *a)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext == NULL)
        return;
    for (uint32_t i = 0; i < ext->ask.pending.len; i++)
        ask_release(a, ext, &ext->ask.pending.at[i]);
    ext->ask.pending.len = 0;
}

int tr_ask(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size,
           uint32_t timeout_ms, uint64_t *corr)
{
    if (self == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_actor_ext *ext = tr_actor_ext_get(self);
    if (ext == NULL)
        return TR_ENOMEM;
    if (tr_vec_reserve(&ext->ask.pending, ext->ask.pending.len + 1) != 0)
        return TR_ENOMEM;
    tr_mnode *n = tr_mnode_copy(type, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    uint64_t id = ++ext->ask.next_corr;
    n->msg.sender = self->self;
    n->msg.corr = id;
    tr_timer_spec spec = {.action = TR_TIMER_NOTIFY, .target = self->self,
                          .type = TR_MSG_ASK_FAILED, .corr = id, .delay_ms = timeout_ms};
    uint64_t timer;
    int rc = tr_timers_add(self->sys, &spec, &timer);
    if (rc != TR_OK) {
        tr_mnode_free(n);
        return rc;
    }
    uint32_t slot = ext->ask.pending.len;
    tr_pending_ask ask = {.corr = id, .timer = timer, .callee = to};
    (void)tr_vec_push(&ext->ask.pending, ask); /* room reserved above */
    rc = tr_deliver(self->sys, self, to, n, false, 0);
    if (rc != TR_OK) { /* never sent: forget the ask */
        tr_pending_ask gone = {.timer = timer};
        ask_remove(ext, id, &gone);
        tr_timers_cancel(self->sys, timer);
        return rc;
    }
    if (tr_ref_is_remote(to)) {
        /* its node may go down: a monitor for the duration of the ask (a
         * local callee answers for itself when it ends, see ask.h); nothing
         * completes asks during our callback, so p stays valid */
        tr_pending_ask *p = &ext->ask.pending.at[slot];
        p->monitor = tr_monitor_new_id(self->sys);
        ext->ask.nmonitored++;
        tr_remote_monitor(self->sys, self->self, to, p->monitor);
    }
    if (corr != NULL)
        *corr = id;
    return TR_OK;
}

int tr_ask_failure(const tr_msg *msg)
{
    if (msg == NULL || msg->type != TR_MSG_ASK_FAILED)
        return TR_EINVAL;
    int32_t r;
    if (msg->size != sizeof(r))
        return TR_ETIMEDOUT; /* the timer's notice carries no payload */
    memcpy(&r, msg->data, sizeof(r));
    return r != TR_OK ? r : TR_EDEAD;
}

/* ---- callee side ---- */

_Thread_local tr_open_ask tr_tls_open_ask;

/* At most this many owed asks per actor; past it the oldest is forgotten
 * (its asker falls back on its timeout). */
#define OWED_MAX 256

void tr_ask_owe(struct tr_actor *a, const tr_msg *msg)
{
    tr_tls_open_ask.corr = 0;
    if (tr_ref_is_none(msg->sender))
        return;
    tr_actor_ext *ext = tr_actor_ext_get(a);
    if (ext == NULL)
        return;
    tr_owed_ask owed = {.asker = msg->sender, .corr = msg->corr};
    if (ext->ask.owed.len < OWED_MAX)
        (void)tr_vec_push(&ext->ask.owed, owed); /* out of memory: the asker's timeout tells */
    else
        ext->ask.owed.at[ext->ask.owed_next++ % OWED_MAX] = owed;
}

/* The caller replies to `request`: it is no longer owed. */
static void ask_replied(struct tr_actor *self, const tr_msg *request)
{
    if (request->corr == tr_tls_open_ask.corr && request->sender.id == tr_tls_open_ask.sender) {
        tr_tls_open_ask.corr = 0;
        return;
    }
    tr_actor_ext *ext = atomic_load_explicit(&self->ext, memory_order_acquire);
    if (ext == NULL)
        return;
    for (uint32_t i = 0; i < ext->ask.owed.len; i++) {
        if (ext->ask.owed.at[i].corr == request->corr &&
            tr_ref_equal(ext->ask.owed.at[i].asker, request->sender)) {
            tr_vec_remove_swap(&ext->ask.owed, i);
            return;
        }
    }
}

void tr_ask_lost(tr_system *sys, tr_ref callee, const tr_msg *msg, int reason)
{
    if (!tr_msg_is_ask(msg))
        return;
    tr_mnode *n = failure_node(callee, msg->corr, reason);
    if (n != NULL)
        tr_deliver(sys, NULL, msg->sender, n, true, 0);
}

void tr_ask_fail_owed(struct tr_actor *a, int reason)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext == NULL || ext->ask.owed.len == 0)
        return;
    for (uint32_t i = 0; i < ext->ask.owed.len; i++) {
        tr_msg m = {.type = TR_MSG_USER, .sender = ext->ask.owed.at[i].asker,
                    .corr = ext->ask.owed.at[i].corr};
        tr_ask_lost(a->sys, a->self, &m, reason);
    }
    ext->ask.owed.len = 0;
}

int tr_reply(tr_ctx *self, const tr_msg *request, const void *data, size_t size)
{
    if (self == NULL)
        return TR_EINVAL;
    tr_mnode *n;
    int rc = tr_reply_node(&self->self, request, data, size, &n);
    if (rc != TR_OK)
        return rc;
    ask_replied(self, request);
    return tr_deliver(self->sys, self, request->sender, n, true, 0);
}

/* ---- from outside threads: a thin use of an inbox ---- */

int tr_ask_wait(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                int timeout_ms, void **reply, size_t *reply_size)
{
    if (sys == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    if (tr_actor_current() != NULL)
        return TR_ECONTEXT;
    tr_inbox *in;
    int rc = tr_inbox_create_unlisted(sys, 1, &in);
    if (rc != TR_OK)
        return rc;
    uint64_t corr;
    rc = tr_inbox_ask(in, to, type, data, size, timeout_ms < 0 ? UINT32_MAX : (uint32_t)timeout_ms,
                      &corr);
    tr_inbox_msg *m = NULL;
    if (rc == TR_OK) /* the ask's own timer ends the wait */
        rc = tr_inbox_receive(in, 0, corr, -1, &m);
    if (rc == TR_OK && m->msg.type != TR_MSG_REPLY)
        rc = tr_ask_failure(&m->msg);
    void *copy = NULL;
    if (rc == TR_OK && m->msg.size > 0 && (copy = malloc(m->msg.size)) == NULL)
        rc = TR_ENOMEM;
    if (rc == TR_OK) {
        if (copy != NULL)
            memcpy(copy, m->msg.data, m->msg.size);
        if (reply_size != NULL)
            *reply_size = m->msg.size;
        if (reply != NULL)
            *reply = copy;
        else
            free(copy);
    }
    tr_inbox_msg_free(m);
    tr_inbox_destroy(in);
    return rc;
}

int tr_call(tr_system *sys, tr_ref to, uint32_t type, const void *request, size_t request_size,
            void *reply, size_t reply_size, int timeout_ms)
{
    void *got = NULL;
    size_t got_size = 0;
    int rc = tr_ask_wait(sys, to, type, request, request_size, timeout_ms, &got, &got_size);
    if (rc == TR_OK) {
        if (got_size != reply_size)
            rc = TR_EPROTO;
        else if (reply_size > 0)
            memcpy(reply, got, reply_size);
    }
    free(got);
    return rc;
}
