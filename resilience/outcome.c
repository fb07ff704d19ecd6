/* tr_outcome: the answer of a retried ask or a breaker call. */
#include "resilience/outcome.h"

#include <stdlib.h>
#include <string.h>

int tr_outcome_reply(tr_ctx *self, const tr_msg *request, int status, uint32_t attempts,
                     const void *reply, size_t size)
{
    if (size > UINT32_MAX - sizeof(tr_outcome))
        return TR_ETOOBIG;
    size_t total = sizeof(tr_outcome) + size;
    unsigned char stack[256];
    unsigned char *buf = total <= sizeof(stack) ? stack : malloc(total);
    if (buf == NULL)
        return TR_ENOMEM;
    tr_outcome o = {.status = status, .attempts = attempts, .reply_size = (uint32_t)size};
    memcpy(buf, &o, sizeof(o));
    if (size > 0)
        memcpy(buf + sizeof(o), reply, size);
    int rc = tr_reply(self, request, buf, total);
    if (buf != stack)
        free(buf);
    return rc;
}

int tr_outcome_parse(const tr_msg *msg, tr_outcome *out, const void **reply)
{
    if (msg == NULL || out == NULL || msg->size < sizeof(tr_outcome) || msg->data == NULL)
        return TR_EPROTO;
    tr_outcome o;
    memcpy(&o, msg->data, sizeof(o));
    if (o.reply_size != msg->size - sizeof(tr_outcome))
        return TR_EPROTO;
    *out = o;
    if (reply != NULL)
        *reply = o.reply_size > 0 ? (const unsigned char *)msg->data + sizeof(o) : NULL;
    return TR_OK;
}
