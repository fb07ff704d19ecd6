/* Unit tests for the hierarchical timing wheel (actors/wheel.c). */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "actors/wheel.h"

/* A caller-side timer embedding a wheel entry. */
typedef struct item {
    tr_wheel_entry e;
    size_t id;
} item;

#define ITEM_OF(p) ((item *)((char *)(p) - offsetof(item, e)))

static size_t list_len(const tr_wheel_entry *l)
{
    size_t n = 0;
    for (; l; l = l->next)
        n++;
    return n;
}

static bool list_has(const tr_wheel_entry *l, const tr_wheel_entry *e)
{
    for (; l; l = l->next)
        if (l == e)
            return true;
    return false;
}

/* Deterministic PRNG (splitmix64) so failures reproduce. */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
static uint64_t rng_below(uint64_t n) /* uniform-ish in [0, n), n > 0 */
{
    return rng_next() % n;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ------------------------------------------------------------------------ */

Test(wheel, init_empty)
{
    tr_wheel w;
    tr_wheel_init(&w, 42);
    cr_assert_eq(tr_wheel_count(&w), 0);
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);
    cr_assert_null(tr_wheel_advance(&w, 42));
    cr_assert_null(tr_wheel_advance(&w, 1000));
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);

    tr_wheel_entry e;
    tr_wheel_entry_init(&e);
    cr_assert_not(tr_wheel_entry_linked(&e));
}

Test(wheel, linked_and_count_lifecycle)
{
    tr_wheel w;
    tr_wheel_init(&w, 0);
    tr_wheel_entry a, b;
    tr_wheel_entry_init(&a);
    tr_wheel_entry_init(&b);

    tr_wheel_insert(&w, &a, 10);
    cr_assert(tr_wheel_entry_linked(&a));
    cr_assert_eq(a.deadline, 10);
    cr_assert_eq(tr_wheel_count(&w), 1);
    tr_wheel_insert(&w, &b, 5000);
    cr_assert_eq(tr_wheel_count(&w), 2);

    tr_wheel_remove(&w, &b);
    cr_assert_not(tr_wheel_entry_linked(&b));
    cr_assert_eq(tr_wheel_count(&w), 1);

    tr_wheel_entry *l = tr_wheel_advance(&w, 10);
    cr_assert_eq(l, &a);
    cr_assert_null(a.next);
    cr_assert_not(tr_wheel_entry_linked(&a));
    cr_assert_eq(tr_wheel_count(&w), 0);

    /* Both a fired and a removed entry can be inserted again. */
    tr_wheel_insert(&w, &a, 20);
    tr_wheel_insert(&w, &b, 20);
    cr_assert_eq(tr_wheel_count(&w), 2);
    l = tr_wheel_advance(&w, 20);
    cr_assert_eq(list_len(l), 2);
    cr_assert(list_has(l, &a) && list_has(l, &b));
    cr_assert_eq(tr_wheel_count(&w), 0);
}

/* Relative offsets straddling every level boundary (64^k - 1, 64^k, 64^k + 1)
 * plus far ones. */
static const uint64_t boundary_offsets[] = {
    1, 2, 63, 64, 65, 127, 128, 129,
    4095, 4096, 4097,
    262143, 262144, 262145,
    (UINT64_C(1) << 24) - 1, UINT64_C(1) << 24, (UINT64_C(1) << 24) + 1,
    (UINT64_C(1) << 30) - 1, UINT64_C(1) << 30, (UINT64_C(1) << 30) + 1,
    (UINT64_C(1) << 36) - 1, UINT64_C(1) << 36, (UINT64_C(1) << 36) + 1,
    (UINT64_C(1) << 42) + 1, (UINT64_C(1) << 48) + 1, (UINT64_C(1) << 54) + 1,
    (UINT64_C(1) << 60) - 1, UINT64_C(1) << 60, (UINT64_C(1) << 60) + 1,
};

/* Start clocks: zero (offsets are then absolute boundaries), a value just
 * below a level-3 boundary, and an arbitrary odd value. */
static const uint64_t start_clocks[] = {0, (UINT64_C(1) << 18) - 3, 1000003};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Step one ms at a time through [from, to], asserting e fires exactly when
 * the clock reaches e's deadline. */
