/* Process groups (troupe/pg.h): the node's table of groups, the public
 * calls, the session hooks and the "$pg" actor.
 *
 * One lock (pg->lock) guards the table. Every change is applied, sent to
 * the peers and announced to local subscribers under it, so the order of
 * changes is the same in the table, on every connection and in every
 * subscriber's mailbox. Lock order: pg lock -> peer lock (changes enqueue
 * envelopes under the pg lock); the node lock is never taken under it.
 *
 * Groups are a chained hash table by name; each holds its members (local
 * and remote references, each with a join count) in join order. Local
 * members also have an entry (hashed by reference) with the monitor the
 * "$pg" actor holds on them and the groups they are in, so an actor's end
 * removes it everywhere without a scan. A remote node's members are found
 * by a scan when it goes down (rare, O(entries)).
 *
 * synced[i] is true once our snapshot went to peer i in its current
 * session: changes go only to synced peers, after the snapshot, so a peer
 * sees each change once (a snapshot sent again replaces, never adds). It
 * is cleared when the peer goes down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/remote.h"
#include "net/node_impl.h"
#include "net/pg.h"
#include "troupe/monitor.h"

#define GROUP_BUCKETS 1024
#define LOCAL_BUCKETS 1024
/* Remote member entries (join counts summed) held for all peers together:
 * an authenticated but misbehaving peer cannot make the table grow without
 * bound. Joins past it are refused, counted in bad_frames and logged. */
#define PG_REMOTE_MAX (1u << 20)

typedef struct pg_member {
    tr_ref ref;
    uint32_t count; /* joins not yet left */
} pg_member;

typedef struct pg_group {
    struct pg_group *next; /* bucket chain */
    TR_VEC(pg_member) members; /* join order */
    size_t len;
    char name[]; /* NUL-terminated */
} pg_group;

/* A local member: the monitor "$pg" holds on it and the groups it is in. */
typedef struct pg_local {
    struct pg_local *next; /* bucket chain */
    tr_ref ref;
    uint64_t monitor;
    pg_group **groups;
    uint32_t ngroups, cap;
} pg_local;

/* A subscription (tr_pg_monitor). */
typedef struct pg_watch {
    struct pg_watch *next;
    uint64_t id;
    tr_ref subscriber;
    uint64_t monitor; /* "$pg" monitors the subscriber */
    bool all;         /* every group, else `group` */
    char group[TR_PG_NAME_MAX + 1];
} pg_watch;

struct tr_pg {
    pthread_mutex_t lock;
    pg_group *groups[GROUP_BUCKETS];
    pg_local *locals[LOCAL_BUCKETS];
    pg_watch *watches;
    uint64_t last_watch;
    size_t remote_entries;
    bool synced[TR_NODE_MAX_PEERS + 1];
    tr_ref actor; /* "$pg" */
};

/* ---- the table ---- */

static size_t name_hash(const char *name, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    return (size_t)(h % GROUP_BUCKETS);
}

static size_t ref_hash(tr_ref ref) { return (size_t)((ref.id * 0x9e3779b97f4a7c15ull) >> 40) % LOCAL_BUCKETS; }

/* The group called name[0..len), made if `create` (NULL: none, or ENOMEM). */
static pg_group *group_get(struct tr_pg *pg, const char *name, size_t len, bool create)
{
    pg_group **head = &pg->groups[name_hash(name, len)];
    for (pg_group *g = *head; g != NULL; g = g->next)
        if (g->len == len && memcmp(g->name, name, len) == 0)
            return g;
    if (!create)
        return NULL;
    pg_group *g = calloc(1, sizeof(*g) + len + 1);
    if (g == NULL)
        return NULL;
    memcpy(g->name, name, len);
    g->len = len;
    g->next = *head;
    *head = g;
    return g;
}

