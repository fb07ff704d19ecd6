/* Monitors. An actor's monitors live in its extension under its stripe lock.
 * When it ends, lifecycle.c closes the list before retiring the reference and
 * fires the DOWN messages after, so a watcher that receives DOWN always sees
 * the actor dead. A monitor added after the close fires at once: each fires
 * exactly once. DOWN passes the watcher's bound (one message per monitor). */
#include <stdlib.h>

#include "actors/dead_letters.h"
#include "actors/exit_cache.h"
#include "actors/ext.h"
#include "actors/remote.h"
#include "actors/send.h"
#include "actors/system_impl.h"
#include "actors/monitor_impl.h"
#include "actors/table.h"
#include "troupe/monitor.h"

void tr_monitor_send_down(tr_system *sys, tr_ref watcher, tr_ref dead, uint64_t id, int reason)
{
    tr_down d = {.actor = dead, .monitor = id, .reason = reason};
    tr_mnode *n = tr_mnode_copy(TR_MSG_DOWN, &d, sizeof(d));
    if (n == NULL) {
        tr_dead_letter_record(sys, watcher, dead, TR_MSG_DOWN, TR_ENOMEM);
        return;
    }
    n->msg.sender = dead;
    tr_deliver(sys, NULL, watcher, n, true, 0);
}

void tr_monitor_ext_fini(void *part)
{
    tr_watch_vec *watches = part;
    tr_vec_free(watches);
}

static int watch_add(tr_actor_ext *ext, uint64_t id, tr_ref watcher)
{
    if (tr_vec_push(&ext->watches, (tr_watch){.id = id, .watcher = watcher}) != 0)
        return TR_ENOMEM;
    return TR_OK;
}

uint64_t tr_monitor_new_id(tr_system *sys)
{
    return atomic_fetch_add_explicit(&sys->monitor_seq, 1, memory_order_relaxed) + 1;
}

int tr_monitor(tr_system *sys, tr_ref watcher, tr_ref target, uint64_t *id)
{
    if (sys == NULL || tr_ref_is_none(watcher))
        return TR_EINVAL;
    struct tr_actor *w;
    if (tr_table_acquire(&sys->table, watcher, false, &w) != TR_OK)
        return TR_EDEAD;
    tr_table_release(&sys->table, watcher);
    uint64_t mid = tr_monitor_new_id(sys);
    if (id != NULL)
        *id = mid;
    if (tr_ref_is_remote(target)) {
        tr_remote_monitor(sys, watcher, target, mid); /* the node sends the DOWN */
        return TR_OK;
    }
    struct tr_actor *a;
    if (tr_table_acquire(&sys->table, target, false, &a) != TR_OK) {
        int reason = TR_EDEAD;
        tr_exit_cache_get(&sys->exits, target, &reason);
        tr_monitor_send_down(sys, watcher, target, mid, reason);
        return TR_OK;
    }
    tr_actor_ext *ext = tr_actor_ext_get(a);
    int rc = ext != NULL ? TR_OK : TR_ENOMEM;
    bool fire_now = false;
    int reason = TR_OK;
    if (rc == TR_OK) {
        pthread_mutex_t *m = tr_actor_stripe(sys, a);
        /* pairs with finish (lifecycle.c), which marks the end and then
         * looks for an extension: either it sees ours and closes our watch
         * under the lock, or we see the end and fire at once */
        tr_actor_ext_publish(a, ext);
        pthread_mutex_lock(m);
        if (tr_actor_ended(a)) {
            fire_now = true;
            reason = a->exit_reason; /* final once the list is closed */
        } else {
            rc = watch_add(ext, mid, watcher);
        }
        pthread_mutex_unlock(m);
    }
    tr_table_release(&sys->table, target);
    if (fire_now)
        tr_monitor_send_down(sys, watcher, target, mid, reason);
    return rc;
}

int tr_demonitor(tr_system *sys, tr_ref target, uint64_t id)
{
    if (sys == NULL)
        return TR_EINVAL;
    if (tr_ref_is_remote(target))
        return tr_remote_demonitor(sys, target, id);
    struct tr_actor *a;
    if (tr_table_acquire(&sys->table, target, false, &a) != TR_OK)
        return TR_ENOTFOUND;
    int rc = TR_ENOTFOUND;
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext != NULL) {
        pthread_mutex_t *m = tr_actor_stripe(sys, a);
        pthread_mutex_lock(m);
        for (uint32_t i = 0; i < ext->watches.len; i++) {
            if (ext->watches.at[i].id == id) {
                tr_vec_remove_swap(&ext->watches, i);
                rc = TR_OK;
                break;
            }
        }
        pthread_mutex_unlock(m);
    }
    tr_table_release(&sys->table, target);
    return rc;
}

tr_watch_list tr_monitor_close_locked(struct tr_actor *a)
{
    tr_watch_list list = {0};
    a->watch_closed = 1;
    tr_actor_ext *ext = atomic_load_explicit(&a->ext, memory_order_acquire);
    if (ext != NULL) {
        list = ext->watches;
        ext->watches = (tr_watch_vec){0};
    }
    return list;
}

void tr_monitor_fire(tr_system *sys, tr_ref dead, int reason, tr_watch_list *list)
{
    for (uint32_t i = 0; i < list->len; i++)
        tr_monitor_send_down(sys, list->at[i].watcher, dead, list->at[i].id, reason);
    tr_vec_free(list);
}