static void step_and_check(tr_wheel *w, tr_wheel_entry *e, uint64_t from, uint64_t to)
{
    for (uint64_t t = from; t <= to; t++) {
        tr_wheel_entry *l = tr_wheel_advance(w, t);
        if (t == e->deadline) {
            cr_assert_eq(l, e, "deadline %llu: did not fire at t=%llu",
                         (unsigned long long)e->deadline, (unsigned long long)t);
            cr_assert_null(e->next);
            cr_assert_eq(tr_wheel_count(w), 0);
        } else {
            cr_assert_null(l, "deadline %llu: fired at t=%llu", (unsigned long long)e->deadline,
                           (unsigned long long)t);
        }
        if (t < e->deadline) {
            cr_assert_eq(tr_wheel_count(w), 1);
            cr_assert_leq(tr_wheel_next_expiry(w), e->deadline);
        }
    }
}

Test(wheel, fires_exactly_at_deadline_each_ms)
{
    for (size_t si = 0; si < NELEM(start_clocks); si++) {
        for (size_t oi = 0; oi < NELEM(boundary_offsets); oi++) {
            uint64_t start = start_clocks[si];
            uint64_t d = start + boundary_offsets[oi];
            tr_wheel w;
            tr_wheel_entry e;
            tr_wheel_init(&w, start);
            tr_wheel_entry_init(&e);
            tr_wheel_insert(&w, &e, d);
            cr_assert_eq(tr_wheel_count(&w), 1);
            if (boundary_offsets[oi] <= 262145) {
                /* Every single millisecond from the start. */
                step_and_check(&w, &e, start + 1, d + 3);
            } else {
                /* Jump close, then every millisecond across the deadline. */
                cr_assert_null(tr_wheel_advance(&w, d - 200));
                step_and_check(&w, &e, d - 199, d + 3);
            }
        }
    }
}

Test(wheel, fires_on_single_jumps)
{
    for (size_t si = 0; si < NELEM(start_clocks); si++) {
        for (size_t oi = 0; oi < NELEM(boundary_offsets); oi++) {
            uint64_t start = start_clocks[si];
            uint64_t d = start + boundary_offsets[oi];
            tr_wheel w;
            tr_wheel_entry e;
            tr_wheel_entry_init(&e);

            /* One jump exactly to the deadline. */
            tr_wheel_init(&w, start);
            tr_wheel_insert(&w, &e, d);
            cr_assert_eq(tr_wheel_advance(&w, d), &e);

            /* One jump to just before it, then to it. */
            tr_wheel_init(&w, start);
            tr_wheel_insert(&w, &e, d);
            cr_assert_null(tr_wheel_advance(&w, d - 1));
            cr_assert_eq(tr_wheel_count(&w), 1);
            cr_assert_eq(tr_wheel_advance(&w, d), &e);

            /* One jump well past it. */
            tr_wheel_init(&w, start);
            tr_wheel_insert(&w, &e, d);
            cr_assert_eq(tr_wheel_advance(&w, d + 12345), &e);
            cr_assert_eq(tr_wheel_count(&w), 0);
        }
    }
}

Test(wheel, far_deadlines)
{
    tr_wheel w;
    tr_wheel_entry half, max;
    tr_wheel_init(&w, 0);
    tr_wheel_entry_init(&half);
    tr_wheel_entry_init(&max);
    tr_wheel_insert(&w, &half, UINT64_MAX / 2);
    tr_wheel_insert(&w, &max, UINT64_MAX);
    cr_assert_eq(tr_wheel_count(&w), 2);

    /* Modest advances: every ms for a while, then growing jumps. */
    for (uint64_t t = 1; t <= 5000; t++)
        cr_assert_null(tr_wheel_advance(&w, t));
    for (uint64_t t = 10000; t < (UINT64_C(1) << 50); t *= 7) {
        cr_assert_null(tr_wheel_advance(&w, t));
        cr_assert_eq(tr_wheel_count(&w), 2);
        cr_assert(tr_wheel_entry_linked(&half) && tr_wheel_entry_linked(&max));
        cr_assert_leq(tr_wheel_next_expiry(&w), UINT64_MAX / 2);
    }

    cr_assert_null(tr_wheel_advance(&w, UINT64_MAX / 2 - 1));
    cr_assert_eq(tr_wheel_advance(&w, UINT64_MAX / 2), &half);
    cr_assert_eq(tr_wheel_count(&w), 1);
    cr_assert_leq(tr_wheel_next_expiry(&w), UINT64_MAX);
    cr_assert_null(tr_wheel_advance(&w, UINT64_MAX - 1));
    cr_assert_eq(tr_wheel_count(&w), 1);
    cr_assert_eq(tr_wheel_advance(&w, UINT64_MAX), &max);
    cr_assert_eq(tr_wheel_count(&w), 0);
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);

    /* At the end of time, a deadline of UINT64_MAX is already due. */
    tr_wheel_insert(&w, &max, UINT64_MAX);
    cr_assert_eq(tr_wheel_advance(&w, UINT64_MAX), &max);
}

