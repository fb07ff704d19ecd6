/* Test support: two nodes over tcp loopback, each in its own system of two
 * workers; the first connects to the second. node_pair_serve spawns an
 * actor on the second, registers it and returns the first's reference to
 * it. A failed step fails the test. Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_NODE_PAIR_H
#define TROUPE_TEST_NODE_PAIR_H

#include <stdio.h>

#include "tests/support/system.h"
#include "troupe/troupe.h"

typedef struct node_pair {
    tr_system *sys[2];
    tr_node *node[2];
    const char *name[2];
} node_pair;

static inline void node_pair_start(node_pair *np, const char *name0, const char *name1, uint32_t down_after_ms)
{
    char url[128];
    np->name[0] = name0;
    np->name[1] = name1;
    for (int i = 0; i < 2; i++) {
        np->sys[i] = make_system(2);
        tr_node_opts o = {.name = np->name[i], .cookie = "c", .down_after_ms = down_after_ms};
        cr_assert_eq(tr_node_start(np->sys[i], &o, &np->node[i]), TR_OK);
        cr_assert_eq(tr_node_listen(np->node[i], "tcp://127.0.0.1:0", url, sizeof(url)), TR_OK);
    }
    cr_assert_eq(tr_node_connect(np->node[0], url, 5000, NULL, 0), TR_OK);
}

static inline tr_ref node_pair_serve(node_pair *np, const tr_behaviour *b, const char *name)
{
    tr_ref local, remote;
    cr_assert_eq(tr_spawn(np->sys[1], b, NULL, NULL, &local), TR_OK);
    cr_assert_eq(tr_register(np->sys[1], name, local), TR_OK);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", np->name[1], name);
    cr_assert_eq(tr_lookup(np->sys[0], path, 5000, &remote), TR_OK);
    return remote;
}

static inline void node_pair_stop(node_pair *np)
{
    for (int i = 0; i < 2; i++) {
        tr_node_stop(np->node[i]);
        tr_system_destroy(np->sys[i]);
    }
}

#endif
