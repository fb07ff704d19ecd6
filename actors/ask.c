/* Request/reply. An ask is a normal message carrying a correlation id; the
 * asker remembers (corr, timeout timer). The reply and the timeout are both
 * delivered past the mailbox bound (there is at most one of each per ask),
 * and tr_ask_accept lets through only the first of the two. */
#include "actors/ask.h"

#include <stdlib.h>
#include <string.h>

#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/timers.h"

static bool ask_remove(tr_actor_ext *ext, uint64_t corr, uint64_t *timer)
{
    for (uint32_t i = 0; i < ext->nasks; i++) {
        if (ext->asks[i].corr == corr) {
            *timer = ext->asks[i].timer;
            ext->asks[i] = ext->asks[--ext->nasks];
            return true;
        }
    }
    return false;
}

bool tr_ask_accept(struct tr_actor *a, tr_mnode *m)
{
    uint32_t type = m->msg.type;
    if (type != TR_MSG_REPLY && type != TR_MSG_ASK_TIMEOUT)
        return true;
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    uint64_t timer = 0;
    if (ext == NULL || !ask_remove(ext, m->msg.corr, &timer)) {
        if (type == TR_MSG_REPLY) /* late reply: its ask already timed out */
            tr_dead_letter_record(a->sys, a->self, m->msg.sender, type, TR_ETIMEDOUT);
        return false;
    }
    if (type == TR_MSG_REPLY)
        tr_timers_cancel(a->sys, timer);
    return true;
}

void tr_ask_cancel_all(struct tr_actor *a)
{
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext == NULL)
        return;
    for (uint32_t i = 0; i < ext->nasks; i++)
        tr_timers_cancel(a->sys, ext->asks[i].timer);
    ext->nasks = 0;
}

int tr_ask(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size,
           uint32_t timeout_ms, uint64_t *corr)
{
    if (self == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_actor_ext *ext = tr_actor_ext_get(self);
    if (ext == NULL)
        return TR_ENOMEM;
    if (ext->nasks == ext->asks_cap) {
        uint32_t cap = ext->asks_cap ? ext->asks_cap * 2 : 4;
        tr_pending_ask *grown = realloc(ext->asks, cap * sizeof(*grown));
        if (grown == NULL)
            return TR_ENOMEM;
        ext->asks = grown;
        ext->asks_cap = cap;
    }
    tr_mnode *n = tr_mnode_copy(type, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    uint64_t id = ++ext->next_corr;
    n->msg.sender = self->self;
    n->msg.corr = id;
    tr_timer_spec spec = {.action = TR_TIMER_NOTIFY, .target = self->self,
                          .type = TR_MSG_ASK_TIMEOUT, .corr = id, .delay_ms = timeout_ms};
    uint64_t timer;
    int rc = tr_timers_add(self->sys, &spec, &timer);
    if (rc != TR_OK) {
        tr_mnode_free(n);
        return rc;
    }
    ext->asks[ext->nasks++] = (tr_pending_ask){.corr = id, .timer = timer};
    rc = tr_deliver(self->sys, self, to, n, false, 0);
    if (rc != TR_OK) { /* never sent: forget the ask */
        uint64_t t = timer;
        ask_remove(ext, id, &t);
        tr_timers_cancel(self->sys, t);
        return rc;
    }
    if (corr != NULL)
        *corr = id;
    return TR_OK;
}

int tr_reply(tr_ctx *self, const tr_msg *request, const void *data, size_t size)
{
    if (self == NULL || request == NULL || request->corr == 0 || tr_ref_is_none(request->sender) ||
        request->type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_mnode *n = tr_mnode_copy(TR_MSG_REPLY, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    n->msg.sender = self->self;
    n->msg.corr = request->corr;
    return tr_deliver(self->sys, self, request->sender, n, true, 0);
}

/* ---- tr_ask_wait: an outside thread asks through a short-lived actor ---- */

typedef struct ask_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool done;
    int rc;
    void *reply;
    size_t reply_size;
    tr_ref to;
    uint32_t type;
    const void *data;
    size_t size;
    uint32_t timeout_ms;
} ask_waiter;

static void ask_waiter_finish(ask_waiter *w, int rc, const tr_msg *reply)
{
    pthread_mutex_lock(&w->lock);
    if (!w->done) {
        w->rc = rc;
        if (reply != NULL && reply->size > 0) {
            w->reply = malloc(reply->size);
            if (w->reply == NULL)
                w->rc = TR_ENOMEM;
            else
                memcpy(w->reply, reply->data, reply->size);
        }
        w->reply_size = w->reply != NULL ? reply->size : 0;
        w->done = true;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->lock);
}

static int ask_waiter_init(tr_ctx *self, void *state, void *arg)
{
    ask_waiter *w = arg;
    *(ask_waiter **)state = w;
    int rc = tr_ask(self, w->to, w->type, w->data, w->size, w->timeout_ms, NULL);
    if (rc != TR_OK) {
        ask_waiter_finish(w, rc, NULL);
        tr_stop_self(self);
    }
    return TR_OK;
}

static int ask_waiter_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    ask_waiter *w = *(ask_waiter **)state;
    if (msg->type == TR_MSG_REPLY)
        ask_waiter_finish(w, TR_OK, msg);
    else if (msg->type == TR_MSG_ASK_TIMEOUT)
        ask_waiter_finish(w, TR_ETIMEDOUT, NULL);
    tr_stop_self(self);
    return TR_OK;
}

static const tr_behaviour ask_waiter_behaviour = {
    .init = ask_waiter_init,
    .handle = ask_waiter_handle,
    .state_size = sizeof(ask_waiter *),
};

int tr_ask_wait(tr_system *sys, tr_ref to, uint32_t type, const void *data, size_t size,
                int timeout_ms, void **reply, size_t *reply_size)
{
    if (sys == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    if (tr_actor_current() != NULL)
        return TR_ECONTEXT;
    ask_waiter w = {.to = to, .type = type, .data = data, .size = size,
                    .timeout_ms = timeout_ms < 0 ? UINT32_MAX : (uint32_t)timeout_ms};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cv, NULL);
    tr_ref waiter;
    int rc = tr_spawn(sys, &ask_waiter_behaviour, &w, NULL, &waiter);
    if (rc == TR_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.lock);
        pthread_mutex_unlock(&w.lock);
        /* the waiter actor reads w until its callback returns: wait for its end */
        tr_await_exit(sys, waiter, -1, NULL);
        rc = w.rc;
    }
    if (rc == TR_OK) {
        if (reply != NULL)
            *reply = w.reply;
        else
            free(w.reply);
        if (reply_size != NULL)
            *reply_size = w.reply_size;
    } else {
        free(w.reply);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.lock);
    return rc;
}