Test(wheel, far_deadlines_from_late_start)
{
    /* Clock already high: the top level's rotation is not at zero. */
    tr_wheel w;
    tr_wheel_entry a, b;
    uint64_t start = UINT64_MAX - (UINT64_C(1) << 61);
    tr_wheel_init(&w, start);
    tr_wheel_entry_init(&a);
    tr_wheel_entry_init(&b);
    tr_wheel_insert(&w, &a, UINT64_MAX);
    tr_wheel_insert(&w, &b, start + (UINT64_C(1) << 60) + 17);
    cr_assert_null(tr_wheel_advance(&w, start + (UINT64_C(1) << 60) + 16));
    cr_assert_eq(tr_wheel_advance(&w, start + (UINT64_C(1) << 60) + 17), &b);
    cr_assert_null(tr_wheel_advance(&w, UINT64_MAX - 1));
    cr_assert_eq(tr_wheel_advance(&w, UINT64_MAX), &a);
}

Test(wheel, remove_before_fire)
{
    tr_wheel w;
    tr_wheel_init(&w, 100);
    tr_wheel_entry e[NELEM(boundary_offsets)];
    for (size_t i = 0; i < NELEM(boundary_offsets); i++) {
        tr_wheel_entry_init(&e[i]);
        tr_wheel_insert(&w, &e[i], 100 + boundary_offsets[i]);
    }
    cr_assert_eq(tr_wheel_count(&w), NELEM(boundary_offsets));
    for (size_t i = 0; i < NELEM(boundary_offsets); i++) {
        tr_wheel_remove(&w, &e[i]);
        cr_assert_not(tr_wheel_entry_linked(&e[i]));
        cr_assert_eq(tr_wheel_count(&w), NELEM(boundary_offsets) - i - 1);
    }
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);
    for (uint64_t t = 100; t < 300; t++)
        cr_assert_null(tr_wheel_advance(&w, t));
    cr_assert_null(tr_wheel_advance(&w, UINT64_MAX));
}

Test(wheel, remove_after_cascade)
{
    /* The entry moves from level 2 to a lower level during an advance; its
     * recorded level/slot must follow so remove still finds it. */
    tr_wheel w;
    tr_wheel_entry e, other;
    tr_wheel_init(&w, 0);
    tr_wheel_entry_init(&e);
    tr_wheel_entry_init(&other);
    tr_wheel_insert(&w, &e, 5000);
    tr_wheel_insert(&w, &other, 5001);
    cr_assert_eq(e.level, 2);
    cr_assert_null(tr_wheel_advance(&w, 4990));
    cr_assert_lt(e.level, 2, "advance past 4096 should have cascaded the entry");
    tr_wheel_remove(&w, &e);
    cr_assert_eq(tr_wheel_count(&w), 1);
    uint64_t ne = tr_wheel_next_expiry(&w);
    cr_assert(ne > 4990 && ne <= 5001);
    cr_assert_null(tr_wheel_advance(&w, 5000));
    cr_assert_eq(tr_wheel_advance(&w, 10000), &other);
    cr_assert_eq(tr_wheel_count(&w), 0);
}

/* Three entries in one slot; remove the one at position `victim` of the slot's
 * list, whichever that is, and check the other two still fire. */
