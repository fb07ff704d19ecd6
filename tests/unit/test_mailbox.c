/* The MPSC mailbox under stress: many producers, one consumer; every message
 * is taken exactly once and each producer's messages come out in order.
 * Run under TSan this is the proof that the lock-free push/pop is race-free. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mailbox/mailbox.h"
#include "tests/support/latch.h"
#include "troupe/troupe.h"

#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct stamp {
    uint32_t producer, seq;
} stamp;

/* A mailbox's two halves, kept together for these tests. */
typedef struct mbox {
    tr_mailbox_tail t;
    tr_mailbox_head h;
} mbox;

static void mbox_init(mbox *mb) { tr_mailbox_init(&mb->t, &mb->h); }
static uint32_t mbox_count(mbox *mb) { return tr_mailbox_count(&mb->t, &mb->h); }
static tr_mnode *mbox_pop(mbox *mb) { return tr_mailbox_pop(&mb->t, &mb->h); }
static uint32_t mbox_reserve(mbox *mb, uint32_t cap)
{
    return tr_mailbox_reserve(&mb->t, &mb->h, cap);
}

typedef struct producer_arg {
    mbox *mb;
    uint32_t id;
} producer_arg;

static void *produce(void *p)
{
    producer_arg *a = p;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        stamp s = {a->id, i};
        tr_mnode *n = tr_mnode_copy(TR_MSG_USER, &s, sizeof(s));
        cr_assert_not_null(n);
        mbox_reserve(a->mb, 1u << 30);
        tr_mailbox_push(&a->mb->t, n);
    }
    return NULL;
}

Test(mailbox, mpsc_stress_exactly_once_in_per_sender_order)
{
    mbox mb;
    mbox_init(&mb);
    pthread_t threads[PRODUCERS];
    producer_arg args[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg){&mb, i};
        pthread_create(&threads[i], NULL, produce, &args[i]);
    }
    uint32_t next[PRODUCERS] = {0};
    long taken = 0;
    while (taken < (long)PRODUCERS * PER_PRODUCER) {
        tr_mnode *n = mbox_pop(&mb);
        if (n == NULL)
            continue; /* empty, or a producer is mid-push */
        const stamp *s = n->msg.data;
        cr_assert_lt(s->producer, PRODUCERS);
        cr_assert_eq(s->seq, next[s->producer], "producer %u: got %u, expected %u", s->producer,
                     s->seq, next[s->producer]);
        next[s->producer]++;
        taken++;
        tr_mnode_free(n);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    cr_assert_null(mbox_pop(&mb), "nothing left over");
    cr_assert_eq(mbox_count(&mb), 0);
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(next[i], PER_PRODUCER);
}

Test(mailbox, empty_pop_and_reuse)
{
    mbox mb;
    mbox_init(&mb);
    cr_assert_null(mbox_pop(&mb));
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < 5; i++) {
            mbox_reserve(&mb, 1024);
            tr_mailbox_push(&mb.t, tr_mnode_copy(TR_MSG_USER + i, NULL, 0));
        }
        cr_assert_eq(mbox_count(&mb), 5);
        for (uint32_t i = 0; i < 5; i++) {
            tr_mnode *n = mbox_pop(&mb);
            cr_assert_not_null(n);
            cr_assert_eq(n->msg.type, TR_MSG_USER + i);
            tr_mnode_free(n);
        }
        cr_assert_null(mbox_pop(&mb));
    }
}

/* The consumer's pops reach producers lazily, but never at the bound: with
 * k messages queued, exactly capacity - k more reservations see room, the
 * next sees the mailbox full, and a count of `capacity` is reported exactly. */
