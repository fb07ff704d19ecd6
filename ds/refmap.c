/* See refmap.h. Written by hand: a dozen lines of linear probing are less
 * than a dependency, and no hash map is in the tree yet. */
#include "ds/refmap.h"

#include <stdlib.h>

static size_t slot_of(const tr_refmap *m, uint64_t key)
{
    key ^= key >> 33; /* murmur3's finaliser: reference ids are sequential-ish */
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & (m->cap - 1);
}

static int grow(tr_refmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    void **vals = calloc(cap, sizeof(*vals));
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return -1;
    }
    tr_refmap old = *m;
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i] != 0)
            tr_refmap_put(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
    return 0;
}

int tr_refmap_put(tr_refmap *m, uint64_t key, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0) /* load factor <= 3/4 */
        return -1;
    size_t i = slot_of(m, key);
    while (m->keys[i] != 0 && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == 0)
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
    return 0;
}

void *tr_refmap_get(const tr_refmap *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = slot_of(m, key); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == key)
            return m->vals[i];
    return NULL;
}

void tr_refmap_del(tr_refmap *m, uint64_t key)
{
    if (m->cap == 0)
        return;
    size_t mask = m->cap - 1, i = slot_of(m, key);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return;
        i = (i + 1) & mask;
    }
    /* backward shift: pull later entries of the run into the hole when
     * their home slot does not lie (cyclically) between the hole and them */
    for (size_t j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->keys[j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
}

void tr_refmap_free(tr_refmap *m)
{
    free(m->keys);
    free(m->vals);
    *m = (tr_refmap){0};
}
