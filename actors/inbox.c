/* Inboxes (include/troupe/inbox.h): an actor that moves every message it
 * receives into a queue under a mutex, and the outside thread that reads it
 * under a condition variable. Asks made for the outside thread run inside
 * the actor (tr_ask needs one), requested by an internal message that
 * carries a pointer to the caller's request; the caller waits until the
 * actor has taken it, or has ended. */
#include <stdlib.h>
#include <string.h>

#include "actors/actor_impl.h"
#include "actors/ask.h"
#include "actors/clock.h"
#include "actors/dead_letters.h"
#include "actors/ext.h"
#include "actors/inbox_impl.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "troupe/inbox.h"
#include "troupe/link.h"

/* The internal request "ask this for me" (below TR_MSG_USER: no sender
 * outside the library can make one; tr_post and the network refuse it). */
#define INBOX_ASK (TR_MSG_USER - 1)

typedef struct inbox_node {
    struct inbox_node *next;
    tr_inbox_msg m; /* payload bytes follow */
} inbox_node;

struct tr_inbox {
    tr_system *sys;
    tr_ref ref;
    uint32_t capacity;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    inbox_node *head, *tail; /* under lock */
    uint32_t user_queued;    /* application messages queued (the bound) */
    bool dead;               /* the actor has ended (terminate ran) */
    /* in the system's list of open inboxes (tr_inbox_create's only; under
     * sys->inboxes.lock): tr_system_destroy destroys those left open */
    bool listed;
    tr_list_node in_list;
};

typedef struct inbox_ask {
    tr_ref to;
    uint32_t type;
    const void *data;
    size_t size;
    uint32_t timeout_ms;
    bool taken; /* under the inbox lock */
    int rc;
    uint64_t corr;
} inbox_ask;

static void inbox_ask_run(tr_ctx *self, tr_inbox *in, const tr_msg *msg)
{
    inbox_ask *q;
    memcpy(&q, msg->data, sizeof(q));
    uint64_t corr = 0;
    int rc = tr_ask(self, q->to, q->type, q->data, q->size, q->timeout_ms, &corr);
    pthread_mutex_lock(&in->lock);
    q->rc = rc;
    q->corr = corr;
    q->taken = true;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->lock);
}

static int inbox_init(tr_ctx *self, void *state, void *arg)
{
    *(tr_inbox **)state = arg;
    tr_trap_exits(self, true); /* a linked actor's end is a message, not our end */
    return TR_OK;
}

static int inbox_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    tr_inbox *in = *(tr_inbox **)state;
    if (msg->type == INBOX_ASK && tr_ref_is_none(msg->sender) && msg->size == sizeof(inbox_ask *)) {
        inbox_ask_run(self, in, msg);
        return TR_OK;
    }
    bool user = msg->type >= TR_MSG_USER;
    pthread_mutex_lock(&in->lock);
    bool full = user && in->user_queued >= in->capacity;
    inbox_node *n = full ? NULL : malloc(sizeof(*n) + msg->size);
    if (n != NULL) {
        n->next = NULL;
        n->m.msg = *msg;
        n->m.msg.data = msg->size > 0 ? memcpy(n + 1, msg->data, msg->size) : NULL;
        if (in->tail != NULL)
            in->tail->next = n;
        else
            in->head = n;
        in->tail = n;
        in->user_queued += user;
        pthread_cond_broadcast(&in->cv);
    }
    pthread_mutex_unlock(&in->lock);
    if (n == NULL) {
        int why = full ? TR_EFULL : TR_ENOMEM;
        tr_dead_letter_record(in->sys, in->ref, msg->sender, msg->type, why);
        tr_ask_lost(in->sys, in->ref, msg, why);
    }
    return TR_OK;
}

static void inbox_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)reason;
    tr_inbox *in = *(tr_inbox **)state;
    pthread_mutex_lock(&in->lock);
    in->dead = true; /* the last touch of `in` from this side */
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->lock);
}

static const tr_behaviour inbox_behaviour = {
    .init = inbox_init,
    .handle = inbox_handle,
    .terminate = inbox_terminate,
    .state_size = sizeof(tr_inbox *),
    .name = "inbox",
};

void tr_inbox_list_init(tr_inbox_list *l)
{
    pthread_mutex_init(&l->lock, NULL);
    l->open = (tr_list){0};
}

void tr_inbox_list_fini(tr_inbox_list *l) { pthread_mutex_destroy(&l->lock); }

static void list_add(tr_inbox *in)
{
    tr_inbox_list *l = &in->sys->inboxes;
    pthread_mutex_lock(&l->lock);
    in->listed = true;
    tr_list_append(&l->open, &in->in_list);
    pthread_mutex_unlock(&l->lock);
}

static void list_remove(tr_inbox *in)
{
    tr_inbox_list *l = &in->sys->inboxes;
    pthread_mutex_lock(&l->lock);
    tr_list_remove(&l->open, &in->in_list);
    pthread_mutex_unlock(&l->lock);
}

int tr_inbox_create(tr_system *sys, uint32_t capacity, tr_inbox **out)
{
    int rc = tr_inbox_create_unlisted(sys, capacity, out);
    if (rc == TR_OK)
        list_add(*out);
    return rc;
}

int tr_inbox_create_unlisted(tr_system *sys, uint32_t capacity, tr_inbox **out)
{
    if (sys == NULL || out == NULL)
        return TR_EINVAL;
    tr_inbox *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return TR_ENOMEM;
    in->sys = sys;
    in->capacity = capacity != 0 ? capacity : 1024;
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->cv, NULL);
    tr_spawn_opts o = {.name = "inbox"};
    int rc = tr_spawn(sys, &inbox_behaviour, in, &o, &in->ref);
    if (rc != TR_OK) {
        pthread_cond_destroy(&in->cv);
        pthread_mutex_destroy(&in->lock);
        free(in);
        return rc;
    }
    *out = in;
    return TR_OK;
}

