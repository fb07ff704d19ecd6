/* Local names (registry.c; public side in troupe/registry.h): the
 * runtime's part of them, tr_system.names. */
#ifndef TROUPE_ACTORS_REGISTRY_H
#define TROUPE_ACTORS_REGISTRY_H

#include <pthread.h>

struct tr_name_entry;

typedef struct tr_names {
    pthread_mutex_t lock;
    struct tr_name_entry **buckets; /* allocated on first use */
} tr_names;

/* Makes an empty registry. */
void tr_names_init(tr_names *names);

/* Frees every name and the registry's lock (system teardown). */
void tr_names_fini(tr_names *names);

#endif