static void remove_one_of_three(uint64_t now, const uint64_t deadlines[3], size_t victim)
{
    tr_wheel w;
    tr_wheel_entry e[3];
    tr_wheel_init(&w, now);
    for (size_t i = 0; i < 3; i++) {
        tr_wheel_entry_init(&e[i]);
        tr_wheel_insert(&w, &e[i], deadlines[i]);
    }
    /* They share one slot: same level and slot index. */
    cr_assert_eq(e[0].level, e[1].level);
    cr_assert_eq(e[1].level, e[2].level);
    cr_assert_eq(e[0].slot, e[1].slot);
    cr_assert_eq(e[1].slot, e[2].slot);

    /* Find the victim by list position: walk from the entry with no prev. */
    tr_wheel_entry *head = NULL;
    for (size_t i = 0; i < 3; i++)
        if (e[i].prev == NULL)
            head = &e[i];
    cr_assert_not_null(head);
    tr_wheel_entry *v = head;
    for (size_t i = 0; i < victim; i++)
        v = v->next;
    cr_assert_not_null(v);

    tr_wheel_remove(&w, v);
    cr_assert_eq(tr_wheel_count(&w), 2);
    uint64_t maxd = deadlines[0];
    for (size_t i = 1; i < 3; i++)
        if (deadlines[i] > maxd)
            maxd = deadlines[i];
    tr_wheel_entry *l = tr_wheel_advance(&w, maxd);
    cr_assert_eq(list_len(l), 2);
    cr_assert_not(list_has(l, v));
    for (size_t i = 0; i < 3; i++)
        if (&e[i] != v)
            cr_assert(list_has(l, &e[i]));
    cr_assert_eq(tr_wheel_count(&w), 0);
}

Test(wheel, remove_first_middle_last_in_same_slot)
{
    const uint64_t same[3] = {77, 77, 77};           /* level 0 slot */
    const uint64_t coarse[3] = {5000, 5001, 5002};   /* one level-2 slot */
    const uint64_t due[3] = {10, 50, 100};           /* the due list (now = 100) */
    for (size_t v = 0; v < 3; v++) {
        remove_one_of_three(0, same, v);
        remove_one_of_three(0, coarse, v);
        remove_one_of_three(100, due, v);
    }
}

Test(wheel, past_deadline_fires_on_next_advance)
{
    tr_wheel w;
    tr_wheel_entry a, b, c, d;
    tr_wheel_init(&w, 1000);
    tr_wheel_entry_init(&a);
    tr_wheel_entry_init(&b);
    tr_wheel_entry_init(&c);
    tr_wheel_entry_init(&d);
    tr_wheel_insert(&w, &a, 0);
    tr_wheel_insert(&w, &b, 999);
    tr_wheel_insert(&w, &c, 1000);
    tr_wheel_insert(&w, &d, 1001);
    cr_assert_eq(tr_wheel_count(&w), 4);
    cr_assert_leq(tr_wheel_next_expiry(&w), 0);

    /* Same time: the past/present ones fire, the future one waits. */
    tr_wheel_entry *l = tr_wheel_advance(&w, 1000);
    cr_assert_eq(list_len(l), 3);
    cr_assert(list_has(l, &a) && list_has(l, &b) && list_has(l, &c));
    cr_assert_eq(tr_wheel_count(&w), 1);
    cr_assert_eq(tr_wheel_next_expiry(&w), 1001);
    cr_assert_eq(tr_wheel_advance(&w, 1001), &d);

    /* The clock never goes back: an advance to an earlier time still drains
     * entries that were due at the wheel's clock. */
    tr_wheel_insert(&w, &a, 1001);
    l = tr_wheel_advance(&w, 500);
    cr_assert_eq(l, &a);
    /* ... and a deadline between the ignored value and the clock is due. */
    tr_wheel_insert(&w, &b, 1002);
    cr_assert_null(tr_wheel_advance(&w, 700));
    cr_assert_eq(tr_wheel_advance(&w, 1002), &b);
}

Test(wheel, big_jump)
{
    static const uint64_t ds[] = {
        1, 100, 10000, 1000000, 100000000, 999999999, 1000000000,   /* due */
        1000000001, 10000000000ull, UINT64_MAX,                     /* later */
    };
    const size_t n_due = 7;
    tr_wheel w;
    tr_wheel_entry e[NELEM(ds)];
    tr_wheel_init(&w, 0);
    /* Insert in reverse so list order is not simply insertion order. */
    for (size_t i = NELEM(ds); i-- > 0;) {
        tr_wheel_entry_init(&e[i]);
        tr_wheel_insert(&w, &e[i], ds[i]);
    }
    tr_wheel_entry *l = tr_wheel_advance(&w, 1000000000);
    cr_assert_eq(list_len(l), n_due);
    /* This implementation returns them in deadline order. */
    size_t i = 0;
    for (tr_wheel_entry *p = l; p; p = p->next, i++)
        cr_assert_eq(p, &e[i]);
    for (i = n_due; i < NELEM(ds); i++)
        cr_assert(tr_wheel_entry_linked(&e[i]));
    cr_assert_eq(tr_wheel_count(&w), NELEM(ds) - n_due);
    cr_assert_leq(tr_wheel_next_expiry(&w), 1000000001);

    cr_assert_eq(tr_wheel_advance(&w, 1000000001), &e[7]);
    cr_assert_null(tr_wheel_advance(&w, 9999999999ull));
    cr_assert_eq(tr_wheel_advance(&w, 10000000000ull), &e[8]);
    cr_assert_eq(tr_wheel_count(&w), 1);
}

