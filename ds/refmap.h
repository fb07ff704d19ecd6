/* The runtime's one hash map: 64-bit keys (actor reference ids) to
 * pointers, by open addressing with linear probing and backward-shift
 * deletion, so lookups, inserts and removals are O(1) expected and no
 * tombstones build up (Pony's ds/hash.h, NNG's nni_id_map play this part
 * there). A supervisor finds the child a DOWN is about with it (pools hold
 * thousands of children). Key 0 is reserved (TR_REF_NONE). Not thread-safe:
 * one owner. */
#ifndef TROUPE_DS_REFMAP_H
#define TROUPE_DS_REFMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tr_refmap {
    uint64_t *keys; /* 0 = empty slot */
    void **vals;
    size_t cap;     /* a power of two, or 0 before the first insert */
    size_t n;
} tr_refmap;

/* Adds or replaces key -> val (key != 0). Returns 0, or -1 when out of memory. */
int tr_refmap_put(tr_refmap *m, uint64_t key, void *val);

/* The value of `key`, or NULL. */
void *tr_refmap_get(const tr_refmap *m, uint64_t key);

/* Removes `key` if present. */
void tr_refmap_del(tr_refmap *m, uint64_t key);

/* Frees the map's arrays (the values are the caller's). */
void tr_refmap_free(tr_refmap *m);

#endif
