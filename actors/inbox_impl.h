/* The runtime's side of inboxes (actors/inbox.c): the system's list of the
 * open ones, and the unlisted inboxes the runtime makes for itself. */
#ifndef TROUPE_ACTORS_INBOX_IMPL_H
#define TROUPE_ACTORS_INBOX_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "ds/list.h"
#include "troupe/inbox.h"

/* The inboxes made by tr_inbox_create and not destroyed yet
 * (tr_system.inboxes), so that tr_system_destroy destroys those the
 * application left open. */
typedef struct tr_inbox_list {
    pthread_mutex_t lock;
    tr_list open; /* tr_inbox.in_list, oldest first; under lock */
} tr_inbox_list;

/* Makes an empty list / frees what the list itself holds (its lock). */
void tr_inbox_list_init(tr_inbox_list *l);
void tr_inbox_list_fini(tr_inbox_list *l);

/* Destroys the inboxes the application left open (system teardown). */
void tr_inboxes_destroy(tr_system *sys);

/* tr_inbox_create for the runtime's own inboxes (tr_ask_wait's): the
 * system does not list them, their user always destroys them. */
int tr_inbox_create_unlisted(tr_system *sys, uint32_t capacity, struct tr_inbox **out);

#endif
