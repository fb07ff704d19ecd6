/* Deterministic fault injector; see include/troupe/fault.h.
 * A wrapped actor's state is a small header followed by the inner state. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ds/vec.h"
#include "troupe/fault.h"
#include "troupe/timer.h"

typedef struct fault_wrap {
    tr_behaviour wrapper; /* first: tr_ctx_behaviour(self) points here */
    const tr_behaviour *inner;
    tr_fault_rule rule;
    char *label;
    uint32_t index;
    uint64_t starts; /* guarded by the plan lock */
    struct tr_fault_plan *plan;
} fault_wrap;

typedef struct fault_event {
    uint32_t wrap;
    uint64_t start, message;
    char kind; /* 'i' init, 'n' nth, 'r' random, 's' slow */
} fault_event;

struct tr_fault_plan {
    uint64_t seed;
    pthread_mutex_t lock;
    TR_VEC(fault_wrap *) wraps; /* grown by doubling (was one at a time: quadratic) */
    TR_VEC(fault_event) log;
    uint64_t count, failures;
};

typedef struct fault_header {
    uint64_t start;   /* which start of this behaviour this actor is */
    uint64_t message; /* messages handled so far */
} fault_header;

#define HEADER_SIZE ((sizeof(fault_header) + 15) & ~(size_t)15)

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* A uniform number in [0, 1) fixed by (seed, wrap, start, message, salt). */
static double draw(const fault_wrap *w, uint64_t start, uint64_t message, uint64_t salt)
{
    uint64_t h = mix(w->plan->seed ^ mix(w->index + 1) ^ mix(start * 0x9e3779b97f4a7c15ull + message) ^ salt);
    return (double)(h >> 11) / 9007199254740992.0;
}

static void record(fault_wrap *w, uint64_t start, uint64_t message, char kind)
{
    tr_fault_plan *p = w->plan;
    pthread_mutex_lock(&p->lock);
    p->count++;
    if (kind != 's')
        p->failures++;
    (void)tr_vec_push(&p->log, (fault_event){w->index, start, message, kind}); /* ENOMEM: unlogged */
    pthread_mutex_unlock(&p->lock);
}

static fault_wrap *wrap_of(tr_ctx *self) { return (fault_wrap *)tr_ctx_behaviour(self); }
static int reason_of(const fault_wrap *w) { return w->rule.reason != 0 ? w->rule.reason : TR_EUSER + 666; }

static void busy_ms(uint32_t ms)
{
    uint64_t start = tr_now_ms();
    while (tr_now_ms() - start < ms)
        ;
}

static int wrapped_init(tr_ctx *self, void *state, void *arg)
{
    fault_wrap *w = wrap_of(self);
    fault_header *h = state;
    pthread_mutex_lock(&w->plan->lock);
    h->start = ++w->starts;
    pthread_mutex_unlock(&w->plan->lock);
    h->message = 0;
    if (h->start <= w->rule.fail_init_first) {
        record(w, h->start, 0, 'i');
        return reason_of(w);
    }
    return w->inner->init != NULL ? w->inner->init(self, (char *)state + HEADER_SIZE, arg) : TR_OK;
}

static int wrapped_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    fault_wrap *w = wrap_of(self);
    fault_header *h = state;
    uint64_t n = ++h->message;
    if (w->rule.fail_at_message != 0 && n == w->rule.fail_at_message) {
        record(w, h->start, n, 'n');
        return reason_of(w);
    }
    if (w->rule.fail_probability > 0 && draw(w, h->start, n, 1) < w->rule.fail_probability) {
        record(w, h->start, n, 'r');
        return reason_of(w);
    }
    if (w->rule.slow_probability > 0 && draw(w, h->start, n, 2) < w->rule.slow_probability) {
        record(w, h->start, n, 's');
        busy_ms(w->rule.slow_ms);
    }
    return w->inner->handle(self, (char *)state + HEADER_SIZE, msg);
}

static void wrapped_terminate(tr_ctx *self, void *state, int reason)
{
    fault_wrap *w = wrap_of(self);
    if (w->inner->terminate != NULL)
        w->inner->terminate(self, (char *)state + HEADER_SIZE, reason);
}

static void wrapped_stopping(tr_ctx *self, void *state)
{
    fault_wrap *w = wrap_of(self);
    w->inner->stopping(self, (char *)state + HEADER_SIZE);
}

static size_t wrapped_inspect(tr_ctx *self, void *state, char *buf, size_t cap)
{
    fault_wrap *w = wrap_of(self);
    return w->inner->inspect(self, (char *)state + HEADER_SIZE, buf, cap);
}

int tr_fault_plan_create(uint64_t seed, tr_fault_plan **out)
{
    if (out == NULL)
        return TR_EINVAL;
    tr_fault_plan *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return TR_ENOMEM;
    p->seed = seed;
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return TR_OK;
}

void tr_fault_plan_destroy(tr_fault_plan *p)
{
    if (p == NULL)
        return;
    for (uint32_t i = 0; i < p->wraps.len; i++) {
        free(p->wraps.at[i]->label);
        free(p->wraps.at[i]);
    }
    tr_vec_free(&p->wraps);
    tr_vec_free(&p->log);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

const tr_behaviour *tr_fault_wrap(tr_fault_plan *p, const char *label, const tr_behaviour *inner,
                                  const tr_fault_rule *rule)
{
    if (p == NULL || label == NULL || inner == NULL || inner->handle == NULL || rule == NULL)
        return NULL;
    pthread_mutex_lock(&p->lock);
    fault_wrap *w = calloc(1, sizeof(*w));
    if (w == NULL || tr_vec_reserve(&p->wraps, p->wraps.len + 1) != 0 ||
        (w->label = strdup(label)) == NULL) {
        free(w);
        pthread_mutex_unlock(&p->lock);
        return NULL;
    }
    w->inner = inner;
    w->rule = *rule;
    w->plan = p;
    w->index = p->wraps.len;
    w->wrapper = (tr_behaviour){
        .init = wrapped_init,
        .handle = wrapped_handle,
        .terminate = wrapped_terminate,
        .state_size = HEADER_SIZE + inner->state_size,
        .stopping = inner->stopping != NULL ? wrapped_stopping : NULL,
        .inspect = inner->inspect != NULL ? wrapped_inspect : NULL,
        .name = inner->name,
    };
    (void)tr_vec_push(&p->wraps, w); /* reserved */
    pthread_mutex_unlock(&p->lock);
    return &w->wrapper;
}

uint64_t tr_fault_count(tr_fault_plan *p)
{
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

uint64_t tr_fault_failures(tr_fault_plan *p)
{
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->failures;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void tr_fault_log_print(tr_fault_plan *p, FILE *out)
{
    pthread_mutex_lock(&p->lock);
    fprintf(out, "fault plan seed %llu: %llu faults injected\n", (unsigned long long)p->seed,
            (unsigned long long)p->count);
    for (uint32_t i = 0; i < p->log.len; i++) {
        const fault_event *e = &p->log.at[i];
        const char *kind = e->kind == 'i' ? "init failure" : e->kind == 'n' ? "nth-message failure"
                         : e->kind == 'r' ? "random failure" : "slow handler";
        fprintf(out, "  %s start %llu message %llu: %s\n", p->wraps.at[e->wrap]->label,
                (unsigned long long)e->start, (unsigned long long)e->message, kind);
    }
    pthread_mutex_unlock(&p->lock);
}
