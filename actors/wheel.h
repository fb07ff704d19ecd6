/*
 * Hierarchical timing wheel: the timer store behind per-actor timers.
 *
 * Insert and cancel are O(1); advancing costs work proportional to the
 * non-empty slots it crosses plus the entries it moves (empty stretches of
 * time are skipped with per-level occupancy bitmaps). The wheel is NOT
 * thread-safe: the caller serialises every call (the timer thread's mutex).
 * It never allocates; entries are intrusive and owned by the caller.
 *
 * Time is an abstract uint64_t count of milliseconds; one tick is 1 ms.
 */
#ifndef TROUPE_WHEEL_H
#define TROUPE_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* log2 of the slots per level; each level is TR_WHEEL_SLOTS slots wide. */
#define TR_WHEEL_SLOT_BITS 6
#define TR_WHEEL_SLOTS (1u << TR_WHEEL_SLOT_BITS)
/* Enough levels to cover all 64 bits of a deadline (11 * 6 = 66 >= 64): level
 * k slots are 64^k ms wide, so any deadline up to UINT64_MAX has a home. */
#define TR_WHEEL_LEVELS ((64 + TR_WHEEL_SLOT_BITS - 1) / TR_WHEEL_SLOT_BITS)

/* An intrusive timer entry; embed it in your own struct. */
typedef struct tr_wheel_entry {
    struct tr_wheel_entry *next, *prev;
    uint64_t deadline; /* absolute time in ms (set by tr_wheel_insert) */
    uint8_t level;     /* wheel-private: level, due list, or "not linked" */
    uint8_t slot;      /* wheel-private: slot index within the level */
} tr_wheel_entry;

/* The wheel itself. A plain struct (about 5.7 KiB) that may be embedded by
 * value; every field is private to wheel.c. */
typedef struct tr_wheel {
    uint64_t now;      /* current clock, ms */
    size_t count;      /* entries currently inserted */
    tr_wheel_entry *due;     /* entries inserted with deadline <= now */
    uint64_t due_min;        /* lower bound of the deadlines on `due` */
    uint64_t occupied[TR_WHEEL_LEVELS];                 /* bit s: slot s non-empty */
    tr_wheel_entry *slots[TR_WHEEL_LEVELS][TR_WHEEL_SLOTS]; /* NULL-terminated lists */
} tr_wheel;

/* Initialise an empty wheel whose clock reads now_ms. */
void tr_wheel_init(tr_wheel *w, uint64_t now_ms);

/* Insert e, which must not currently be inserted, to expire at deadline_ms
 * (absolute). O(1). A deadline at or before the wheel's current time expires
 * on the next tr_wheel_advance. Any deadline up to UINT64_MAX is accepted:
 * far deadlines sit in the upper levels and are cascaded down as the clock
 * approaches them. */
void tr_wheel_insert(tr_wheel *w, tr_wheel_entry *e, uint64_t deadline_ms);

/* Cancel e, which must currently be inserted in w. O(1). Afterwards
 * tr_wheel_entry_linked(e) is false and e may be inserted again. */
void tr_wheel_remove(tr_wheel *w, tr_wheel_entry *e);

/* True while e is inserted in a wheel. Only meaningful for entries set up
 * with tr_wheel_entry_init. */
bool tr_wheel_entry_linked(const tr_wheel_entry *e);

/* Prepare e for use: not linked, no deadline. Call once before first use. */
void tr_wheel_entry_init(tr_wheel_entry *e);

/* Advance the clock to now_ms (never backwards: a smaller value leaves the
 * clock where it is) and take every entry whose deadline is <= the clock out
 * of the wheel. They are returned as a NULL-terminated singly linked list
 * through ->next (NULL when nothing expired); they are no longer linked and
 * may be re-inserted at once. Entries never fire early, and each fires at the
 * first advance whose clock reaches its deadline. The list is in
 * non-decreasing deadline order, except that entries that were already due
 * when inserted come first, in no particular order among themselves.
 * Cascading from upper levels happens here; the cost is proportional to the
 * non-empty slots crossed plus the entries moved, so huge jumps are cheap. */
tr_wheel_entry *tr_wheel_advance(tr_wheel *w, uint64_t now_ms);

/* A time (ms) at or before the earliest deadline in the wheel, or UINT64_MAX
 * when the wheel is empty; the timer thread sleeps until then. It may be
 * earlier than the true earliest deadline (the start of the first non-empty
 * slot of a coarse level, or a time before the current clock when entries are
 * already due), never later; advancing to it repeatedly reaches the earliest
 * deadline exactly. O(levels). */
uint64_t tr_wheel_next_expiry(const tr_wheel *w);

/* Number of entries currently inserted. */
size_t tr_wheel_count(const tr_wheel *w);

#endif
