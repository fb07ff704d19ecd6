/* tr_retry_ask: an ask retried with exponential backoff and full jitter.
 *
 * The caller spawns a retrier as its own child and asks it to begin; the
 * retrier asks the target, waits out a backoff on a timer of its own after
 * each failure, and answers the caller's ask with one tr_outcome before it
 * stops. Being a child, it ends with the caller; being an actor, it keeps
 * the caller's turn free of retry bookkeeping (pending attempts, timers). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resilience/outcome.h"
#include "troupe/retry.h"
#include "troupe/timer.h"

#define DEFAULT_ATTEMPTS 3
#define DEFAULT_ATTEMPT_TIMEOUT_MS 1000
#define DEFAULT_BASE_DELAY_MS 50
#define DEFAULT_MAX_DELAY_MS 5000

/* The request and its policy, owned by the retrier from init on. */
typedef struct retry_job {
    tr_retry_policy policy;
    tr_ref target;
    uint32_t type;
    size_t size;
    unsigned char data[];
} retry_job;

typedef struct retrier {
    retry_job *job;
    tr_msg request;    /* the caller's TR_RETRY_START ask, answered at the end */
    bool started;
    uint32_t attempts; /* asks made */
    uint64_t current;  /* corr of the ask in flight (0: none) */
    uint64_t rng;
    uint64_t start_ms;
} retrier;

/* splitmix64: a tiny, well-mixed generator; its state is one word. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint32_t tr_backoff_full_jitter(uint32_t base_delay_ms, uint32_t max_delay_ms, uint32_t attempt,
                                uint64_t *rng)
{
    if (rng == NULL || attempt == 0)
        return 0;
    uint64_t cap = base_delay_ms;
    for (uint32_t i = 1; i < attempt && cap < max_delay_ms; i++)
        cap *= 2;
    if (cap > max_delay_ms)
        cap = max_delay_ms;
    return (uint32_t)(next_random(rng) % (cap + 1));
}

static void policy_defaults(tr_retry_policy *p)
{
    if (p->max_attempts == 0)
        p->max_attempts = DEFAULT_ATTEMPTS;
    if (p->attempt_timeout_ms == 0)
        p->attempt_timeout_ms = DEFAULT_ATTEMPT_TIMEOUT_MS;
    if (p->base_delay_ms == 0)
        p->base_delay_ms = DEFAULT_BASE_DELAY_MS;
    if (p->max_delay_ms == 0)
        p->max_delay_ms = DEFAULT_MAX_DELAY_MS;
    if (p->seed == 0)
        p->seed = (uint64_t)time(NULL) ^ (uint64_t)clock();
}

/* Answers the caller and stops. */
static void finish(tr_ctx *self, retrier *r, int status, const void *reply, size_t size)
{
    tr_outcome_reply(self, &r->request, status, r->attempts, reply, size);
    r->current = 0;
    tr_stop_self(self);
}

/* Milliseconds left before the deadline (UINT32_MAX without one). */
static uint32_t time_left(const retrier *r)
{
    uint32_t deadline = r->job->policy.deadline_ms;
    if (deadline == 0)
        return UINT32_MAX;
    uint64_t spent = tr_now_ms() - r->start_ms;
    return spent >= deadline ? 0 : (uint32_t)(deadline - spent);
}

static void failed(tr_ctx *self, retrier *r, int status, const void *reply, size_t size);

static void attempt(tr_ctx *self, retrier *r)
{
    const retry_job *j = r->job;
    uint32_t left = time_left(r);
    if (left == 0) {
        finish(self, r, TR_ETIMEDOUT, NULL, 0);
        return;
    }
    uint32_t timeout = j->policy.attempt_timeout_ms < left ? j->policy.attempt_timeout_ms : left;
    r->attempts++;
    int rc = tr_ask(self, j->target, j->type, j->size > 0 ? j->data : NULL, j->size, timeout,
                    &r->current);
    if (rc != TR_OK) {
        r->current = 0;
        failed(self, r, rc, NULL, 0);
    }
}

