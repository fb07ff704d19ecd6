/*
 * Hierarchical timing wheel (Varghese & Lauck, as in Linux and Tokio).
 *
 * Why: every actor may arm timers (tr_send_after, tr_send_interval), so a
 * busy system holds thousands of them and cancels many before they fire.
 * NNG's own timer list is a sorted list with O(n) insert, which is why Troupe
 * does not use it for per-actor timers and keeps them here instead: O(1)
 * insert and O(1) cancel, whatever the number of timers.
 *
 * Layout: 1 ms ticks, TR_WHEEL_LEVELS (11) levels of 64 slots. A level-k slot
 * spans 64^k ms, so level 0 holds single milliseconds and the top level
 * (64^10 = 2^60 ms per slot) reaches UINT64_MAX: no deadline ever needs
 * clamping or a separate overflow list. Each slot is a NULL-terminated doubly
 * linked list; each level has a 64-bit occupancy bitmap.
 *
 * Placement: an entry with deadline d > now goes to the level of the highest
 * 6-bit digit in which d and now differ, in the slot given by d's digit at
 * that level. So at level k every entry shares all digits above k with `now`
 * and its level-k digit is strictly greater than now's. Two consequences:
 *  - slot start = d with its low 6k bits cleared; the entry can not expire
 *    before the clock reaches that start;
 *  - every slot start at level k lies beyond now's current level-k slot,
 *    while every start at a lower level lies inside it: the first non-empty
 *    slot of the lowest non-empty level is the earliest slot in the wheel.
 *
 * Advancing: repeatedly take that earliest slot while its start <= target,
 * move the clock to the start, and re-insert its entries relative to the new
 * clock (they drop to a strictly lower level) or fire those whose deadline
 * equals the start. A level-0 slot start is the deadline itself, so entries
 * fire in deadline order. Empty time is skipped via the bitmaps; each entry is
 * moved at most once per level, so a jump costs O(levels * (entries moved +
 * non-empty slots crossed)), however many milliseconds it spans.
 *
 * Entries inserted with a deadline <= now go to a separate `due` list that the
 * next advance drains first.
 */
#include "actors/wheel.h"

#include <assert.h>

/* Values of tr_wheel_entry.level besides 0..TR_WHEEL_LEVELS-1. */
#define WHEEL_LEVEL_DUE ((uint8_t)TR_WHEEL_LEVELS) /* on w->due */
#define WHEEL_LEVEL_NONE ((uint8_t)0xff)           /* not linked */

#define WHEEL_SLOT_MASK ((uint64_t)TR_WHEEL_SLOTS - 1)

/* Level at which an entry with deadline d > now belongs. */
static unsigned wheel_level_for(uint64_t now, uint64_t d)
{
    uint64_t diff = now ^ d; /* non-zero because d > now */
    unsigned high_bit = 63u - (unsigned)__builtin_clzll(diff);
    return high_bit / TR_WHEEL_SLOT_BITS;
}

/* First millisecond of slot `slot` at level `level` in the level's current
 * rotation, i.e. sharing now's digits above `level`. */
static uint64_t wheel_slot_start(uint64_t now, unsigned level, unsigned slot)
{
    unsigned shift = level * TR_WHEEL_SLOT_BITS;
    unsigned above = shift + TR_WHEEL_SLOT_BITS;
    uint64_t base = above >= 64 ? 0 : now & ~((UINT64_C(1) << above) - 1);
    return base | ((uint64_t)slot << shift);
}

/* Push e on the front of a NULL-terminated list. */
static void wheel_list_push(tr_wheel_entry **head, tr_wheel_entry *e)
{
    e->prev = NULL;
    e->next = *head;
    if (*head)
        (*head)->prev = e;
    *head = e;
}

/* Mark e as out of every wheel. */
static void wheel_entry_clear(tr_wheel_entry *e)
{
    e->next = e->prev = NULL;
    e->level = WHEEL_LEVEL_NONE;
    e->slot = 0;
}

/* Put e (deadline already set) on the due list or in its slot relative to
 * w->now. Does not touch w->count. */
static void wheel_place(tr_wheel *w, tr_wheel_entry *e)
{
    if (e->deadline <= w->now) {
        e->level = WHEEL_LEVEL_DUE;
        e->slot = 0;
        wheel_list_push(&w->due, e);
        if (e->deadline < w->due_min)
            w->due_min = e->deadline;
        return;
    }
    unsigned level = wheel_level_for(w->now, e->deadline);
    unsigned slot = (unsigned)((e->deadline >> (level * TR_WHEEL_SLOT_BITS)) & WHEEL_SLOT_MASK);
    e->level = (uint8_t)level;
    e->slot = (uint8_t)slot;
    wheel_list_push(&w->slots[level][slot], e);
    w->occupied[level] |= UINT64_C(1) << slot;
}

