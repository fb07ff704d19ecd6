/* The snapshots the renderers take of the system and the node: the actors
 * (or supervisors) and the members, each into memory of its own. When one
 * cannot be taken, the page's buffer is marked failed (the server answers
 * 500) and the renderer leaves that part out. */
#include <stdlib.h>

#include "observe/render.h"

bool tr_observe_snapshot_actors(tr_system *sys, tr_observe_list_fn list, size_t max,
                                tr_textbuf *out, tr_actor_info **info, size_t *live,
                                size_t *listed)
{
    *info = malloc(max * sizeof(**info));
    if (*info == NULL) {
        out->failed = true;
        return false;
    }
    *live = list(sys, *info, max);
    *listed = *live < max ? *live : max;
    return true;
}

bool tr_observe_snapshot_members(tr_node *node, tr_textbuf *out, tr_member **members, size_t *n)
{
    *members = NULL;
    *n = 0;
    if (tr_node_members(node, members, n) != TR_OK) {
        out->failed = true;
        return false;
    }
    return true;
}