Test(mailbox, reserve_sees_every_pop_at_the_bound)
{
    enum { CAP = 8 };
    mbox mb;
    mbox_init(&mb);
    for (uint32_t round = 0; round < 4; round++) {
        uint32_t queued = mbox_count(&mb);
        uint32_t room = 0;
        for (;;) {
            uint32_t before = mbox_reserve(&mb, CAP);
            if (before >= CAP) {
                cr_assert_eq(before, CAP, "round %u: full at %u", round, before);
                tr_mailbox_unreserve(&mb.t);
                break;
            }
            tr_mailbox_push(&mb.t, tr_mnode_copy(TR_MSG_USER, NULL, 0));
            room++;
        }
        cr_assert_eq(room, CAP - queued, "round %u: %u queued, %u accepted", round, queued, room);
        cr_assert_eq(mbox_count(&mb), CAP);
        /* the consumer takes a few (round + 1), then producers try again */
        for (uint32_t i = 0; i <= round; i++)
            tr_mnode_free(mbox_pop(&mb));
    }
    tr_mnode *n;
    while ((n = mbox_pop(&mb)) != NULL)
        tr_mnode_free(n);
    cr_assert_eq(mbox_count(&mb), 0);
}

Test(mailbox, payloads_inline_heap_and_moved)
{
    char small[8] = "abcdefg", big[300];
    for (int i = 0; i < 300; i++)
        big[i] = (char)i;
    tr_mnode *a = tr_mnode_copy(TR_MSG_USER, small, sizeof(small));
    tr_mnode *b = tr_mnode_copy(TR_MSG_USER, big, sizeof(big));
    char *moved = malloc(16);
    tr_mnode *c = tr_mnode_move(TR_MSG_USER, moved, 16, free);
    cr_assert_str_eq(a->msg.data, "abcdefg");
    cr_assert_eq(memcmp(b->msg.data, big, sizeof(big)), 0);
    cr_assert_eq(c->msg.data, moved, "moved, not copied");
    cr_assert_null(tr_msg_take(&a->msg), "inline payloads cannot be taken");
    void *took = tr_msg_take(&c->msg);
    cr_assert_eq(took, moved);
    tr_mnode_free(a);
    tr_mnode_free(b);
    tr_mnode_free(c); /* does not free the taken buffer */
    free(took);
}

/* ---- the same through the runtime: outside threads post to one actor ---- */

static uint32_t seen_next[PRODUCERS];
static atomic_long seen_total, order_errors;
static latch all_seen;

static int checker_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state;
    const stamp *s = msg->data;
    if (s->seq != seen_next[s->producer])
        atomic_fetch_add(&order_errors, 1);
    seen_next[s->producer] = s->seq + 1;
    if (atomic_fetch_add(&seen_total, 1) + 1 == (long)PRODUCERS * 5000)
        latch_add(&all_seen, 1);
    return TR_OK;
}
static const tr_behaviour checker = {.handle = checker_handle};

typedef struct poster {
    tr_system *sys;
    tr_ref to;
    uint32_t id;
} poster;

static void *post_many(void *p)
{
    poster *a = p;
    for (uint32_t i = 0; i < 5000; i++) {
        stamp s = {a->id, i};
        cr_assert_eq(tr_post(a->sys, a->to, TR_MSG_USER, &s, sizeof(s), -1), TR_OK);
    }
    return NULL;
}

Test(mailbox, many_outside_posters_one_actor_bounded_mailbox)
{
    memset(seen_next, 0, sizeof(seen_next));
    atomic_store(&seen_total, 0);
    atomic_store(&order_errors, 0);
    latch_init(&all_seen);
    tr_system *sys;
    tr_config cfg = {.workers = 2};
    cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
    tr_ref r;
    tr_spawn_opts o = {.mailbox_capacity = 64}; /* small: posters block on backpressure */
    cr_assert_eq(tr_spawn(sys, &checker, NULL, &o, &r), TR_OK);
    pthread_t t[PRODUCERS];
    poster args[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        args[i] = (poster){sys, r, i};
        pthread_create(&t[i], NULL, post_many, &args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    cr_assert(latch_wait(&all_seen, 1, 30000));
    cr_assert_eq(atomic_load(&order_errors), 0);
    tr_metrics m;
    tr_metrics_get(sys, &m);
    cr_assert_eq(m.dead_letters, 0);
    tr_system_destroy(sys);
}
