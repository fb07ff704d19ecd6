/* The seam for what a layer above the runtime attaches to a system for the
 * system's whole life: today the HTTP observer that tr_config.observe_url or
 * TROUPE_OBSERVE starts (observe/autostart.c). The public tr_system_create
 * lives there: it creates the runtime here (tr_system_create_runtime), then
 * attaches the observer. The runtime only keeps the object and detaches it
 * first in tr_system_destroy, before anything it may read stops; so actors/
 * includes nothing of observe/ (which sits above net/, above actors/). */
#ifndef TROUPE_ACTORS_ATTACHMENT_H
#define TROUPE_ACTORS_ATTACHMENT_H

#include "troupe/actor.h"

/* tr_system_create without the attachment: the same checks, defaults and
 * return values; cfg->observe_url is not read and not kept. */
int tr_system_create_runtime(const tr_config *cfg, tr_system **out);

/* Attaches `object` to `sys` (one per system; called during creation, before
 * the system is handed out): tr_system_destroy calls detach(object) before
 * it stops anything. */
void tr_system_attach(tr_system *sys, void *object, void (*detach)(void *object));

/* The object attached to `sys`, or NULL. */
void *tr_system_attached(const tr_system *sys);

#endif