Test(wheel, huge_jump_on_empty_and_sparse_wheel_is_fast, .timeout = 10)
{
    tr_wheel w;
    tr_wheel_init(&w, 0);
    cr_assert_null(tr_wheel_advance(&w, UINT64_MAX / 3));
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);

    /* A few thousand entries spread over the whole range, then one jump to
     * the end of time: must be proportional to entries, not milliseconds. */
    enum { N = 4096 };
    static tr_wheel_entry e[N];
    rng_state = 7;
    uint64_t now = UINT64_MAX / 3;
    for (size_t i = 0; i < N; i++) {
        tr_wheel_entry_init(&e[i]);
        tr_wheel_insert(&w, &e[i], now + rng_below(UINT64_MAX - now) + 1);
    }
    tr_wheel_entry *l = tr_wheel_advance(&w, UINT64_MAX);
    cr_assert_eq(list_len(l), N);
    for (tr_wheel_entry *p = l; p && p->next; p = p->next)
        cr_assert_leq(p->deadline, p->next->deadline);
    cr_assert_eq(tr_wheel_count(&w), 0);
}

Test(wheel, next_expiry_bounds)
{
    tr_wheel w;
    tr_wheel_entry a, b;
    tr_wheel_init(&w, 1000);
    tr_wheel_entry_init(&a);
    tr_wheel_entry_init(&b);
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);

    /* Level 0: exact. */
    tr_wheel_insert(&w, &a, 1010);
    cr_assert_eq(tr_wheel_next_expiry(&w), 1010);
    /* A later entry does not change it. */
    tr_wheel_insert(&w, &b, 900000);
    cr_assert_eq(tr_wheel_next_expiry(&w), 1010);
    tr_wheel_remove(&w, &a);
    uint64_t ne = tr_wheel_next_expiry(&w);
    cr_assert_leq(ne, 900000);
    cr_assert_gt(ne, 1000);
    tr_wheel_remove(&w, &b);
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);
}

Test(wheel, advancing_to_next_expiry_converges)
{
    enum { N = 2000 };
    static item it[N];
    static bool fired[N];
    tr_wheel w;
    uint64_t start = 123456789;
    tr_wheel_init(&w, start);
    rng_state = 99;
    uint64_t min_deadline = UINT64_MAX;
    for (size_t i = 0; i < N; i++) {
        uint64_t span;
        switch (rng_below(4)) {
        case 0: span = 100; break;
        case 1: span = 100000; break;
        case 2: span = UINT64_C(1) << 40; break;
        default: span = UINT64_MAX - start; break;
        }
        it[i].id = i;
        fired[i] = false;
        tr_wheel_entry_init(&it[i].e);
        tr_wheel_insert(&w, &it[i].e, start + 1 + rng_below(span));
        if (it[i].e.deadline < min_deadline)
            min_deadline = it[i].e.deadline;
    }

    size_t steps = 0, total = 0;
    bool first = true;
    for (;;) {
        uint64_t t = tr_wheel_next_expiry(&w);
        if (t == UINT64_MAX) {
            cr_assert_eq(tr_wheel_count(&w), 0);
            break;
        }
        cr_assert_gt(t, w.now, "next expiry must be ahead of the clock");
        tr_wheel_entry *l = tr_wheel_advance(&w, t);
        for (tr_wheel_entry *p = l; p; p = p->next) {
            item *x = ITEM_OF(p);
            cr_assert_not(fired[x->id]);
            fired[x->id] = true;
            /* Never early, never late: fired exactly at its deadline. */
            cr_assert_eq(p->deadline, t);
            if (first)
                cr_assert_eq(p->deadline, min_deadline, "earliest entry fires first");
            total++;
        }
        if (l)
            first = false;
        /* Every remaining entry is still in the future. */
        cr_assert_eq(tr_wheel_count(&w), N - total);
        steps++;
        cr_assert_lt(steps, (size_t)N * (TR_WHEEL_LEVELS + 1), "no convergence");
    }
    cr_assert_eq(total, N);
}

