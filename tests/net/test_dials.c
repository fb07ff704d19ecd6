/* Dial records (net/listen.c): one per URL a node dials, allocated as
 * needed. A node dials a hundred servers (a fixed table of 64 refused the
 * 65th with TR_ETOOBIG); a record nobody wanted for forget_after_ms is
 * released; at the cap the record wanted least recently is reused. The
 * last two are white box: records made by hand under the node lock and
 * marked refused (never dialled), the service thread's tick called with a
 * clock of our choosing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "net/node_impl.h"
#include "tests/support/system.h"

#define WAIT_MS 30000 /* generous: sanitizers on a loaded 2-core machine */
#define TARGETS 100

Test(dials, a_node_dials_a_hundred_servers, .timeout = 180)
{
    static tr_system *sys[TARGETS + 1];
    static tr_node *node[TARGETS + 1];
    static char url[TARGETS + 1][128];
    /* node 0 is hidden: the servers it dials are not told of each other,
     * so they do not mesh (that would be 100 x 99 connections) */
    for (int i = 0; i <= TARGETS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "d%d", i);
        sys[i] = make_system(1);
        tr_node_opts o = {.name = name, .cookie = "secret", .hidden = i == 0};
        cr_assert_eq(tr_node_start(sys[i], &o, &node[i]), TR_OK);
        if (i > 0)
            cr_assert_eq(tr_node_listen(node[i], "tcp://127.0.0.1:0", url[i], sizeof(url[i])), TR_OK);
    }
    for (int i = 1; i <= TARGETS; i++) {
        char peer[64] = "";
        int rc = tr_node_connect(node[0], url[i], WAIT_MS, peer, sizeof(peer));
        cr_assert_eq(rc, TR_OK, "connect to target %d: %s", i, tr_strerror(rc));
        char name[16];
        snprintf(name, sizeof(name), "d%d", i);
        cr_assert_str_eq(peer, name);
    }
    tr_member *list = NULL;
    size_t n = 0;
    cr_assert_eq(tr_node_members(node[0], &list, &n), TR_OK);
    cr_assert_eq(n, TARGETS);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(list[k].state, TR_MEMBER_UP, "%s is not up", list[k].name);
    tr_node_members_free(list);
    pthread_mutex_lock(&node[0]->lock);
    cr_assert_eq(node[0]->dials.len, TARGETS);
    pthread_mutex_unlock(&node[0]->lock);
    for (int i = 0; i <= TARGETS; i++) {
        tr_node_stop(node[i]);
        tr_system_destroy(sys[i]);
    }
}

typedef struct lone {
    tr_system *sys;
    tr_node *node;
} lone;

static lone start(void)
{
    lone t;
    t.sys = make_system(1);
    tr_node_opts o = {.name = "t", .cookie = "secret", .hidden = true, .forget_after_ms = 60000};
    cr_assert_eq(tr_node_start(t.sys, &o, &t.node), TR_OK);
    return t;
}

static void stop(lone *t)
{
    tr_node_stop(t->node);
    tr_system_destroy(t->sys);
}

/* A record for port `port` on a loopback address (node lock held), marked
 * refused for good: the service thread never dials it. */
static tr_dial *record(tr_node *node, int port, uint64_t wanted_ms)
{
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.%d:%d", 2 + port / 60000, 1 + port % 60000);
    int rc = TR_OK;
    tr_dial *d = tr_dial_get_locked(node, url, &rc);
    cr_assert_not_null(d, "record %d: %s", port, tr_strerror(rc));
    d->result = TR_EREFUSED;
    d->wanted_ms = wanted_ms;
    return d;
}

Test(dials, a_record_not_wanted_for_the_forget_time_is_released)
{
    lone t = start();
    tr_node *node = t.node;
    pthread_mutex_lock(&node->lock);
    uint64_t now = tr_now_ms();
    record(node, 1, now);
    tr_dial *kept = record(node, 2, now + 30000);
    cr_assert_eq(node->dials.len, 2);
    tr_dial_tick_locked(node, now + 50000); /* 50 s after the first was wanted: both kept */
    cr_assert_eq(node->dials.len, 2);
    tr_dial_tick_locked(node, now + 60001); /* past forget_after_ms for the first only */
    cr_assert_eq(node->dials.len, 1);
    cr_assert_eq(node->dials.at[0], kept);
    cr_assert_null(tr_dial_find_locked(node, "tcp://127.0.0.2:2"));
    cr_assert_eq(tr_dial_find_locked(node, "tcp://127.0.0.2:3"), kept);
    pthread_mutex_unlock(&node->lock);
    stop(&t);
}

Test(dials, past_the_cap_the_record_wanted_least_recently_is_reused, .timeout = 120)
{
    lone t = start();
    tr_node *node = t.node;
    pthread_mutex_lock(&node->lock);
    uint64_t now = tr_now_ms();
    for (int i = 0; i < TR_NODE_MAX_DIALS; i++)
        record(node, i, now + (i == 1234 ? 0 : 1000)); /* record 1234 wanted least recently */
    cr_assert_eq(node->dials.len, TR_NODE_MAX_DIALS);
    cr_assert(!tr_dial_room_locked(node));
    tr_dial *oldest = tr_dial_find_locked(node, "tcp://127.0.0.2:1235");
    cr_assert_not_null(oldest);
    tr_dial *d = record(node, TR_NODE_MAX_DIALS, now + 2000);
    cr_assert_eq(d, oldest, "the record wanted least recently is the one reused");
    cr_assert_eq(node->dials.len, TR_NODE_MAX_DIALS);
    cr_assert_null(tr_dial_find_locked(node, "tcp://127.0.0.2:1235"));
    cr_assert_eq(tr_dial_find_locked(node, d->url), d);
    pthread_mutex_unlock(&node->lock);
    stop(&t);
}
