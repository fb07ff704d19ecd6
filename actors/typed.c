/* Typed messages (include/troupe/typed.h): a route table lookup, a size
 * check, and an aligned copy of the payload for the handler. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actor_impl.h"
#include "actors/ask.h"
#include "actors/dead_letters.h"
#include "troupe/log.h"
#include "troupe/typed.h"

/* Payloads up to this size are copied to the stack for the handler. */
#define VALUE_INLINE_MAX 256

/* A message no route accepts: logged (rate-limited: a stranger may send
 * these), counted as a dead letter, and an ask fails at once with `why`. */
static void refuse(tr_ctx *self, const tr_msg *msg, int why, size_t want)
{
    static tr_log_limiter lim = TR_LOG_LIMITER_INIT(5, 1);
    char ref[TR_REF_FORMAT_MAX], name[64];
    tr_actor_name(self->sys, self->self, name, sizeof(name));
    if (why == TR_EPROTO)
        tr_log_limited(&lim, TR_LOG_WARN, "typed",
                       "actor '%s' %s refused message type %u of %zu bytes: its route takes %zu",
                       name, tr_ref_format(self->self, ref, sizeof(ref)), (unsigned)msg->type,
                       msg->size, want);
    else
        tr_log_limited(&lim, TR_LOG_WARN, "typed", "actor '%s' %s has no route for message type %u",
                       name, tr_ref_format(self->self, ref, sizeof(ref)), (unsigned)msg->type);
    tr_dead_letter_record(self->sys, self->self, msg->sender, msg->type, why);
    if (tr_msg_is_ask(msg)) {
        tr_ask_lost(self->sys, self->self, msg, why);
        tr_tls_open_ask.corr = 0; /* answered: not owed */
    }
}

int tr_route_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    const tr_behaviour *beh = self->beh;
    const tr_route *r = NULL;
    for (size_t i = 0; i < beh->nroutes; i++)
        if (beh->routes[i].type == msg->type) {
            r = &beh->routes[i];
            break;
        }
    if (r == NULL) {
        if (msg->type >= TR_MSG_USER)
            refuse(self, msg, TR_ENOTFOUND, 0);
        return TR_OK; /* runtime notices nobody routed are ignored */
    }
    if (r->size == TR_SIZE_ANY)
        return r->fn(self, state, msg, msg->data);
    if (msg->size != r->size) {
        refuse(self, msg, TR_EPROTO, r->size);
        return TR_OK;
    }
    if (msg->size == 0)
        return r->fn(self, state, msg, NULL);
    if (msg->size <= VALUE_INLINE_MAX) {
        alignas(max_align_t) unsigned char buf[VALUE_INLINE_MAX];
        memcpy(buf, msg->data, msg->size);
        return r->fn(self, state, msg, buf);
    }
    if ((uintptr_t)msg->data % alignof(max_align_t) == 0)
        return r->fn(self, state, msg, msg->data);
    void *copy = malloc(msg->size);
    if (copy == NULL)
        return TR_ENOMEM;
    memcpy(copy, msg->data, msg->size);
    int rc = r->fn(self, state, msg, copy);
    free(copy);
    return rc;
}

int tr_msg_read(const tr_msg *msg, void *out, size_t size)
{
    if (msg == NULL || out == NULL || msg->size != size)
        return TR_EPROTO;
    if (size > 0)
        memcpy(out, msg->data, size);
    return TR_OK;
}
