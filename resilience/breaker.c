/* The circuit breaker actor; the state machine is in breaker.h.
 *
 * Every call is the caller's ask to the breaker; the breaker asks the
 * target with its call timeout and answers the caller with a tr_outcome
 * when the reply or the timeout comes back (pending[] maps its own asks to
 * the callers'). A call refused while open is answered at once. */
#include <stdlib.h>
#include <string.h>

#include "actors/send.h"
#include "ds/vec.h"
#include "resilience/outcome.h"
#include "troupe/breaker.h"
#include "troupe/timer.h"

#define DEFAULT_THRESHOLD 5
#define DEFAULT_RESET_MS 10000
#define DEFAULT_CALL_TIMEOUT_MS 1000

/* The head of a TR_BREAKER_CALL payload; the request bytes follow. */
typedef struct call_header {
    uint32_t type;
    uint32_t reserved;
} call_header;

typedef struct pending_call {
    uint64_t corr;   /* the breaker's ask to the target */
    tr_msg request;  /* the caller's ask to the breaker */
    bool trial;      /* the half-open trial */
} pending_call;

typedef struct breaker {
    tr_breaker_config cfg;
    tr_breaker_state state;
    uint32_t failures;     /* consecutive, while closed */
    bool trial_in_flight;  /* half-open: the trial call is out */
    TR_VEC(tr_ref) subs;
    TR_VEC(pending_call) pending;
} breaker;

/* Tells every subscriber, past its mailbox bound (a state change is rare:
 * at most three per reset timeout); a dead one is forgotten. */
static void publish(tr_ctx *self, breaker *b, tr_breaker_state from)
{
    tr_breaker_event ev = {.breaker = tr_self(self), .from = from, .to = b->state,
                           .failures = b->state == TR_BREAKER_OPEN ? b->failures : 0};
    for (uint32_t i = 0; i < b->subs.len;) {
        tr_mnode *n = tr_mnode_copy(TR_MSG_BREAKER_STATE, &ev, sizeof(ev));
        if (n == NULL) {
            i++;
            continue; /* out of memory: this subscriber misses the change */
        }
        n->msg.sender = tr_self(self);
        int rc = tr_deliver(tr_ctx_system(self), self, b->subs.at[i], n, true, 0);
        if (rc == TR_EDEAD)
            tr_vec_remove_swap(&b->subs, i);
        else
            i++;
    }
}

static void move_to(tr_ctx *self, breaker *b, tr_breaker_state to)
{
    tr_breaker_state from = b->state;
    b->state = to;
    if (to == TR_BREAKER_OPEN) {
        /* if the timer cannot be armed, stay closed rather than open for ever */
        if (tr_send_after(tr_ctx_system(self), tr_self(self), TR_BREAKER_RESET, NULL, 0,
                          b->cfg.reset_timeout_ms, NULL) != TR_OK)
            b->state = to = TR_BREAKER_CLOSED;
    }
    publish(self, b, from);
    if (to != TR_BREAKER_OPEN)
        b->failures = 0;
}

/* The result of a call made to the target. */
static void record(tr_ctx *self, breaker *b, bool success, bool trial)
{
    if (trial) {
        b->trial_in_flight = false;
        if (success)
            move_to(self, b, TR_BREAKER_CLOSED);
        else
            move_to(self, b, TR_BREAKER_OPEN);
        return;
    }
    if (b->state != TR_BREAKER_CLOSED)
        return; /* made while closed, answered after the breaker opened */
    if (success) {
        b->failures = 0;
        return;
    }
    if (++b->failures >= b->cfg.failure_threshold)
        move_to(self, b, TR_BREAKER_OPEN);
}

static int pending_add(breaker *b, pending_call call)
{
    return tr_vec_push(&b->pending, call) == 0 ? TR_OK : TR_ENOMEM;
}

static bool pending_take(breaker *b, uint64_t corr, pending_call *out)
{
    for (uint32_t i = 0; i < b->pending.len; i++) {
        if (b->pending.at[i].corr == corr) {
            *out = b->pending.at[i];
            tr_vec_remove_swap(&b->pending, i);
            return true;
        }
    }
    return false;
}

static void call(tr_ctx *self, breaker *b, const tr_msg *msg)
{
    tr_msg request = tr_outcome_request(msg);
    call_header h;
    if (msg->corr == 0 || msg->size < sizeof(h))
        return; /* not an ask made by tr_breaker_call: nobody to answer */
    memcpy(&h, msg->data, sizeof(h));
    const unsigned char *bytes = (const unsigned char *)msg->data + sizeof(h);
    size_t size = msg->size - sizeof(h);
    if (h.type < TR_MSG_USER) {
        tr_outcome_reply(self, &request, TR_EINVAL, 0, NULL, 0);
        return;
    }
    bool trial = b->state == TR_BREAKER_HALF_OPEN;
    if (b->state == TR_BREAKER_OPEN || (trial && b->trial_in_flight)) {
        tr_outcome_reply(self, &request, TR_EOPEN, 0, NULL, 0);
        return;
    }
    pending_call p = {.request = request, .trial = trial};
    int rc = tr_ask(self, b->cfg.target, h.type, size > 0 ? bytes : NULL, size,
                    b->cfg.call_timeout_ms, &p.corr);
    if (rc == TR_OK && (rc = pending_add(b, p)) != TR_OK)
        rc = TR_ENOMEM; /* its reply will find no caller: a late-reply dead letter */
    if (trial)
        b->trial_in_flight = rc == TR_OK;
    if (rc != TR_OK) {
        tr_outcome_reply(self, &request, rc, 1, NULL, 0);
        record(self, b, false, trial);
    }
}