/* Frees g once it has no members (a group exists while it has some). */
static void group_drop_if_empty(struct tr_pg *pg, pg_group *g)
{
    if (g->members.len > 0)
        return;
    for (pg_group **pp = &pg->groups[name_hash(g->name, g->len)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    tr_vec_free(&g->members);
    free(g);
}

static pg_member *member_find(pg_group *g, tr_ref ref)
{
    for (uint32_t i = 0; i < g->members.len; i++)
        if (tr_ref_equal(g->members.at[i].ref, ref))
            return &g->members.at[i];
    return NULL;
}

/* Adds `count` joins of ref to g. Returns TR_OK or TR_ENOMEM. */
static int member_add(pg_group *g, tr_ref ref, uint32_t count)
{
    pg_member *m = member_find(g, ref);
    if (m != NULL) {
        m->count += count;
        return TR_OK;
    }
    return tr_vec_push(&g->members, (pg_member){ref, count}) == 0 ? TR_OK : TR_ENOMEM;
}

/* Removes up to `count` joins of ref from g; returns how many it removed. */
static uint32_t member_remove(pg_group *g, tr_ref ref, uint32_t count)
{
    pg_member *m = member_find(g, ref);
    if (m == NULL)
        return 0;
    uint32_t removed = m->count < count ? m->count : count;
    m->count -= removed;
    if (m->count == 0) {
        size_t at = (size_t)(m - g->members.at);
        memmove(m, m + 1, (g->members.len - at - 1) * sizeof(*m));
        g->members.len--;
    }
    return removed;
}

static pg_local *local_get(struct tr_pg *pg, tr_ref ref)
{
    for (pg_local *l = pg->locals[ref_hash(ref)]; l != NULL; l = l->next)
        if (tr_ref_equal(l->ref, ref))
            return l;
    return NULL;
}

static void local_unlink(struct tr_pg *pg, pg_local *l)
{
    for (pg_local **pp = &pg->locals[ref_hash(l->ref)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    free(l->groups);
    free(l);
}

/* Forgets that local l is in g (it has left it entirely). */
static void local_forget_group(pg_local *l, pg_group *g)
{
    for (uint32_t i = 0; i < l->ngroups; i++) {
        if (l->groups[i] == g) {
            l->groups[i] = l->groups[--l->ngroups];
            return;
        }
    }
}

/* ---- telling peers and subscribers (pg lock held) ---- */

/* Sends one PG envelope (op, payload) to every synced peer. */
static void send_to_peers(struct tr_node *node, int op, const void *payload, size_t size)
{
    struct tr_pg *pg = node->pg;
    tr_envelope e = {.kind = TR_ENV_PG, .value = op, .payload = payload, .size = (uint32_t)size};
    for (uint32_t i = 1; i <= atomic_load(&node->npeers); i++) {
        if (!pg->synced[i])
            continue;
        tr_peer *p = tr_peer_pin(node, i);
        if (p != NULL)
            tr_peer_enqueue(p, NULL, &e, true, 0, NULL); /* TR_ENOTCONN: it went down, its hook runs next */
        tr_peer_unpin(p);
    }
}

/* Packs op for `group` with refs[0..n) (local: their ids) in envelopes of
 * at most TR_PG_IDS_MAX ids; to peer `only`, or to every synced peer when
 * only is NULL. Returns TR_OK, TR_ENOMEM or the enqueue's error. */
static int send_change(struct tr_node *node, tr_peer *only, int op, const char *group, int reason,
                       const tr_ref *refs, size_t n)
{
    uint64_t ids[TR_PG_IDS_MAX];
    int rc = TR_OK;
    for (size_t done = 0; done < n && rc == TR_OK;) {
        uint32_t k = 0;
        for (; k < TR_PG_IDS_MAX && done < n; done++)
            ids[k++] = refs[done].id & REF_LOCAL_MASK;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        rc = tr_pg_pack(&pk, group, reason, ids, k);
        if (rc == TR_OK && only == NULL) {
            send_to_peers(node, op, sb.data, sb.size);
        } else if (rc == TR_OK) {
            tr_envelope e = {.kind = TR_ENV_PG, .value = op, .payload = sb.data, .size = (uint32_t)sb.size};
            rc = tr_peer_enqueue(only, NULL, &e, true, 0, NULL);
        }
        msgpack_sbuffer_destroy(&sb);
    }
    if (rc == TR_ENOMEM)
        tr_net_log_peer(node, TR_LOG_ERROR, "pg: out of memory telling peers about group %s", group);
    return rc;
}

static bool watch_matches(const pg_watch *w, const char *group) { return w->all || strcmp(w->group, group) == 0; }

/* One event to subscriber w (past its mailbox bound, as TR_MSG_DOWN). */
static void deliver_event(struct tr_node *node, const pg_watch *w, uint32_t type, const char *group,
                          int reason, const tr_ref *refs, size_t n)
{
    size_t size = sizeof(tr_pg_event) + n * sizeof(tr_ref);
    tr_pg_event *ev = malloc(size);
    if (ev != NULL) {
        memset(ev, 0, sizeof(*ev));
        ev->monitor = w->id;
        ev->reason = reason;
        ev->count = (uint32_t)n;
        snprintf(ev->group, sizeof(ev->group), "%s", group);
        if (n > 0)
            memcpy(ev->members, refs, n * sizeof(tr_ref));
    }
    tr_mnode *m = ev != NULL ? tr_mnode_move(type, ev, size, free) : NULL; /* frees ev on failure */
    if (m == NULL) {
        tr_dead_letter_record(node->sys, w->subscriber, TR_REF_NONE, type, TR_ENOMEM);
        return;
    }
    tr_deliver(node->sys, NULL, w->subscriber, m, true, 0);
}

static void notify(struct tr_node *node, uint32_t type, const char *group, int reason, const tr_ref *refs,
                   size_t n)
{
    if (n == 0)
        return;
    for (pg_watch *w = node->pg->watches; w != NULL; w = w->next)
        if (watch_matches(w, group))
            deliver_event(node, w, type, group, reason, refs, n);
}

/* refs[0..n) with each member repeated `count` times (malloc'd, or NULL). */
static tr_ref *repeat(tr_ref ref, uint32_t count)
{
    tr_ref *out = malloc(count * sizeof(*out));
    for (uint32_t i = 0; out != NULL && i < count; i++)
        out[i] = ref;
    return out;
}

/* The members of g, local ones first, each repeated by its count (local
 * ones only if local_only): the first `cap` go to out; returns how many
 * there are. */
static size_t each_member(const pg_group *g, bool local_only, tr_ref *out, size_t cap)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) /* local first */
        for (uint32_t i = 0; i < g->members.len; i++) {
            const pg_member *m = &g->members.at[i];
            if (tr_ref_is_remote(m->ref) != (pass == 1) || (pass == 1 && local_only))
                continue;
            for (uint32_t k = 0; k < m->count; k++, n++)
                if (n < cap)
                    out[n] = m->ref;
        }
    return n;
}

/* Every member of g, as each_member, malloc'd; *n gets the number; NULL
 * with *n 0 when empty or out of memory. */
static tr_ref *members_of(const pg_group *g, bool local_only, size_t *n)
{
    size_t total = each_member(g, local_only, NULL, 0);
    tr_ref *out = total > 0 ? malloc(total * sizeof(*out)) : NULL;
    *n = out != NULL ? each_member(g, local_only, out, total) : 0;
    return out;
}

/* ---- local changes ---- */

/* The node of sys, entered (tr_remote_enter) so that it cannot be freed
 * while we use it, or NULL. */
static struct tr_node *node_of(tr_system *sys) { return sys != NULL ? tr_remote_enter(sys) : NULL; }

static bool group_arg_ok(const char *group) { return group != NULL && tr_pg_name_valid(group, strnlen(group, TR_PG_NAME_MAX + 1)); }

int tr_pg_join(tr_system *sys, const char *group, tr_ref member)
{
    if (!group_arg_ok(group) || tr_ref_is_none(member) || tr_ref_is_remote(member))
        return TR_EINVAL;
    struct tr_node *node = node_of(sys);
    if (node == NULL)
        return TR_ENOTCONN;
    struct tr_pg *pg = node->pg;
    int rc = TR_OK;
    pthread_mutex_lock(&pg->lock);
    pg_local *l = local_get(pg, member);
    bool fresh = l == NULL;
    if (fresh && tr_actor_state_of(sys, member) == TR_STATE_DEAD) {
        rc = TR_EDEAD;
    } else if (fresh) {
        l = calloc(1, sizeof(*l));
        rc = l == NULL ? TR_ENOMEM : TR_OK;
        if (rc == TR_OK) {
            l->ref = member;
            l->next = pg->locals[ref_hash(member)];
            pg->locals[ref_hash(member)] = l;
        }
    }
    pg_group *g = rc == TR_OK ? group_get(pg, group, strlen(group), true) : NULL;
    if (rc == TR_OK && g == NULL)
        rc = TR_ENOMEM;
    bool new_in_group = g != NULL && member_find(g, member) == NULL;
    if (rc == TR_OK && new_in_group && l->ngroups == l->cap) {
        uint32_t cap = l->cap ? 2 * l->cap : 4;
        pg_group **grown = realloc(l->groups, cap * sizeof(*grown));
        if (grown == NULL) {
            rc = TR_ENOMEM;
        } else {
            l->groups = grown;
            l->cap = cap;
        }
    }
    if (rc == TR_OK)
        rc = member_add(g, member, 1);
    if (rc == TR_OK && new_in_group)
        l->groups[l->ngroups++] = g;
    /* the monitor last: its DOWN may come at once (an actor that just
     * ended), and finds the member in place */
    if (rc == TR_OK && fresh && (rc = tr_monitor(sys, pg->actor, member, &l->monitor)) != TR_OK) {
        member_remove(g, member, 1);
        local_forget_group(l, g);
    }
    if (rc == TR_OK) {
        send_change(node, NULL, TR_PG_JOIN, group, 0, &member, 1);
        notify(node, TR_MSG_PG_JOINED, group, 0, &member, 1);
    } else {
        if (g != NULL)
            group_drop_if_empty(pg, g);
        if (fresh && l != NULL)
            local_unlink(pg, l);
    }
    pthread_mutex_unlock(&pg->lock);
    tr_remote_leave(sys);
    return rc;
}

int tr_pg_leave(tr_system *sys, const char *group, tr_ref member)
{
    if (!group_arg_ok(group) || tr_ref_is_none(member))
        return TR_EINVAL;
    struct tr_node *node = node_of(sys);
    if (node == NULL)
        return TR_ENOTCONN;
    struct tr_pg *pg = node->pg;
    pthread_mutex_lock(&pg->lock);
    pg_group *g = group_get(pg, group, strlen(group), false);
    pg_local *l = tr_ref_is_remote(member) ? NULL : local_get(pg, member);
    int rc = g != NULL && l != NULL && member_remove(g, member, 1) == 1 ? TR_OK : TR_ENOTFOUND;
    if (rc == TR_OK) {
        send_change(node, NULL, TR_PG_LEAVE, group, TR_OK, &member, 1);
        notify(node, TR_MSG_PG_LEFT, group, TR_OK, &member, 1);
        if (member_find(g, member) == NULL)
            local_forget_group(l, g);
        group_drop_if_empty(pg, g);
        if (l->ngroups == 0) { /* in no group any more: no need to watch it */
            tr_demonitor(sys, member, l->monitor);
            local_unlink(pg, l);
        }
    }
    pthread_mutex_unlock(&pg->lock);
    tr_remote_leave(sys);
    return rc;
}

/* A local member ended (its monitor fired): it leaves every group. */
static void local_member_down(struct tr_node *node, tr_ref ref, int reason)
{
    struct tr_pg *pg = node->pg;
    pg_local *l = local_get(pg, ref);
    if (l == NULL)
        return;
    for (uint32_t i = 0; i < l->ngroups; i++) {
        pg_group *g = l->groups[i];
        pg_member *m = member_find(g, ref);
        uint32_t count = m != NULL ? m->count : 0;
        tr_ref *refs = count > 0 ? repeat(ref, count) : NULL;
        member_remove(g, ref, count);
        if (refs != NULL) {
            send_change(node, NULL, TR_PG_LEAVE, g->name, reason, refs, count);
            notify(node, TR_MSG_PG_LEFT, g->name, reason, refs, count);
        }
        free(refs);
        group_drop_if_empty(pg, g);
    }
    local_unlink(pg, l);
}

/* A subscriber ended: its subscriptions end. */
static void subscriber_down(struct tr_pg *pg, tr_ref ref)
{
    for (pg_watch **pp = &pg->watches; *pp != NULL;) {
        pg_watch *w = *pp;
        if (tr_ref_equal(w->subscriber, ref)) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

/* ---- reads and subscriptions ---- */

/* The process groups of sys's node, locked, or NULL (no node). */
static struct tr_pg *pg_lock(tr_system *sys)
{
    struct tr_node *node = node_of(sys);
    if (node == NULL)
        return NULL;
    pthread_mutex_lock(&node->pg->lock);
    return node->pg;
}

/* Unlocks pg (pg_lock) and answers a read that found n things for a
 * buffer of cap: TR_OK, or TR_ETOOBIG when they did not all fit. */
static int pg_unlock_found(tr_system *sys, struct tr_pg *pg, size_t n, size_t cap, size_t *count)
{
    pthread_mutex_unlock(&pg->lock);
    tr_remote_leave(sys);
    *count = n;
    return n > cap ? TR_ETOOBIG : TR_OK;
}

static int copy_members(tr_system *sys, const char *group, bool local_only, tr_ref *out, size_t cap,
                        size_t *count)
{
    if (!group_arg_ok(group) || count == NULL || (out == NULL && cap > 0))
        return TR_EINVAL;
    struct tr_pg *pg = pg_lock(sys);
    if (pg == NULL)
        return TR_ENOTCONN;
    pg_group *g = group_get(pg, group, strlen(group), false);
    size_t n = g != NULL ? each_member(g, local_only, out, cap) : 0;
    return pg_unlock_found(sys, pg, n, cap, count);
}

int tr_pg_members(tr_system *sys, const char *group, tr_ref *out, size_t cap, size_t *count)
{
    return copy_members(sys, group, false, out, cap, count);
}

int tr_pg_local_members(tr_system *sys, const char *group, tr_ref *out, size_t cap, size_t *count)
{
    return copy_members(sys, group, true, out, cap, count);
}

int tr_pg_which_groups(tr_system *sys, char (*names)[TR_PG_NAME_MAX + 1], size_t cap, size_t *count)
{
    if (count == NULL || (names == NULL && cap > 0))
        return TR_EINVAL;
    struct tr_pg *pg = pg_lock(sys);
    if (pg == NULL)
        return TR_ENOTCONN;
    size_t n = 0;
    for (size_t b = 0; b < GROUP_BUCKETS; b++)
        for (pg_group *g = pg->groups[b]; g != NULL; g = g->next, n++)
            if (n < cap)
                memcpy(names[n], g->name, g->len + 1);
    return pg_unlock_found(sys, pg, n, cap, count);
}

/* The first events of subscription w: the members it covers now. */
static void describe_now(struct tr_node *node, const pg_watch *w)
{
    struct tr_pg *pg = node->pg;
    if (!w->all) {
        pg_group *g = group_get(pg, w->group, strlen(w->group), false);
        size_t n = 0;
        tr_ref *refs = g != NULL ? members_of(g, false, &n) : NULL;
        deliver_event(node, w, TR_MSG_PG_JOINED, w->group, 0, refs, n);
        free(refs);
        return;
    }
    for (size_t b = 0; b < GROUP_BUCKETS; b++)
        for (pg_group *g = pg->groups[b]; g != NULL; g = g->next) {
            size_t n = 0;
            tr_ref *refs = members_of(g, false, &n);
            if (n > 0)
                deliver_event(node, w, TR_MSG_PG_JOINED, g->name, 0, refs, n);
            free(refs);
        }
}

int tr_pg_monitor(tr_system *sys, const char *group, tr_ref subscriber, uint64_t *id)
{
    if ((group != NULL && !group_arg_ok(group)) || tr_ref_is_none(subscriber) || tr_ref_is_remote(subscriber))
        return TR_EINVAL;
    struct tr_node *node = node_of(sys);
    if (node == NULL)
        return TR_ENOTCONN;
    struct tr_pg *pg = node->pg;
    pg_watch *w = calloc(1, sizeof(*w));
    int rc = w == NULL ? TR_ENOMEM : tr_actor_state_of(sys, subscriber) == TR_STATE_DEAD ? TR_EDEAD : TR_OK;
    pthread_mutex_lock(&pg->lock);
    if (rc == TR_OK) {
        w->id = ++pg->last_watch;
        w->subscriber = subscriber;
        w->all = group == NULL;
        if (group != NULL)
            snprintf(w->group, sizeof(w->group), "%s", group);
        rc = tr_monitor(sys, pg->actor, subscriber, &w->monitor);
    }
    if (rc == TR_OK) {
        describe_now(node, w);
        w->next = pg->watches;
        pg->watches = w;
        if (id != NULL)
            *id = w->id;
        w = NULL;
    }
    pthread_mutex_unlock(&pg->lock);
    free(w);
    tr_remote_leave(sys);
    return rc;
}

int tr_pg_demonitor(tr_system *sys, uint64_t id)
{
    struct tr_node *node = node_of(sys);
    if (node == NULL)
        return TR_ENOTCONN;
    struct tr_pg *pg = node->pg;
    pg_watch *found = NULL;
    pthread_mutex_lock(&pg->lock);
    for (pg_watch **pp = &pg->watches; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&pg->lock);
    if (found != NULL)
        tr_demonitor(sys, found->subscriber, found->monitor); /* its DOWN, if queued, finds nothing */
    free(found);
    tr_remote_leave(sys);
    return found != NULL ? TR_OK : TR_ENOTFOUND;
}

/* ---- sessions ---- */

/* True while p's session is up and p takes part in process groups (as in
 * Erlang, hidden nodes do not: a client sees no groups, and its PG
 * envelopes are dropped). */
static bool session_live(tr_peer *p)
{
    pthread_mutex_lock(&p->lock);
    bool live = p->up && p->conn != NULL && !p->retired && !p->hidden;
    pthread_mutex_unlock(&p->lock);
    return live;
}

/* Sends our snapshot to p: SYNC, then every local member; changes follow
 * it (pg lock held). False when p went down meanwhile. */
static bool send_snapshot(struct tr_node *node, tr_peer *p)
{
    struct tr_pg *pg = node->pg;
    tr_envelope e = {.kind = TR_ENV_PG, .value = TR_PG_SYNC};
    int rc = tr_peer_enqueue(p, NULL, &e, true, 0, NULL);
    for (size_t b = 0; b < GROUP_BUCKETS && rc == TR_OK; b++)
        for (pg_group *g = pg->groups[b]; g != NULL && rc == TR_OK; g = g->next) {
            size_t n = 0;
            tr_ref *refs = members_of(g, true, &n);
            if (n > 0)
                rc = refs == NULL ? TR_ENOMEM : send_change(node, p, TR_PG_JOIN, g->name, 0, refs, n);
            free(refs);
        }
    pg->synced[p->index] = rc == TR_OK; /* else it went down meanwhile: the next session sends it */
    return rc == TR_OK;
}

void tr_pg_peer_up(struct tr_node *node, tr_peer *p)
{
    struct tr_pg *pg = node->pg;
    if (pg == NULL)
        return;
    pthread_mutex_lock(&pg->lock);
    if (!pg->synced[p->index] && session_live(p))
        send_snapshot(node, p);
    pthread_mutex_unlock(&pg->lock);
}

/* Removes every member of peer `index` (SYNC, or its node went down). */
static void forget_peer_members(struct tr_node *node, uint32_t index, int reason)
{
    struct tr_pg *pg = node->pg;
    for (size_t b = 0; b < GROUP_BUCKETS; b++) {
        for (pg_group *g = pg->groups[b], *next; g != NULL; g = next) {
            next = g->next;
            size_t n = 0, k = 0;
            for (uint32_t i = 0; i < g->members.len; i++)
                if (tr_ref_node(g->members.at[i].ref) == index)
                    n += g->members.at[i].count;
            if (n == 0)
                continue;
            tr_ref *gone = malloc(n * sizeof(*gone));
            for (uint32_t i = 0; i < g->members.len;) {
                pg_member m = g->members.at[i];
                if (tr_ref_node(m.ref) != index) {
                    i++;
                    continue;
                }
                for (uint32_t c = 0; gone != NULL && c < m.count; c++)
                    gone[k++] = m.ref;
                member_remove(g, m.ref, m.count);
            }
            pg->remote_entries -= n;
            if (gone != NULL)
                notify(node, TR_MSG_PG_LEFT, g->name, reason, gone, k);
            free(gone);
            group_drop_if_empty(pg, g);
        }
    }
}

void tr_pg_peer_down(struct tr_node *node, tr_peer *p)
{
    struct tr_pg *pg = node->pg;
    if (pg == NULL)
        return;
    pthread_mutex_lock(&pg->lock);
    pg->synced[p->index] = false;
    forget_peer_members(node, p->index, TR_ENODEDOWN);
    if (session_live(p) && send_snapshot(node, p)) {
        /* late: a new session began before this hook ran, and what it
         * brought was just forgotten: ask for the peer's snapshot again */
        tr_envelope e = {.kind = TR_ENV_PG, .value = TR_PG_DISCOVER};
        tr_peer_enqueue(p, NULL, &e, true, 0, NULL);
    }
    pthread_mutex_unlock(&pg->lock);
}

static void apply_join(struct tr_node *node, tr_peer *p, const tr_pg_delta *d, tr_ref *refs)
{
    struct tr_pg *pg = node->pg;
    pg_group *g = group_get(pg, d->group, strlen(d->group), true);
    uint32_t n = 0;
    for (uint32_t i = 0; g != NULL && i < d->count && pg->remote_entries < PG_REMOTE_MAX; i++) {
        tr_ref ref = tr_ref_make(p->index, d->ids[i]);
        if (member_add(g, ref, 1) != TR_OK)
            break;
        pg->remote_entries++;
        refs[n++] = ref;
    }
    if (n < d->count) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        tr_net_log(node, "pg: %u joins of group %s from %s refused (out of memory or over %u remote members)",
                   d->count - n, d->group, p->name, PG_REMOTE_MAX);
    }
    if (g != NULL) {
        notify(node, TR_MSG_PG_JOINED, d->group, 0, refs, n);
        group_drop_if_empty(pg, g);
    }
}

static void apply_leave(struct tr_node *node, tr_peer *p, const tr_pg_delta *d, tr_ref *refs)
{
    struct tr_pg *pg = node->pg;
    pg_group *g = group_get(pg, d->group, strlen(d->group), false);
    uint32_t n = 0;
    for (uint32_t i = 0; g != NULL && i < d->count; i++) {
        tr_ref ref = tr_ref_make(p->index, d->ids[i]);
        if (member_remove(g, ref, 1) == 1) {
            pg->remote_entries--;
            refs[n++] = ref;
        }
    }
    if (g != NULL) {
        notify(node, TR_MSG_PG_LEFT, d->group, d->reason, refs, n);
        group_drop_if_empty(pg, g);
    }
}

void tr_pg_on_envelope(struct tr_node *node, tr_peer *p, const tr_envelope *e)
{
    struct tr_pg *pg = node->pg;
    /* decoded off the stack: a delta is ~4 KB and this runs on NNG's threads */
    tr_pg_delta *d = malloc(sizeof(*d));
    tr_ref *refs = malloc(TR_PG_IDS_MAX * sizeof(*refs));
    int rc = d == NULL || refs == NULL ? TR_ENOMEM : tr_pg_decode(e->value, e->payload, e->size, d);
    if (rc != TR_OK) {
        atomic_fetch_add_explicit(&node->bad_frames, 1, memory_order_relaxed);
        tr_net_log(node, "%s sent a malformed process-group message (%s): dropped", p->name, tr_strerror(rc));
    } else {
        pthread_mutex_lock(&pg->lock);
        if (session_live(p)) { /* else an old session's: its members went with its node-down */
            if (d->op == TR_PG_SYNC)
                forget_peer_members(node, p->index, TR_ENODEDOWN);
            else if (d->op == TR_PG_DISCOVER)
                send_snapshot(node, p);
            else if (d->op == TR_PG_JOIN)
                apply_join(node, p, d, refs);
            else
                apply_leave(node, p, d, refs);
        }
        pthread_mutex_unlock(&pg->lock);
    }
    free(refs);
    free(d);
}

/* The peer a node event is about: that name and incarnation (an older
 * incarnation too: its members still have to go), pinned (tr_peer_unpin).
 * NULL when forgotten. */
static tr_peer *event_peer(struct tr_node *node, const tr_node_event *ev)
{
    tr_peer *found = NULL;
    pthread_mutex_lock(&node->lock);
    for (uint32_t i = 1; i <= node->npeers && found == NULL; i++) {
        tr_peer *p = node->peers[i];
        if (p == NULL)
            continue;
        pthread_mutex_lock(&p->lock);
        if (p->incarnation == ev->incarnation && strcmp(p->name, ev->name) == 0)
            found = p;
        pthread_mutex_unlock(&p->lock);
    }
    if (found != NULL)
        tr_peer_pin_locked(found);
    pthread_mutex_unlock(&node->lock);
    return found;
}

/* The member hook (net/member.c): every session up and down, in order,
 * no lock held. Hidden nodes take no part. */
static void pg_member_hook(void *arg, struct tr_node *node, const tr_node_event *ev, bool up)
{
    (void)arg;
    tr_peer *p = ev->hidden ? NULL : event_peer(node, ev);
    if (p != NULL && up)
        tr_pg_peer_up(node, p);
    else if (p != NULL)
        tr_pg_peer_down(node, p);
    tr_peer_unpin(p);
}

/* ---- the "$pg" actor: monitors local members and subscribers ---- */

static int pg_actor_handle(tr_ctx *self, void *state, const tr_msg *msg)
{
    (void)self;
    struct tr_node *node = *(struct tr_node **)state;
    if (msg->type != TR_MSG_DOWN || msg->size != sizeof(tr_down))
        return TR_OK;
    const tr_down *d = msg->data;
    pthread_mutex_lock(&node->pg->lock);
    local_member_down(node, d->actor, d->reason);
    subscriber_down(node->pg, d->actor);
    pthread_mutex_unlock(&node->pg->lock);
    return TR_OK;
}

static int pg_actor_init(tr_ctx *self, void *state, void *arg)
{
    (void)self;
    *(struct tr_node **)state = arg;
    return TR_OK;
}

static const tr_behaviour pg_actor = {.init = pg_actor_init,
                                      .handle = pg_actor_handle,
                                      .state_size = sizeof(struct tr_node *),
                                      .name = "troupe.pg"};

int tr_pg_start(struct tr_node *node)
{
    struct tr_pg *pg = calloc(1, sizeof(*pg));
    if (pg == NULL)
        return TR_ENOMEM;
    pthread_mutex_init(&pg->lock, NULL);
    tr_spawn_opts opts = {.name = "$pg"};
    int rc = tr_spawn(node->sys, &pg_actor, node, &opts, &pg->actor);
    if (rc != TR_OK) {
        pthread_mutex_destroy(&pg->lock);
        free(pg);
        return rc;
    }
    node->pg = pg;
    rc = tr_member_hook_add(node, pg_member_hook, NULL);
    if (rc != TR_OK) {
        tr_pg_stop(node);
        return rc;
    }
    return TR_OK;
}

void tr_pg_stop(struct tr_node *node)
{
    struct tr_pg *pg = node->pg;
    if (pg == NULL)
        return;
    tr_member_hook_remove(node, pg_member_hook, NULL); /* waits for a call in progress */
    tr_stop(node->sys, pg->actor);
    tr_await_exit(node->sys, pg->actor, -1, NULL);
    node->pg = NULL;
    for (size_t b = 0; b < GROUP_BUCKETS; b++)
        while (pg->groups[b] != NULL) {
            pg_group *g = pg->groups[b];
            pg->groups[b] = g->next;
            tr_vec_free(&g->members);
            free(g);
        }
    for (size_t b = 0; b < LOCAL_BUCKETS; b++)
        while (pg->locals[b] != NULL) {
            pg_local *l = pg->locals[b];
            pg->locals[b] = l->next;
            tr_demonitor(node->sys, l->ref, l->monitor);
            free(l->groups);
            free(l);
        }
    while (pg->watches != NULL) {
        pg_watch *w = pg->watches;
        pg->watches = w->next;
        tr_demonitor(node->sys, w->subscriber, w->monitor);
        free(w);
    }
    pthread_mutex_destroy(&pg->lock);
    free(pg);
}