tr_ref tr_inbox_ref(const tr_inbox *in) { return in != NULL ? in->ref : TR_REF_NONE; }

int tr_inbox_send(tr_inbox *in, tr_ref to, uint32_t type, const void *data, size_t size,
                  int timeout_ms)
{
    if (in == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    tr_mnode *n = tr_mnode_copy(type, data, size);
    if (n == NULL)
        return TR_ENOMEM;
    n->msg.sender = in->ref;
    return tr_deliver(in->sys, NULL, to, n, false, timeout_ms);
}

int tr_inbox_ask(tr_inbox *in, tr_ref to, uint32_t type, const void *data, size_t size,
                 uint32_t timeout_ms, uint64_t *corr)
{
    if (in == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    if (tr_actor_current() != NULL)
        return TR_ECONTEXT; /* we wait for the inbox's actor below */
    inbox_ask q = {.to = to, .type = type, .data = data, .size = size, .timeout_ms = timeout_ms};
    inbox_ask *p = &q;
    tr_mnode *n = tr_mnode_copy(INBOX_ASK, &p, sizeof(p));
    if (n == NULL)
        return TR_ENOMEM;
    int rc = tr_deliver(in->sys, NULL, in->ref, n, true, 0); /* forced: bounded by this wait */
    if (rc != TR_OK)
        return rc;
    pthread_mutex_lock(&in->lock);
    while (!q.taken && !in->dead)
        pthread_cond_wait(&in->cv, &in->lock);
    rc = q.taken ? q.rc : TR_EDEAD;
    pthread_mutex_unlock(&in->lock);
    if (rc == TR_OK && corr != NULL)
        *corr = q.corr;
    return rc;
}

int tr_inbox_reply(tr_inbox *in, const tr_msg *request, const void *data, size_t size)
{
    if (in == NULL)
        return TR_EINVAL;
    tr_mnode *n;
    int rc = tr_reply_node(&in->ref, request, data, size, &n);
    if (rc != TR_OK)
        return rc;
    return tr_deliver(in->sys, NULL, request->sender, n, true, 0);
}

static bool matches(const inbox_node *n, uint32_t type, uint64_t corr)
{
    return (type == 0 || n->m.msg.type == type) && (corr == 0 || n->m.msg.corr == corr);
}

int tr_inbox_receive(tr_inbox *in, uint32_t type, uint64_t corr, int timeout_ms,
                     tr_inbox_msg **out)
{
    if (in == NULL || out == NULL)
        return TR_EINVAL;
    if (tr_actor_current() != NULL)
        return TR_ECONTEXT;
    struct timespec deadline = tr_deadline_after(timeout_ms);
    int rc = TR_ETIMEDOUT;
    pthread_mutex_lock(&in->lock);
    for (;;) {
        inbox_node **pp = &in->head, *prev = NULL;
        while (*pp != NULL && !matches(*pp, type, corr)) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        inbox_node *n = *pp;
        if (n != NULL) {
            *pp = n->next;
            if (in->tail == n)
                in->tail = prev;
            in->user_queued -= n->m.msg.type >= TR_MSG_USER;
            *out = &n->m;
            rc = TR_OK;
            break;
        }
        if (in->dead) {
            rc = TR_EDEAD;
            break;
        }
        if (timeout_ms == 0 || !tr_cond_wait_until(&in->cv, &in->lock, timeout_ms, &deadline))
            break;
    }
    pthread_mutex_unlock(&in->lock);
    return rc;
}

void tr_inbox_msg_free(tr_inbox_msg *m)
{
    if (m != NULL)
        free((char *)m - offsetof(inbox_node, m));
}

void tr_inbox_destroy(tr_inbox *in)
{
    if (in == NULL)
        return;
    if (in->listed)
        list_remove(in);
    tr_stop(in->sys, in->ref);
    /* its whole end, not only terminate: it is no longer counted alive */
    tr_await_exit(in->sys, in->ref, -1, NULL);
    pthread_mutex_lock(&in->lock); /* terminate's unlock is behind us */
    pthread_mutex_unlock(&in->lock);
    for (inbox_node *n = in->head, *next; n != NULL; n = next) {
        next = n->next;
        free(n);
    }
    pthread_cond_destroy(&in->cv);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

void tr_inboxes_destroy(tr_system *sys)
{
    for (;;) {
        pthread_mutex_lock(&sys->inboxes.lock);
        tr_list_node *last = sys->inboxes.open.last; /* the newest first */
        pthread_mutex_unlock(&sys->inboxes.lock);
        if (last == NULL)
            return;
        tr_inbox_destroy(TR_CONTAINER_OF(last, tr_inbox, in_list)); /* takes it off the list */
    }
}

int tr_inbox_receive_read(tr_inbox *in, uint32_t type, uint64_t corr, int timeout_ms, void *out,
                          size_t size)
{
    if (out == NULL && size > 0)
        return TR_EINVAL;
    tr_inbox_msg *m;
    int rc = tr_inbox_receive(in, type, corr, timeout_ms, &m);
    if (rc != TR_OK)
        return rc;
    if (m->msg.size != size)
        rc = TR_EPROTO;
    else if (size > 0)
        memcpy(out, m->msg.data, size);
    tr_inbox_msg_free(m);
    return rc;
}