/* ------------------------------------------------------------------------ */
/* Randomised comparison against a brute-force model. */

enum { RAND_N = 10000 };

typedef enum { ST_IDLE, ST_ARMED, ST_DONE } st_t;

typedef struct {
    st_t st;
    uint64_t deadline;
    bool was_due; /* deadline <= clock when inserted */
    unsigned fires;
    unsigned inserts;
} model_t;

static item r_items[RAND_N];
static model_t r_model[RAND_N];

static uint64_t random_deadline(uint64_t now)
{
    uint64_t r = rng_below(100);
    if (r < 8)
        return now - rng_below(now < 5000 ? now + 1 : 5000); /* past */
    if (r < 12)
        return now; /* present */
    if (r < 50)
        return sat_add(now, 1 + rng_below(64));
    if (r < 70)
        return sat_add(now, 1 + rng_below(5000));
    if (r < 85)
        return sat_add(now, 1 + rng_below(1000000));
    if (r < 95)
        return sat_add(now, 1 + rng_below(UINT64_C(10000000000)));
    if (now == UINT64_MAX)
        return now;
    return sat_add(now, 1 + rng_below(UINT64_MAX - now)); /* anywhere to the end */
}

static uint64_t random_step(void)
{
    uint64_t r = rng_below(100);
    if (r < 55)
        return rng_below(65);
    if (r < 80)
        return rng_below(5000);
    if (r < 93)
        return rng_below(1000000);
    if (r < 99)
        return rng_below(1000000000);
    return rng_below(UINT64_C(1) << 40);
}

static size_t model_armed_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < RAND_N; i++)
        n += r_model[i].st == ST_ARMED;
    return n;
}

static uint64_t model_min_deadline(void)
{
    uint64_t m = UINT64_MAX;
    bool any = false;
    for (size_t i = 0; i < RAND_N; i++)
        if (r_model[i].st == ST_ARMED && (!any || r_model[i].deadline < m)) {
            m = r_model[i].deadline;
            any = true;
        }
    return m;
}

/* Advance wheel and model to `to`, checking the fired set is exactly the
 * model's due set, in the promised order. */
static void rand_advance(tr_wheel *w, uint64_t *clock, uint64_t to)
{
    uint64_t eff = to > *clock ? to : *clock;
    tr_wheel_entry *l = tr_wheel_advance(w, to);
    bool in_due_prefix = true;
    uint64_t last = 0;
    for (tr_wheel_entry *p = l; p; p = p->next) {
        item *x = ITEM_OF(p);
        model_t *m = &r_model[x->id];
        cr_assert_eq(m->st, ST_ARMED, "entry %zu fired twice or while not armed", x->id);
        cr_assert_leq(m->deadline, eff, "entry %zu fired early", x->id);
        cr_assert_eq(p->deadline, m->deadline);
        cr_assert_not(tr_wheel_entry_linked(p));
        /* Order: already-due entries first, then non-decreasing deadlines. */
        if (!m->was_due) {
            if (!in_due_prefix)
                cr_assert_geq(m->deadline, last, "fired list out of order");
            in_due_prefix = false;
            last = m->deadline;
        } else {
            cr_assert(in_due_prefix, "already-due entry after a timed one");
        }
        m->st = ST_DONE;
        m->fires++;
    }
    *clock = eff;
    /* Nothing due was left behind: it fired at the first advance reaching it. */
    for (size_t i = 0; i < RAND_N; i++) {
        if (r_model[i].st == ST_ARMED) {
            cr_assert_gt(r_model[i].deadline, eff, "entry %zu (deadline %llu) missed clock %llu",
                         i, (unsigned long long)r_model[i].deadline, (unsigned long long)eff);
            cr_assert(tr_wheel_entry_linked(&r_items[i].e));
        }
    }
}

