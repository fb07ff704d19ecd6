/* The actor table's free-slot caches: slots cached by outside threads are
 * never lost (thread exit, switching tables, a table finalised while a
 * thread still holds its cache), and whole systems reuse their slots when
 * outside threads spawn and actors end on workers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "actors/system_impl.h"
#include "actors/table.h"
#include "tests/support/latch.h"
#include "troupe/troupe.h"

static atomic_int destroyed;
static void count_destroy(struct tr_actor *a)
{
    (void)a;
    atomic_fetch_add(&destroyed, 1);
}

/* Fake actor pointers: the table only stores them and hands them back. */
static struct tr_actor *fake(uintptr_t i) { return (struct tr_actor *)(0x1000 + 16 * i); }

#define ROUND 300

/* Inserts ROUND actors into t, checks each ref, then kills them all (this
 * thread drops the last hold: the slots go to its cache). */
static void churn(tr_table *t)
{
    tr_ref refs[ROUND];
    for (uintptr_t i = 0; i < ROUND; i++) {
        cr_assert_eq(tr_table_insert(t, fake(i), &refs[i]), TR_OK);
        struct tr_actor *a;
        cr_assert_eq(tr_table_acquire(t, refs[i], true, &a), TR_OK);
        cr_assert_eq(a, fake(i));
        tr_table_release(t, refs[i]);
    }
    for (int i = 0; i < ROUND; i++) {
        tr_table_kill(t, refs[i]);
        struct tr_actor *a;
        cr_assert_eq(tr_table_acquire(t, refs[i], false, &a), TR_EDEAD);
    }
}

static void *churn_thread(void *arg)
{
    for (int r = 0; r < 5; r++)
        churn(arg);
    return NULL;
}

Test(table, outside_thread_caches_return_on_exit)
{
    static tr_table t;
    atomic_store(&destroyed, 0);
    cr_assert_eq(tr_table_init(&t, count_destroy), TR_OK);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, churn_thread, &t);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&destroyed), 4 * 5 * ROUND);
    uint32_t used = tr_table_count_used(&t);
    cr_assert_gt(used, 0);
    cr_assert_leq(used, 4 * ROUND + 4 * TR_TABLE_CACHE, "slots are reused, %u used", used);
    cr_assert_eq(tr_table_count_free(&t), used, "every slot is free again");
    /* this thread reuses them instead of taking new ones */
    churn(&t);
    cr_assert_eq(tr_table_count_used(&t), used);
    cr_assert_eq(tr_table_count_free(&t), used);
    tr_table_fini(&t);
}

Test(table, switching_tables_returns_the_cache)
{
    static tr_table a, b;
    cr_assert_eq(tr_table_init(&a, count_destroy), TR_OK);
    cr_assert_eq(tr_table_init(&b, count_destroy), TR_OK);
    for (int r = 0; r < 3; r++) {
        churn(&a);
        churn(&b); /* returns what this thread cached for a */
        cr_assert_eq(tr_table_count_free(&a), tr_table_count_used(&a));
        cr_assert_eq(tr_table_count_free(&b), tr_table_count_used(&b));
    }
    cr_assert_leq(tr_table_count_used(&a), ROUND + TR_TABLE_CACHE);
    tr_table_fini(&a);
    tr_table_fini(&b);
}

/* A thread holding a cache for a table that is finalised, then a new table
 * at the same address: the thread must not hand out the old indices. */
typedef struct parked {
    tr_table *t;
    latch go, done;
} parked;

static void *parked_thread(void *arg)
{
    parked *p = arg;
    churn(p->t); /* caches slots of the first table */
    latch_add(&p->done, 1);
    cr_assert(latch_wait(&p->go, 1, 30000));
    churn(p->t); /* the second table, same address */
    return NULL;
}

Test(table, finalised_table_forgets_outside_caches)
{
    static tr_table t;
    parked p = {.t = &t};
    latch_init(&p.go);
    latch_init(&p.done);
    cr_assert_eq(tr_table_init(&t, count_destroy), TR_OK);
    pthread_t th;
    pthread_create(&th, NULL, parked_thread, &p);
    cr_assert(latch_wait(&p.done, 1, 30000));
    tr_table_fini(&t);
    cr_assert_eq(tr_table_init(&t, count_destroy), TR_OK);
    tr_ref r;
    cr_assert_eq(tr_table_insert(&t, fake(1), &r), TR_OK); /* index 0 of the new table */
    latch_add(&p.go, 1);
    pthread_join(th, NULL);
    struct tr_actor *a;
    cr_assert_eq(tr_table_acquire(&t, r, false, &a), TR_OK, "the thread did not reuse a live slot");
    cr_assert_eq(a, fake(1));
    tr_table_release(&t, r);
    tr_table_kill(&t, r);
    cr_assert_eq(tr_table_count_free(&t), tr_table_count_used(&t));
    tr_table_fini(&t);
}

/* Whole systems: outside threads spawn self-stopping actors (they end on
 * the workers), the system is destroyed and another one created, twice. */
