/* Inspection (OTP's sys:get_state / format_status) and pings: requests the
 * runtime answers itself, in the target's turn, so any actor can be asked
 * without a protocol of its own. */
#include "actors/probe.h"

#include <stdlib.h>
#include <string.h>

#include "actors/send.h"
#include "troupe/actor.h"

/* The description of `a`: its behaviour's inspect callback, or "". */
static char *describe(struct tr_actor *a, size_t *len)
{
    char *buf = malloc(TR_INSPECT_MAX);
    if (buf == NULL)
        return NULL;
    buf[0] = '\0';
    if (a->beh->inspect != NULL) {
        size_t want = a->beh->inspect(a, a->state, buf, TR_INSPECT_MAX);
        buf[want < TR_INSPECT_MAX ? want : TR_INSPECT_MAX - 1] = '\0';
    }
    *len = strlen(buf) + 1;
    return buf;
}

void tr_runtime_answer(struct tr_actor *a, tr_mnode *m)
{
    if (tr_ref_is_none(m->msg.sender))
        return;
    if (m->msg.type == TR_MSG_INSPECT) {
        size_t len = 0;
        char *text = describe(a, &len);
        if (text == NULL)
            tr_reply(a, &m->msg, "", 1);
        else
            tr_reply(a, &m->msg, text, len);
        free(text);
    } else if (m->msg.type == TR_MSG_PING) {
        tr_mnode *pong = tr_mnode_copy(TR_MSG_PONG, NULL, 0);
        if (pong == NULL)
            return; /* the pinger sees the child's DOWN, or waits */
        pong->msg.sender = a->self;
        tr_deliver(a->sys, a, m->msg.sender, pong, true, 0);
    }
}

int tr_ping(tr_ctx *self, tr_ref to)
{
    tr_mnode *n = tr_mnode_copy(TR_MSG_PING, NULL, 0);
    if (n == NULL)
        return TR_ENOMEM;
    n->msg.sender = self->self;
    return tr_deliver(self->sys, self, to, n, true, 0);
}

int tr_inspect(tr_system *sys, tr_ref ref, int timeout_ms, char *buf, size_t cap)
{
    if (sys == NULL || buf == NULL || cap == 0)
        return TR_EINVAL;
    void *reply = NULL;
    size_t size = 0;
    int rc = tr_ask_wait(sys, ref, TR_MSG_INSPECT, NULL, 0, timeout_ms, &reply, &size);
    if (rc != TR_OK)
        return rc;
    size_t n = size > 0 ? size - 1 : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, reply, n);
    buf[n] = '\0';
    free(reply);
    return TR_OK;
}

int tr_inspect_async(tr_ctx *self, tr_ref ref, uint32_t timeout_ms, uint64_t *corr)
{
    return tr_ask(self, ref, TR_MSG_INSPECT, NULL, 0, timeout_ms, corr);
}