/* Lowest level with a non-empty slot, or TR_WHEEL_LEVELS if none. */
static unsigned wheel_lowest_level(const tr_wheel *w)
{
    unsigned level = 0;
    while (level < TR_WHEEL_LEVELS && w->occupied[level] == 0)
        level++;
    return level;
}

void tr_wheel_init(tr_wheel *w, uint64_t now_ms)
{
    w->now = now_ms;
    w->count = 0;
    w->due = NULL;
    w->due_min = UINT64_MAX;
    for (unsigned l = 0; l < TR_WHEEL_LEVELS; l++) {
        w->occupied[l] = 0;
        for (unsigned s = 0; s < TR_WHEEL_SLOTS; s++)
            w->slots[l][s] = NULL;
    }
}

void tr_wheel_entry_init(tr_wheel_entry *e)
{
    wheel_entry_clear(e);
    e->deadline = 0;
}

bool tr_wheel_entry_linked(const tr_wheel_entry *e)
{
    return e->level != WHEEL_LEVEL_NONE;
}

void tr_wheel_insert(tr_wheel *w, tr_wheel_entry *e, uint64_t deadline_ms)
{
    assert(!tr_wheel_entry_linked(e));
    e->deadline = deadline_ms;
    wheel_place(w, e);
    w->count++;
}

void tr_wheel_remove(tr_wheel *w, tr_wheel_entry *e)
{
    assert(tr_wheel_entry_linked(e));
    assert(w->count > 0);
    tr_wheel_entry **head;
    if (e->level == WHEEL_LEVEL_DUE)
        head = &w->due;
    else
        head = &w->slots[e->level][e->slot];

    if (e->prev)
        e->prev->next = e->next;
    else
        *head = e->next;
    if (e->next)
        e->next->prev = e->prev;

    if (*head == NULL) {
        if (e->level == WHEEL_LEVEL_DUE)
            w->due_min = UINT64_MAX;
        else
            w->occupied[e->level] &= ~(UINT64_C(1) << e->slot);
    }
    /* A removed due entry may leave due_min stale, but only ever too low,
     * which tr_wheel_next_expiry allows. */
    w->count--;
    wheel_entry_clear(e);
}

tr_wheel_entry *tr_wheel_advance(tr_wheel *w, uint64_t now_ms)
{
    tr_wheel_entry *fired = NULL;
    tr_wheel_entry **tail = &fired;
    uint64_t target = now_ms > w->now ? now_ms : w->now;

    /* Already-due entries first: their deadlines are <= the old clock, hence
     * earlier than anything still in the slots. */
    while (w->due) {
        tr_wheel_entry *e = w->due;
        w->due = e->next;
        wheel_entry_clear(e);
        *tail = e;
        tail = &e->next;
        w->count--;
    }
    w->due_min = UINT64_MAX;

    for (;;) {
        unsigned level = wheel_lowest_level(w);
        if (level == TR_WHEEL_LEVELS)
            break;
        unsigned slot = (unsigned)__builtin_ctzll(w->occupied[level]);
        uint64_t start = wheel_slot_start(w->now, level, slot);
        if (start > target)
            break;

        /* Detach the slot, then move the clock to its start: from there each
         * entry either fires (deadline == start) or belongs to a lower level. */
        tr_wheel_entry *e = w->slots[level][slot];
        w->slots[level][slot] = NULL;
        w->occupied[level] &= ~(UINT64_C(1) << slot);
        assert(start > w->now);
        w->now = start;

        while (e) {
            tr_wheel_entry *next = e->next;
            if (e->deadline <= start) {
                wheel_entry_clear(e);
                *tail = e;
                tail = &e->next;
                w->count--;
            } else {
                wheel_place(w, e);
                assert(e->level < level);
            }
            e = next;
        }
    }

    w->now = target;
    *tail = NULL;
    return fired;
}

uint64_t tr_wheel_next_expiry(const tr_wheel *w)
{
    if (w->due)
        return w->due_min;
    unsigned level = wheel_lowest_level(w);
    if (level == TR_WHEEL_LEVELS)
        return UINT64_MAX;
    unsigned slot = (unsigned)__builtin_ctzll(w->occupied[level]);
    return wheel_slot_start(w->now, level, slot);
}

size_t tr_wheel_count(const tr_wheel *w)
{
    return w->count;
}
