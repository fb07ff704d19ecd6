/* The mute set and the one wait for room (mute.h). */
#include "actors/mute.h"

#include "actors/clock.h"
#include "actors/remote.h"

int tr_muteset_add(tr_muteset *s, tr_ref sender)
{
    if (tr_refmap_get(&s->senders, sender.id) != NULL)
        return TR_EEXIST;
    return tr_refmap_put(&s->senders, sender.id, &s->senders) == 0 ? TR_OK : TR_ENOMEM;
}

void tr_muteset_remove(tr_muteset *s, tr_ref sender) { tr_refmap_del(&s->senders, sender.id); }

tr_muteset tr_muteset_take(tr_muteset *s)
{
    tr_muteset taken = *s;
    *s = (tr_muteset){0};
    return taken;
}

void tr_muteset_release(tr_system *sys, tr_muteset *taken)
{
    for (size_t i = 0; i < taken->senders.cap; i++)
        if (taken->senders.keys[i] != 0)
            tr_actor_unmute(sys, (tr_ref){taken->senders.keys[i]});
    tr_muteset_free(taken);
}

void tr_muteset_free(tr_muteset *s) { tr_refmap_free(&s->senders); }

int tr_wait_for_room(pthread_cond_t *cv, pthread_mutex_t *m, int timeout_ms,
                     int (*has_room)(void *arg), void *arg)
{
    struct timespec deadline = tr_deadline_after(timeout_ms);
    int rc;
    while ((rc = has_room(arg)) == TR_EFULL) {
        if (!tr_cond_wait_until(cv, m, timeout_ms, &deadline))
            return has_room(arg) == TR_OK ? TR_OK : TR_EFULL;
    }
    return rc;
}
