/* The peer table (net/member.c, "Forgetting"), white box: a forgotten
 * member's record leaves the table; its index is handed out again only
 * after all 4095 have been, oldest freed first; a record a thread holds
 * (tr_peer_pin) is freed, and its index freed, only once it is let go.
 * Members are made by hand under the node lock, as a handshake would; the
 * node has no connection. */
#include <criterion/criterion.h>
#include <string.h>

#include "net/node_impl.h"
#include "tests/support/system.h"

typedef struct table {
    tr_system *sys;
    tr_node *node;
} table;

static table start(void)
{
    table t;
    t.sys = make_system(1);
    tr_node_opts o = {.name = "t", .cookie = "secret", .forget_after_ms = 3600000};
    cr_assert_eq(tr_node_start(t.sys, &o, &t.node), TR_OK);
    return t;
}

static void stop(table *t)
{
    tr_node_stop(t->node);
    tr_system_destroy(t->sys);
}

/* A new member `name` (node lock taken here); returns its index. */
static uint32_t admit(table *t, const char *name)
{
    pthread_mutex_lock(&t->node->lock);
    tr_peer *p = tr_member_new_peer_locked(t->node, name, 1);
    cr_assert_not_null(p, "no index for %s", name);
    uint32_t index = p->index;
    pthread_mutex_unlock(&t->node->lock);
    return index;
}

/* Marks the member at index down long ago and runs the forgetting (as the
 * service thread does every heartbeat). */
static void forget(table *t, uint32_t index)
{
    tr_node *node = t->node;
    pthread_mutex_lock(&node->lock);
    tr_peer *p = node->peers[index];
    cr_assert_not_null(p);
    pthread_mutex_lock(&p->lock);
    p->mstate = TR_MEMBER_DOWN;
    p->since_ms = 0;
    pthread_mutex_unlock(&p->lock);
    tr_member_tick_locked(node, tr_now_ms());
    pthread_mutex_unlock(&node->lock);
}

/* Runs the forgetting once more: frees what is no longer held. */
static void tick(table *t)
{
    pthread_mutex_lock(&t->node->lock);
    tr_member_tick_locked(t->node, tr_now_ms());
    pthread_mutex_unlock(&t->node->lock);
}

Test(peer_table, an_index_comes_back_only_after_all_others_oldest_freed_first)
{
    table t = start();
    uint32_t a = admit(&t, "a"), b = admit(&t, "b");
    cr_assert_eq(a, 1);
    cr_assert_eq(b, 2);
    forget(&t, b);
    forget(&t, a); /* b was freed first */
    cr_assert_null(tr_peer_pin(t.node, a), "a forgotten member is out of the table");
    cr_assert_null(tr_peer_pin(t.node, b));
    char name[16];
    for (uint32_t i = 3; i <= TR_NODE_MAX_PEERS; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        cr_assert_eq(admit(&t, name), i, "indexes are handed out in order before any comes back");
    }
    cr_assert_eq(admit(&t, "again1"), b, "then the one free longest");
    cr_assert_eq(admit(&t, "again2"), a);
    tr_node_stats st;
    tr_node_stats_get(t.node, &st);
    cr_assert_eq(st.members, TR_NODE_MAX_PEERS);
    stop(&t);
}

Test(peer_table, a_pinned_record_is_freed_once_let_go)
{
    table t = start();
    uint32_t a = admit(&t, "a");
    tr_peer *held = tr_peer_pin(t.node, a);
    cr_assert_not_null(held);
    forget(&t, a);
    cr_assert_null(tr_peer_pin(t.node, a), "forgotten: out of the table at once");
    cr_assert_str_eq(held->name, "a", "the record stays while held (ASan would see a use after free)");
    pthread_mutex_lock(&t.node->lock);
    cr_assert_eq(t.node->free_slots.len, 0, "its index is not free while the record is held");
    pthread_mutex_unlock(&t.node->lock);
    tr_peer_unpin(held);
    tick(&t);
    pthread_mutex_lock(&t.node->lock);
    cr_assert_eq(t.node->free_slots.len, 1);
    cr_assert_null(t.node->limbo);
    pthread_mutex_unlock(&t.node->lock);
    stop(&t);
}

Test(peer_table, a_full_table_makes_room_by_forgetting_the_member_down_longest)
{
    table t = start();
    char name[16];
    for (uint32_t i = 1; i <= TR_NODE_MAX_PEERS; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        admit(&t, name);
    }
    /* all are CONNECTING since now, none up: the one since longest goes */
    pthread_mutex_lock(&t.node->lock);
    tr_peer *p = t.node->peers[7];
    pthread_mutex_lock(&p->lock);
    p->since_ms = 0;
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&t.node->lock);
    cr_assert_eq(admit(&t, "late"), 7);
    stop(&t);
}