static latch ended;
static int stop_init(tr_ctx *self, void *state, void *arg)
{
    (void)state, (void)arg;
    tr_stop_self(self);
    return TR_OK;
}
static int no_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self, (void)state, (void)msg;
    return TR_OK;
}
static void end_terminate(tr_ctx *self, void *state, int reason)
{
    (void)self, (void)state, (void)reason;
    latch_add(&ended, 1);
}
static const tr_behaviour stopper = {.init = stop_init, .handle = no_handle, .terminate = end_terminate};

#define SPAWNS 20000

typedef struct spawner {
    tr_system *sys;
    latch go, done;
} spawner;

static void *spawn_thread(void *arg)
{
    spawner *s = arg;
    for (int round = 0; round < 2; round++) {
        cr_assert(latch_wait(&s->go, (uint64_t)round + 1, 30000));
        for (int i = 0; i < SPAWNS; i++)
            cr_assert_eq(tr_spawn(s->sys, &stopper, NULL, NULL, NULL), TR_OK);
        latch_add(&s->done, 1);
    }
    return NULL;
}

Test(table, systems_reuse_slots_of_outside_spawns)
{
    latch_init(&ended);
    spawner s[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        latch_init(&s[i].go);
        latch_init(&s[i].done);
        pthread_create(&th[i], NULL, spawn_thread, &s[i]);
    }
    for (int round = 0; round < 2; round++) {
        tr_system *sys;
        tr_config cfg = {.workers = 2};
        cr_assert_eq(tr_system_create(&cfg, &sys), TR_OK);
        for (int i = 0; i < 2; i++) {
            s[i].sys = sys;
            latch_add(&s[i].go, 1);
        }
        for (int i = 0; i < 2; i++)
            cr_assert(latch_wait(&s[i].done, (uint64_t)round + 1, 60000));
        uint64_t want = (uint64_t)(round + 1) * 2 * SPAWNS;
        cr_assert(latch_wait(&ended, want, 60000));
        /* spawn from this thread too: its cache binds to this system and
         * takes the slots the ended actors freed, not new ones */
        uint32_t used = tr_table_count_used(&sys->table);
        for (int i = 0; i < 100; i++)
            cr_assert_eq(tr_spawn(sys, &stopper, NULL, NULL, NULL), TR_OK);
        cr_assert(latch_wait(&ended, want + 100, 60000));
        tr_metrics m;
        tr_metrics_get(sys, &m);
        cr_assert_eq(m.actors_spawned, 2 * SPAWNS + 100);
        cr_assert_eq(tr_table_count_used(&sys->table), used);
        tr_system_destroy(sys);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
}

/* Retiring a slot in one operation (tr_table_retire): the reference is dead
 * at once; the actor is the caller's to free when nobody else holds it, and
 * otherwise goes with the last hold, the caller keeping exactly one. */
Test(table, retire_leaves_the_actor_to_its_last_holder)
{
    tr_table t;
    cr_assert_eq(tr_table_init(&t, count_destroy), TR_OK);
    atomic_store(&destroyed, 0);
    tr_ref ref;
    struct tr_actor *a;

    /* held by the turn only: the caller's to free */
    cr_assert_eq(tr_table_insert(&t, fake(1), &ref), TR_OK);
    tr_table_hold(&t, ref);
    cr_assert(tr_table_retire(&t, ref, true));
    cr_assert(tr_table_retired(&t, ref));
    cr_assert_eq(tr_table_acquire(&t, ref, false, &a), TR_EDEAD, "dead as soon as it is retired");
    cr_assert_eq(atomic_load(&destroyed), 0, "not freed before the caller is done");
    tr_table_reclaim(&t, ref);
    cr_assert_eq(atomic_load(&destroyed), 1);

    /* held by the turn and a sender: the caller keeps one hold */
    cr_assert_eq(tr_table_insert(&t, fake(2), &ref), TR_OK);
    tr_table_hold(&t, ref);
    cr_assert_eq(tr_table_acquire(&t, ref, true, &a), TR_OK);
    cr_assert_not(tr_table_retire(&t, ref, true));
    tr_table_release(&t, ref); /* the sender's */
    cr_assert_eq(atomic_load(&destroyed), 1, "the caller's hold keeps it");
    tr_table_release(&t, ref); /* the caller's, when done */
    cr_assert_eq(atomic_load(&destroyed), 2, "freed with the last hold");

    /* not held by the caller, held by a sender: the caller gets a hold */
    cr_assert_eq(tr_table_insert(&t, fake(3), &ref), TR_OK);
    cr_assert_eq(tr_table_acquire(&t, ref, false, &a), TR_OK);
    cr_assert_not(tr_table_retire(&t, ref, false));
    tr_table_release(&t, ref); /* the sender's */
    cr_assert_eq(atomic_load(&destroyed), 2, "the caller's new hold keeps it");
    tr_table_release(&t, ref);
    cr_assert_eq(atomic_load(&destroyed), 3);

    /* held by nobody */
    cr_assert_eq(tr_table_insert(&t, fake(4), &ref), TR_OK);
    cr_assert(tr_table_retire(&t, ref, false));
    tr_table_reclaim(&t, ref);
    cr_assert_eq(atomic_load(&destroyed), 4);
    tr_table_fini(&t);
}
