/* Local names: a small chained hash table under one lock. A name whose
 * actor has ended is treated as free (and dropped) the next time it is
 * touched, so no lifecycle hook is needed and lookups never return a dead
 * actor. */
#include <stdlib.h>
#include <string.h>

#include "actors/registry.h"
#include "actors/system_impl.h"
#include "troupe/registry.h"

#define NAME_BUCKETS 256

typedef struct tr_name_entry {
    struct tr_name_entry *next;
    tr_ref ref;
    char name[TR_NAME_MAX];
} tr_name_entry;

static bool name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t len = strnlen(name, TR_NAME_MAX);
    return len > 0 && len < TR_NAME_MAX && strchr(name, '/') == NULL;
}

static size_t name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ull;
    return (size_t)(h % NAME_BUCKETS);
}

static tr_name_entry **buckets(tr_system *sys)
{
    if (sys->names.buckets == NULL)
        sys->names.buckets = calloc(NAME_BUCKETS, sizeof(tr_name_entry *));
    return sys->names.buckets;
}

/* Finds the live entry for `name` (lock held), dropping a stale one. */
static tr_name_entry **find(tr_system *sys, tr_name_entry **table, const char *name)
{
    tr_name_entry **p = &table[name_hash(name)];
    for (; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->name, name) != 0)
            continue;
        if (tr_actor_state_of(sys, (*p)->ref) == TR_STATE_DEAD) {
            tr_name_entry *stale = *p;
            *p = stale->next;
            free(stale);
            return NULL;
        }
        return p;
    }
    return NULL;
}

/* The live entry for `name` (lock held), or NULL. */
static tr_name_entry **lookup(tr_system *sys, const char *name)
{
    tr_name_entry **table = buckets(sys);
    return table != NULL ? find(sys, table, name) : NULL;
}

int tr_register(tr_system *sys, const char *name, tr_ref ref)
{
    if (sys == NULL || !name_valid(name) || tr_ref_is_none(ref) || tr_ref_is_remote(ref))
        return TR_EINVAL;
    if (tr_actor_state_of(sys, ref) == TR_STATE_DEAD)
        return TR_EDEAD;
    pthread_mutex_lock(&sys->names.lock);
    tr_name_entry **table = buckets(sys);
    int rc = TR_OK;
    if (table == NULL) {
        rc = TR_ENOMEM;
    } else if (find(sys, table, name) != NULL) {
        rc = TR_EEXIST;
    } else {
        tr_name_entry *e = calloc(1, sizeof(*e));
        if (e == NULL) {
            rc = TR_ENOMEM;
        } else {
            strcpy(e->name, name);
            e->ref = ref;
            size_t b = name_hash(name);
            e->next = table[b];
            table[b] = e;
        }
    }
    pthread_mutex_unlock(&sys->names.lock);
    return rc;
}

int tr_unregister(tr_system *sys, const char *name)
{
    if (sys == NULL || !name_valid(name))
        return TR_EINVAL;
    pthread_mutex_lock(&sys->names.lock);
    int rc = TR_ENOTFOUND;
    tr_name_entry **p = lookup(sys, name);
    if (p != NULL) {
        tr_name_entry *e = *p;
        *p = e->next;
        free(e);
        rc = TR_OK;
    }
    pthread_mutex_unlock(&sys->names.lock);
    return rc;
}

int tr_whereis(tr_system *sys, const char *name, tr_ref *out)
{
    if (sys == NULL || out == NULL || !name_valid(name))
        return TR_EINVAL;
    pthread_mutex_lock(&sys->names.lock);
    int rc = TR_ENOTFOUND;
    tr_name_entry **p = lookup(sys, name);
    if (p != NULL) {
        *out = (*p)->ref;
        rc = TR_OK;
    }
    pthread_mutex_unlock(&sys->names.lock);
    return rc;
}

void tr_names_init(tr_names *names)
{
    pthread_mutex_init(&names->lock, NULL);
    names->buckets = NULL;
}

void tr_names_fini(tr_names *names)
{
    tr_name_entry **table = names->buckets;
    for (size_t b = 0; table != NULL && b < NAME_BUCKETS; b++) {
        while (table[b] != NULL) {
            tr_name_entry *e = table[b];
            table[b] = e->next;
            free(e);
        }
    }
    free(table);
    names->buckets = NULL;
    pthread_mutex_destroy(&names->lock);
}