/* An attempt failed with `status`: back off and try again, or give up. */
static void failed(tr_ctx *self, retrier *r, int status, const void *reply, size_t size)
{
    const tr_retry_policy *p = &r->job->policy;
    if (r->attempts >= p->max_attempts) {
        finish(self, r, status, reply, size);
        return;
    }
    uint32_t delay = tr_backoff_full_jitter(p->base_delay_ms, p->max_delay_ms, r->attempts, &r->rng);
    if (p->deadline_ms != 0 && delay >= time_left(r)) {
        finish(self, r, TR_ETIMEDOUT, NULL, 0);
        return;
    }
    if (delay == 0) {
        attempt(self, r);
        return;
    }
    int rc = tr_send_after(tr_ctx_system(self), tr_self(self), TR_RETRY_AGAIN, NULL, 0, delay, NULL);
    if (rc != TR_OK)
        finish(self, r, rc, NULL, 0);
}

static int retrier_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    retrier *r = state;
    r->job = arg;
    r->rng = r->job->policy.seed;
    return TR_OK;
}

static int retrier_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    retrier *r = state;
    switch (msg->type) {
    case TR_RETRY_START:
        if (!r->started && msg->corr != 0) {
            r->started = true;
            r->request = tr_outcome_request(msg);
            r->start_ms = tr_now_ms();
            attempt(self, r);
        }
        break;
    case TR_RETRY_AGAIN:
        attempt(self, r);
        break;
    case TR_MSG_REPLY:
        if (msg->corr == r->current && r->current != 0) {
            r->current = 0;
            const tr_retry_policy *p = &r->job->policy;
            if (p->reply_failed != NULL && p->reply_failed(msg->data, msg->size, p->ctx))
                failed(self, r, TR_EFAILED, msg->data, msg->size);
            else
                finish(self, r, TR_OK, msg->data, msg->size);
        }
        break;
    case TR_MSG_ASK_TIMEOUT:
        if (msg->corr == r->current && r->current != 0) {
            r->current = 0;
            failed(self, r, TR_ETIMEDOUT, NULL, 0);
        }
        break;
    default:
        break;
    }
    return TR_OK;
}

static void retrier_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self;
    (void)reason;
    free(((retrier *)state)->job);
}

static const tr_behaviour retrier_behaviour = {
    .init = retrier_init,
    .handle = retrier_handle,
    .terminate = retrier_terminate,
    .state_size = sizeof(retrier),
};

/* How long the caller's own ask may wait: past every attempt and backoff
 * (only a retrier that died leaves it to time out). */
static uint32_t overall_timeout(const tr_retry_policy *p)
{
    uint64_t bound = (uint64_t)p->max_attempts * ((uint64_t)p->attempt_timeout_ms + p->max_delay_ms);
    if (p->deadline_ms != 0 && p->deadline_ms < bound)
        bound = p->deadline_ms;
    bound += 1000; /* the retrier's answer travels after its last step */
    return bound > UINT32_MAX ? UINT32_MAX : (uint32_t)bound;
}

int tr_retry_ask(tr_ctx *self, tr_ref to, uint32_t type, const void *data, size_t size,
                 const tr_retry_policy *policy, uint64_t *corr)
{
    if (self == NULL || tr_ref_is_none(to) || type < TR_MSG_USER || (data == NULL && size > 0))
        return TR_EINVAL;
    retry_job *j = malloc(sizeof(*j) + size);
    if (j == NULL)
        return TR_ENOMEM;
    j->policy = policy != NULL ? *policy : (tr_retry_policy){0};
    policy_defaults(&j->policy);
    j->target = to;
    j->type = type;
    j->size = size;
    if (size > 0)
        memcpy(j->data, data, size);
    uint32_t timeout = overall_timeout(&j->policy);
    tr_spawn_opts opts = {.parent = tr_self(self)};
    tr_ref retrier;
    int rc = tr_spawn(tr_ctx_system(self), &retrier_behaviour, j, &opts, &retrier);
    if (rc != TR_OK) {
        free(j);
        return rc;
    }
    /* from here the retrier owns j (its init always runs first) */
    rc = tr_ask(self, retrier, TR_RETRY_START, NULL, 0, timeout, corr);
    if (rc != TR_OK)
        tr_stop(tr_ctx_system(self), retrier);
    return rc;
}