static void subscribe(breaker *b, const tr_msg *msg)
{
    tr_ref sub;
    if (msg->size != sizeof(sub))
        return;
    memcpy(&sub, msg->data, sizeof(sub));
    for (uint32_t i = 0; i < b->subs.len; i++)
        if (tr_ref_equal(b->subs.at[i], sub))
            return;
    (void)tr_vec_push(&b->subs, sub); /* out of memory: not subscribed */
}

static int breaker_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    breaker *b = state;
    b->cfg = *(const tr_breaker_config *)arg;
    free(arg);
    return TR_OK;
}

static int breaker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    breaker *b = state;
    pending_call p;
    switch (msg->type) {
    case TR_BREAKER_CALL:
        call(self, b, msg);
        break;
    case TR_BREAKER_SUBSCRIBE:
        subscribe(b, msg);
        break;
    case TR_BREAKER_RESET:
        if (b->state == TR_BREAKER_OPEN)
            move_to(self, b, TR_BREAKER_HALF_OPEN);
        break;
    case TR_MSG_REPLY:
        if (pending_take(b, msg->corr, &p)) {
            bool bad = b->cfg.reply_failed != NULL &&
                       b->cfg.reply_failed(msg->data, msg->size, b->cfg.ctx);
            tr_outcome_reply(self, &p.request, bad ? TR_EFAILED : TR_OK, 1, msg->data, msg->size);
            record(self, b, !bad, p.trial);
        }
        break;
    case TR_MSG_ASK_TIMEOUT:
        if (pending_take(b, msg->corr, &p)) {
            tr_outcome_reply(self, &p.request, TR_ETIMEDOUT, 1, NULL, 0);
            record(self, b, false, p.trial);
        }
        break;
    default:
        break;
    }
    return TR_OK;
}

static void breaker_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    breaker *b = state;
    tr_vec_free(&b->subs);
    tr_vec_free(&b->pending);
}

static const tr_behaviour breaker_behaviour = {
    .init = breaker_init,
    .handle = breaker_handle,
    .terminate = breaker_terminate,
    .state_size = sizeof(breaker),
};

int tr_breaker_start(tr_system *sys, const tr_breaker_config *cfg, const tr_spawn_opts *opts,
                     tr_ref *out)
{
    if (sys == NULL || cfg == NULL || tr_ref_is_none(cfg->target))
        return TR_EINVAL;
    tr_breaker_config *c = malloc(sizeof(*c));
    if (c == NULL)
        return TR_ENOMEM;
    *c = *cfg;
    if (c->failure_threshold == 0)
        c->failure_threshold = DEFAULT_THRESHOLD;
    if (c->reset_timeout_ms == 0)
        c->reset_timeout_ms = DEFAULT_RESET_MS;
    if (c->call_timeout_ms == 0)
        c->call_timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
    int rc = tr_spawn(sys, &breaker_behaviour, c, opts, out);
    if (rc != TR_OK)
        free(c); /* else its init takes it (init always runs) */
    return rc;
}

/* The TR_BREAKER_CALL payload for a request; NULL on ENOMEM. */
static unsigned char *call_payload(uint32_t type, const void *data, size_t size, size_t *total)
{
    *total = sizeof(call_header) + size;
    unsigned char *buf = malloc(*total);
    if (buf == NULL)
        return NULL;
    call_header h = {.type = type};
    memcpy(buf, &h, sizeof(h));
    if (size > 0)
        memcpy(buf + sizeof(h), data, size);
    return buf;
}

int tr_breaker_call(tr_ctx *self, tr_ref breaker, uint32_t type, const void *data, size_t size,
                    uint32_t timeout_ms, uint64_t *corr)
{
    if (self == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    size_t total;
    unsigned char *buf = call_payload(type, data, size, &total);
    if (buf == NULL)
        return TR_ENOMEM;
    int rc = tr_ask(self, breaker, TR_BREAKER_CALL, buf, total, timeout_ms, corr);
    free(buf);
    return rc;
}

int tr_breaker_call_wait(tr_system *sys, tr_ref breaker, uint32_t type, const void *data,
                         size_t size, int timeout_ms, tr_outcome *outcome, void **reply)
{
    if (sys == NULL || outcome == NULL || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    size_t total;
    unsigned char *buf = call_payload(type, data, size, &total);
    if (buf == NULL)
        return TR_ENOMEM;
    void *answer = NULL;
    size_t answer_size = 0;
    int rc = tr_ask_wait(sys, breaker, TR_BREAKER_CALL, buf, total, timeout_ms, &answer,
                         &answer_size);
    free(buf);
    if (rc != TR_OK)
        return rc;
    tr_msg m = {.type = TR_MSG_REPLY, .data = answer, .size = answer_size};
    const void *bytes;
    rc = tr_outcome_parse(&m, outcome, &bytes);
    if (rc == TR_OK && reply != NULL) {
        *reply = NULL;
        if (outcome->reply_size > 0) {
            /* the bytes sit behind the header: move them to the front */
            memmove(answer, bytes, outcome->reply_size);
            *reply = answer;
            answer = NULL;
        }
    }
    free(answer);
    return rc;
}

int tr_breaker_subscribe(tr_system *sys, tr_ref breaker, tr_ref subscriber)
{
    if (sys == NULL || tr_ref_is_none(subscriber))
        return TR_EINVAL;
    return tr_post(sys, breaker, TR_BREAKER_SUBSCRIBE, &subscriber, sizeof(subscriber), -1);
}