Test(wheel, randomized_against_model, .timeout = 120)
{
    tr_wheel w;
    uint64_t clock = 5000000;
    tr_wheel_init(&w, clock);
    rng_state = 0x5eed1234abcdULL;
    for (size_t i = 0; i < RAND_N; i++) {
        r_items[i].id = i;
        tr_wheel_entry_init(&r_items[i].e);
        r_model[i] = (model_t){.st = ST_IDLE};
    }

    size_t next_new = 0;
    size_t total_inserts = 0, total_fires = 0, total_removes = 0;
    size_t rounds = 0;
    while (next_new < RAND_N || tr_wheel_count(&w) > 0) {
        rounds++;
        /* Insert a batch of fresh entries. */
        size_t batch = next_new < RAND_N ? (size_t)rng_below(12) : 0;
        for (size_t k = 0; k < batch && next_new < RAND_N; k++, next_new++) {
            model_t *m = &r_model[next_new];
            m->deadline = random_deadline(clock);
            m->was_due = m->deadline <= clock;
            m->st = ST_ARMED;
            m->inserts++;
            tr_wheel_insert(&w, &r_items[next_new].e, m->deadline);
            cr_assert_eq(r_items[next_new].e.deadline, m->deadline);
            total_inserts++;
        }
        /* While still filling, re-arm a few entries that already fired or
         * were cancelled. */
        for (size_t k = rng_below(3); k > 0 && next_new > 0 && next_new < RAND_N; k--) {
            size_t i = (size_t)rng_below(next_new);
            if (r_model[i].st == ST_DONE && rng_below(4) == 0) {
                model_t *m = &r_model[i];
                m->deadline = random_deadline(clock);
                m->was_due = m->deadline <= clock;
                m->st = ST_ARMED;
                m->inserts++;
                tr_wheel_insert(&w, &r_items[i].e, m->deadline);
                total_inserts++;
            }
        }
        /* Cancel a few random armed entries. */
        for (size_t k = rng_below(8); k > 0 && next_new > 0; k--) {
            /* Mostly recent entries (likely still armed), sometimes any. */
            size_t window = next_new < 200 || rng_below(4) == 0 ? next_new : 200;
            size_t i = next_new - 1 - (size_t)rng_below(window);
            if (r_model[i].st == ST_ARMED) {
                tr_wheel_remove(&w, &r_items[i].e);
                cr_assert_not(tr_wheel_entry_linked(&r_items[i].e));
                r_model[i].st = ST_DONE;
                total_removes++;
            }
        }
        cr_assert_eq(tr_wheel_count(&w), model_armed_count());

        uint64_t ne = tr_wheel_next_expiry(&w);
        uint64_t md = model_min_deadline();
        if (tr_wheel_count(&w) == 0)
            cr_assert_eq(ne, UINT64_MAX);
        else
            cr_assert_leq(ne, md, "next_expiry %llu later than earliest deadline %llu",
                          (unsigned long long)ne, (unsigned long long)md);

        /* Advance: usually forward by a random step, sometimes to exactly
         * next_expiry, occasionally "backwards" (ignored). Once all entries
         * are in, take bigger strides so the far ones drain. */
        uint64_t to;
        uint64_t r = rng_below(100);
        if (r < 3)
            to = clock - rng_below(clock < 1000 ? clock + 1 : 1000);
        else if (r < 15 && ne != UINT64_MAX)
            to = ne;
        else if (next_new < RAND_N)
            to = sat_add(clock, random_step());
        else if (ne == UINT64_MAX || rng_below(2))
            to = ne == UINT64_MAX ? clock : ne;
        else {
            unsigned shift = (unsigned)rng_below(64); /* separate statements: */
            uint64_t bits = rng_next();               /* fixed call order */
            to = sat_add(clock, bits >> shift);
        }
        rand_advance(&w, &clock, to);
        cr_assert_eq(tr_wheel_count(&w), model_armed_count());
        cr_assert_lt(rounds, 1000000, "random test does not terminate");
    }

    for (size_t i = 0; i < RAND_N; i++) {
        total_fires += r_model[i].fires;
        cr_assert_eq(r_model[i].st, ST_DONE);
        cr_assert_eq(r_model[i].inserts > 0, true);
    }
    cr_assert_eq(total_fires + total_removes, total_inserts);
    cr_assert_eq(tr_wheel_count(&w), 0);
    cr_assert_eq(tr_wheel_next_expiry(&w), UINT64_MAX);
    cr_log_info("random: %zu rounds, %zu inserts, %zu fires, %zu removes", rounds,
                total_inserts, total_fires, total_removes);
}
