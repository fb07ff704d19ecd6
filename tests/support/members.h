/* Test support: one member of a node's listing (tr_node_members), or a
 * failed test. Include after <criterion/criterion.h>. */
#ifndef TROUPE_TEST_MEMBERS_H
#define TROUPE_TEST_MEMBERS_H

#include <string.h>

#include "troupe/node.h"

/* node's view of member `name` (the test fails when it is not listed). */
static inline tr_member member_of(tr_node *node, const char *name)
{
    tr_member *list = NULL, found = {0};
    size_t n = 0;
    cr_assert_eq(tr_node_members(node, &list, &n), TR_OK);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) {
            found = list[i];
            seen = true;
        }
    tr_node_members_free(list);
    cr_assert(seen, "%s does not list %s", tr_node_name(node), name);
    return found;
}

#endif
